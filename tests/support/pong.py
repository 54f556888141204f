"""A second process whose Transport answers Ping with Pong, and a client Transport connected to it.

The process runs tests/integration/transport_pong_node.py; the transport integration tests talk to
it, and bench/raft.py measures one round trip over the cluster transport with it.
"""

from __future__ import annotations

import os
import select
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from swarmnode.transport import Transport, generate_keypair

PONG_NODE_SCRIPT = Path(__file__).resolve().parent.parent / "integration" / "transport_pong_node.py"
START_TIMEOUT_S = 20.0
STOP_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class PongNode:
    """The pong process, where it listens, its public key, and a started client connected to it."""

    process: subprocess.Popen[str]
    node_id: str
    address: str
    public_key: bytes
    client: Transport


def read_line(process: subprocess.Popen[str], timeout_s: float) -> str:
    """Return the child's next stdout line, or fail when it does not come in time."""
    assert process.stdout is not None
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        ready, _, _ = select.select([process.stdout], [], [], deadline - time.monotonic())
        if ready:
            return process.stdout.readline()
    raise AssertionError(f"{PONG_NODE_SCRIPT.name} said nothing within {timeout_s:g} s")


@contextmanager
def pong_process(node_id: str = "server") -> Iterator[PongNode]:
    """Start the pong process as node ``node_id`` and connect a client to it; stop both afterwards."""
    public, secret = generate_keypair()
    process = subprocess.Popen(
        [sys.executable, str(PONG_NODE_SCRIPT), node_id, public.decode(), secret.decode()],
        stdin=subprocess.PIPE,  # the process runs until its stdin closes: it never outlives its starter
        stdout=subprocess.PIPE,
        text=True,
        env=dict(os.environ, PYTHONUNBUFFERED="1"),
        start_new_session=True,  # a Ctrl-C meant for the starter does not reach it: the kill below stops it
    )
    try:
        line = read_line(process, START_TIMEOUT_S)
        if not line.startswith("READY "):
            raise AssertionError(
                f"{PONG_NODE_SCRIPT.name} did not start: its first line was {line!r} (exit code {process.poll()})"
            )
        address = line.split()[1]
        client = Transport.outbound_only("client", *generate_keypair())
        client.start()
        try:
            client.connect(node_id, address, public)
            yield PongNode(process, node_id, address, public, client)
        finally:
            client.stop()
    finally:
        process.kill()
        process.wait(STOP_TIMEOUT_S)
        for stream in (process.stdin, process.stdout):
            if stream is not None:
                stream.close()
