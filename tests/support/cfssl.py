"""A real ``cfssl serve`` on loopback, holding a root CA made by create_root_ca, for external CA tests.

Needs the cfssl binary (Debian: ``apt-get install -y golang-cfssl``; .ci/run installs it). Without
it a test is skipped, except under CI, where it fails: CI must run the external CA tests.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from swarmnode.actors.ca import RootCA, create_root_ca
from swarmnode.cli.local import free_port

from .ci import skip_unless_ci
from .waiting import wait_until

CFSSL = shutil.which("cfssl")
START_TIMEOUT_S = 15.0
SERVE_FILES = ("-ca", "ca.pem", "-ca-key", "ca-key.pem", "-config", "config.json")
PROFILE_EXPIRY_HOURS = 2160  # what the signing profile grants, whatever the node asks


@dataclass
class CfsslServer:
    url: str
    root: RootCA
    log: Path
    root_path: Path
    process: subprocess.Popen[bytes]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)


def _accepts_connections(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


@contextmanager
def cfssl_server(cluster_id: str) -> Iterator[CfsslServer]:
    """Run cfssl serve with a fresh root CA for ``cluster_id``; stop it and remove its files after."""
    if CFSSL is None:
        skip_unless_ci(
            "cfssl is not installed (Debian/Ubuntu: apt-get install -y golang-cfssl)",
            "CI must run the external CA tests (.ci/run installs cfssl)",
        )
    root = create_root_ca(cluster_id, datetime.now(UTC))
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
    try:
        with log.open("wb") as log_file:
            process = subprocess.Popen(
                [CFSSL, "serve", "-address", "127.0.0.1", "-port", str(port), *SERVE_FILES],
                cwd=workdir,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                env={**os.environ, "HOME": str(workdir)},
            )
    except BaseException:
        shutil.rmtree(workdir, ignore_errors=True)  # it holds the CA's key
        raise
    server = CfsslServer(f"http://127.0.0.1:{port}", root, log, workdir / "ca.pem", process)
    try:
        wait_until(
            lambda: process.poll() is not None or _accepts_connections(port),
            START_TIMEOUT_S,
            f"cfssl serve on 127.0.0.1:{port}",
        )
        if process.poll() is not None:
            pytest.fail(f"cfssl serve exited with {process.returncode}:\n{log.read_text(errors='replace')}")
        yield server
    finally:
        server.stop()
        shutil.rmtree(workdir, ignore_errors=True)
