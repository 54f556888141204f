"""Actor timers: fire once, can be replaced or cancelled, and die with their incarnation."""

from __future__ import annotations

import threading
from typing import Any

import pykka
import pytest

from swarmnode.actors.runtime.timers import Timers
from tests.support import wait_until


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


def test_a_timer_tells_its_message_once(collector):
    timers = Timers(collector)
    timers.start("t", 0.01, "tick")
    wait_until(lambda: collector.ask("get") == ["tick"], 5, "tick")
    timers.close()


def test_starting_a_timer_under_the_same_key_replaces_it(collector):
    timers = Timers(collector)
    timers.start("t", 60, "old")
    timers.start("t", 0.01, "new")
    wait_until(lambda: collector.ask("get") == ["new"], 5, "new")
    timers.close()


def test_cancelled_and_closed_timers_never_fire(collector):
    timers = Timers(collector)
    timers.start("a", 0.05, "a")
    timers.start("b", 0.05, "b")
    timers.cancel("a")
    timers.close()
    timers.start("c", 0.0, "c")  # after close: ignored
    probe = Timers(collector)
    probe.start("probe", 0.1, "probe")  # fires after a and b would have
    wait_until(lambda: "probe" in collector.ask("get"), 5, "probe")
    assert collector.ask("get") == ["probe"]


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
