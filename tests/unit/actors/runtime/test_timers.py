"""Actor timers: fire once, can be replaced or cancelled, and die with their incarnation.

Most tests run the timers on a clock that moves only when the test says (trio's jumping test
clock): after ``clock.advance(3600)`` every timer due by then has fired, so "fired once" and
"never fired" are checked an hour of timer time later, without sleeping.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pykka
import pytest

from swarmnode.actors.runtime import timers as timers_module
from swarmnode.actors.runtime.timers import Timers
from tests.support import wait_until

SETTLE_TIMEOUT_S = 5.0


class Collector(pykka.ThreadingActor):
    def __init__(self) -> None:
        super().__init__()
        self.got: list[Any] = []
        self.lock = threading.Lock()

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


class ClockTimer(threading.Thread):
    """What ``threading.Timer`` is to the timers module, on a FakeClock: a thread that calls
    ``function`` once the clock has reached its deadline, unless cancelled first."""

    def __init__(
        self, clock: FakeClock, interval: float, function: Callable[..., Any], args: Any = None, kwargs: Any = None
    ) -> None:
        super().__init__(daemon=True)
        self.clock = clock
        self.deadline = clock.now + interval
        self.function, self.args, self.kwargs = function, args or (), kwargs or {}
        self.cancelled = False
        self.waiting = False

    def cancel(self) -> None:
        with self.clock.changed:
            self.cancelled = True
            self.clock.changed.notify_all()

    def run(self) -> None:
        clock = self.clock
        with clock.changed:
            while not self.cancelled and clock.now < self.deadline:
                self.waiting = True
                clock.changed.wait()
                self.waiting = False
            if self.cancelled:
                return
        self.function(*self.args, **self.kwargs)  # in this thread, as threading.Timer does

    def settled(self) -> bool:
        """Whether nothing more will come of this timer until the clock moves (under clock.changed)."""
        if not self.is_alive():
            return True  # fired and done, cancelled and done, or never started (start after close)
        return self.waiting and not self.cancelled and self.clock.now < self.deadline


class FakeClock:
    """The timer threads' time: it moves only by ``advance``, which returns once every timer due has fired."""

    def __init__(self) -> None:
        self.now = 0.0
        self.changed = threading.Condition()
        self.timers: list[ClockTimer] = []

    def timer(self, interval: float, function: Callable[..., Any], args: Any = None, kwargs: Any = None) -> ClockTimer:
        timer = ClockTimer(self, interval, function, args, kwargs)
        with self.changed:
            self.timers.append(timer)
        return timer

    def advance(self, seconds: float) -> None:
        with self.changed:
            self.now += seconds
            self.changed.notify_all()
        # A timer that fired has told its message before its thread ends, so a later ask of the
        # actor is queued behind every message the timers sent up to now.
        wait_until(self._settled, SETTLE_TIMEOUT_S, f"the timers due by {self.now:g} s to fire")

    def _settled(self) -> bool:
        with self.changed:
            return all(timer.settled() for timer in self.timers)


class ThreadingOnClock:
    """The ``threading`` module as the timers module sees it, with its Timer on a FakeClock."""

    def __init__(self, clock: FakeClock) -> None:
        self.Timer = clock.timer

    def __getattr__(self, name: str) -> Any:
        return getattr(threading, name)


@pytest.fixture
def clock(monkeypatch):
    fake = FakeClock()
    monkeypatch.setattr(timers_module, "threading", ThreadingOnClock(fake))
    yield fake
    with fake.changed:
        left = list(fake.timers)
    for timer in left:
        timer.cancel()
        if timer.ident is not None:  # one made after close() is never started
            timer.join(SETTLE_TIMEOUT_S)


@pytest.fixture
def timers(collector, clock):
    """Timers of the collector on the fake clock."""
    made = Timers(collector)
    yield made
    made.close()


def test_a_timer_on_the_real_clock_tells_its_message(collector):
    timers = Timers(collector)
    timers.start("t", 0.01, "tick")
    wait_until(lambda: collector.ask("get") == ["tick"], 5, "tick")
    timers.close()


def test_a_timer_tells_its_message_once_at_its_delay(collector, clock, timers):
    timers.start("t", 10, "tick")
    clock.advance(9.9)
    assert collector.ask("get") == [], "fired before its delay"
    clock.advance(0.1)
    assert collector.ask("get") == ["tick"]
    for _ in range(5):  # a timer that fired again, at once or every delay, has done so by the end
        clock.advance(10)
    clock.advance(3600)
    assert collector.ask("get") == ["tick"], "a timer fired more than once"


def test_starting_a_timer_under_the_same_key_replaces_it(collector, clock, timers):
    timers.start("t", 60, "old")
    timers.start("t", 10, "new")
    clock.advance(10)
    assert collector.ask("get") == ["new"]
    clock.advance(3600)
    assert collector.ask("get") == ["new"], "the replaced timer fired too"


def test_cancelled_and_closed_timers_never_fire(collector, clock, timers):
    timers.start("a", 5, "a")
    timers.start("b", 5, "b")
    timers.start("c", 10, "c")
    timers.cancel("a")
    clock.advance(5)
    assert collector.ask("get") == ["b"], "a cancelled timer fired, or a pending one did not"
    timers.close()
    timers.start("d", 0.0, "d")  # after close: ignored
    clock.advance(3600)
    assert collector.ask("get") == ["b"], "a timer fired after close()"


def test_a_timer_to_a_dead_actor_is_dropped_without_an_error(monkeypatch):
    errors: list[BaseException | None] = []
    monkeypatch.setattr(threading, "excepthook", lambda args: errors.append(args.exc_value))
    ref = Collector.start()
    timers = Timers(ref)
    ref.stop()
    timers.start("t", 0.01, "tick")
    timer = timers._pending["t"]
    timer.join(5)
    assert not timer.is_alive()
    assert errors == []
