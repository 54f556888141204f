"""Attempts that must be refused, and logged: stolen roles, expired or removed certificates, bad tokens."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import msgpack
import zmq

from swarmnode.actors.ca.tokens import make_join_token, parse_join_token
from swarmnode.actors.control.messages import NodeListRequest
from swarmnode.actors.messages import Address, Envelope, Ping, encode_envelope
from tests.support import wait_until
from tests.support.nodes import REPLY_WAIT_MS, Swarm, run_cli


def keys_of(node) -> tuple[bytes, bytes]:
    keys = json.loads((node.state_dir / "curve.key").read_text())
    return keys["public"].encode(), keys["secret"].encode()


def dealer_as(zctx, node, manager) -> zmq.Socket:
    """A raw CURVE connection to the manager with ``node``'s own keys."""
    public, secret = keys_of(node)
    status = manager.try_status()
    sock = zctx.socket(zmq.DEALER)
    sock.linger = 0
    sock.curve_serverkey = status.curve_public_key.encode()
    sock.curve_publickey, sock.curve_secretkey = public, secret
    sock.connect(f"tcp://{manager.listen}")
    return sock


def envelope(body, actor: str, env_id: int = 1) -> bytes:
    return encode_envelope(Envelope(env_id, 0, Address("", "test"), Address("", actor), body))


def logged(node, text: str) -> bool:
    return any(text in r["msg"] for r in node.log_records())


def try_join(swarm: Swarm, token: str, state_dir: Path) -> subprocess.CompletedProcess[str]:
    """Run `swarm-node join` against the swarm's manager with ``token``: a joiner that should fail."""
    return run_cli(
        "join", swarm.manager_addr, "--token", token, "--listen", "127.0.0.1:0", "--state-dir", str(state_dir)
    )


def test_a_worker_certificate_cannot_call_a_manager_only_actor(nodes, zctx):
    swarm = Swarm(nodes)
    worker = swarm.join("w1")
    worker_id = worker.node_id
    sock = dealer_as(zctx, worker, swarm.manager)
    sock.send(envelope(NodeListRequest(), "control"))
    assert sock.poll(REPLY_WAIT_MS * 2)
    reply = msgpack.unpackb(sock.recv(), raw=False)
    assert reply["body"]["code"] == "forbidden"
    assert f"needs role local or manager; the sender is worker node {worker_id}" in reply["body"]["text"]
    wait_until(
        lambda: logged(swarm.manager, f"refused NodeListRequest to actor control from worker node {worker_id}"), 10
    )


def test_an_expired_certificate_is_refused(nodes, zctx):
    expiry_s = 6.0
    swarm = Swarm(nodes, env={"SWARM_NODE_TEST_CERT_EXPIRY_S": str(expiry_s)})
    worker = swarm.join("w1")
    worker_id = worker.node_id
    worker.stop()  # a stopped node cannot renew: its certificate runs out
    expiry = swarm.nodes()[worker_id].cert_expiry
    wait_until(lambda: time.time() > expiry + 0.5, expiry_s + 5, "the certificate to expire")
    sock = dealer_as(zctx, worker, swarm.manager)
    sock.send(envelope(Ping(payload=b"x"), "control"))
    assert sock.poll(REPLY_WAIT_MS) == 0, "an expired certificate got an answer"
    wait_until(lambda: logged(swarm.manager, f"the certificate of node {worker_id} expired at"), 10)
    # Started again, the node says why it cannot take part instead of failing silently.
    result = run_cli("start", "--listen", worker.listen, "--state-dir", str(worker.state_dir))
    assert result.returncode == 1
    assert "expired" in result.stderr


def test_a_wrong_token_is_refused_and_no_certificate_is_written(nodes, short_tmp):
    swarm = Swarm(nodes)
    real = parse_join_token(swarm.token())
    wrong = make_join_token(real.ca_digest, b"\x01" * 16)
    result = try_join(swarm, wrong, short_tmp / "j")
    assert result.returncode == 1
    assert "the join token is not valid for this swarm: it is wrong or has been rotated" in result.stderr
    assert not (short_tmp / "j" / "certificates").exists()
    wait_until(lambda: logged(swarm.manager, "refused a join from"), 10)


def test_a_rotated_token_is_refused_at_once(nodes, short_tmp):
    swarm = Swarm(nodes)
    old = swarm.token()
    rotated = run_cli("--state-dir", str(swarm.manager.state_dir), "join-token", "--rotate", "worker")
    assert rotated.returncode == 0, rotated.stderr
    assert swarm.token() != old
    result = try_join(swarm, old, short_tmp / "j")
    assert result.returncode == 1
    assert "has been rotated" in result.stderr
    assert swarm.join("w1").node_id  # the new token works


def test_a_token_for_another_ca_stops_the_joiner_before_it_sends_anything(nodes, short_tmp):
    swarm = Swarm(nodes)
    real = parse_join_token(swarm.token())
    other = make_join_token("ab" * 32, bytes.fromhex(f"{int(real.secret, 36):032x}"))
    result = try_join(swarm, other, short_tmp / "j")
    assert result.returncode == 1
    assert "does not match the join token" in result.stderr
    assert "man-in-the-middle" in result.stderr
    # A later join with this swarm's digest but a wrong secret is refused and logged by the same CA
    # actor: once that line is in the log, so would be the refusal of a token the first joiner sent.
    wrong = make_join_token(real.ca_digest, b"\x01" * 16)
    assert try_join(swarm, wrong, short_tmp / "k").returncode == 1
    wait_until(lambda: logged(swarm.manager, "the join token is not valid for this swarm"), 10, "the later refusal")
    refusals = [r["msg"] for r in swarm.manager.log_records() if "refused a join from" in r["msg"]]
    assert len(refusals) == 1, f"the joiner sent its token to a manager whose root CA does not match it: {refusals}"


def test_a_malformed_token_is_a_usage_error(short_tmp):
    result = run_cli("join", "127.0.0.1:2377", "--token", "SWMTKN-2-abc", "--state-dir", str(short_tmp / "j"))
    assert result.returncode == 2
    assert "--token" in result.stderr


def test_no_manager_at_the_address_is_a_clear_error(short_tmp):
    from tests.support.nodes import free_port_pair

    token = make_join_token("ab" * 32, b"\x02" * 16)
    port = free_port_pair()
    result = run_cli(
        "join",
        f"127.0.0.1:{port}",
        "--token",
        token,
        "--listen",
        "127.0.0.1:0",
        "--state-dir",
        str(short_tmp / "j"),
        timeout=60,
    )
    assert result.returncode == 1
    assert f"no swarm manager answers at 127.0.0.1:{port}" in result.stderr
