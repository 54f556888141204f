"""The Worker actor (every node): the node's session with the managers.

It sends a heartbeat to one manager every period and follows what the answer says: the
managers to know (connections, the admission table of a worker, node.json), new trusted roots,
and a request to renew the certificate now. When its manager does not answer it moves on to
the next one; a manager that answers it runs no dispatcher (it does not lead) names the leader
and the managers it knows, which this node learns before it beats again. A manager runs a Worker
too and beats to itself, so one path keeps every node's status, the managers' included.
"""

from __future__ import annotations

import contextlib
import logging
import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import pykka

from swarmnode.actors.ca.actor import RenewNow, leader_and_managers
from swarmnode.actors.ca.core import split_pem, trust_digest
from swarmnode.actors.ca.messages import GetManagersReply, GetManagersRequest, ManagerInfo
from swarmnode.actors.ca.pki import ca_digest
from swarmnode.actors.dispatcher.messages import HeartbeatReply, HeartbeatRequest
from swarmnode.actors.messages import Address
from swarmnode.actors.node.addresses import port_taken
from swarmnode.actors.node.swarm_state import (
    ManagerRecord,
    too_little_room_to_manage,
    update_node_state,
    write_trust,
)
from swarmnode.actors.raft.actor import LeadershipChanged, Subscribe, Unsubscribe
from swarmnode.actors.runtime import (
    CERTIFICATE_KEY,
    MANAGERS_KEY,
    REMOVED,
    SESSION_KEY,
    TRUST_KEY,
    Member,
    Membership,
    NodeActor,
    NodeContext,
    Refused,
    Session,
)
from swarmnode.actors.store.client import STORE_ACTOR, disk_full
from swarmnode.actors.supervision import Link, describe
from swarmnode.transport import RemoteError, Transport, TransportError

__all__ = ["Worker", "worker_membership"]

log = logging.getLogger("swarmnode.worker")

FIRST_PERIOD_S = 1.0
STORE_READ_S = 1.0  # a manager's agent reads its own Store (and Raft) for the managers and leader
NOT_LEADER_RETRY_S = 0.1
FAILED_RETRY_S = 0.1  # the first retry after a failed heartbeat; doubles while failures follow


class NoLeader(Exception):
    """The manager beaten to runs no dispatcher, and no leader was learnt: a quorum loss, or an election."""

    def __init__(self, manager: str, *, own_store: bool, disk_full: str = "") -> None:
        # ``manager``: the one beaten to; ``own_store``: this node is a manager, and what it knows
        # of the leader comes from its own Raft member.
        why = (
            "an election may be under way, or too few managers are up (`swarm-node cluster status` on a manager "
            "says more)"
        )
        if own_store and disk_full:
            what, why = f"this node's Raft member takes no part in the swarm while its disk is full ({disk_full})", ""
        elif own_store:
            what = "this node's Raft member knows no leader"
        else:
            what = "named no leader (it knows none, or is no manager now)"
        super().__init__(f"manager {manager} runs no dispatcher, and {what}" + (f"; {why}" if why else ""))


@dataclass(frozen=True, slots=True)
class _Beat:
    """Timer: send the next heartbeat."""


@dataclass(frozen=True, slots=True)
class _ManagerLost:
    """Told by the transport's I/O thread: the connection to this manager was lost."""

    node_id: str


def worker_membership(managers: Sequence[ManagerRecord]) -> Membership:
    """A worker talks to managers only, and to no stranger."""
    return Membership(
        by_key={m.curve_key.encode(): Member(m.node_id, "manager", math.inf) for m in managers},
        anonymous_allowed=False,
        # Often a worker's key: one whose list of managers still names this node (demoted).
        unknown_key="is none of the managers this worker knows (a worker takes connections from managers"
        " only; a node that still counts this one a manager learns otherwise from the leader's heartbeat answer)",
    )


class Worker(NodeActor):
    """Keep this node's session with the managers alive."""

    def __init__(self, link: Link | None, context: NodeContext) -> None:
        super().__init__(link)
        self.context = context
        self.period_s = FIRST_PERIOD_S
        self.current = 0
        self.failures = 0
        self.backoff_step = 0  # retries since the last answer or leadership news: the backoff doubles with it
        self.subscribed_to: pykka.ActorRef[Any] | None = None  # the RaftMember told of leaders (a manager's)
        self.cannot_manage: str | None = None  # what the heartbeats say of port + 1 (None: not probed yet)
        self.cannot_manage_seen = ""  # the last probe's answer
        self.rng = random.Random()
        self.transport: Transport | None = None
        self.unsaved: dict[str, Callable[[], object]] = {}  # what could not be saved (a full disk): tried again

    @property
    def managers(self) -> tuple[ManagerRecord, ...]:
        return tuple(self.context.get_shared(MANAGERS_KEY, ()))

    def on_start(self) -> None:
        self._follow_leadership()
        if self.context.get_shared(SESSION_KEY) is None:  # a restarted Worker keeps what the last one saw
            self._session("pending", "no heartbeat answered yet")
        self._adopt_managers(self.managers)
        self.timers.start("beat", 0.0, _Beat())
        self.transport = self.context.transport  # the one it listens to; a restarted one is another
        self.transport.on_peer_lost(self._lost)

    def _follow_leadership(self) -> None:
        """On a manager: subscribe to its Raft member's leadership changes (again, if it restarted).

        A manager's node hears of a new leader from its own Raft member: its beats go to it at
        once, not at the end of a backoff that a quorum loss may have made a period. Called at
        start and before each beat: a restarted RaftMember (under another supervisor than this
        actor) knows no subscribers.
        """
        if self.context.role != "manager":
            return
        raft = self.context.registry.get(STORE_ACTOR)
        if raft is None or raft is self.subscribed_to:
            return
        with contextlib.suppress(pykka.ActorDeadError):  # restarting: the next beat tries again
            raft.tell(Subscribe(self.name, self.actor_ref, kinds=()))
            self.subscribed_to = raft

    def on_stop(self) -> None:
        if self.transport is not None:
            self.transport.on_peer_lost(self._lost, remove=True)
        if self.subscribed_to is not None:  # the RaftMember it subscribed to, if any
            with contextlib.suppress(pykka.ActorDeadError):
                self.subscribed_to.tell(Unsubscribe(self.name))

    def on_crash(self, exc: BaseException) -> None:
        self.on_stop()

    def _lost(self, node_id: str) -> None:
        """On the transport's I/O thread: only tell."""
        with contextlib.suppress(pykka.ActorDeadError):
            self.actor_ref.tell(_ManagerLost(node_id))

    def on_receive(self, message: object) -> object:
        if isinstance(message, _Beat):
            self.timers.start("beat", self._beat(), _Beat())
            return None
        if isinstance(message, LeadershipChanged):
            if message.leader and self.failures:
                ids = [m.node_id for m in self.managers]
                if message.leader in ids:
                    self.current = ids.index(message.leader)
                elif self._learn_managers()[0] != message.leader:
                    return None  # a leader it cannot reach yet: the backoff goes on
                self.backoff_step = 0
                self.timers.start("beat", 0.0, _Beat())
            return None
        if isinstance(message, _ManagerLost):
            manager = self._current_manager()
            if manager is not None and manager.node_id == message.node_id:
                # The manager it beats to is gone: on to the next one now, not at the next beat
                # (as a swarmkit agent whose session broke).
                self.current += 1
                self.timers.start("beat", 0.0, _Beat())
            return None
        return super().on_receive(message)

    def _current_manager(self) -> ManagerRecord | None:
        """The manager the next heartbeat goes to (None: none known)."""
        managers = self.managers
        return managers[self.current % len(managers)] if managers else None

    def _adopt_managers(self, managers: Sequence[ManagerRecord]) -> None:
        for m in managers:
            if m.node_id != self.context.node_id and m.addr:
                self.context.transport.connect(m.node_id, m.addr, m.curve_key.encode())
        if self.context.role != "manager":
            self.context.set_membership(worker_membership(managers))

    def _beat(self) -> float:
        """Send one heartbeat; return when to send the next."""
        self._follow_leadership()
        manager = self._current_manager()
        if manager is None:
            log.warning("no manager known; this node cannot reach the swarm")
            return self.period_s
        cert = self.context.get_shared(CERTIFICATE_KEY)
        trust = self.context.get_shared(TRUST_KEY, b"")
        request = HeartbeatRequest(
            trust_digest=trust_digest(trust),
            issuer=cert.issuer_digest if cert else "",
            addr=self.context.cluster_addr,
            cannot_manage=self._cannot_manage(),
        )
        try:
            future = self.context.transport.request(
                Address(manager.node_id, "dispatcher"), request, src_actor=self.name, timeout_s=self.period_s
            )
            reply = future.result(self.period_s + 1)
        except RemoteError as exc:
            if exc.code == REMOVED:
                return self._removed(manager, exc)
            if exc.code not in ("not-leader", "unknown-actor"):
                return self._failed(manager, exc)
            leader, unasked = self._learn_managers(manager)
            if leader == manager.node_id:
                # It leads, and its dispatcher is not up yet (it is starting): stay with it, paced
                # by the backoff, rather than going round the others to be sent back to it.
                return self._failed(manager, exc, move_on=False)
            if leader:
                return min(NOT_LEADER_RETRY_S, self.period_s)  # a follower runs no dispatcher: its leader, soon
            if unasked is not None:  # the question itself failed: that is what to say
                # Refused by this manager's own Raft state (just joined or promoted, not a member
                # yet; or demoted): passing, said quietly unless it goes on.
                return self._failed(manager, unasked, expected=isinstance(unasked, Refused))
            # No quorum, or an election (a manager's own beats at its start): said quietly, unless it goes on.
            own = self.context.role == "manager"
            no_leader = NoLeader(manager.node_id, own_store=own, disk_full=disk_full(self.context) if own else "")
            return self._failed(manager, no_leader, expected=True)
        except (TransportError, TimeoutError) as exc:
            return self._failed(manager, exc)
        if self.failures:
            log.info("heartbeats reach manager %s again after %d failure(s)", manager.node_id, self.failures)
        self.failures = self.backoff_step = 0
        assert isinstance(reply, HeartbeatReply)
        self._follow(reply, manager.node_id)
        self._session("active", f"heartbeats answered by manager {manager.node_id} every {self.period_s:g} s")
        return self.period_s

    def _cannot_manage(self) -> str:
        """Say why this worker could not run as a manager, or "": a manager also listens on port + 1,
        and its disk must hold a Raft log.

        A change is said once two probes in a row agree: an outgoing connection may hold a port
        of the ephemeral range for a moment (a node that listens on port 0 is in it), free space
        moves, and each change is a write on the leader. A probe that fails says nothing new.
        """
        if self.context.role == "manager":
            return ""
        try:
            port = port_taken(self.context.transport.address, bootstrap=True)
            probe = "; ".join(filter(None, (port, too_little_room_to_manage(self.context.state_dir))))
        except (TransportError, OSError) as exc:  # the transport restarts, or the probe itself failed
            log.debug("cannot tell whether this node could manage: %s", exc)
            return self.cannot_manage or ""
        if self.cannot_manage is None or probe == self.cannot_manage_seen:
            self.cannot_manage = probe
        self.cannot_manage_seen = probe
        return self.cannot_manage

    def _session(self, state: str, detail: str) -> None:
        """Publish how the heartbeats fare (`swarm-node status`); ``since`` moves only with the state.

        Removed stays removed (the node id stays revoked) through the failures that may follow,
        a timeout or this manager's own beat (no dispatcher here): only an answered beat ends it.
        """
        old: Session | None = self.context.get_shared(SESSION_KEY)
        if old is not None and old.state == REMOVED and state != "active":
            return
        if old is None or (old.state, old.detail) != (state, detail):
            since = old.since if old is not None and old.state == state else time.time()
            self.context.set_shared(SESSION_KEY, Session(state, detail, since))

    def _removed(self, manager: ManagerRecord, exc: RemoteError) -> float:
        """A manager said this node was removed (`node rm`): say what to do, once, and beat on quietly.

        Its node id stays revoked in the swarm, so no manager will take it again (as swarmkit's
        "node ... was removed from swarm"): the operator clears its state and joins it anew.
        """
        old: Session | None = self.context.get_shared(SESSION_KEY)
        if old is None or old.state != REMOVED:
            detail = (
                f"{exc.text} (manager {manager.node_id} says so): this node can no longer take part in it. "
                "Run `swarm-node leave` here to clear its state, then join again with a token if it should be part "
                "of the swarm"
            )
            log.error("%s", detail)
            self._session(REMOVED, detail)
        self.failures = 0
        return self.period_s

    def _learn_managers(self, asked: ManagerRecord | None = None) -> tuple[str, Exception | None]:
        """Add the managers this list lacks, and beat next to the leader, as a manager knows them.

        Return the leader named ("" if none, or one this node cannot reach: the next beat goes to
        it), and why no one could be asked (None if the question was answered, or not asked).

        A manager reads its own Store: one that was down while others joined (or a forced new
        cluster) may know only itself and dead peers from its state dir. A worker asks ``asked``,
        a manager that runs no dispatcher: its list may lack the leader altogether (learnt from a
        leader demoted since), and going round it would never reach a dispatcher. (swarmkit's
        followers proxy the session to the leader; here they name it.)
        """
        try:
            if self.context.role == "manager":
                known = leader_and_managers(self.context, STORE_READ_S)
            elif asked is not None and asked.node_id != self.context.node_id:
                future = self.context.transport.request(
                    Address(asked.node_id, "ca"), GetManagersRequest(), src_actor=self.name, timeout_s=self.period_s
                )
                reply = future.result(self.period_s + 1)
                assert isinstance(reply, GetManagersReply)
                known = reply
            else:
                return "", None
        except (Refused, RemoteError, TransportError, TimeoutError) as exc:
            return "", exc  # not up yet, or not a manager any more: the next beat tries the next manager
        named = {m.node_id: ManagerRecord(m.node_id, m.addr, m.curve_key) for m in known.managers if m.addr}
        kept = tuple(named.pop(m.node_id, m) for m in self.managers)  # an address or key may have changed
        merged = kept + tuple(named.values())
        if merged != self.managers:
            self._remember_managers(merged, known.managers)
        ids = [m.node_id for m in merged]
        if known.leader not in ids:
            return "", None
        self.current = ids.index(known.leader)
        return known.leader, None

    def _failed(
        self, manager: ManagerRecord, exc: BaseException, *, move_on: bool = True, expected: bool = False
    ) -> float:
        """Move on to the next manager (unless ``move_on`` is False); return when to beat to it.

        As swarmkit's agent after a failed session: soon (0.1 s), then backing off to the period
        while failures follow each other, so that a dead leader costs a node one heartbeat's
        timeout, not a period on top.
        """
        self.failures += 1
        self.backoff_step += 1
        self._session(
            "failing",
            f"{self.failures} heartbeat(s) failed in a row; the last, to manager {manager.node_id}: {describe(exc)}",
        )
        if self.failures == 1 or self.failures % 10 == 0:
            then = "trying the next manager" if move_on else "it leads: trying it again"
            # A leader whose dispatcher is starting, or this manager's own (its first beats, before
            # an election or while its leader-only actors start) is expected: said quietly, unless
            # it goes on.
            expected = expected or not move_on or manager.node_id == self.context.node_id
            level = logging.INFO if expected and self.failures < 10 else logging.WARNING
            log.log(level, "heartbeat to manager %s failed (%s); %s", manager.node_id, describe(exc), then)
        if move_on:
            self.current += 1
            self._learn_managers()
        backoff = min(self.period_s, FAILED_RETRY_S * (1 << min(self.backoff_step - 1, 16)))
        return backoff * self.rng.uniform(0.5, 1.0)  # nodes that failed together do not retry together

    def _follow(self, reply: HeartbeatReply, leader: str) -> None:
        self.period_s = reply.period_s
        self._save_again()
        managers = tuple(ManagerRecord(m.node_id, m.addr, m.curve_key) for m in reply.managers if m.addr)
        if managers and managers != self.managers:
            self._remember_managers(managers, reply.managers)
            ids = [m.node_id for m in managers]
            if leader in ids:
                self.current = ids.index(leader)  # the leader's order: keep beating to the one that answered
        if reply.trust_pem:
            self.context.set_shared(TRUST_KEY, reply.trust_pem)
            log.info("updated the trusted root CA certificates")
            cert = self.context.get_shared(CERTIFICATE_KEY)
            if cert is None or cert.issuer_digest in {ca_digest(root) for root in split_pem(reply.trust_pem)}:
                self._save(
                    "the trusted root CA certificates", lambda: write_trust(self.context.state_dir, reply.trust_pem)
                )
            else:
                # Its certificate is of a root the swarm no longer trusts (a renewal it could not
                # save, on a full disk): on disk, these roots would keep it from starting again.
                # Saved with the certificate they go with, which its renewal writes with them.
                log.warning(
                    "the swarm's trusted roots no longer include the one of this node's certificate: not saved "
                    "before a renewal replaces the certificate"
                )
        if reply.renew:
            ca = self.context.registry.get("ca")
            if ca is not None:
                # Asked of the leader first: the one manager that answered this node just now.
                reason = "the managers asked for a new certificate: a role change or a root CA rotation"
                ca.tell(RenewNow(reason, via=leader, asked_at=time.monotonic()))

    def _remember_managers(self, managers: tuple[ManagerRecord, ...], infos: Sequence[ManagerInfo]) -> None:
        self.context.set_shared(MANAGERS_KEY, managers)
        self._adopt_managers(managers)
        log.info("managers of the swarm: %s", ", ".join(f"{m.node_id}@{m.addr}" for m in infos))
        self._save(
            "the managers of the swarm",
            lambda: update_node_state(self.context.state_dir, lambda state: state.with_managers(managers)),
        )

    def _save(self, what: str, write: Callable[[], object]) -> None:
        """Save ``what`` in the state dir; a full disk (or another write error) is said, not a crash.

        The node goes on with it in memory (its context outlives this actor), and tries again at
        each heartbeat answered (the newest of each ``what``) until it is saved.
        """
        try:
            write()
        except OSError as exc:
            if what not in self.unsaved:
                log.warning(
                    "could not save %s in %s (%s); this node goes on with them in memory and tries again",
                    what,
                    self.context.state_dir,
                    exc.strerror or exc,
                )
            self.unsaved[what] = write
            return
        if self.unsaved.pop(what, None) is not None:
            log.info("saved %s in %s at last", what, self.context.state_dir)

    def _save_again(self) -> None:
        for what, write in list(self.unsaved.items()):
            self._save(what, write)
