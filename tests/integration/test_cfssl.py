"""External CA mode against a real ``cfssl serve`` holding a root CA made by create_root_ca.

Needs the cfssl binary: on Debian/Ubuntu ``apt-get install -y golang-cfssl``; skipped without it.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import zmq

from swarmnode.actors.ca import (
    CfsslSigner,
    ExternalCAError,
    make_csr,
    new_node_key,
    verify_node_certificate,
)
from swarmnode.cli.local import free_port
from tests.support.cfssl import CfsslServer, cfssl_server

pytestmark = pytest.mark.integration

CLUSTER = "cfsslcluster"
PROFILE_EXPIRY_HOURS = 2160


@pytest.fixture(scope="module")
def cfssl() -> Iterator[CfsslServer]:
    with cfssl_server(CLUSTER) as server:
        yield server


@pytest.mark.parametrize("role", ["worker", "manager"])
def test_cfssl_signs_a_node_certificate_that_verifies_with_the_curve_key_bound(cfssl: CfsslServer, role: str) -> None:
    curve_public, _ = zmq.curve_keypair()
    key = new_node_key()
    chain = CfsslSigner(cfssl.url, timeout_s=10).sign(
        make_csr(key),
        node_id=f"node-{role}",
        role=role,  # type: ignore[arg-type]
        cluster_id=CLUSTER,
        curve_public_key=curve_public,
    )
    now = datetime.now(UTC)
    info = verify_node_certificate(chain, trusted_roots=[cfssl.root.cert_pem], cluster_id=CLUSTER, now=now)
    assert info.node_id == f"node-{role}"
    assert info.role == role
    assert info.cluster_id == CLUSTER
    assert info.curve_public_key == curve_public
    assert info.issuer_digest == cfssl.root.digest
    # The lifetime is the signing profile's, not ours: an external CA decides it.
    assert abs(info.not_after - now - timedelta(hours=PROFILE_EXPIRY_HOURS)) < timedelta(minutes=10)


def test_full_endpoint_url_works_too(cfssl: CfsslServer) -> None:
    curve_public, _ = zmq.curve_keypair()
    chain = CfsslSigner(cfssl.url + "/api/v1/cfssl/sign", timeout_s=10).sign(
        make_csr(new_node_key()), node_id="n2", role="worker", cluster_id=CLUSTER, curve_public_key=curve_public
    )
    info = verify_node_certificate(
        chain, trusted_roots=[cfssl.root.cert_pem], cluster_id=CLUSTER, now=datetime.now(UTC)
    )
    assert info.curve_public_key == curve_public


def test_cfssl_refusal_reaches_the_caller_with_its_message(cfssl: CfsslServer) -> None:
    curve_public, _ = zmq.curve_keypair()
    with pytest.raises(ExternalCAError, match=r"refused to sign: CSR Decode failed \(code 9002\)"):
        CfsslSigner(cfssl.url, timeout_s=10).sign(
            b"not a csr", node_id="n3", role="worker", cluster_id=CLUSTER, curve_public_key=curve_public
        )


def test_unreachable_external_ca_is_reported() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    curve_public, _ = zmq.curve_keypair()
    with pytest.raises(ExternalCAError, match=f"^external CA at {url} is unreachable: connection refused$"):
        CfsslSigner(url, timeout_s=2).sign(
            make_csr(new_node_key()), node_id="n4", role="worker", cluster_id=CLUSTER, curve_public_key=curve_public
        )


def test_founding_with_the_root_of_another_ca_says_which_option_is_wrong(cfssl: CfsslServer, tmp_path) -> None:
    from swarmnode.actors.ca import create_root_ca
    from swarmnode.actors.ca.cfssl import ExternalCA
    from swarmnode.actors.node.founding import FoundingOptions, found_swarm

    other_root = create_root_ca(CLUSTER, datetime.now(UTC)).cert_pem  # not the root cfssl signs with
    options = FoundingOptions(
        advertise_addr="127.0.0.1:2377",
        hostname="founder",
        external_ca=ExternalCA(protocol="cfssl", url=cfssl.url),
        external_ca_cert=other_root,
    )
    with pytest.raises(
        ValueError,
        match=f"external CA at {cfssl.url} signed a certificate that the root given with --external-ca-cert does not",
    ):
        found_swarm(tmp_path / "founder", options)
