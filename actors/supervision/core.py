"""Decide what a supervisor does when a child exits (Erlang/OTP semantics), without I/O.

Rules, as OTP states them:

* A child is ``permanent`` (always restarted), ``transient`` (restarted only after an abnormal
  exit) or ``temporary`` (never restarted; a temporary child that exits is forgotten).
* ``one_for_one`` restarts only the child that exited; ``one_for_all`` stops every other running
  child in reverse start order and starts all of them again in order; ``rest_for_one`` does the
  same for the exited child and the children started after it.
* A child that exits while an earlier sibling (one whose exit restarts it: any sibling under
  ``one_for_all``, an earlier one under ``rest_for_one``) has died but not yet been reported is
  left for that sibling's restart. It most likely died of the sibling's death (an actor that
  found the transport gone), and restarting it first would start it without what it needs and
  count two restarts for one failure. OTP has no such rule because an Erlang process's exit
  signal leaves the instant it dies; here an actor reports its exit only after cleaning up
  (closing sockets), and a dependent sibling can die and report in between.
* Every restart is remembered with its time. When more than ``intensity`` restarts happen within
  ``period_s`` seconds, the supervisor gives up: it stops all children in reverse order and
  exits abnormally, so that its own parent decides (escalation).

The core only decides; the actor shell carries plans out and reports back what happened,
including a child that fails to start during a restart (an abnormal exit like any other).
"""

from __future__ import annotations

import enum
from collections import deque
from collections.abc import Collection, Sequence
from dataclasses import dataclass

__all__ = [
    "ChildState",
    "GiveUp",
    "Ignore",
    "Plan",
    "Restart",
    "RestartChildren",
    "Strategy",
    "SupervisorCore",
]


class Strategy(enum.Enum):
    ONE_FOR_ONE = "one_for_one"
    ONE_FOR_ALL = "one_for_all"
    REST_FOR_ONE = "rest_for_one"


class Restart(enum.Enum):
    PERMANENT = "permanent"
    TRANSIENT = "transient"
    TEMPORARY = "temporary"


class ChildState(enum.Enum):
    STARTING = "starting"
    RUNNING = "running"
    STOPPED = "stopped"  # exited normally, or stopped by its supervisor, and not to be restarted
    FAILED = "failed"  # exited abnormally and not restarted (temporary, or the supervisor gave up)


@dataclass(frozen=True, slots=True)
class Ignore:
    """Nothing to restart now; ``note`` says why when that is worth a log line."""

    note: str = ""


@dataclass(frozen=True, slots=True)
class RestartChildren:
    """Stop ``stop`` (already in reverse start order), then start ``start`` in order."""

    stop: tuple[str, ...]
    start: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class GiveUp:
    """Restart intensity exceeded: stop every child in ``stop`` order and fail upward."""

    stop: tuple[str, ...]
    reason: str


Plan = Ignore | RestartChildren | GiveUp


@dataclass(slots=True)
class _Child:
    name: str
    restart: Restart
    state: ChildState = ChildState.STARTING
    restarts: int = 0
    last_reason: str = ""


class SupervisorCore:
    """Hold a supervisor's children and restart history; turn exits into plans."""

    def __init__(
        self,
        strategy: Strategy,
        children: Sequence[tuple[str, Restart]],
        *,
        intensity: int,
        period_s: float,
    ) -> None:
        if intensity < 0:
            raise ValueError(f"intensity must be >= 0, got {intensity}")
        if period_s <= 0:
            raise ValueError(f"period_s must be > 0, got {period_s}")
        names = [name for name, _ in children]
        if len(set(names)) != len(names):
            raise ValueError(f"child names must be unique, got {names}")
        self.strategy = strategy
        self.intensity = intensity
        self.period_s = period_s
        self._children = {name: _Child(name, restart) for name, restart in children}
        self._order = names
        self._restart_times: deque[float] = deque()
        self.restarts_total = 0

    @property
    def order(self) -> tuple[str, ...]:
        """Child names in start order (temporary children that exited are gone)."""
        return tuple(self._order)

    def child(self, name: str) -> tuple[ChildState, int, str]:
        """Return ``(state, restarts, last_reason)`` of one child."""
        c = self._children[name]
        return c.state, c.restarts, c.last_reason

    def running(self) -> tuple[str, ...]:
        """Names of the children that run now, in start order."""
        return tuple(n for n in self._order if self._children[n].state is ChildState.RUNNING)

    def started(self, name: str) -> None:
        """Record that ``name`` runs now."""
        self._children[name].state = ChildState.RUNNING

    def stopped(self, name: str) -> None:
        """Record that the supervisor itself stopped ``name`` (part of a plan or a shutdown)."""
        c = self._children[name]
        if c.state is not ChildState.FAILED:
            c.state = ChildState.STOPPED

    def exited(self, name: str, reason: str | None, now: float, *, dying: Collection[str] = ()) -> Plan:
        """Decide what to do after ``name`` exited: ``reason`` None means a normal exit.

        ``dying`` names the children that have died but whose exits have not been reported yet.
        """
        c = self._children[name]
        abnormal = reason is not None
        c.last_reason = reason or "exited normally"
        c.state = ChildState.FAILED if abnormal else ChildState.STOPPED
        if c.restart is Restart.TEMPORARY:
            self._forget(name)
            return Ignore()
        if c.restart is Restart.TRANSIENT and not abnormal:
            return Ignore()
        sibling = next((d for d in dying if self._restarts_with(d, name)), None)
        if sibling is not None:
            c.state = ChildState.FAILED  # restarted, uncounted, by the dying sibling's plan
            return Ignore(f"child {name!r} is left for the restart of {sibling!r}, which died before it")
        if self._intensity_exceeded(now):
            reason_text = (
                f"more than {self.intensity} restart(s) in {self.period_s:g} s; last: child {name!r} {c.last_reason}"
            )
            return GiveUp(stop=tuple(reversed(self.running())), reason=reason_text)
        return self._restart_plan(name)

    def start_failed(self, name: str, reason: str, now: float, *, dying: Collection[str] = ()) -> Plan:
        """Decide what to do after ``name`` failed to start during a restart."""
        return self.exited(name, f"failed to start: {reason}", now, dying=dying)

    def _restarts_with(self, dying: str, name: str) -> bool:
        """Whether the exit of permanent child ``dying``, still to be reported, restarts ``name``."""
        d = self._children.get(dying)
        if d is None or d.restart is not Restart.PERMANENT or dying == name:
            return False
        if self.strategy is Strategy.ONE_FOR_ALL:
            return True
        return self.strategy is Strategy.REST_FOR_ONE and self._order.index(dying) < self._order.index(name)

    def _intensity_exceeded(self, now: float) -> bool:
        self._restart_times.append(now)
        while self._restart_times and self._restart_times[0] < now - self.period_s:
            self._restart_times.popleft()
        return len(self._restart_times) > self.intensity

    def _restart_plan(self, name: str) -> RestartChildren:
        if self.strategy is Strategy.ONE_FOR_ONE:
            affected = [name]
        elif self.strategy is Strategy.ONE_FOR_ALL:
            affected = list(self._order)
        else:
            affected = self._order[self._order.index(name) :]
        to_stop = tuple(n for n in reversed(affected) if n != name and self._is_running(n))
        for n in to_stop:  # its last exit is the supervisor's doing, not a reason of its own
            self._children[n].last_reason = f"stopped: {name!r} exited ({self.strategy.value})"
        # A temporary child stopped because of a sibling is not started again (OTP).
        for n in to_stop:
            if self._children[n].restart is Restart.TEMPORARY:
                self._forget(n)
        to_start = tuple(n for n in affected if n in self._children and self._restartable(n, name))
        for n in to_start:
            self._children[n].restarts += 1
            self.restarts_total += 1
            self._children[n].state = ChildState.STARTING
        return RestartChildren(stop=to_stop, start=to_start)

    def _restartable(self, n: str, exited: str) -> bool:
        c = self._children[n]
        # Siblings that had already stopped normally stay stopped; the exited child is restarted.
        return n == exited or c.state in (ChildState.RUNNING, ChildState.STARTING, ChildState.FAILED)

    def _is_running(self, n: str) -> bool:
        return n in self._children and self._children[n].state is ChildState.RUNNING

    def _forget(self, name: str) -> None:
        del self._children[name]
        self._order.remove(name)
