"""TransportActor: a restarted transport listens where the first one did, and waits a moment for its port."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pykka
import pytest

from swarmnode.actors.endpoint import TransportActor
from swarmnode.actors.runtime import CertAdmission, CurveKeys, Membership, NodeContext
from swarmnode.actors.supervision import StartFailed
from swarmnode.transport import generate_keypair, split_host_port

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
