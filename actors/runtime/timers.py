"""Timers for actors: a message told to the actor itself after a delay.

pykka has no timers. Each timer is a daemon ``threading.Timer`` that tells the actor a message;
the actor cancels all of its timers when it stops or crashes, so that a restarted incarnation
never receives a timer of the one before (a late tell to a dead actor is dropped).
"""

from __future__ import annotations

import contextlib
import threading
from typing import Any

import pykka

__all__ = ["Timers"]


class Timers:
    """The pending timers of one actor incarnation."""

    def __init__(self, ref: pykka.ActorRef[Any]) -> None:
        self._ref = ref
        self._lock = threading.Lock()
        self._pending: dict[str, threading.Timer] = {}
        self._closed = False

    def start(self, key: str, delay_s: float, message: Any) -> None:
        """Tell ``message`` after ``delay_s``; a timer already pending under ``key`` is replaced."""
        timer = threading.Timer(max(0.0, delay_s), self._fire, args=(key, message))
        timer.daemon = True
        with self._lock:
            if self._closed:
                return
            old = self._pending.pop(key, None)
            self._pending[key] = timer
        if old is not None:
            old.cancel()
        timer.start()

    def cancel(self, key: str) -> None:
        with self._lock:
            timer = self._pending.pop(key, None)
        if timer is not None:
            timer.cancel()

    def close(self) -> None:
        """Cancel every timer; later ``start`` calls do nothing."""
        with self._lock:
            self._closed = True
            pending, self._pending = self._pending, {}
        for timer in pending.values():
            timer.cancel()

    def _fire(self, key: str, message: Any) -> None:
        with self._lock:
            if self._pending.get(key) is not threading.current_thread():
                return  # replaced or cancelled after it started firing
            del self._pending[key]
        with contextlib.suppress(pykka.ActorDeadError):
            self._ref.tell(message)
