"""Timers for actors: a message told to the actor itself after a delay.

pykka has no timers. One daemon thread per process (the Scheduler) keeps every actor's timers
in one heap and tells each message when it is due: a timer costs a heap entry, not a thread
(RaftMember re-arms its commit flush every few milliseconds under writes). Each actor's Timers
cancels all of its timers when the actor stops or crashes, so that a restarted incarnation
never receives a timer of the one before (a late tell to a dead actor is dropped).
"""

from __future__ import annotations

import contextlib
import functools
import heapq
import itertools
import logging
import os
import threading
import time
from collections.abc import Callable
from typing import Any

import pykka

__all__ = ["Scheduler", "Timers", "default_scheduler"]

log = logging.getLogger("swarmnode.timers")

# Cancelled entries stay in the heap until they come up; past this many (and half the heap) it
# is rebuilt without them, so that a timer re-armed far ahead on every message cannot grow it.
COMPACT_AFTER = 256


class _Entry:
    __slots__ = ("done", "due", "fire")

    def __init__(self, due: float, fire: Callable[[_Entry], None]) -> None:
        self.due = due
        self.fire = fire  # called with the entry itself
        self.done = False  # fired or cancelled


class Scheduler:
    """Call functions when they are due, on one thread.

    ``run_due()`` fires what is due by the clock; the thread (started by ``add`` unless
    ``threaded`` is False, as for a test on a fake clock that calls ``run_due`` itself) waits for
    the earliest entry and calls it. A function must be quick (an actor's tell): the next timers
    wait for it.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic, *, threaded: bool = True) -> None:
        self._clock = clock
        self._threaded = threaded
        self._changed = threading.Condition(threading.Lock())
        self._heap: list[tuple[float, int, _Entry]] = []
        self._order = itertools.count()
        self._cancelled = 0
        self._thread: threading.Thread | None = None
        self._closed = False

    def add(self, delay_s: float, fire: Callable[[_Entry], None]) -> _Entry:
        entry = _Entry(self._clock() + max(0.0, delay_s), fire)
        with self._changed:
            heapq.heappush(self._heap, (entry.due, next(self._order), entry))
            if self._closed:
                return entry  # kept: a later add after close() finished starts the thread again
            if self._threaded and (self._thread is None or not self._thread.is_alive()):
                self._thread = threading.Thread(target=self._run, name="timers", daemon=True)
                self._thread.start()
            elif self._heap[0][2] is entry:
                self._changed.notify()  # earlier than what the thread waits for
        return entry

    def cancel(self, entry: _Entry) -> None:
        with self._changed:
            if entry.done:
                return  # fired, or cancelled before
            entry.done = True
            self._cancelled += 1
            if self._cancelled > COMPACT_AFTER and self._cancelled * 2 > len(self._heap):
                self._heap = [item for item in self._heap if not item[2].done]
                heapq.heapify(self._heap)
                self._cancelled = 0

    def pending(self) -> int:
        """How many entries are neither fired nor cancelled."""
        with self._changed:
            return sum(1 for item in self._heap if not item[2].done)

    def run_due(self) -> int:
        """Fire every entry due by now; return how many fired."""
        fired = 0
        while True:
            entry = self._pop_due()
            if entry is None:
                return fired
            self._fire(entry)
            fired += 1

    def _pop_due(self) -> _Entry | None:
        with self._changed:
            return self._pop_due_locked()

    def _pop_due_locked(self) -> _Entry | None:
        heap = self._heap
        while heap:
            due, _, entry = heap[0]
            if entry.done:  # cancelled
                heapq.heappop(heap)
                self._cancelled -= 1
                continue
            if due > self._clock():
                return None
            heapq.heappop(heap)
            entry.done = True  # a late cancel() is a no-op
            return entry
        return None

    @staticmethod
    def _fire(entry: _Entry) -> None:
        try:
            entry.fire(entry)
        except Exception:  # one timer's bug must not stop the others
            log.exception("a timer failed")

    def close(self, timeout_s: float = 5.0) -> None:
        """Stop the thread; what is pending fires only if a later ``add`` starts it again."""
        with self._changed:
            self._closed = True
            thread, self._thread = self._thread, None
            self._changed.notify()
        if thread is not None:
            thread.join(timeout_s)
            if thread.is_alive():
                log.warning("the timer thread did not stop within %g s", timeout_s)
                return  # still closed: a second thread must not start beside it
        with self._changed:
            self._closed = False

    def _run(self) -> None:
        while True:
            try:
                with self._changed:
                    entry = self._pop_due_locked()
                    while entry is None:
                        if self._closed:
                            return
                        wait_s = self._heap[0][0] - self._clock() if self._heap else None
                        self._changed.wait(None if wait_s is None else min(wait_s, threading.TIMEOUT_MAX))
                        entry = self._pop_due_locked()
            except Exception:  # the one thread of every actor's timers must not end on a bug
                log.exception("the timer thread failed; it goes on")
                continue
            self._fire(entry)


class _Default:
    lock = threading.Lock()
    scheduler: Scheduler | None = None


def default_scheduler() -> Scheduler:
    """The process's scheduler (made on first use)."""
    with _Default.lock:
        if _Default.scheduler is None:
            _Default.scheduler = Scheduler()
        return _Default.scheduler


def _forget_after_fork() -> None:
    # A forked child has no timer thread, and its locks may have been held at the fork.
    _Default.lock = threading.Lock()
    _Default.scheduler = None


os.register_at_fork(after_in_child=_forget_after_fork)


class Timers:
    """The pending timers of one actor incarnation."""

    def __init__(self, ref: pykka.ActorRef[Any], scheduler: Scheduler | None = None) -> None:
        self._ref = ref
        self._scheduler = scheduler or default_scheduler()
        self._lock = threading.Lock()
        self._pending: dict[str, _Entry] = {}
        self._closed = False

    def start(self, key: str, delay_s: float, message: Any) -> None:
        """Tell ``message`` after ``delay_s``; a timer already pending under ``key`` is replaced."""
        with self._lock:
            if self._closed:
                return
            old = self._pending.pop(key, None)
            self._pending[key] = self._scheduler.add(delay_s, functools.partial(self._fire, key, message))
        if old is not None:
            self._scheduler.cancel(old)

    def cancel(self, key: str) -> None:
        with self._lock:
            entry = self._pending.pop(key, None)
        if entry is not None:
            self._scheduler.cancel(entry)

    def close(self) -> None:
        """Cancel every timer; later ``start`` calls do nothing."""
        with self._lock:
            self._closed = True
            pending, self._pending = self._pending, {}
        for entry in pending.values():
            self._scheduler.cancel(entry)

    def _fire(self, key: str, message: Any, entry: _Entry) -> None:
        with self._lock:
            if self._pending.get(key) is not entry:
                return  # replaced or cancelled after it came due
            del self._pending[key]
        with contextlib.suppress(pykka.ActorDeadError):
            self._ref.tell(message)
