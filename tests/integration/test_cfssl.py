"""External CA mode against a real ``cfssl serve`` holding a root CA made by create_root_ca.

Needs the cfssl binary: on Debian/Ubuntu ``apt-get install -y golang-cfssl``; skipped without it.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import zmq

from swarmnode.actors.ca import (
    CfsslSigner,
    ExternalCAError,
    RootCA,
    create_root_ca,
    make_csr,
    new_node_key,
    verify_node_certificate,
)
from tests.support import wait_until

pytestmark = pytest.mark.integration

CFSSL = shutil.which("cfssl")
CLUSTER = "cfsslcluster"
START_TIMEOUT_S = 15.0
SERVE_FILES = ("-ca", "ca.pem", "-ca-key", "ca-key.pem", "-config", "config.json")
PROFILE_EXPIRY_HOURS = 2160  # what the signing profile grants, whatever the node asks


@dataclass(frozen=True)
class CfsslServer:
    url: str
    root: RootCA
    log: Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def accepts_connections(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


@pytest.fixture(scope="module")
def cfssl() -> Iterator[CfsslServer]:
    if CFSSL is None:
        if os.environ.get("CI"):
            pytest.fail("cfssl is not installed, and CI must run the external CA tests (.ci/run installs it)")
        pytest.skip("cfssl is not installed (Debian/Ubuntu: apt-get install -y golang-cfssl)")
    root = create_root_ca(CLUSTER, datetime.now(UTC))
    assert root.key_pem is not None
    workdir = Path(tempfile.mkdtemp(prefix="sn-cfssl-"))
    (workdir / "ca.pem").write_bytes(root.cert_pem)
    key_path = workdir / "ca-key.pem"
    key_path.write_bytes(root.key_pem)
    key_path.chmod(0o600)
    config = {
        "signing": {
            "default": {
                "usages": ["signing", "key encipherment", "server auth", "client auth"],
                "expiry": f"{PROFILE_EXPIRY_HOURS}h",
            }
        }
    }
    (workdir / "config.json").write_text(json.dumps(config))
    port = free_port()
    log = workdir / "cfssl.log"
    with log.open("wb") as log_file:
        process = subprocess.Popen(
            [CFSSL, "serve", "-address", "127.0.0.1", "-port", str(port), *SERVE_FILES],
            cwd=workdir,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            env={**os.environ, "HOME": str(workdir)},
        )
    try:
        wait_until(
            lambda: process.poll() is not None or accepts_connections(port),
            START_TIMEOUT_S,
            f"cfssl serve on 127.0.0.1:{port}",
        )
        if process.poll() is not None:
            pytest.fail(f"cfssl serve exited with {process.returncode}:\n{log.read_text(errors='replace')}")
        yield CfsslServer(url=f"http://127.0.0.1:{port}", root=root, log=log)
    finally:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
        shutil.rmtree(workdir, ignore_errors=True)


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
