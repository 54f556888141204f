"""Decide when a node is down or ready again from its heartbeats, without I/O or a clock.

swarmkit's dispatcher rules, kept here: each node sends a heartbeat every ``period_s``; a node
whose last heartbeat is older than ``grace_periods`` periods is down. A manager that starts (or
becomes leader) does not know when nodes last beat, so every node it finds ready is unknown
(swarmkit's markNodesUnknown) with a full grace window from that moment: ready again at its
first heartbeat, down if none comes. Only transitions are reported, so that a steady cluster
writes nothing to the log.

Every node beats once a period, and every answer repeats the same facts: the managers, the
digest of the trust bundle, the digest of the root. :class:`ReplyFacts` keeps them between the
Store changes that alter them, so that a period does not cost time in the square of the nodes.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from swarmnode.actors.ca.core import trust_digest
from swarmnode.actors.ca.messages import ManagerInfo
from swarmnode.actors.ca.pki import ca_digest
from swarmnode.actors.store.core import Event
from swarmnode.actors.store.objects import ClusterView

__all__ = ["HeartbeatCore", "NodeLiveness", "ReplyFacts", "Transition"]

DEFAULT_GRACE_PERIODS = 3


class NodeLiveness(enum.Enum):
    READY = "ready"
    DOWN = "down"
    UNKNOWN = "unknown"  # ready when a leader before this one last knew; not heard from since


_WAITED_FOR = (NodeLiveness.READY, NodeLiveness.UNKNOWN)  # what silence makes down


@dataclass(frozen=True, slots=True)
class Transition:
    node_id: str
    state: NodeLiveness
    was: NodeLiveness | None = field(default=None, compare=False)  # what revert() goes back to


class HeartbeatCore:
    """Track the last heartbeat of every node and report ready/down transitions."""

    def __init__(
        self, period_s: float, grace_periods: int = DEFAULT_GRACE_PERIODS, *, checked_often: bool = False
    ) -> None:
        """``checked_often``: the caller checks (``expire``) at least every quarter period, as the
        Dispatcher does; then a gap of more than a period in which nothing was handled is its own
        stall (``_awake``). Without it every gap counts as the nodes' silence."""
        if period_s <= 0:
            raise ValueError(f"heartbeat period must be > 0 s, got {period_s}")
        if grace_periods < 1:
            raise ValueError(f"grace periods must be >= 1, got {grace_periods}")
        self.period_s = period_s
        self.grace_periods = grace_periods
        self._last: dict[str, float] = {}
        self._state: dict[str, NodeLiveness] = {}
        self.checked_often = checked_often
        self._awake_at: float | None = None  # when it last handled a heartbeat or a check

    @property
    def grace_s(self) -> float:
        """How long a node may stay silent before it is down."""
        return self.period_s * self.grace_periods

    def set_period(self, period_s: float) -> None:
        if period_s <= 0:
            raise ValueError(f"heartbeat period must be > 0 s, got {period_s}")
        self.period_s = period_s

    def track(self, node_id: str, state: NodeLiveness, now: float) -> None:
        """Start tracking a node as the store knows it; a ready or unknown one gets a grace window from now."""
        self._state[node_id] = state
        self._last[node_id] = now

    def forget(self, node_id: str) -> None:
        self._last.pop(node_id, None)
        self._state.pop(node_id, None)

    def beat(self, node_id: str, now: float) -> Transition | None:
        """Record a heartbeat; return the transition to ready if the node was not ready."""
        self._awake(now)
        self._last[node_id] = now
        was = self._state.get(node_id)
        if was is NodeLiveness.READY:
            return None
        self._state[node_id] = NodeLiveness.READY
        return Transition(node_id, NodeLiveness.READY, was)

    def expire(self, now: float) -> list[Transition]:
        """Return the ready or unknown nodes silent for longer than the grace time, now down."""
        self._awake(now)
        down = [
            Transition(n, NodeLiveness.DOWN, state)
            for n, state in sorted(self._state.items())
            if state in _WAITED_FOR and now - self._last[n] > self.grace_s
        ]
        for t in down:
            self._state[t.node_id] = NodeLiveness.DOWN
        return down

    def _awake(self, now: float) -> None:
        """Note that the Dispatcher runs at ``now`` (a heartbeat, a check: one at least every quarter period).

        A gap of more than a period since it last finished handling something (``handled``) is
        time its process did not run (a machine that hung, a stopped process): it heard no
        heartbeat then, so that time is not the nodes' silence, and their deadlines move on by it.
        A Dispatcher that waits on its Store, or checks late while it handles heartbeats, is
        awake: its nodes' silence counts.
        """
        if self.checked_often and self._awake_at is not None and now - self._awake_at > self.period_s:
            gap = now - self._awake_at
            for node_id, last in self._last.items():
                self._last[node_id] = min(now, last + gap)
        self._awake_at = now

    def handled(self, now: float) -> None:
        """Note that the Dispatcher finished handling a message at ``now``: it was running until
        then, however long it waited on the Store (only idle gaps are its own stalls)."""
        self._awake_at = now if self._awake_at is None else max(self._awake_at, now)

    def revert(self, transition: Transition) -> None:
        """Undo ``transition``, which could not be recorded: it is reported again (next beat, or next expire)."""
        if transition.was is None:
            self.forget(transition.node_id)
        elif self._state.get(transition.node_id) is transition.state:
            self._state[transition.node_id] = transition.was

    def state(self, node_id: str) -> NodeLiveness | None:
        return self._state.get(node_id)

    def next_expiry(self) -> float | None:
        """When the next ready or unknown node would expire if it stays silent (None when none is)."""
        times = [self._last[n] + self.grace_s for n, s in self._state.items() if s in _WAITED_FOR]
        return min(times) if times else None


class ReplyFacts:
    """Keep what every heartbeat reply repeats, computed once per change of the Store.

    The managers are listed again after any node event (a new node, a promotion, a new address,
    a removal), on the next beat that needs them. The digests belong to one cluster object: a
    new one (each cluster event brings one: a rotated root, a new trust bundle) is hashed again.
    """

    def __init__(self) -> None:
        self._managers: tuple[ManagerInfo, ...] | None = None
        self._cluster: ClusterView | None = None  # the view the two digests belong to
        self._trust: str | None = None
        self._root: str | None = None

    def follow(self, event: Event) -> None:
        """Forget the managers when ``event`` changed a node."""
        if event.object.kind == "node":
            self._managers = None

    def managers(self) -> tuple[ManagerInfo, ...] | None:
        """The managers as last listed, or None when a node changed since (list them again)."""
        return self._managers

    def keep_managers(self, managers: tuple[ManagerInfo, ...]) -> None:
        """Remember the managers listed from the Store (after the Dispatcher subscribed to its events)."""
        self._managers = managers

    def trust_digest(self, cluster: ClusterView) -> str:
        """The digest of ``cluster``'s trust bundle, which a node's heartbeat names when its roots agree."""
        self._follow_view(cluster)
        if self._trust is None:
            self._trust = trust_digest(cluster.trust_pem)
        return self._trust

    def root_digest(self, cluster: ClusterView) -> str:
        """The digest of ``cluster``'s root certificate, the issuer of every renewed certificate."""
        self._follow_view(cluster)
        if self._root is None:
            self._root = ca_digest(cluster.root_cert)
        return self._root

    def _follow_view(self, cluster: ClusterView) -> None:
        # By identity: every cluster event makes a new view, and a view is immutable.
        if cluster is not self._cluster:
            self._cluster, self._trust, self._root = cluster, None, None
