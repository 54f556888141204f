"""Wait for a condition with a deadline, polling with a short back-off."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

POLL_FIRST_S = 0.001
POLL_MAX_S = 0.05


def wait_until(condition: Callable[[], T], timeout: float = 5.0, what: str = "") -> T:
    """Return the first truthy value of ``condition()``; fail the test when ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    pause = POLL_FIRST_S
    last: T | None = None
    while True:
        last = condition()
        if last:
            return last
        if time.monotonic() >= deadline:
            label = what or getattr(condition, "__name__", "condition")
            raise AssertionError(f"timed out after {timeout:g} s waiting for {label} (last value {last!r})")
        time.sleep(pause)  # a poll interval between checks of a condition, not a bare wait
        pause = min(pause * 2, POLL_MAX_S)
