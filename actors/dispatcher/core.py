"""Decide when a node is down or ready again from its heartbeats, without I/O or a clock.

swarmkit's dispatcher rules, kept here: each node sends a heartbeat every ``period_s``; a node
whose last heartbeat is older than ``grace_periods`` periods is down. A manager that starts (or
becomes leader) does not know when nodes last beat, so every node it finds ready gets a full
grace window from that moment instead of being declared down at once. Only transitions are
reported, so that a steady cluster writes nothing to the log.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

__all__ = ["HeartbeatCore", "NodeLiveness", "Transition"]

DEFAULT_GRACE_PERIODS = 3


class NodeLiveness(enum.Enum):
    READY = "ready"
    DOWN = "down"


@dataclass(frozen=True, slots=True)
class Transition:
    node_id: str
    state: NodeLiveness


class HeartbeatCore:
    """Track the last heartbeat of every node and report ready/down transitions."""

    def __init__(self, period_s: float, grace_periods: int = DEFAULT_GRACE_PERIODS) -> None:
        if period_s <= 0:
            raise ValueError(f"heartbeat period must be > 0 s, got {period_s}")
        if grace_periods < 1:
            raise ValueError(f"grace periods must be >= 1, got {grace_periods}")
        self.period_s = period_s
        self.grace_periods = grace_periods
        self._last: dict[str, float] = {}
        self._state: dict[str, NodeLiveness] = {}

    @property
    def grace_s(self) -> float:
        """How long a node may stay silent before it is down."""
        return self.period_s * self.grace_periods

    def set_period(self, period_s: float) -> None:
        if period_s <= 0:
            raise ValueError(f"heartbeat period must be > 0 s, got {period_s}")
        self.period_s = period_s

    def track(self, node_id: str, state: NodeLiveness, now: float) -> None:
        """Start tracking a node as the store knows it; a ready node gets a grace window from now."""
        self._state[node_id] = state
        self._last[node_id] = now

    def forget(self, node_id: str) -> None:
        self._last.pop(node_id, None)
        self._state.pop(node_id, None)

    def beat(self, node_id: str, now: float) -> Transition | None:
        """Record a heartbeat; return the transition to ready if the node was not ready."""
        self._last[node_id] = now
        if self._state.get(node_id) is NodeLiveness.READY:
            return None
        self._state[node_id] = NodeLiveness.READY
        return Transition(node_id, NodeLiveness.READY)

    def expire(self, now: float) -> list[Transition]:
        """Return the ready nodes that have been silent for longer than the grace time, now down."""
        down = []
        for node_id, state in self._state.items():
            if state is NodeLiveness.READY and now - self._last[node_id] > self.grace_s:
                down.append(node_id)
        for node_id in down:
            self._state[node_id] = NodeLiveness.DOWN
        return [Transition(n, NodeLiveness.DOWN) for n in sorted(down)]

    def state(self, node_id: str) -> NodeLiveness | None:
        return self._state.get(node_id)

    def next_expiry(self) -> float | None:
        """When the next ready node would expire if it stays silent (None when none is ready)."""
        times = [self._last[n] + self.grace_s for n, s in self._state.items() if s is NodeLiveness.READY]
        return min(times) if times else None
