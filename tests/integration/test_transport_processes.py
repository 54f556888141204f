"""Two real processes on loopback: request/reply over CurveZMQ, and surviving a burst of garbage."""

from __future__ import annotations

import random
from collections.abc import Iterator

import pytest
import zmq

from swarmnode.actors.messages import Address, Ping, Pong
from swarmnode.transport import Transport, generate_keypair
from tests.support.pong import PongNode, pong_process

pytestmark = pytest.mark.integration

LONG_S = 5.0


@pytest.fixture
def pong_node() -> Iterator[PongNode]:
    with pong_process("server") as node:
        yield node


@pytest.fixture
def client(pong_node: PongNode) -> Transport:
    return pong_node.client


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
