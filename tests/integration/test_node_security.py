"""A node refuses unknown CURVE keys and survives malformed frames, and says so in its log."""

from __future__ import annotations

import os
import random

import msgpack
import zmq

from swarmnode.actors.messages import Address, Envelope, Ping, Pong, encode_envelope
from tests.support import wait_until
from tests.support.nodes import REPLY_WAIT_MS


def ping_bytes(env_id: int = 1) -> bytes:
    return encode_envelope(Envelope(env_id, 0, Address("", "cli"), Address("", "control"), Ping(payload=b"x")))


def curve_dealer(zctx, server_key: bytes, address: str, keys: tuple[bytes, bytes] | None = None):
    public, secret = keys or zmq.curve_keypair()
    sock = zctx.socket(zmq.DEALER)
    sock.curve_serverkey = server_key
    sock.curve_publickey = public
    sock.curve_secretkey = secret
    sock.linger = 0
    sock.connect(f"tcp://{address}")
    return sock, public


def test_unknown_curve_key_may_only_ask_to_join_and_is_refused_otherwise(nodes, zctx):
    node = nodes().start()
    status = node.try_status()
    sock, public = curve_dealer(zctx, status.curve_public_key.encode(), status.address)
    sock.send(ping_bytes())
    assert sock.poll(REPLY_WAIT_MS * 2), "an anonymous peer of a manager gets an answer: forbidden"
    reply = msgpack.unpackb(sock.recv(), raw=False)
    assert reply["kind"] == "Error" and reply["body"]["code"] == "forbidden"
    assert f"the sender is anonymous node {public.decode()}" in reply["body"]["text"]
    wait_until(
        lambda: any(public.decode() in r["msg"] and r["level"] == "warning" for r in node.log_records()),
        10,
        "the refusal in the node log",
    )
    # The node still serves its own control socket.
    assert node.request("control", Ping(payload=b"ok")) == Pong(payload=b"ok")


def test_plain_tcp_client_without_curve_gets_nothing(nodes, zctx):
    node = nodes().start()
    sock = zctx.socket(zmq.DEALER)
    sock.linger = 0
    sock.connect(f"tcp://{node.address}")
    sock.send(ping_bytes())
    assert sock.poll(REPLY_WAIT_MS) == 0
    assert node.request("control", Ping(payload=b"ok")) == Pong(payload=b"ok")


def test_malformed_frames_on_the_control_socket_get_errors_and_the_node_keeps_serving(nodes, zctx):
    node = nodes().start()
    seed = int.from_bytes(os.urandom(4), "big")
    rng = random.Random(seed)
    sock = zctx.socket(zmq.DEALER)
    sock.linger = 0
    sock.connect(f"ipc://{node.control_path}")
    garbage = [rng.randbytes(rng.randint(0, 300)) for _ in range(50)]
    wrong_version = msgpack.packb(
        {"v": 99, "kind": "Ping", "id": 7, "reply_to": 0, "src": ["", "x"], "dst": ["", "control"], "body": {}}
    )
    bad_field = msgpack.packb(
        {"v": 1, "kind": "Ping", "id": 8, "reply_to": 0, "src": ["", "x"], "dst": ["", "control"], "body": {"p": 1}}
    )
    try:
        for frame in [*garbage, wrong_version, bad_field, b"\xc1" * 10]:
            sock.send(frame)
        # The one well-formed-header request with a bad body gets an error reply naming the field.
        replies = []
        while sock.poll(REPLY_WAIT_MS):
            replies.append(msgpack.unpackb(sock.recv(), raw=False))
        errors = [r for r in replies if r.get("kind") == "Error"]
        assert any(r["reply_to"] == 8 and "unknown field(s) 'p'" in r["body"]["text"] for r in errors), replies
        assert any(r["reply_to"] == 7 and "wire version 99 is not supported" in r["body"]["text"] for r in errors)
        assert node.request("control", Ping(payload=b"ok")) == Pong(payload=b"ok")
    except AssertionError as exc:
        raise AssertionError(f"{exc} (seed {seed})") from exc
