"""Actor timers: fire once, can be replaced or cancelled, and die with their incarnation.

Most tests run the timers on a Scheduler with a fake clock and no thread: the test moves the
clock and calls ``run_due()``, which tells every message due by then before it returns, so
"fired once" and "never fired" are checked an hour of timer time later, without sleeping.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

import pykka
import pytest

from swarmnode.actors.runtime.timers import COMPACT_AFTER, Scheduler, Timers
from tests.support import wait_until

WAIT_S = 5.0


class Collector(pykka.ThreadingActor):
    def __init__(self) -> None:
        super().__init__()
        self.got: list[Any] = []

    def on_receive(self, message: Any) -> Any:
        if message == "get":
            return list(self.got)
        self.got.append(message)
        return None


@pytest.fixture
def collector():
    ref = Collector.start()
    yield ref
    ref.stop()


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def scheduler(clock):
    return Scheduler(clock, threaded=False)


def advance(clock: FakeClock, scheduler: Scheduler, seconds: float) -> None:
    clock.now += seconds
    scheduler.run_due()


@pytest.fixture
def timers(collector, scheduler):
    made = Timers(collector, scheduler)
    yield made
    made.close()


def test_a_timer_on_the_real_clock_tells_its_message(collector):
    timers = Timers(collector)  # the process's scheduler and its thread
    timers.start("t", 0.01, "tick")
    wait_until(lambda: collector.ask("get") == ["tick"], WAIT_S, "tick")
    timers.close()


@pytest.fixture
def threaded():
    made = Scheduler()
    yield made
    made.close()
    assert made._thread is None


def test_a_timer_earlier_than_the_one_the_thread_waits_for_fires_first(collector, threaded):
    timers = Timers(collector, threaded)
    timers.start("late", 3600, "late")
    timers.start("soon", 0.01, "soon")
    wait_until(lambda: collector.ask("get") == ["soon"], WAIT_S, "the earlier timer")
    timers.close()


def test_a_timer_tells_its_message_once_at_its_delay(collector, clock, scheduler, timers):
    timers.start("t", 10, "tick")
    advance(clock, scheduler, 9.9)
    assert collector.ask("get") == [], "fired before its delay"
    advance(clock, scheduler, 0.1)
    assert collector.ask("get") == ["tick"]
    for _ in range(5):  # a timer that fired again, at once or every delay, has done so by the end
        advance(clock, scheduler, 10)
    advance(clock, scheduler, 3600)
    assert collector.ask("get") == ["tick"], "a timer fired more than once"


def test_timers_fire_in_the_order_they_are_due(collector, clock, scheduler, timers):
    for key, delay in (("c", 3), ("a", 1), ("d", 4), ("b", 2)):
        timers.start(key, delay, key)
    advance(clock, scheduler, 10)
    assert collector.ask("get") == ["a", "b", "c", "d"]


def test_starting_a_timer_under_the_same_key_replaces_it(collector, clock, scheduler, timers):
    timers.start("t", 60, "old")
    timers.start("t", 10, "new")
    advance(clock, scheduler, 10)
    assert collector.ask("get") == ["new"]
    advance(clock, scheduler, 3600)
    assert collector.ask("get") == ["new"], "the replaced timer fired too"


def test_cancelled_and_closed_timers_never_fire(collector, clock, scheduler, timers):
    timers.start("a", 5, "a")
    timers.start("b", 5, "b")
    timers.start("c", 10, "c")
    timers.cancel("a")
    advance(clock, scheduler, 5)
    assert collector.ask("get") == ["b"], "a cancelled timer fired, or a pending one did not"
    timers.close()
    timers.start("d", 0.0, "d")  # after close: ignored
    advance(clock, scheduler, 3600)
    assert collector.ask("get") == ["b"], "a timer fired after close()"
    assert scheduler.pending() == 0


def test_a_timer_rearmed_on_every_message_does_not_grow_the_heap(collector, scheduler, timers):
    for _ in range(20 * COMPACT_AFTER):
        timers.start("idle", 3600, "idle")
    assert scheduler.pending() == 1
    assert len(scheduler._heap) <= 2 * COMPACT_AFTER + 2, "cancelled entries were never dropped"


def test_a_timer_to_a_dead_actor_is_dropped_without_an_error(clock, scheduler, caplog):
    ref = Collector.start()
    timers = Timers(ref, scheduler)
    ref.stop()
    timers.start("t", 0.01, "tick")
    with caplog.at_level(logging.ERROR, logger="swarmnode.timers"):
        advance(clock, scheduler, 1)
    assert caplog.records == []
    assert scheduler.pending() == 0


def test_a_failing_timer_does_not_stop_the_others(threaded, caplog):
    scheduler = threaded
    fired = threading.Event()

    def fail(entry: object) -> None:
        raise RuntimeError("boom")

    with caplog.at_level(logging.ERROR, logger="swarmnode.timers"):
        scheduler.add(0.0, fail)
        scheduler.add(0.01, lambda entry: fired.set())
        assert fired.wait(WAIT_S), "the timer after a failing one never fired"
    assert any("a timer failed" in r.getMessage() for r in caplog.records)
