"""Handlers reached over a real in-process transport: role checks, refusals, crashes, unknown kinds."""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from swarmnode.actors.endpoint import TransportActor
from swarmnode.actors.messages import Address, Crash, Message, Ping, Pong, message
from swarmnode.actors.runtime import (
    ANY_ROLE,
    LOCAL_ONLY,
    CertAdmission,
    CurveKeys,
    Member,
    Membership,
    NodeActor,
    NodeContext,
    Refused,
    handles,
)
from swarmnode.actors.runtime.addressable import Request
from swarmnode.actors.supervision import ActorCrashed, Link, Strategy, Supervisor
from swarmnode.actors.supervision.actor import GetStatistics
from swarmnode.transport import RemoteError, Transport, generate_keypair
from tests.support import wait_until

TIMEOUT_S = 5.0
HELD = threading.Event()  # an Echo asked to "hold" waits for it


@message
class EchoRequest(Message):
    KIND = "TestEchoRequest"
    text: str


@message
class EchoReply(Message):
    KIND = "TestEchoReply"
    text: str


@message
class SecretRequest(Message):
    KIND = "TestSecretRequest"


class Echo(NodeActor):
    def __init__(self, link: Link | None) -> None:
        super().__init__(link)

    @handles(EchoRequest, roles=ANY_ROLE)
    def echo(self, msg: EchoRequest, request: Request) -> EchoReply:
        if msg.text == "refuse":
            raise Refused("refused", "this text is not allowed: 'refuse'")
        if msg.text == "boom":
            raise RuntimeError("handler bug")
        if msg.text == "hold":
            assert HELD.wait(TIMEOUT_S)
        return EchoReply(text=f"{request.role}:{msg.text}")

    @handles(SecretRequest, roles=LOCAL_ONLY)
    def secret(self, msg: SecretRequest, request: Request) -> EchoReply:
        return EchoReply(text="secret")


@dataclass
class Cluster:
    server: NodeContext
    client: Transport
    root: object

    def ask(self, body: Message) -> Message:
        future = self.client.request(Address(self.server.node_id, "echo"), body, src_actor="test", timeout_s=TIMEOUT_S)
        return future.result(TIMEOUT_S + 1)


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    pub, sec = generate_keypair()
    context = NodeContext(
        node_id="server", role="manager", state_dir=tmp_path, listen="127.0.0.1:0", keys=CurveKeys(pub, sec)
    )
    client_pub, client_sec = generate_keypair()
    members = Membership(by_key={client_pub: Member("client", "worker", math.inf)})
    admission = CertAdmission(lambda: members)
    root = Supervisor.start_linked(
        None,
        strategy=Strategy.ONE_FOR_ONE,
        children=[TransportActor.spec("transport", context, admission), Echo.spec("echo")],
        registry=context.registry,
        name="node",
    )
    client = Transport.outbound_only("client", client_pub, client_sec)
    client.start()
    try:
        client.connect("server", context.transport.address, pub)
        yield Cluster(server=context, client=client, root=root)
    finally:
        client.stop()
        root.stop(block=True, timeout=10)


def test_the_sender_identity_reaches_the_handler(cluster):
    assert cluster.ask(EchoRequest(text="hi")) == EchoReply(text="worker:hi")


def test_every_actor_answers_ping(cluster):
    assert cluster.ask(Ping(payload=b"p")) == Pong(payload=b"p")


def test_a_role_that_is_not_allowed_is_refused_and_logged(cluster, caplog):
    with pytest.raises(RemoteError) as err:
        cluster.ask(SecretRequest())
    assert err.value.code == "forbidden"
    assert "TestSecretRequest to actor 'echo' needs role local; the sender is worker node client" in err.value.text
    assert "refused TestSecretRequest to actor echo from worker node client" in caplog.text


def test_crash_requests_from_the_network_are_refused(cluster):
    with pytest.raises(RemoteError) as err:
        cluster.ask(Crash(reason="remote chaos"))
    assert err.value.code == "forbidden"


def test_refused_is_an_error_reply_not_a_crash(cluster):
    with pytest.raises(RemoteError) as err:
        cluster.ask(EchoRequest(text="refuse"))
    assert (err.value.code, err.value.text) == ("refused", "this text is not allowed: 'refuse'")
    assert cluster.ask(EchoRequest(text="after")) == EchoReply(text="worker:after")
    stats = cluster.root.ask(GetStatistics(), timeout=TIMEOUT_S)
    assert {a.path: a.restarts for a in stats.actors}["echo"] == 0


def test_a_handler_bug_answers_crashed_and_the_actor_is_restarted(cluster):
    with pytest.raises(RemoteError) as err:
        cluster.ask(EchoRequest(text="boom"))
    assert err.value.code == "crashed"
    assert "actor 'echo' crashed: RuntimeError: handler bug" in err.value.text

    def restarted() -> bool:
        stats = cluster.root.ask(GetStatistics(), timeout=TIMEOUT_S)
        return {a.path: (a.state, a.restarts) for a in stats.actors}["echo"] == ("running", 1)

    wait_until(restarted, TIMEOUT_S, "echo restarted")
    assert cluster.ask(EchoRequest(text="again")) == EchoReply(text="worker:again")


def test_requests_queued_behind_a_crash_are_answered_unavailable_at_once(cluster):
    """Not left to their senders' timeouts: the crashed actor's mailbox answers them."""
    echo = cluster.server.registry.get("echo")
    HELD.clear()
    send = [
        cluster.client.request(Address("server", "echo"), EchoRequest(text=t), src_actor="t", timeout_s=TIMEOUT_S)
        for t in ("hold", "boom", "after")
    ]
    try:
        wait_until(lambda: echo.actor_inbox.qsize() == 2, TIMEOUT_S, "boom and after queued behind hold")
    finally:
        HELD.set()  # the echo's thread is not left waiting, whatever happened
    assert send[0].result(TIMEOUT_S + 1) == EchoReply(text="worker:hold")
    with pytest.raises(RemoteError, match="handler bug"):
        send[1].result(TIMEOUT_S + 1)
    with pytest.raises(RemoteError) as err:
        send[2].result(1.0)  # well before the request's own timeout
    assert err.value.code == "unavailable"
    assert err.value.text == "actor 'echo' crashed before it handled TestEchoRequest; try again"


def test_an_unknown_kind_lists_what_the_actor_handles(cluster):
    with pytest.raises(RemoteError) as err:
        cluster.ask(Pong(payload=b""))
    assert err.value.code == "unknown-kind"
    assert "actor 'echo' does not handle Pong; it handles Crash, Ping, TestEchoRequest, TestSecretRequest" in (
        err.value.text
    )


def test_an_unknown_actor_is_named(cluster):
    future = cluster.client.request(Address("server", "nobody"), Ping(), src_actor="t", timeout_s=TIMEOUT_S)
    with pytest.raises(RemoteError) as err:
        future.result(TIMEOUT_S + 1)
    assert err.value.code == "unknown-actor"
    assert "nobody" in err.value.text


def test_local_asks_use_the_local_role_and_crash_like_tells(cluster):
    echo = cluster.server.registry.get("echo")
    assert echo.ask(SecretRequest(), timeout=TIMEOUT_S) == EchoReply(text="secret")
    with pytest.raises(ActorCrashed, match="actor 'echo' crashed"):
        echo.ask(EchoRequest(text="boom"), timeout=TIMEOUT_S)
    fresh = wait_until(lambda: cluster.server.registry.get("echo") not in (None, echo), TIMEOUT_S, "a new echo")
    assert fresh
