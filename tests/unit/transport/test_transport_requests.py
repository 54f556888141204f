"""Requests, one-way messages, streams, deadlines and peers between two real Transports."""

from __future__ import annotations

import logging
import socket
import threading
import time
from typing import TYPE_CHECKING

import pytest

from swarmnode.actors.messages import Address, ErrorReply, Ping, Pong, StreamEnd
from swarmnode.transport import (
    Identity,
    Inbound,
    NotSent,
    RemoteError,
    RequestTimeout,
    Transport,
    TransportError,
    generate_keypair,
)
from tests.support import wait_until

if TYPE_CHECKING:
    from tests.unit.transport.conftest import Cluster, Node

SHORT_S = 0.3  # deadline for requests that must time out: short, but far above loopback latency
LONG_S = 5.0  # deadline for requests that must succeed


def test_a_request_gets_the_reply_body(pair: tuple[Node, Node]) -> None:
    a, _ = pair
    reply = a.transport.request(Address("b", "echo"), Ping(b"hello"), src_actor="t", timeout_s=LONG_S)
    assert reply.result(LONG_S) == Pong(b"hello")


def test_the_admitted_identity_and_the_envelope_reach_deliver(pair: tuple[Node, Node]) -> None:
    a, b = pair
    a.transport.request(Address("b", "echo"), Ping(), src_actor="tester", timeout_s=LONG_S).result(LONG_S)
    (inbound,) = b.received()
    assert inbound.peer == Identity(node_id="a", role="worker")
    assert inbound.envelope.src == Address("a", "tester")
    assert inbound.envelope.dst == Address("b", "echo")
    assert inbound.envelope.id != 0


def test_a_reply_from_another_thread_reaches_the_requester(cluster: Cluster) -> None:
    a = cluster.node("a")
    b = cluster.node("b", threaded=True)
    a.transport.connect("b", b.transport.address, b.public_key)
    futures = [
        a.transport.request(Address("b", "echo"), Ping(bytes([i])), src_actor="t", timeout_s=LONG_S) for i in range(50)
    ]
    assert [f.result(LONG_S) for f in futures] == [Pong(bytes([i])) for i in range(50)]


def test_a_one_way_message_arrives_with_id_zero_and_gets_no_reply(pair: tuple[Node, Node]) -> None:
    a, b = pair
    a.transport.send(Address("b", "echo"), Ping(b"fire"), src_actor="t")
    (inbound,) = wait_until(b.received, what="the one-way message")
    assert inbound.envelope.id == 0
    assert inbound.envelope.body == Ping(b"fire")
    # echo called reply(); a one-way message has nobody waiting, so nothing was sent back.
    wait_until(lambda: b.transport.statistics().received == 1)
    assert b.transport.statistics().sent == 0


def test_a_stream_yields_every_part_until_stream_end(pair: tuple[Node, Node]) -> None:
    a, _ = pair
    parts = list(a.transport.stream(Address("b", "three-parts"), Ping(), src_actor="t", timeout_s=LONG_S))
    assert parts == [Pong(b"\x00"), Pong(b"\x01"), Pong(b"\x02")]


def test_an_error_in_a_stream_raises_remote_error_after_the_parts_before_it(pair: tuple[Node, Node]) -> None:
    a, _ = pair
    stream = a.transport.stream(Address("b", "part-then-error"), Ping(), src_actor="t", timeout_s=LONG_S)
    assert next(stream) == Pong(b"first")
    with pytest.raises(RemoteError) as caught:
        next(stream)
    assert (caught.value.code, caught.value.text) == ("forbidden", "workers may not list nodes")


def test_a_stream_that_goes_quiet_times_out(pair: tuple[Node, Node]) -> None:
    a, _ = pair
    stream = a.transport.stream(Address("b", "silent"), Ping(), src_actor="t", timeout_s=SHORT_S)
    with pytest.raises(RequestTimeout, match=r"silent@b to Ping within 0.3 s"):
        next(stream)


def test_a_request_nobody_answers_times_out_naming_destination_kind_and_deadline(pair: tuple[Node, Node]) -> None:
    a, _ = pair
    started = time.monotonic()
    future = a.transport.request(Address("b", "silent"), Ping(), src_actor="t", timeout_s=SHORT_S)
    with pytest.raises(RequestTimeout) as caught:
        future.result(LONG_S)
    elapsed = time.monotonic() - started
    assert str(caught.value) == "no reply from silent@b to Ping within 0.3 s"
    assert SHORT_S <= elapsed < SHORT_S + 1.0


def test_a_request_to_an_unknown_actor_fails_with_unknown_actor(pair: tuple[Node, Node]) -> None:
    a, _ = pair
    future = a.transport.request(Address("b", "nobody"), Ping(), src_actor="t", timeout_s=LONG_S)
    with pytest.raises(RemoteError) as caught:
        future.result(LONG_S)
    assert caught.value.code == "unknown-actor"
    assert "'nobody'" in caught.value.text


def test_a_request_to_a_node_never_connected_fails_at_once(pair: tuple[Node, Node]) -> None:
    a, _ = pair
    future = a.transport.request(Address("zed", "echo"), Ping(), src_actor="t", timeout_s=LONG_S)
    assert future.done()
    with pytest.raises(NotSent, match="node 'zed' is not connected"):  # RaftMember sends such a forward again
        future.result(0)
    with pytest.raises(TransportError, match="node 'zed' is not connected"):
        a.transport.send(Address("zed", "echo"), Ping(), src_actor="t")


@pytest.mark.parametrize("node", ["", "a"])
def test_a_request_to_this_node_goes_through_deliver_without_sockets(cluster: Cluster, node: str) -> None:
    a = cluster.node("a", threaded=True)
    reply = a.transport.request(Address(node, "echo"), Ping(b"me"), src_actor="t", timeout_s=LONG_S)
    assert reply.result(LONG_S) == Pong(b"me")
    (inbound,) = a.received()
    assert inbound.peer == Identity(node_id="a", role="local")
    unknown = a.transport.request(Address(node, "nobody"), Ping(), src_actor="t", timeout_s=LONG_S)
    with pytest.raises(RemoteError, match="unknown-actor"):
        unknown.result(LONG_S)
    parts = list(a.transport.stream(Address(node, "three-parts"), Ping(), src_actor="t", timeout_s=LONG_S))
    assert len(parts) == 3
    stats = a.transport.statistics()
    assert (stats.sent, stats.received) == (0, 0)


def test_a_local_one_way_message_is_delivered(cluster: Cluster) -> None:
    a = cluster.node("a")
    a.transport.send(Address("", "silent"), Ping(b"x"), src_actor="t")
    (inbound,) = wait_until(a.received)
    assert inbound.envelope.body == Ping(b"x")


def test_a_late_reply_is_dropped_and_counted(cluster: Cluster) -> None:
    a = cluster.node("a")
    b = cluster.node("b", handlers={"late": lambda node, inbound: None})
    a.transport.connect("b", b.transport.address, b.public_key)
    future = a.transport.request(Address("b", "late"), Ping(), src_actor="t", timeout_s=SHORT_S)
    with pytest.raises(RequestTimeout):
        future.result(LONG_S)
    (inbound,) = b.received()
    b.transport.reply(inbound, Pong(b"too late"))
    wait_until(lambda: a.transport.statistics().unmatched_replies == 1, what="the late reply counted")


def test_a_second_reply_to_the_same_request_is_dropped(cluster: Cluster) -> None:
    def twice(node: Node, inbound: Inbound) -> None:
        node.transport.reply(inbound, Pong(b"1"))
        node.transport.reply(inbound, Pong(b"2"))

    a = cluster.node("a")
    b = cluster.node("b", handlers={"twice": twice})
    a.transport.connect("b", b.transport.address, b.public_key)
    assert a.transport.request(Address("b", "twice"), Ping(), src_actor="t", timeout_s=LONG_S).result() == Pong(b"1")
    wait_until(lambda: a.transport.statistics().unmatched_replies == 1)


def test_disconnect_fails_the_pending_requests_of_that_node(pair: tuple[Node, Node]) -> None:
    a, _ = pair
    future = a.transport.request(Address("b", "silent"), Ping(), src_actor="t", timeout_s=LONG_S)
    a.transport.disconnect("b")
    with pytest.raises(TransportError, match=r"was disconnected|not connected") as failed:
        future.result(LONG_S)
    # One that had left (b may have acted on it) was not NotSent; one that had not, was.
    assert isinstance(failed.value, NotSent) == ("not connected" in str(failed.value))
    assert a.transport.statistics().peers == 0


def test_a_request_in_flight_to_a_peer_that_goes_away_fails_at_once(pair: tuple[Node, Node]) -> None:
    """Its reply cannot come: as a gRPC call on a broken connection, not at its deadline (30 s here)."""
    a, b = pair
    future = a.transport.request(Address("b", "silent"), Ping(), src_actor="t", timeout_s=30.0)
    wait_until(lambda: len(b.received()) == 1)
    started = time.monotonic()
    b.transport.stop()
    with pytest.raises(TransportError, match="Ping to silent@b: the connection to the node was lost") as lost:
        future.result(LONG_S)
    assert not isinstance(lost.value, (RequestTimeout, NotSent)), "it had left: b may have acted on it"
    assert time.monotonic() - started < LONG_S
    # Later requests too, until it is back (zmq would queue them for a reconnection that a dead
    # node never makes, and they would wait for their deadline).
    later = a.transport.request(Address("b", "echo"), Ping(), src_actor="t", timeout_s=30.0)
    with pytest.raises(NotSent, match=r"the connection to the node was lost .* ago and is not back"):
        later.result(LONG_S)


def test_a_request_in_flight_when_its_node_is_connected_elsewhere_fails_at_once_as_sent(cluster: Cluster) -> None:
    """Its reply would come back on the connection closed: not at its deadline (30 s here)."""
    a = cluster.node("a")
    b = cluster.node("b", handlers={"silent": lambda node, inbound: None})
    elsewhere = cluster.node("c")
    a.transport.connect("b", b.transport.address, b.public_key)
    future = a.transport.request(Address("b", "silent"), Ping(), src_actor="t", timeout_s=30.0)
    wait_until(lambda: len(b.received()) == 1)
    a.transport.connect("b", elsewhere.transport.address, b.public_key)  # b said it moved (RaftAddress)
    with pytest.raises(TransportError, match="the connection to the node moved to") as moved:
        future.result(LONG_S)
    assert not isinstance(moved.value, NotSent)


def test_listeners_hear_once_of_a_connection_that_was_up_going_down(pair: tuple[Node, Node]) -> None:
    a, b = pair
    heard: list[str] = []
    a.transport.on_peer_lost(heard.append)
    assert a.transport.request(Address("b", "echo"), Ping(), src_actor="t", timeout_s=LONG_S).result() == Pong(b"")
    b.transport.stop()
    wait_until(lambda: heard == ["b"])
    failed = a.transport.request(Address("b", "echo"), Ping(), src_actor="t", timeout_s=LONG_S)
    with pytest.raises(TransportError, match="is not back"):
        failed.result(LONG_S)
    assert heard == ["b"]  # the failed request and zmq's reconnection attempts are no new loss
    a.transport.on_peer_lost(heard.append, remove=True)


def test_stop_fails_pending_requests_and_is_idempotent(pair: tuple[Node, Node]) -> None:
    a, _ = pair
    future = a.transport.request(Address("b", "silent"), Ping(), src_actor="t", timeout_s=LONG_S)
    stream = a.transport.stream(Address("b", "silent"), Ping(), src_actor="t", timeout_s=LONG_S)
    a.transport.stop()
    a.transport.stop()
    with pytest.raises(TransportError, match="stopped"):
        future.result(LONG_S)
    with pytest.raises(TransportError, match="stopped"):
        next(stream)
    after = a.transport.request(Address("b", "echo"), Ping(), src_actor="t", timeout_s=LONG_S)
    with pytest.raises(TransportError, match="not running"):
        after.result(0)


def test_requests_from_many_threads_all_resolve(pair: tuple[Node, Node]) -> None:
    a, _ = pair
    results: list[object] = []
    lock = threading.Lock()

    def client(tag: int) -> None:
        for i in range(20):
            body = a.transport.request(
                Address("b", "echo"), Ping(bytes([tag, i])), src_actor="t", timeout_s=LONG_S
            ).result(LONG_S)
            with lock:
                results.append(body)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(LONG_S * 4)
    assert sorted(r.payload for r in results) == sorted(bytes([t, i]) for t in range(4) for i in range(20))  # type: ignore[attr-defined]


def test_a_busy_port_is_reported_with_the_address(cluster: Cluster) -> None:
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    port = holder.getsockname()[1]
    try:
        with pytest.raises(TransportError) as caught:
            cluster.node("busy", listen=f"127.0.0.1:{port}")
    finally:
        holder.close()
    assert str(caught.value) == f"cannot listen on 127.0.0.1:{port}: address already in use"


def test_the_peer_comes_back_after_a_restart_on_the_same_port_with_the_same_keys(cluster: Cluster) -> None:
    a = cluster.node("a")
    b = cluster.node("b")
    a.transport.connect("b", b.transport.address, b.public_key)
    assert a.transport.request(Address("b", "echo"), Ping(b"1"), src_actor="t", timeout_s=LONG_S).result() == Pong(b"1")
    address = b.transport.address
    b.transport.stop()
    gone = a.transport.request(Address("b", "echo"), Ping(b"2"), src_actor="t", timeout_s=SHORT_S)
    with pytest.raises(TransportError):  # the connection lost (at once), or no reply by the deadline
        gone.result(LONG_S)
    cluster.node("b", listen=address, keys=(b.public_key, b.secret_key))

    def answered() -> bool:
        future = a.transport.request(Address("b", "echo"), Ping(b"3"), src_actor="t", timeout_s=SHORT_S)
        try:
            return future.result(LONG_S) == Pong(b"3")
        except TransportError:  # not reconnected yet
            return False

    wait_until(answered, timeout=10, what="a reply from the restarted peer")


def test_a_refused_key_gets_no_reply_and_the_refusal_is_logged(
    cluster: Cluster, caplog: pytest.LogCaptureFixture
) -> None:
    b = cluster.node("b")
    stranger = cluster.node("stranger")
    del cluster.directory[stranger.public_key]  # b's admission hook no longer knows this key
    stranger.transport.connect("b", b.transport.address, b.public_key)
    with caplog.at_level(logging.WARNING, logger="swarmnode.transport"):
        future = stranger.transport.request(Address("b", "echo"), Ping(), src_actor="t", timeout_s=LONG_S)
        started = time.monotonic()
        with pytest.raises(TransportError, match="refused this node's key") as refused:
            future.result(LONG_S)
        assert not isinstance(refused.value, RequestTimeout)  # at the refusal, not at the deadline
        assert time.monotonic() - started < LONG_S
        wait_until(lambda: b.transport.statistics().refused_peers >= 1)
    refusals = [r for r in caplog.records if r.name == "swarmnode.transport" and "refused" in r.getMessage()]
    assert refusals, caplog.text
    assert refusals[0].levelno == logging.WARNING
    assert stranger.public_key.decode() in refusals[0].getMessage()
    assert "127.0.0.1" in refusals[0].getMessage()
    assert b.received() == []


def test_an_identity_follows_its_key_across_reconnections(cluster: Cluster) -> None:
    b = cluster.node("b")
    keys = generate_keypair()
    for attempt, role in enumerate(["worker", "manager"]):
        # The same key comes back as another node with another role: the new connection
        # must carry what the admission hook said this time.
        client = cluster.node(f"client-{attempt}", role=role, keys=keys)
        client.transport.connect("b", b.transport.address, b.public_key)
        client.transport.request(Address("b", "echo"), Ping(), src_actor="t", timeout_s=LONG_S).result(LONG_S)
        client.transport.stop()
    assert [i.peer for i in b.received()] == [Identity("client-0", "worker"), Identity("client-1", "manager")]


def test_statistics_count_messages_and_peers(pair: tuple[Node, Node]) -> None:
    a, b = pair
    for _ in range(3):
        a.transport.request(Address("b", "echo"), Ping(), src_actor="t", timeout_s=LONG_S).result(LONG_S)
    sa = a.transport.statistics()
    assert (sa.sent, sa.received, sa.peers) == (3, 3, 1)
    # b counts a reply just after handing it to zmq: the reply may reach a before the count moves.
    sb = wait_until(lambda: (s := b.transport.statistics()).sent == 3 and s, LONG_S, "b's send count")
    assert (sb.sent, sb.received, sb.peers) == (3, 3, 0)
    assert sb.bad_frames == sb.refused_peers == 0


def test_an_error_reply_body_becomes_remote_error(cluster: Cluster) -> None:
    a = cluster.node("a")
    b = cluster.node(
        "b", handlers={"no": lambda node, inbound: node.transport.reply(inbound, ErrorReply("forbidden", "no"))}
    )
    a.transport.connect("b", b.transport.address, b.public_key)
    with pytest.raises(RemoteError) as caught:
        a.transport.request(Address("b", "no"), Ping(), src_actor="t", timeout_s=LONG_S).result(LONG_S)
    assert (caught.value.code, caught.value.text) == ("forbidden", "no")


def test_closing_a_stream_early_forgets_the_request(pair: tuple[Node, Node]) -> None:
    a, _ = pair
    stream = a.transport.stream(Address("b", "three-parts"), Ping(), src_actor="t", timeout_s=LONG_S)
    assert next(stream) == Pong(b"\x00")
    stream.close()  # type: ignore[attr-defined]
    with pytest.raises(StopIteration):
        next(stream)
    assert a.transport.request(Address("b", "echo"), Ping(), src_actor="t", timeout_s=LONG_S).result(LONG_S)


def test_an_over_size_request_fails_before_it_is_sent(cluster: Cluster) -> None:
    a = cluster.node("a", max_message_bytes=1024)
    b = cluster.node("b")
    a.transport.connect("b", b.transport.address, b.public_key)
    future = a.transport.request(Address("b", "echo"), Ping(b"x" * 2000), src_actor="t", timeout_s=LONG_S)
    with pytest.raises(TransportError, match="over the limit of 1024 bytes"):
        future.result(0)


def test_a_transport_cannot_start_twice(cluster: Cluster) -> None:
    a = cluster.node("a")
    with pytest.raises(TransportError, match="already started"):
        a.transport.start()


def test_bad_keys_are_refused_with_a_readable_error() -> None:
    with pytest.raises(TransportError, match="40 bytes"):
        Transport(
            node_id="a",
            listen="127.0.0.1:0",
            public_key=b"short",
            secret_key=b"short",
            admit=lambda key, address: None,
            deliver=lambda inbound: False,
        )


def test_stream_end_alone_is_an_empty_stream(cluster: Cluster) -> None:
    a = cluster.node("a")
    b = cluster.node("b", handlers={"empty": lambda node, inbound: node.transport.reply(inbound, StreamEnd())})
    a.transport.connect("b", b.transport.address, b.public_key)
    assert list(a.transport.stream(Address("b", "empty"), Ping(), src_actor="t", timeout_s=LONG_S)) == []
