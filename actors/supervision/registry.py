"""Names of the running actors of one node, kept current across restarts.

A supervisor registers each child it starts under the child's name and unregisters it when
the child stops, so that a message addressed to ``scheduler`` reaches whichever incarnation
runs now (Erlang's registered names).
"""

from __future__ import annotations

import threading
from typing import Any

import pykka

__all__ = ["Registry"]


class Registry:
    """A thread-safe map of actor name to the ActorRef that runs under it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._refs: dict[str, pykka.ActorRef[Any]] = {}

    def register(self, name: str, ref: pykka.ActorRef[Any]) -> None:
        with self._lock:
            self._refs[name] = ref

    def unregister(self, name: str, ref: pykka.ActorRef[Any]) -> None:
        """Remove ``name`` if it still points at ``ref`` (a newer incarnation stays)."""
        with self._lock:
            if self._refs.get(name) is ref:
                del self._refs[name]

    def get(self, name: str) -> pykka.ActorRef[Any] | None:
        with self._lock:
            return self._refs.get(name)

    def names(self) -> list[str]:
        with self._lock:
            return sorted(self._refs)
