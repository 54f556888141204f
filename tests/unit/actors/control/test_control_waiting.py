"""ControlActor's requests that wait on Raft run beside the actor and answer as its handlers do.

The actor is built but not started; a recording stand-in for the transport takes the answers.
"""

from __future__ import annotations

import functools
import threading
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from swarmnode.actors.control.actor import WAITING_THREADS, ControlActor, _WaiterFailed
from swarmnode.actors.control.messages import NodeListRequest
from swarmnode.actors.messages import Address, Envelope, ErrorReply, Message, Pong
from swarmnode.actors.raft import ConfState
from swarmnode.actors.runtime import NodeContext, Refused
from swarmnode.actors.runtime.addressable import Delivery, Request
from swarmnode.actors.runtime.context import CurveKeys
from swarmnode.transport import Identity, Inbound

DEADLINE_S = 10.0


class RecordingTransport:
    """Takes the replies the actor sends; ``answered`` is set at the first."""

    def __init__(self) -> None:
        self.replies: list[Message] = []
        self.answered = threading.Event()

    def reply(self, inbound: Inbound, body: Message) -> None:
        self.replies.append(body)
        self.answered.set()


@pytest.fixture
def actor(tmp_path: Path) -> Any:
    context = NodeContext(
        node_id="n1", role="manager", state_dir=tmp_path, listen="127.0.0.1:0", keys=CurveKeys(b"p" * 40, b"s" * 40)
    )
    made = ControlActor(None, context)
    yield made
    made.on_stop()


def delivered(transport: RecordingTransport) -> Request:
    env = Envelope(7, 0, Address("", "cli"), Address("", "control"), NodeListRequest())
    inbound = Inbound(env, Identity("n1", "local"), object())
    return Request(peer=Identity("n1", "local"), delivery=Delivery(inbound, transport))  # type: ignore[arg-type]


def answer_of(actor: ControlActor, work: Any) -> tuple[RecordingTransport, Request]:
    transport = RecordingTransport()
    request = delivered(transport)
    actor._run_aside(work, request, "raft")
    assert transport.answered.wait(DEADLINE_S), "no answer"
    return transport, request


def test_a_waiting_request_is_answered_with_what_it_returns(actor: ControlActor) -> None:
    transport, _ = answer_of(actor, lambda request: Pong(b"x"))
    assert transport.replies == [Pong(b"x")]


def test_a_waiting_request_refused_is_answered_with_the_refusal(actor: ControlActor) -> None:
    def refuse(request: Request) -> Message:
        raise Refused("unavailable", "the swarm has no leader right now")

    transport, _ = answer_of(actor, refuse)
    assert transport.replies == [ErrorReply(code="unavailable", text="the swarm has no leader right now")]


def test_a_bug_in_a_waiting_request_is_answered_and_crashes_the_actor_on_its_own_thread(actor: ControlActor) -> None:
    def bug(request: Request) -> Message:
        raise KeyError("oops")

    transport, _ = answer_of(actor, bug)
    (reply,) = transport.replies
    assert isinstance(reply, ErrorReply) and reply.code == "crashed" and "oops" in reply.text
    told = actor.actor_inbox.get(timeout=DEADLINE_S).message
    assert isinstance(told, _WaiterFailed)
    with pytest.raises(KeyError, match="oops"):
        actor.on_receive(told)


def test_a_waiting_handler_runs_on_the_actors_thread_for_a_local_ask(actor: ControlActor) -> None:
    """A local ask has no transport to answer through later: it takes the handler's result."""
    threads: list[threading.Thread] = []

    def read(fn: Any, *, linearizable: bool = True) -> list[Any]:
        threads.append(threading.current_thread())
        return []

    actor._read = read  # type: ignore[method-assign]
    no_members = ConfState(voters=(), learners=())
    status = functools.partial(SimpleNamespace, leader="", conf=no_members, active=())
    actor._raft_status = status  # type: ignore[method-assign]
    reply = actor.on_receive(NodeListRequest())
    assert reply.nodes == () and threads == [threading.current_thread()]


def test_requests_queued_behind_busy_waiting_threads_are_answered_when_the_actor_stops(actor: ControlActor) -> None:
    release = threading.Event()
    running = threading.Semaphore(0)

    def slow(request: Request) -> Message:
        running.release()
        assert release.wait(DEADLINE_S)
        return Pong(b"late")

    threads = WAITING_THREADS["raft"]
    transports = [RecordingTransport() for _ in range(threads + 2)]
    for transport in transports:
        actor._run_aside(slow, delivered(transport), "raft")
    for _ in range(threads):
        assert running.acquire(timeout=DEADLINE_S), "the waiting threads did not start"
    status = RecordingTransport()
    actor._run_aside(lambda request: Pong(b"status"), delivered(status), "supervisors")
    assert status.answered.wait(DEADLINE_S), "a status waited behind the writes waiting for a leader"
    actor.on_stop()
    queued = [t for t in transports if t.answered.is_set()]
    assert len(queued) == 2
    for transport in queued:
        (reply,) = transport.replies
        assert isinstance(reply, ErrorReply) and reply.code == "unavailable" and "try again" in reply.text
    release.set()
    for transport in transports:
        assert transport.answered.wait(DEADLINE_S)
    assert sum(t.replies == [Pong(b"late")] for t in transports) == threads
