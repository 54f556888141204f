"""Supervisors running real pykka actors: order, strategies, crashes under ask and tell, escalation."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pykka
import pytest
from pykka._envelope import Envelope  # what ActorRef.tell and ask put in a mailbox

from swarmnode.actors.supervision import (
    ActorCrashed,
    Link,
    Registry,
    Restart,
    StartFailed,
    Strategy,
    SupervisedActor,
    Supervisor,
    SupervisorStatistics,
)
from swarmnode.actors.supervision.actor import GetStatistics
from tests.support import wait_until


class Journal:
    """What the test actors did, in order, across threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.events: list[str] = []
        self.fail_start: set[str] = set()
        self.during_cleanup: Callable[[], None] = lambda: None

    def add(self, event: str) -> None:
        with self._lock:
            self.events.append(event)

    def take(self) -> list[str]:
        with self._lock:
            out, self.events = self.events, []
            return out


class Child(SupervisedActor):
    def __init__(self, link: Link | None, journal: Journal) -> None:
        super().__init__(link)
        self.journal = journal

    def on_start(self) -> None:
        if self.name in self.journal.fail_start:
            raise RuntimeError(f"{self.name} cannot start")
        self.journal.add(f"start {self.name}")

    def on_stop(self) -> None:
        self.journal.add(f"stop {self.name}")

    def on_crash(self, exc: BaseException) -> None:
        self.journal.add(f"crash {self.name}")

    def on_receive(self, message: Any) -> Any:
        if message == "crash":
            raise RuntimeError("asked to crash")
        if message == "exit":
            self.stop()
            return None
        if message == "block":
            threading.Event().wait(1.0)
            return "unblocked"
        return f"{self.name} got {message}"


@pytest.fixture
def journal() -> Journal:
    return Journal()


@pytest.fixture
def tree() -> Iterator[list[pykka.ActorRef[Any]]]:
    """Collect the roots a test starts; stop them all at the end, even after a failure."""
    roots: list[pykka.ActorRef[Any]] = []
    yield roots
    for ref in roots:
        if ref.is_alive():
            ref.stop(block=True, timeout=10)


def start_root(tree, strategy, children, **kwargs) -> tuple[pykka.ActorRef[Any], Registry]:
    registry = kwargs.pop("registry", None) or Registry()
    ref = Supervisor.start_linked(None, strategy=strategy, children=children, registry=registry, name="root", **kwargs)
    tree.append(ref)
    return ref, registry


def stats(ref: pykka.ActorRef[Any]) -> SupervisorStatistics:
    return ref.ask(GetStatistics(), timeout=5)


def restarts_of(ref: pykka.ActorRef[Any], path: str) -> int:
    return next(a.restarts for a in stats(ref).actors if a.path == path)


def specs(journal: Journal, *names: str, restart: Restart = Restart.PERMANENT):
    return [Child.spec(n, journal, restart=restart, shutdown_s=2.0) for n in names]


def test_children_start_in_order_and_stop_in_reverse(tree, journal):
    ref, _ = start_root(tree, Strategy.ONE_FOR_ONE, specs(journal, "a", "b", "c"))
    assert journal.take() == ["start a", "start b", "start c"]
    ref.stop(block=True, timeout=5)
    assert journal.take() == ["stop c", "stop b", "stop a"]


def test_crash_under_tell_is_restarted_one_for_one(tree, journal):
    ref, registry = start_root(tree, Strategy.ONE_FOR_ONE, specs(journal, "a", "b", "c"))
    journal.take()
    old_a, old_b = registry.get("a"), registry.get("b")
    old_b.tell("crash")
    wait_until(lambda: restarts_of(ref, "b") == 1, what="b restarted")
    assert journal.take() == ["crash b", "start b"]
    assert registry.get("a") is old_a
    new_b = registry.get("b")
    assert new_b is not None and new_b is not old_b
    assert new_b.ask("hello", timeout=2) == "b got hello"


def test_crash_under_ask_gives_the_asker_an_error_naming_the_actor_and_restarts(tree, journal):
    ref, registry = start_root(tree, Strategy.ONE_FOR_ONE, specs(journal, "a"))
    with pytest.raises(ActorCrashed, match="actor 'a' crashed: RuntimeError: asked to crash"):
        registry.get("a").ask("crash", timeout=2)
    wait_until(lambda: restarts_of(ref, "a") == 1, what="a restarted")
    assert wait_until(lambda: registry.get("a")).ask("ping", timeout=2) == "a got ping"


def test_messages_queued_behind_a_crash_fail_fast_instead_of_hanging(tree, journal):
    _, registry = start_root(tree, Strategy.ONE_FOR_ONE, specs(journal, "a"))
    a = registry.get("a")
    blocked = a.ask("block", block=False)
    crash = a.ask("crash", block=False)
    behind = [a.ask(f"m{i}", block=False) for i in range(3)]
    assert blocked.get(timeout=5) == "unblocked"
    with pytest.raises(ActorCrashed):
        crash.get(timeout=5)
    for future in behind:
        with pytest.raises(pykka.ActorDeadError):
            future.get(timeout=5)


class Undelivered(Child):
    def on_undelivered(self, message: Any, how: str) -> None:
        self.journal.add(f"undelivered {message} ({how})")


@pytest.mark.parametrize("ending", ["crash", "exit"])
def test_what_reaches_a_dead_actor_after_the_sender_found_it_alive_is_answered(tree, journal, ending):
    """A sender checks that the actor is alive, then puts: the actor may die in between."""
    _, registry = start_root(tree, Strategy.ONE_FOR_ONE, [Undelivered.spec("a", journal, shutdown_s=2.0)])
    a = registry.get("a")
    a.ask(ending, block=False)
    wait_until(lambda: a.actor_inbox.refuse is not None, what="a's mailbox closed")
    late = pykka.ThreadingFuture()
    a.actor_inbox.put(Envelope("late ask", reply_to=late))
    a.actor_inbox.put(Envelope("late tell"))
    how = "crashed" if ending == "crash" else "stopped"
    with pytest.raises(pykka.ActorDeadError, match=f"actor 'a' {how} before it handled str"):
        late.get(timeout=0)  # answered as it was put
    assert [e for e in journal.take() if e.startswith("undelivered")] == [f"undelivered late tell ({how})"]
    assert a.actor_inbox.empty()


class SlowToStop(Undelivered):
    stopping = threading.Event()
    release = threading.Event()

    def on_stop(self) -> None:
        SlowToStop.stopping.set()
        assert SlowToStop.release.wait(5)


def test_what_reaches_a_stopping_actor_is_answered_before_its_on_stop_is_over(tree, journal):
    """on_stop may take its time (and may stop what an answer goes through): the mailbox is closed first."""
    SlowToStop.stopping.clear()
    SlowToStop.release.clear()
    _, registry = start_root(tree, Strategy.ONE_FOR_ONE, [SlowToStop.spec("a", journal, restart=Restart.TEMPORARY)])
    a = registry.get("a")
    stopped = a.stop(block=False)
    try:
        assert SlowToStop.stopping.wait(5)
        a.actor_inbox.put(Envelope("late tell"))
        assert [e for e in journal.take() if e.startswith("undelivered")] == ["undelivered late tell (stopped)"]
    finally:
        SlowToStop.release.set()
    stopped.get(timeout=5)


def test_one_for_all_restarts_every_child_in_order(tree, journal):
    ref, registry = start_root(tree, Strategy.ONE_FOR_ALL, specs(journal, "a", "b", "c"))
    journal.take()
    registry.get("b").tell("crash")
    wait_until(lambda: restarts_of(ref, "c") == 1, what="c restarted")
    assert journal.take() == ["crash b", "stop c", "stop a", "start a", "start b", "start c"]


def test_rest_for_one_restarts_the_child_and_later_siblings(tree, journal):
    ref, registry = start_root(tree, Strategy.REST_FOR_ONE, specs(journal, "a", "b", "c"))
    journal.take()
    registry.get("b").tell("crash")
    wait_until(lambda: restarts_of(ref, "c") == 1, what="c restarted")
    assert journal.take() == ["crash b", "stop c", "start b", "start c"]
    assert restarts_of(ref, "a") == 0


def test_transient_child_that_exits_normally_is_not_restarted(tree, journal):
    ref, registry = start_root(tree, Strategy.ONE_FOR_ONE, specs(journal, "a", restart=Restart.TRANSIENT))
    journal.take()
    registry.get("a").tell("exit")
    wait_until(lambda: stats(ref).actors[0].state == "stopped", what="a stopped")
    assert journal.take() == ["stop a"]
    assert registry.get("a") is None


def test_nested_supervisor_that_gives_up_is_restarted_by_its_parent(tree, journal):
    registry = Registry()
    inner = Supervisor.supervisor_spec(
        "inner",
        strategy=Strategy.ONE_FOR_ONE,
        children=specs(journal, "x", "y"),
        intensity=1,
        period_s=60,
        registry=registry,
    )
    ref, _ = start_root(tree, Strategy.ONE_FOR_ONE, [*specs(journal, "a"), inner], registry=registry, intensity=5)
    journal.take()
    registry.get("x").tell("crash")
    wait_until(lambda: restarts_of(ref, "inner/x") == 1, what="x restarted once")
    wait_until(lambda: registry.get("x")).tell("crash")
    # The second crash in the period exceeds intensity 1: inner stops y then fails upward,
    # and the root starts a fresh inner (with fresh counters) while "a" is left alone.
    wait_until(lambda: restarts_of(ref, "inner") == 1, what="inner restarted by root")
    events = journal.take()
    assert events[:4] == ["crash x", "start x", "crash x", "stop y"]
    assert events[-2:] == ["start x", "start y"]
    assert restarts_of(ref, "a") == 0
    rows = {a.path: a for a in stats(ref).actors}
    assert rows["inner"].supervisor and rows["inner"].strategy == "one_for_one"
    assert "gave up" in rows["inner"].last_reason
    assert rows["inner/x"].restarts == 0


def test_root_that_gives_up_reports_the_reason_and_stops(tree, journal):
    given_up: list[str] = []
    done = threading.Event()

    def on_give_up(reason: str) -> None:
        given_up.append(reason)
        done.set()

    ref, registry = start_root(tree, Strategy.ONE_FOR_ONE, specs(journal, "a"), intensity=0, on_give_up=on_give_up)
    registry.get("a").tell("crash")
    assert done.wait(5)
    assert "supervisor 'root' gave up: more than 0 restart(s)" in given_up[0]
    wait_until(lambda: not ref.is_alive(), what="root stopped")


def test_a_child_that_cannot_start_fails_the_supervisor_start_and_stops_the_others(tree, journal):
    journal.fail_start.add("b")
    with pytest.raises(StartFailed, match="RuntimeError: b cannot start"):
        start_root(tree, Strategy.ONE_FOR_ONE, specs(journal, "a", "b", "c"))
    assert journal.take() == ["start a", "stop a"]


def test_start_failures_during_restart_count_toward_intensity(tree, journal):
    given_up = threading.Event()
    _, registry = start_root(
        tree,
        Strategy.ONE_FOR_ONE,
        specs(journal, "a"),
        intensity=3,
        period_s=60,
        on_give_up=lambda reason: given_up.set(),
    )
    journal.fail_start.add("a")
    registry.get("a").tell("crash")
    assert given_up.wait(5), "supervisor kept restarting a child that cannot start"


class CleansUpSlowly(Child):
    """Crashes like Child, but its clean-up runs ``journal.during_cleanup`` first."""

    def on_crash(self, exc: BaseException) -> None:
        self.journal.during_cleanup()
        super().on_crash(exc)


def test_a_sibling_that_dies_while_an_earlier_one_cleans_up_is_restarted_with_it_once(tree, journal):
    # The node's transport closes its sockets before its supervisor hears of its crash; an actor
    # after it that meanwhile finds the transport gone and crashes must not count as a second
    # failure, nor be restarted before the transport is.
    children = [CleansUpSlowly.spec("a", journal, shutdown_s=2.0), *specs(journal, "b", "c")]
    ref, registry = start_root(tree, Strategy.REST_FOR_ONE, children, intensity=1, period_s=60)
    b = registry.get("b")

    def b_dies_and_is_heard_of() -> None:
        b.tell("crash")
        wait_until(lambda: stats(ref).actors[1].state == "failed", what="root heard of b's crash")

    journal.during_cleanup = b_dies_and_is_heard_of
    journal.take()
    registry.get("a").tell("crash")
    wait_until(lambda: restarts_of(ref, "a") == 1, what="a restarted")
    assert journal.take() == ["crash b", "crash a", "stop c", "start a", "start b", "start c"]
    assert [restarts_of(ref, n) for n in "abc"] == [1, 1, 1]
    assert ref.is_alive()  # one failure, one restart: intensity 1 was not exceeded


class Holdable(Supervisor):
    """A supervisor that can be kept busy: told an Event, it waits for it."""

    def on_receive(self, message: Any) -> Any:
        if isinstance(message, threading.Event):
            message.wait(10)
            return None
        return super().on_receive(message)


def test_busy_subtrees_cost_a_statistics_request_one_wait_in_all(tree, journal):
    # The control actor waits 3 s for the root: with two busy subtrees asked one after the
    # other at 2 s each, `swarm-node status` failed exactly when a node was in trouble.
    subtrees = [
        Holdable.supervisor_spec(name, strategy=Strategy.ONE_FOR_ONE, children=specs(journal, f"{name}-child"))
        for name in ("left", "right")
    ]
    ref, registry = start_root(tree, Strategy.ONE_FOR_ONE, subtrees)
    held = threading.Event()
    try:
        for name in ("left", "right"):
            registry.get(name).tell(held)
        started = time.monotonic()
        rows = {a.path: a for a in ref.ask(GetStatistics(wait_s=1.0), timeout=5).actors}
        elapsed = time.monotonic() - started
    finally:
        held.set()
    assert elapsed < 1.9, f"statistics took {elapsed:.2f} s: the busy subtrees were waited for one by one"
    assert rows["left"].last_reason == "statistics unavailable: no answer within 1 s"
    assert rows["right"].last_reason == "statistics unavailable: no answer within 1 s"


def test_a_busy_subtree_deep_down_hides_only_itself(tree, journal):
    # root -> middle -> {ok, busy}: middle waits half the root's time for busy, so the root
    # still gets middle's answer, with ok in it.
    registry = Registry()
    middle = Supervisor.supervisor_spec(
        "middle",
        strategy=Strategy.ONE_FOR_ONE,
        registry=registry,
        children=[
            Supervisor.supervisor_spec("ok", strategy=Strategy.ONE_FOR_ONE, children=specs(journal, "ok-child")),
            Holdable.supervisor_spec("busy", strategy=Strategy.ONE_FOR_ONE, children=specs(journal, "busy-child")),
        ],
    )
    ref, _ = start_root(tree, Strategy.ONE_FOR_ONE, [middle], registry=registry)
    held = threading.Event()
    try:
        registry.get("busy").tell(held)
        rows = {a.path: a for a in ref.ask(GetStatistics(wait_s=1.0), timeout=5).actors}
    finally:
        held.set()
    assert rows["middle"].last_reason == ""
    assert rows["middle/ok/ok-child"].state == "running"
    assert rows["middle/busy"].last_reason == "statistics unavailable: no answer within 0.5 s"


class Stubborn(SupervisedActor):
    def on_stop(self) -> None:
        threading.Event().wait(3.0)


def test_a_child_that_does_not_stop_in_time_is_abandoned_and_logged(tree, caplog):
    ref, _ = start_root(tree, Strategy.ONE_FOR_ONE, [Stubborn.spec("slow", shutdown_s=0.2)])
    ref.stop(block=True, timeout=5)
    assert "child slow did not stop within 0.2 s" in caplog.text
