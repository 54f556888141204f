"""DirectSender: one-way messages from the caller's thread; and both senders after a refused handshake."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from swarmnode.actors.messages import Address, Ping
from swarmnode.transport import DirectSender, RequestTimeout, TransportError
from swarmnode.transport._transport import REOPEN_AFTER_S
from tests.support import wait_until

if TYPE_CHECKING:
    from collections.abc import Iterator

    from tests.unit.transport.conftest import Cluster, Node

LONG_S = 5.0


@pytest.fixture
def sender(pair: tuple[Node, Node]) -> Iterator[DirectSender]:
    made = DirectSender(pair[0].transport)
    try:
        yield made
    finally:
        made.close()


def test_a_direct_message_arrives_one_way_from_the_senders_node(pair: tuple[Node, Node], sender: DirectSender) -> None:
    _, b = pair
    sender.send(Address("b", "echo"), Ping(payload=b"direct"), src_actor="raft")
    wait_until(lambda: len(b.received()) == 1)
    got = b.received()[0]
    assert got.envelope.id == 0
    assert got.envelope.src == Address("a", "raft")
    assert got.envelope.body == Ping(payload=b"direct")
    assert got.peer is not None and got.peer.node_id == "a"  # judged by b's admission like any connection
    assert sender.sent == 1


def test_a_direct_message_to_a_node_not_connected_fails_at_once(pair: tuple[Node, Node], sender: DirectSender) -> None:
    with pytest.raises(TransportError, match="not connected"):
        sender.send(Address("nobody", "echo"), Ping(), src_actor="raft")


def test_a_direct_message_over_the_size_limit_fails_before_it_is_sent(cluster: Cluster) -> None:
    a = cluster.node("a", max_message_bytes=1024)
    b = cluster.node("b")
    a.transport.connect("b", b.transport.address, b.public_key)
    sender = DirectSender(a.transport)
    try:
        with pytest.raises(TransportError, match="over the limit"):
            sender.send(Address("b", "echo"), Ping(payload=b"x" * 2048), src_actor="raft")
    finally:
        sender.close()


def test_the_direct_sender_follows_a_peer_that_moved(cluster: Cluster) -> None:
    a = cluster.node("a")
    first = cluster.node("b")
    moved = cluster.node("b")  # node b again, with a new address and a new key
    a.transport.connect("b", first.transport.address, first.public_key)
    sender = DirectSender(a.transport)
    try:
        sender.send(Address("b", "echo"), Ping(payload=b"1"), src_actor="raft")
        wait_until(lambda: len(first.received()) == 1)
        a.transport.connect("b", moved.transport.address, moved.public_key)
        sender.send(Address("b", "echo"), Ping(payload=b"2"), src_actor="raft")
        wait_until(lambda: len(moved.received()) == 1)
        assert moved.received()[0].envelope.body == Ping(payload=b"2")
        assert len(first.received()) == 1
    finally:
        sender.close()


def test_both_senders_get_through_again_after_the_peer_refused_this_node_once(cluster: Cluster) -> None:
    """libzmq never reconnects after a refused handshake: the senders must reopen their sockets."""
    b = cluster.node("b")
    a = cluster.node("a")
    a_identity = cluster.directory.pop(a.public_key)  # b does not know a yet (a manager still starting up)
    a.transport.connect("b", b.transport.address, b.public_key)
    sender = DirectSender(a.transport)
    try:
        sender.send(Address("b", "echo"), Ping(payload=b"early"), src_actor="raft")
        # Refused at the handshake: the request fails at once (the DEALER's monitor), not at its deadline.
        with pytest.raises(TransportError, match="refused this node's key"):
            a.transport.request(Address("b", "echo"), Ping(), src_actor="t", timeout_s=LONG_S).result(LONG_S)
        wait_until(lambda: b.transport.statistics().refused_peers >= 2)  # both sockets were refused
        cluster.directory[a.public_key] = a_identity  # now b knows a

        def direct_got_through() -> bool:
            sender.send(Address("b", "echo"), Ping(payload=b"direct"), src_actor="raft")
            return any(i.envelope.body == Ping(payload=b"direct") for i in b.received())

        wait_until(direct_got_through, timeout=REOPEN_AFTER_S * 5 + LONG_S)

        def transport_got_through() -> bool:
            try:
                a.transport.request(Address("b", "echo"), Ping(), src_actor="t", timeout_s=0.5).result(LONG_S)
            except (RequestTimeout, TransportError):
                return False
            return True

        wait_until(transport_got_through, timeout=REOPEN_AFTER_S * 5 + LONG_S)
    finally:
        sender.close()
