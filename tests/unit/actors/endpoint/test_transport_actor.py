"""TransportActor: a restarted transport listens where the first one did, and waits a moment for its port;
every message is judged against the current membership."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pykka
import pytest

from swarmnode.actors.endpoint import TransportActor
from swarmnode.actors.messages import Address, Envelope, ErrorReply, Ping
from swarmnode.actors.runtime import CertAdmission, CurveKeys, Member, Membership, NodeContext
from swarmnode.actors.supervision import StartFailed
from swarmnode.transport import Identity, Inbound, generate_keypair, split_host_port

HOLD_S = 0.2  # well inside the actor's REBIND_S


@pytest.fixture
def context(tmp_path: Path) -> NodeContext:
    pub, sec = generate_keypair()
    return NodeContext("n1", "worker", tmp_path, "127.0.0.1:0", CurveKeys(pub, sec))


@pytest.fixture
def started() -> Iterator[list[pykka.ActorRef[TransportActor]]]:
    refs: list[pykka.ActorRef[TransportActor]] = []
    yield refs
    for ref in refs:
        ref.stop(block=True, timeout=10)


def start(context: NodeContext, started: list[pykka.ActorRef[TransportActor]]) -> None:
    started.append(TransportActor.start_linked(None, context, CertAdmission(Membership)))


def held(port: int) -> socket.socket:
    holder = socket.socket()
    holder.bind(("127.0.0.1", port))
    holder.listen()
    return holder


def test_a_restart_listens_on_the_port_the_kernel_chose_first(context, started):
    start(context, started)
    first = context.transport.address
    started.pop().stop(block=True, timeout=10)
    start(context, started)
    assert context.transport.address == first


def test_a_restart_waits_for_its_port_while_something_else_holds_it(context, started):
    start(context, started)
    _, port = split_host_port(context.transport.address)
    started.pop().stop(block=True, timeout=10)
    holder = held(port)
    release = threading.Timer(HOLD_S, holder.close)
    release.start()
    try:
        start(context, started)
    finally:
        release.cancel()
        holder.close()
    assert split_host_port(context.transport.address)[1] == port


def test_a_restart_gives_up_on_a_port_held_for_longer(context, started):
    start(context, started)
    _, port = split_host_port(context.transport.address)
    started.pop().stop(block=True, timeout=10)
    with held(port), pytest.raises(StartFailed, match=f"cannot listen on 127.0.0.1:{port}: address already in use"):
        start(context, started)


# ------------------------------------------------------------------------------- admission per message


class RecordingTransport:
    def __init__(self) -> None:
        self.replies: list[object] = []

    def reply(self, inbound: object, body: object) -> None:
        self.replies.append(body)


def routed(context: NodeContext, peer: Identity, request_id: int) -> tuple[bool, list[object]]:
    """Route a Ping from ``peer`` to this node's "ca" actor (none runs); return whether it was
    handled here (refused) and the replies sent."""
    actor = TransportActor(None, context, CertAdmission(Membership))
    transport = RecordingTransport()
    actor.transport = transport  # type: ignore[assignment]
    envelope = Envelope(request_id, 0, Address(peer.node_id, "worker"), Address("n1", "ca"), Ping())
    return actor._route(Inbound(envelope, peer, origin=None)), transport.replies


def test_a_removed_nodes_requests_are_answered_removed_and_reach_no_actor(context: NodeContext) -> None:
    context.set_membership(Membership(revoked={"b": b"B" * 40}))
    for peer in (Identity("b", "removed"), Identity("b", "worker")):  # admitted as removed, or before the rm
        assert routed(context, peer, 7) == (True, [ErrorReply("removed", "node b was removed from the swarm")])
    assert routed(context, Identity("b", "removed"), 0) == (True, []), "a one-way message is dropped unanswered"


def test_an_expired_certificate_is_still_forbidden(context: NodeContext) -> None:
    context.set_membership(Membership(by_key={b"A" * 40: Member("a", "worker", 1.0)}))
    handled, (reply,) = routed(context, Identity("a", "worker"), 7)
    assert handled and isinstance(reply, ErrorReply) and reply.code == "forbidden" and "expired" in reply.text


def test_a_member_is_routed_on(context: NodeContext) -> None:
    context.set_membership(Membership(by_key={b"A" * 40: Member("a", "worker", 4e9)}))
    assert routed(context, Identity("a", "worker"), 7) == (False, [])  # on to its actor (none runs here)
