"""The Supervisor actor: starts children in order, restarts them by strategy, stops them in reverse.

It carries out the plans of :class:`~.core.SupervisorCore`. Stopping a child waits up to the
child's ``shutdown_s``; an actor that does not stop by then is abandoned (Python cannot kill a
thread) and logged. When the core gives up, the supervisor stops every child and crashes
itself, so that its parent restarts the whole subtree; a supervisor without a parent calls
``on_give_up`` instead (the node process exits with the reason).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any, cast

import pykka

from ._base import ChildExited, ChildSpec, Link, StartFailed, SupervisedActor, describe
from .core import ChildState, GiveUp, Ignore, Restart, RestartChildren, Strategy, SupervisorCore
from .registry import Registry

__all__ = [
    "ActorStatistics",
    "GetStatistics",
    "Supervisor",
    "SupervisorGaveUp",
    "SupervisorStatistics",
]

log = logging.getLogger("swarmnode.supervision")

STATISTICS_TIMEOUT_S = 2.0


class SupervisorGaveUp(Exception):
    """A supervisor exceeded its restart intensity and stopped its subtree."""


@dataclass(frozen=True, slots=True)
class ActorStatistics:
    """One actor of a tree, as a supervisor sees it: ``path`` is slash-separated from the root."""

    path: str
    supervisor: bool
    state: str
    restarts: int
    last_reason: str
    strategy: str = ""

    def under(self, parent: str) -> ActorStatistics:
        """The same row, with its path seen from ``parent``'s supervisor."""
        return replace(self, path=f"{parent}/{self.path}")


@dataclass(frozen=True, slots=True)
class SupervisorStatistics:
    """A supervisor and, depth first, every actor below it."""

    name: str
    strategy: str
    restarts_total: int
    actors: tuple[ActorStatistics, ...]


@dataclass(frozen=True, slots=True)
class GetStatistics:
    """Ask a supervisor for its :class:`SupervisorStatistics`.

    It waits up to ``wait_s`` for its nested supervisors and gives each of them half of that
    for theirs: a busy subtree deep down is marked where it is, and the levels above it still
    answer in time with their other rows.
    """

    wait_s: float = STATISTICS_TIMEOUT_S


class Supervisor(SupervisedActor):
    """Supervise an ordered list of children with an OTP restart strategy."""

    def __init__(
        self,
        link: Link | None,
        *,
        strategy: Strategy,
        children: Sequence[ChildSpec],
        intensity: int = 3,
        period_s: float = 5.0,
        registry: Registry | None = None,
        clock: Callable[[], float] = time.monotonic,
        on_give_up: Callable[[str], None] | None = None,
        name: str = "",
    ) -> None:
        super().__init__(link)
        self._specs = {spec.name: spec for spec in children}
        self.core = SupervisorCore(
            strategy,
            [(spec.name, spec.restart) for spec in children],
            intensity=intensity,
            period_s=period_s,
        )
        self._refs: dict[str, pykka.ActorRef[Any]] = {}
        self._registry = registry
        self._clock = clock
        self._on_give_up = on_give_up
        self._root_name = name

    @property
    def name(self) -> str:
        return self.link.name if self.link else (self._root_name or "supervisor")

    @classmethod
    def supervisor_spec(
        cls,
        name: str,
        *,
        strategy: Strategy,
        children: Sequence[ChildSpec],
        intensity: int = 3,
        period_s: float = 5.0,
        registry: Registry | None = None,
        restart: Restart = Restart.PERMANENT,
        shutdown_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> ChildSpec:
        """Return the child spec of a nested supervisor."""

        def start(link: Link) -> pykka.ActorRef[Any]:
            return cls.start_linked(
                link,
                strategy=strategy,
                children=children,
                intensity=intensity,
                period_s=period_s,
                registry=registry,
                clock=clock,
            )

        return ChildSpec(name=name, start=start, restart=restart, shutdown_s=shutdown_s, supervisor=True)

    # -- lifecycle ----------------------------------------------------------------------------

    def on_start(self) -> None:
        if self._registry is not None and self.link is None:
            self._registry.register(self.name, self.actor_ref)
        started: list[str] = []
        for name in self.core.order:
            try:
                self._start_child(name)
            except StartFailed:
                # OTP: a supervisor whose initial children cannot start fails to start itself.
                for done in reversed(started):
                    self._stop_child(done)
                raise
            started.append(name)

    def on_stop(self) -> None:
        self._stop_all()
        if self._registry is not None and self.link is None:
            self._registry.unregister(self.name, self.actor_ref)

    def on_crash(self, exc: BaseException) -> None:
        self._stop_all()

    def _stop_all(self) -> None:
        for name in reversed(self.core.running()):
            self._stop_child(name)
            self.core.stopped(name)

    # -- messages -----------------------------------------------------------------------------

    def on_receive(self, message: Any) -> Any:
        if isinstance(message, ChildExited):
            self._child_exited(message)
            return None
        if isinstance(message, GetStatistics):
            return self.statistics(message.wait_s)
        return super().on_receive(message)

    def _child_exited(self, event: ChildExited) -> None:
        ref = self._refs.get(event.name)
        if ref is None or ref.actor_urn != event.urn:
            return  # an earlier incarnation, or a child this supervisor stopped itself
        del self._refs[event.name]
        if self._registry is not None:
            self._registry.unregister(event.name, ref)
        if event.reason is not None:
            log.warning("supervisor %s: child %s crashed: %s", self.name, event.name, event.reason)
        plan = self.core.exited(event.name, event.reason, self._clock(), dying=self._dying())
        self._carry_out(plan)

    def _dying(self) -> tuple[str, ...]:
        """Children that have died (crashed or stopped) but whose exits have not arrived yet."""
        return tuple(name for name, ref in self._refs.items() if not ref.is_alive())

    def _carry_out(self, plan: Ignore | RestartChildren | GiveUp) -> None:
        while True:
            if isinstance(plan, Ignore):
                if plan.note:
                    log.warning("supervisor %s: %s", self.name, plan.note)
                return
            if isinstance(plan, GiveUp):
                self._give_up(plan)
                return
            for name in plan.stop:
                self._stop_child(name)
            failed: tuple[str, str] | None = None
            for name in plan.start:
                try:
                    self._start_child(name)
                except StartFailed as exc:
                    failed = (name, exc.reason)
                    break
                _, restarts, reason = self.core.child(name)
                log.warning("supervisor %s restarted %s (restart %d, reason: %s)", self.name, name, restarts, reason)
            if failed is None:
                return
            plan = self.core.start_failed(failed[0], failed[1], self._clock(), dying=self._dying())

    def _give_up(self, plan: GiveUp) -> None:
        log.error("supervisor %s gives up: %s", self.name, plan.reason)
        for name in plan.stop:
            self._stop_child(name)
            self.core.stopped(name)
        if self.link is not None:
            raise SupervisorGaveUp(f"supervisor {self.name!r} gave up: {plan.reason}")
        if self._on_give_up is not None:
            self._on_give_up(f"supervisor {self.name!r} gave up: {plan.reason}")
        self.stop()

    # -- children -----------------------------------------------------------------------------

    def _start_child(self, name: str) -> None:
        spec = self._specs[name]
        try:
            ref = spec.start(Link(self.actor_ref, name))
        except StartFailed:
            raise
        except Exception as exc:
            raise StartFailed(name, describe(exc)) from exc
        self._refs[name] = ref
        self.core.started(name)
        if self._registry is not None:
            self._registry.register(name, ref)

    def _stop_child(self, name: str) -> None:
        ref = self._refs.pop(name, None)
        if ref is None:
            return
        if self._registry is not None:
            self._registry.unregister(name, ref)
        timeout_s = self._specs[name].shutdown_s
        try:
            ref.stop(block=True, timeout=timeout_s)
        except pykka.Timeout:
            log.error(
                "supervisor %s: child %s did not stop within %g s; its thread is abandoned",
                self.name,
                name,
                timeout_s,
            )

    def statistics(self, wait_s: float = STATISTICS_TIMEOUT_S) -> SupervisorStatistics:
        """Return this supervisor's children, and theirs, depth first (see :class:`GetStatistics`)."""
        # Every nested supervisor is asked at once and waited for until one shared deadline, so
        # that busy subtrees cost the asker ``wait_s`` in all, not that much each.
        asked: dict[str, pykka.Future[Any]] = {}
        for name in self.core.order:
            ref = self._refs.get(name)
            if self._specs[name].supervisor and ref is not None and self.core.child(name)[0] is ChildState.RUNNING:
                asked[name] = ref.ask(GetStatistics(wait_s / 2), block=False)
        deadline = time.monotonic() + wait_s
        rows: list[ActorStatistics] = []
        for name in self.core.order:
            state, restarts, reason = self.core.child(name)
            spec = self._specs[name]
            nested: SupervisorStatistics | None = None
            future = asked.get(name)
            if future is not None:
                try:
                    nested = cast(SupervisorStatistics, future.get(timeout=max(0.0, deadline - time.monotonic())))
                except pykka.Timeout:  # a busy subtree still shows up, marked
                    reason = f"statistics unavailable: no answer within {wait_s:g} s"
                except Exception as exc:  # and so does a dying one
                    reason = f"statistics unavailable: {describe(exc)}"
            rows.append(
                ActorStatistics(
                    path=name,
                    supervisor=spec.supervisor,
                    state=state.value,
                    restarts=restarts,
                    last_reason=reason,
                    strategy=nested.strategy if nested else "",
                )
            )
            if nested is not None:
                rows.extend(row.under(name) for row in nested.actors)
        return SupervisorStatistics(
            name=self.name,
            strategy=self.core.strategy.value,
            restarts_total=self.core.restarts_total,
            actors=tuple(rows),
        )
