"""LeaderGroup: start the leader-only actors while this manager leads, stop them when it does not.

DESIGN.md's Leader supervisor (one_for_all: Allocator, Orchestrator, Scheduler, Dispatcher) must
run only on the leader. A supervisor tree is static, so this actor sits in the manager's tree
where the Leader supervisor would, follows the RaftMember's leadership announcements, and starts
the Leader supervisor as its own linked child when this manager becomes leader and stops it when
it stops leading. If the Leader supervisor gives up, this actor crashes, and the manager
supervisor decides (the same escalation as any subtree). ``status`` shows the subtree under it.

The leader-only actors write with ``leader_only=True`` (``store.client.propose``,
``update_object``): between this manager's step-down and their stop (or a restart by their own
supervisor meanwhile) what they decided from a stale view must not go to the new leader.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Sequence
from typing import Any, cast

import pykka

from swarmnode.actors.raft.actor import LeadershipChanged, Subscribe, Unsubscribe
from swarmnode.actors.runtime import NodeActor, NodeContext, NodeSupervisor
from swarmnode.actors.store.client import STORE_ACTOR
from swarmnode.actors.supervision import (
    ActorStatistics,
    ChildExited,
    ChildSpec,
    GetStatistics,
    Link,
    Strategy,
    SupervisorStatistics,
)

__all__ = ["LEADER_SUPERVISOR", "LeaderGroup"]

log = logging.getLogger("swarmnode.leader")

LEADER_SUPERVISOR = "leader"
STOP_TIMEOUT_S = 30.0


class LeaderSubtreeFailed(Exception):
    """The Leader supervisor gave up: escalate to the manager supervisor."""


class LeaderGroup(NodeActor):
    """Run the Leader supervisor exactly while this manager is the Raft leader."""

    def __init__(self, link: Link | None, context: NodeContext, children: Callable[[], Sequence[ChildSpec]]) -> None:
        super().__init__(link)
        self.context = context
        self.children = children
        self.leader_ref: pykka.ActorRef[Any] | None = None
        self.leading = False

    def on_start(self) -> None:
        raft = self.context.registry.get(STORE_ACTOR)
        # No Store events, only leadership: the RaftMember tells who leads now. Told, not asked:
        # a restarted RaftMember applies its log first (seconds for a long one), and the manager
        # supervisor's start, which waits for this on_start, must not wait for that.
        if raft is not None:
            with contextlib.suppress(pykka.ActorDeadError):
                raft.tell(Subscribe(self.name, self.actor_ref, kinds=()))
                return
        # It crashed as soon as it started (its first write met a full disk, say). Its supervisor
        # restarts it, and this group after it (rest_for_one); a failed start here would instead
        # fail the node's start, and the node would exit.
        log.info("the raft member stopped as the leader group started; both start again")

    def on_stop(self) -> None:
        self._stop_leader()
        raft = self.context.registry.get(STORE_ACTOR)
        if raft is not None:
            raft.tell(Unsubscribe(self.name))

    def on_crash(self, exc: BaseException) -> None:
        self._stop_leader()

    def on_receive(self, message: Any) -> Any:
        if isinstance(message, LeadershipChanged):
            self._follow(message.is_leader)
            return None
        if isinstance(message, ChildExited):
            if self.leader_ref is not None and message.urn == self.leader_ref.actor_urn:
                self.context.registry.unregister(LEADER_SUPERVISOR, self.leader_ref)
                self.leader_ref = None
                raise LeaderSubtreeFailed(f"the leader-only actors failed: {message.reason or 'stopped'}")
            return None
        if isinstance(message, GetStatistics):
            return self._statistics(message.wait_s)
        return super().on_receive(message)

    def _follow(self, leading: bool) -> None:
        if leading == self.leading:
            return
        self.leading = leading
        if leading:
            log.info("this manager leads: starting the leader-only actors")
            self.leader_ref = NodeSupervisor.start_linked(
                Link(self.actor_ref, LEADER_SUPERVISOR),
                strategy=Strategy.ONE_FOR_ALL,
                children=list(self.children()),
                registry=self.context.registry,
            )
            # By name, as every supervised actor is (chaos/kill_actor.py crashes it so).
            self.context.registry.register(LEADER_SUPERVISOR, self.leader_ref)
        else:
            log.info("this manager no longer leads: stopping the leader-only actors")
            self._stop_leader()

    def _stop_leader(self) -> None:
        ref, self.leader_ref = self.leader_ref, None
        if ref is not None:
            self.context.registry.unregister(LEADER_SUPERVISOR, ref)
        if ref is not None and ref.is_alive():
            try:
                ref.stop(block=True, timeout=STOP_TIMEOUT_S)
            except pykka.Timeout:
                log.error("the leader-only actors did not stop within %g s", STOP_TIMEOUT_S)

    def _statistics(self, wait_s: float) -> SupervisorStatistics:
        """Look like a supervisor in `status`: the Leader supervisor's subtree, when it runs."""

        rows: list[ActorStatistics] = []
        ref = self.leader_ref
        if ref is not None:
            try:
                nested = cast(SupervisorStatistics, ref.ask(GetStatistics(wait_s / 2), timeout=wait_s))
            except Exception:  # a stopping subtree shows up empty
                nested = None
            if nested is not None:
                rows.append(ActorStatistics(LEADER_SUPERVISOR, True, "running", 0, "", nested.strategy))
                rows.extend(a.under(LEADER_SUPERVISOR) for a in nested.actors)
        return SupervisorStatistics(
            name=self.name,
            strategy="while leading",
            restarts_total=0,
            actors=tuple(rows),
        )
