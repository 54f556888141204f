"""Two real processes on loopback: request/reply over CurveZMQ, and surviving a burst of garbage."""

from __future__ import annotations

import os
import random
import select
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import zmq

from swarmnode.actors.messages import Address, Ping, Pong
from swarmnode.transport import Transport, generate_keypair

pytestmark = pytest.mark.integration

NODE_SCRIPT = Path(__file__).with_name("transport_pong_node.py")
START_TIMEOUT_S = 20.0
LONG_S = 5.0


@dataclass
class PongNode:
    process: subprocess.Popen[str]
    address: str
    public_key: bytes


def read_line(process: subprocess.Popen[str], timeout_s: float) -> str:
    """Return the child's next stdout line, or fail when it does not come in time."""
    assert process.stdout is not None
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        ready, _, _ = select.select([process.stdout], [], [], deadline - time.monotonic())
        if ready:
            return process.stdout.readline()
    raise AssertionError(f"the node process said nothing within {timeout_s:g} s")


@pytest.fixture
def pong_node() -> Iterator[PongNode]:
    public, secret = generate_keypair()
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    process = subprocess.Popen(
        [sys.executable, str(NODE_SCRIPT), "server", public.decode(), secret.decode()],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        line = read_line(process, START_TIMEOUT_S)
        assert line.startswith("READY "), f"unexpected first line {line!r} (exit code {process.poll()})"
        yield PongNode(process, line.split()[1], public)
    finally:
        process.kill()
        process.wait(LONG_S)
        for stream in (process.stdin, process.stdout):
            if stream is not None:
                stream.close()


@pytest.fixture
def client(pong_node: PongNode) -> Iterator[Transport]:
    public, secret = generate_keypair()
    transport = Transport.outbound_only("client", public, secret)
    transport.start()
    try:
        transport.connect("server", pong_node.address, pong_node.public_key)
        yield transport
    finally:
        transport.stop()


def test_request_and_reply_across_processes(client: Transport) -> None:
    for i in range(100):
        body = Ping(i.to_bytes(2, "big"))
        assert client.request(Address("server", "ponger"), body, src_actor="t", timeout_s=LONG_S).result() == Pong(
            body.payload
        )
    with pytest.raises(Exception, match="unknown-actor"):
        client.request(Address("server", "nobody"), Ping(), src_actor="t", timeout_s=LONG_S).result()


def test_the_node_survives_a_burst_of_garbage(client: Transport, pong_node: PongNode) -> None:
    context: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
    sock = context.socket(zmq.DEALER)
    try:
        sock.setsockopt(zmq.LINGER, 0)
        keys = generate_keypair()
        sock.curve_serverkey = pong_node.public_key
        sock.curve_publickey, sock.curve_secretkey = keys
        sock.connect(f"tcp://{pong_node.address}")
        rng = random.Random(1234)
        for _ in range(2000):
            sock.send(rng.randbytes(rng.randrange(0, 200)))
        sock.send_multipart([b"a", b"b", b"c"])
        futures = [
            client.request(Address("server", "ponger"), Ping(b"%d" % i), src_actor="t", timeout_s=LONG_S)
            for i in range(200)
        ]
        assert [f.result() for f in futures] == [Pong(b"%d" % i) for i in range(200)]
    finally:
        sock.close(0)
        context.term()
    assert pong_node.process.poll() is None, "the node process died"
