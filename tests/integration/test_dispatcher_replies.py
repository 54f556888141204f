"""Heartbeat replies follow the Store: a new manager, a moved manager, a rotated root.

The Dispatcher keeps what its replies repeat (the managers, the digests of the trust bundle and
of the root) between Store changes; these tests change the Store under it and beat as a worker
would: a real one-manager swarm in a temporary directory (Transport, RaftMember, CertAuthority,
Dispatcher) and a worker's transport beating over CURVE on loopback.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pykka
import pytest

from swarmnode.actors.ca.actor import CertAuthority
from swarmnode.actors.ca.core import trust_digest
from swarmnode.actors.ca.pki import ca_digest
from swarmnode.actors.control.messages import CARotateRequest
from swarmnode.actors.dispatcher.actor import Dispatcher
from swarmnode.actors.dispatcher.messages import HeartbeatReply, HeartbeatRequest
from swarmnode.actors.endpoint import TransportActor
from swarmnode.actors.messages import Address
from swarmnode.actors.node.founding import FoundingOptions, found_swarm
from swarmnode.actors.raft.actor import GetRaftStatus, RaftMember
from swarmnode.actors.runtime import CertAdmission, NodeContext
from swarmnode.actors.store.client import propose, read_store, update_object
from swarmnode.actors.store.objects import ClusterView, NodeView, cluster_of
from swarmnode.actors.store.transactions import Create
from swarmnode.transport import Transport, generate_keypair
from tests.support import wait_until

TIMEOUT_S = 10.0


def create_node(node_id: str, role: str, curve_key: bytes, addr: str = "") -> Create:
    """A node whose certificate grants ``role`` (what admission and the managers list read)."""
    view = NodeView(
        node_id=node_id,
        role=role,
        availability="active",
        labels={},
        state="ready",
        hostname=node_id,
        addr=addr,
        certificate=b"",
        cert_role=role,
        cert_expiry=time.time() + 3600,
        curve_key=curve_key.decode(),
        issuer="",
    )
    return Create("node", node_id, view.spec(), view.status())


@dataclass
class Swarm:
    context: NodeContext
    ca: pykka.ActorRef[Any]
    worker: Transport

    def cluster(self) -> ClusterView:
        cluster = read_store(self.context, cluster_of)
        assert cluster is not None
        return cluster

    def beat(self, trust: str = "", issuer: str = "") -> HeartbeatReply:
        """Beat as worker w1 holding roots of digest ``trust`` and a certificate of ``issuer``."""
        future = self.worker.request(
            Address(self.context.node_id, "dispatcher"),
            HeartbeatRequest(trust_digest=trust, issuer=issuer),
            src_actor="worker",
            timeout_s=TIMEOUT_S,
        )
        reply = future.result(TIMEOUT_S + 1)
        assert isinstance(reply, HeartbeatReply)
        return reply


@pytest.fixture
def swarm(tmp_path: Path) -> Iterator[Swarm]:
    state = found_swarm(tmp_path, FoundingOptions(advertise_addr="127.0.0.1:0", hostname="m1"))
    context = NodeContext(
        node_id=state.node_id,
        role="manager",
        state_dir=tmp_path,
        listen="127.0.0.1:0",
        keys=state.keys,
        cluster_id=state.cluster_id,
        advertise_addr="127.0.0.1:0",
        hostname="m1",
    )
    started: list[pykka.ActorRef[Any]] = []
    worker: Transport | None = None

    def start(name: str, ref: pykka.ActorRef[Any]) -> pykka.ActorRef[Any]:
        started.append(ref)
        context.registry.register(name, ref)
        return ref

    try:
        start("transport", TransportActor.start_linked(None, context, CertAdmission(lambda: context.membership)))
        raft = start("raft", RaftMember.start_linked(None, context))
        wait_until(lambda: raft.ask(GetRaftStatus()).leader == state.node_id, TIMEOUT_S, "the manager to lead")
        ca = start("ca", CertAuthority.start_linked(None, context))
        public, secret = generate_keypair()
        propose(context, create_node("w1", "worker", public))
        start("dispatcher", Dispatcher.start_linked(None, context))
        worker = Transport.outbound_only("w1", public, secret)
        worker.start()
        worker.connect(state.node_id, context.cluster_addr, state.keys.public)
        yield Swarm(context, ca, worker)
    finally:
        if worker is not None:
            worker.stop()
        for ref in reversed(started):
            ref.stop()


def manager_addrs(reply: HeartbeatReply) -> dict[str, str]:
    return {m.node_id: m.addr for m in reply.managers}


def test_a_new_manager_and_its_new_address_reach_the_next_heartbeats(swarm: Swarm) -> None:
    me = swarm.context.node_id
    assert set(manager_addrs(swarm.beat())) == {me}
    assert set(manager_addrs(swarm.beat())) == {me}, "answered again from what the Dispatcher kept"
    m2_key, _ = generate_keypair()
    propose(swarm.context, create_node("m2", "manager", m2_key, addr="127.0.0.1:9"))
    wait_until(lambda: manager_addrs(swarm.beat()).get("m2") == "127.0.0.1:9", TIMEOUT_S, "m2 in the replies")
    update_object(swarm.context, "node", "m2", lambda obj: (None, obj.status | {"addr": "127.0.0.1:19"}))
    wait_until(lambda: manager_addrs(swarm.beat()).get("m2") == "127.0.0.1:19", TIMEOUT_S, "m2's new address")
    assert set(manager_addrs(swarm.beat())) == {me, "m2"}


def test_a_rotated_root_changes_the_trust_and_renewal_answers(swarm: Swarm) -> None:
    old = swarm.cluster()
    old_trust, old_issuer = trust_digest(old.trust_pem), ca_digest(old.root_cert)
    current = swarm.beat(old_trust, old_issuer)
    assert (current.trust_pem, current.renew) == (b"", False)

    swarm.ca.ask(CARotateRequest(start=True), timeout=TIMEOUT_S)
    new = swarm.cluster()
    assert new.rotation == "rotating" and new.root_cert != old.root_cert

    def told_to_move() -> HeartbeatReply | None:
        reply = swarm.beat(old_trust, old_issuer)
        return reply if reply.trust_pem else None

    behind = wait_until(told_to_move, TIMEOUT_S, "the new trust bundle in the replies")
    assert behind.trust_pem == new.trust_pem and behind.renew
    moved = swarm.beat(trust_digest(new.trust_pem), ca_digest(new.root_cert))
    assert (moved.trust_pem, moved.renew) == (b"", False), "a node already on the new root is told nothing"
