"""Fixtures for transport tests: real Transports on 127.0.0.1 port 0 with real CURVE keys.

Each node answers through small handlers that run inside ``deliver`` (on the I/O thread), or on
a worker thread for the handlers that must reply from elsewhere, as actors do. Every transport,
raw socket and thread a test makes is stopped by a fixture finalizer.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import pytest
import zmq

from swarmnode.actors.messages import ErrorReply, Ping, Pong, StreamEnd
from swarmnode.transport import Identity, Inbound, Transport, generate_keypair

Handler = Callable[["Node", Inbound], None]


@dataclass
class Node:
    """A started Transport with its keys, the messages it got and the handlers that answer."""

    node_id: str
    public_key: bytes
    secret_key: bytes
    transport: Transport
    handlers: dict[str, Handler]
    inbox: list[Inbound] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def received(self) -> list[Inbound]:
        with self.lock:
            return list(self.inbox)


def echo(node: Node, inbound: Inbound) -> None:
    body = inbound.envelope.body
    payload = body.payload if isinstance(body, Ping) else b""
    node.transport.reply(inbound, Pong(payload))


def silent(node: Node, inbound: Inbound) -> None:
    """Never answer: the requester must time out."""


def three_parts(node: Node, inbound: Inbound) -> None:
    for i in range(3):
        node.transport.reply_part(inbound, Pong(bytes([i])))
    node.transport.reply(inbound, StreamEnd())


def part_then_error(node: Node, inbound: Inbound) -> None:
    node.transport.reply_part(inbound, Pong(b"first"))
    node.transport.reply(inbound, ErrorReply(code="forbidden", text="workers may not list nodes"))


DEFAULT_HANDLERS: dict[str, Handler] = {
    "echo": echo,
    "silent": silent,
    "three-parts": three_parts,
    "part-then-error": part_then_error,
}


class Cluster:
    """Make nodes that admit each other's keys; stop them all at the end."""

    def __init__(self, executor: ThreadPoolExecutor) -> None:
        self.directory: dict[bytes, Identity] = {}  # CURVE public key -> who it is
        self.nodes: list[Node] = []
        self.sockets: list[zmq.Socket[bytes]] = []
        self.context: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
        self.executor = executor

    def admit(self, public_key: bytes, address: str) -> Identity | None:
        return self.directory.get(public_key)

    def node(
        self,
        node_id: str,
        *,
        role: str = "manager",
        listen: str = "127.0.0.1:0",
        keys: tuple[bytes, bytes] | None = None,
        control_path: str | None = None,
        max_message_bytes: int | None = None,
        handlers: dict[str, Handler] | None = None,
        threaded: bool = False,
        bootstrap: bool = False,
    ) -> Node:
        public, secret = keys or generate_keypair()
        self.directory[public] = Identity(node_id=node_id, role=role)
        node_handlers = dict(DEFAULT_HANDLERS if handlers is None else handlers)
        node: Node | None = None

        def deliver(inbound: Inbound) -> bool:
            assert node is not None
            handler = node.handlers.get(inbound.envelope.dst.actor)
            if handler is None:
                return False
            with node.lock:
                node.inbox.append(inbound)
            if threaded:
                self.executor.submit(handler, node, inbound)
            else:
                handler(node, inbound)
            return True

        extra = {} if max_message_bytes is None else {"max_message_bytes": max_message_bytes}
        transport = Transport(
            node_id=node_id,
            listen=listen,
            public_key=public,
            secret_key=secret,
            admit=self.admit,
            deliver=deliver,
            control_path=control_path,
            bootstrap=bootstrap,
            **extra,
        )
        node = Node(node_id, public, secret, transport, node_handlers)
        self.nodes.append(node)
        transport.start()
        return node

    def raw_dealer(self, server: Node, keys: tuple[bytes, bytes]) -> zmq.Socket[bytes]:
        """Return a bare CURVE DEALER connected to ``server``, to send hand-made frames."""
        sock = self.context.socket(zmq.DEALER)
        self.sockets.append(sock)
        sock.setsockopt(zmq.LINGER, 0)
        sock.curve_serverkey = server.public_key
        sock.curve_publickey, sock.curve_secretkey = keys
        sock.connect(f"tcp://{server.transport.address}")
        return sock

    def close(self) -> None:
        for node in self.nodes:
            node.transport.stop()
        for sock in self.sockets:
            sock.close(0)
        self.context.term()


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    executor = ThreadPoolExecutor(max_workers=4)
    made = Cluster(executor)
    try:
        yield made
    finally:
        made.close()
        executor.shutdown(wait=True, cancel_futures=True)


@pytest.fixture
def pair(cluster: Cluster) -> tuple[Node, Node]:
    """Two nodes, "a" (a worker) connected to "b" (a manager)."""
    a = cluster.node("a", role="worker")
    b = cluster.node("b", role="manager")
    a.transport.connect("b", b.transport.address, b.public_key)
    return a, b
