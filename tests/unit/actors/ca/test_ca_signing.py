"""sign_member_certificate: the one place that picks the swarm's root or its external CA, and checks the result."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
import zmq

from swarmnode.actors.ca import CertificateError, ExternalCAError, create_root_ca, make_csr, new_node_key
from swarmnode.actors.ca.signing import sign_member_certificate
from swarmnode.actors.store.objects import ClusterView
from swarmnode.cli.local import free_port
from tests.support.clusters import cluster_with_new_root

NOW = datetime.now(UTC)
EXPIRY_S = 3600.0


@pytest.fixture(scope="module")
def cluster() -> ClusterView:
    return cluster_with_new_root("c1", NOW - timedelta(days=1), cert_expiry_s=EXPIRY_S)


@pytest.fixture(scope="module")
def csr() -> bytes:
    return make_csr(new_node_key())


@pytest.fixture(scope="module")
def curve() -> bytes:
    return zmq.curve_keypair()[0]


def closed_port_url() -> str:
    """An http URL on loopback where nothing listens (a port found free just now)."""
    return f"http://127.0.0.1:{free_port()}"


def test_the_swarm_root_signs_with_the_cluster_expiry(cluster: ClusterView, csr: bytes, curve: bytes) -> None:
    chain, info = sign_member_certificate(cluster, csr, node_id="n1", role="worker", curve_key=curve, now=NOW)
    assert (info.node_id, info.role, info.cluster_id, info.curve_public_key) == ("n1", "worker", "c1", curve)
    assert info.not_after == (NOW + timedelta(seconds=EXPIRY_S)).replace(microsecond=0)
    assert chain.startswith(b"-----BEGIN CERTIFICATE-----")


@pytest.mark.parametrize("external", [False, True])
def test_a_role_other_than_manager_or_worker_is_refused(
    cluster: ClusterView, csr: bytes, curve: bytes, external: bool
) -> None:
    if external:
        cluster = replace(cluster, external_ca={"protocol": "cfssl", "url": closed_port_url()})
    with pytest.raises(ValueError, match="role must be 'manager' or 'worker', got 'admin'"):
        sign_member_certificate(cluster, csr, node_id="n1", role="admin", curve_key=curve, now=NOW)


def test_an_unreachable_external_ca_is_named(cluster: ClusterView, csr: bytes, curve: bytes) -> None:
    url = closed_port_url()
    external = replace(cluster, external_ca={"protocol": "cfssl", "url": url})
    with pytest.raises(ExternalCAError, match=f"^external CA at {url} is unreachable: connection refused$"):
        sign_member_certificate(external, csr, node_id="n1", role="manager", curve_key=curve, now=NOW)


def test_a_certificate_the_members_would_not_trust_is_not_handed_out(
    cluster: ClusterView, csr: bytes, curve: bytes
) -> None:
    stranger = create_root_ca("c1", NOW - timedelta(days=1))
    untrusted = replace(cluster, trust_pem=stranger.cert_pem)
    with pytest.raises(CertificateError, match="not signed by this swarm's CA"):
        sign_member_certificate(untrusted, csr, node_id="n1", role="manager", curve_key=curve, now=NOW)
