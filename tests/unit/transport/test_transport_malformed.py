"""Whatever an admitted peer sends, the transport answers or drops it and keeps serving."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import msgpack
import pytest
import zmq
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from swarmnode.actors.messages import (
    WIRE_VERSION,
    Address,
    Envelope,
    ErrorReply,
    Ping,
    Pong,
    decode_envelope,
    encode_envelope,
)
from swarmnode.transport import Identity, generate_keypair
from tests.support import wait_until

if TYPE_CHECKING:
    from tests.unit.transport.conftest import Cluster, Node

LONG_S = 5.0
QUIET_MS = 200  # how long a dropped message is given to (wrongly) produce an answer


def raw_envelope(**changes: Any) -> bytes:
    fields: dict[str, Any] = {
        "v": WIRE_VERSION,
        "kind": "Ping",
        "id": 7,
        "reply_to": 0,
        "src": ["raw", "tester"],
        "dst": ["b", "echo"],
        "body": {"payload": b"ok"},
    }
    fields.update(changes)
    return msgpack.packb(fields, use_bin_type=True)


@pytest.fixture
def served(cluster: Cluster) -> tuple[Node, zmq.Socket[bytes]]:
    """Node "b", and a bare CURVE DEALER that b admits as the worker "raw"."""
    b = cluster.node("b")
    keys = generate_keypair()
    cluster.directory[keys[0]] = Identity(node_id="raw", role="worker")
    return b, cluster.raw_dealer(b, keys)


def answer(sock: zmq.Socket[bytes], timeout_ms: int = int(LONG_S * 1000)) -> Envelope | None:
    if not sock.poll(timeout_ms, zmq.POLLIN):
        return None
    return decode_envelope(sock.recv())


def assert_still_serving(sock: zmq.Socket[bytes], request_id: int = 99) -> None:
    sock.send(raw_envelope(id=request_id))
    reply = answer(sock)
    while reply is not None and reply.reply_to != request_id:  # answers to the bad input before it
        reply = answer(sock)
    assert reply is not None, "no answer to a good request after bad input"
    assert reply.body == Pong(b"ok")


def test_a_good_hand_made_request_is_answered(served: tuple[Node, zmq.Socket[bytes]]) -> None:
    _, sock = served
    assert_still_serving(sock)


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"\xc1\xff garbage", id="random-bytes"),
        pytest.param(b"", id="empty"),
        pytest.param(msgpack.packb([1, 2, 3]), id="not-a-map"),
        pytest.param(raw_envelope(v=2, id="seven"), id="wrong-version-and-unreadable-id"),
        pytest.param(raw_envelope(id=-1), id="negative-id"),
        pytest.param(raw_envelope(src="raw"), id="bad-src"),
        pytest.param(raw_envelope(id=0, kind="NoSuchKind"), id="one-way-unknown-kind"),
        pytest.param(raw_envelope(reply_to=5, id=0), id="reply-to-nothing"),
    ],
)
def test_unreadable_or_unanswerable_input_is_dropped(
    served: tuple[Node, zmq.Socket[bytes]], data: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    b, sock = served
    with caplog.at_level(logging.WARNING, logger="swarmnode.transport"):
        sock.send(data)
        assert answer(sock, QUIET_MS) is None
    stats = b.transport.statistics()
    assert stats.bad_frames + stats.unmatched_replies == 1
    if stats.bad_frames:
        assert any(r.levelno == logging.WARNING for r in caplog.records), caplog.text
    assert_still_serving(sock)


@pytest.mark.parametrize(
    ("data", "text"),
    [
        pytest.param(raw_envelope(kind="NoSuchKind"), "unknown message kind 'NoSuchKind'", id="unknown-kind"),
        pytest.param(
            raw_envelope(body={"payload": "text"}), "Ping.payload: expected bytes, got str 'text'", id="bad-field"
        ),
        pytest.param(raw_envelope(body={"payload": b"", "x": 1}), "Ping: unknown field(s) 'x'", id="unknown-field"),
        pytest.param(raw_envelope(kind=3), "envelope kind must be a string, not int", id="kind-not-a-string"),
        pytest.param(raw_envelope(v=2), "wire version 2 is not supported (this node speaks 1)", id="wrong-version"),
        pytest.param(raw_envelope(extra=1), "envelope fields: unknown 'extra'", id="unknown-envelope-field"),
    ],
)
def test_a_readable_request_with_a_bad_body_is_answered_bad_message(
    served: tuple[Node, zmq.Socket[bytes]], data: bytes, text: str
) -> None:
    b, sock = served
    sock.send(data)
    reply = answer(sock)
    assert reply is not None
    assert reply.reply_to == 7
    assert reply.body == ErrorReply(code="bad-message", text=text)
    assert b.transport.statistics().bad_frames == 1
    assert b.received() == []
    assert_still_serving(sock)


def test_a_request_for_another_node_is_answered_bad_message(served: tuple[Node, zmq.Socket[bytes]]) -> None:
    b, sock = served
    sock.send(raw_envelope(dst=["elsewhere", "echo"]))
    reply = answer(sock)
    assert reply is not None
    assert isinstance(reply.body, ErrorReply)
    assert reply.body.code == "bad-message"
    assert "'elsewhere'" in reply.body.text
    assert b.received() == []


def test_a_multi_part_message_is_dropped(served: tuple[Node, zmq.Socket[bytes]]) -> None:
    b, sock = served
    sock.send_multipart([raw_envelope(), raw_envelope()])
    assert answer(sock, QUIET_MS) is None
    assert b.transport.statistics().bad_frames == 1
    assert_still_serving(sock)


def test_an_over_size_message_is_dropped_and_the_node_keeps_serving(cluster: Cluster) -> None:
    b = cluster.node("b", max_message_bytes=1024)
    a = cluster.node("a")
    a.transport.connect("b", b.transport.address, b.public_key)
    keys = generate_keypair()
    cluster.directory[keys[0]] = Identity(node_id="raw", role="worker")
    sock = cluster.raw_dealer(b, keys)
    # zmq itself cuts a connection that sends more than MAXMSGSIZE: nothing reaches deliver().
    sock.send(raw_envelope(body={"payload": b"x" * 4096}))
    assert answer(sock, QUIET_MS) is None
    assert b.received() == []
    reply = a.transport.request(Address("b", "echo"), Ping(b"after"), src_actor="t", timeout_s=LONG_S)
    assert reply.result(LONG_S) == Pong(b"after")


def test_a_flood_of_garbage_is_counted_and_logged_at_a_limited_rate(
    served: tuple[Node, zmq.Socket[bytes]], caplog: pytest.LogCaptureFixture
) -> None:
    b, sock = served
    with caplog.at_level(logging.WARNING, logger="swarmnode.transport"):
        for i in range(500):
            sock.send(b"\xc1" + i.to_bytes(2, "big"))
        wait_until(lambda: b.transport.statistics().bad_frames == 500, what="500 bad frames counted")
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert 1 <= len(warnings) < 10
    assert_still_serving(sock)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=300))
def test_random_bytes_never_stop_the_transport(served: tuple[Node, zmq.Socket[bytes]], data: bytes) -> None:
    b, sock = served
    before = b.transport.statistics()
    sock.send(data)

    # Every input is either counted as bad, or decodes (then it was a valid message).
    def handled() -> bool:
        now = b.transport.statistics()
        return now.bad_frames + now.received > before.bad_frames + before.received

    wait_until(handled, what="the input counted")
    _drain(sock)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    fields=st.dictionaries(
        st.sampled_from(["v", "kind", "id", "reply_to", "src", "dst", "body", "zz"]),
        st.one_of(
            st.integers(min_value=-(2**63), max_value=2**64 - 1),
            st.text(max_size=5),
            st.binary(max_size=5),
            st.none(),
            st.lists(st.text(max_size=3), max_size=3),
            st.dictionaries(st.text(max_size=3), st.integers(min_value=-(2**63), max_value=2**63), max_size=2),
        ),
    )
)
def test_random_envelopes_get_an_error_reply_or_nothing(
    served: tuple[Node, zmq.Socket[bytes]], fields: dict[str, Any]
) -> None:
    b, sock = served
    before = b.transport.statistics()
    sock.send(msgpack.packb(fields, use_bin_type=True))

    def handled() -> bool:
        now = b.transport.statistics()
        return now.bad_frames + now.received > before.bad_frames + before.received

    wait_until(handled, what="the envelope counted")
    while sock.poll(0, zmq.POLLIN):
        assert isinstance(decode_envelope(sock.recv()).body, ErrorReply | Pong)


def test_the_node_still_answers_after_the_random_input(served: tuple[Node, zmq.Socket[bytes]]) -> None:
    _, sock = served
    for data in (b"\x00", b"\xff" * 100, raw_envelope(v=None), raw_envelope(body=[1])):
        sock.send(data)
    assert_still_serving(sock)


def test_a_reply_bigger_than_the_limit_becomes_an_error_reply(cluster: Cluster) -> None:
    b = cluster.node(
        "b",
        max_message_bytes=1024,
        handlers={"big": lambda node, inbound: node.transport.reply(inbound, Pong(b"x" * 2000))},
    )
    a = cluster.node("a")
    a.transport.connect("b", b.transport.address, b.public_key)
    future = a.transport.request(Address("b", "big"), Ping(), src_actor="t", timeout_s=LONG_S)
    with pytest.raises(Exception, match="over the limit of 1024 bytes"):
        future.result(LONG_S)


def _drain(sock: zmq.Socket[bytes]) -> bool:
    while sock.poll(0, zmq.POLLIN):
        sock.recv()
    return False


def test_encode_envelope_round_trips_the_hand_made_request() -> None:
    # Guards the helper above: the hand-made bytes are what encode_envelope makes.
    env = Envelope(id=7, reply_to=0, src=Address("raw", "tester"), dst=Address("b", "echo"), body=Ping(b"ok"))
    assert decode_envelope(raw_envelope()) == env
    assert decode_envelope(encode_envelope(env)) == env
