"""Read-index requests a leader is confirming (the Raft thesis, 6.4).

A request records the commit index when it arrived; it is safe to serve once a quorum of
voters answered a heartbeat carrying its context, which proves that no newer leader existed
at that moment. A quorum for one request confirms every request queued before it too.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field

__all__ = ["ReadOnly", "ReadRequest", "count_acks"]


@dataclass(slots=True)
class ReadRequest:
    index: int
    context: bytes
    frm: str  # the node that asked: the leader itself or a follower that forwarded it
    acks: set[str] = field(default_factory=set)


class ReadOnly:
    """The pending read-index requests of a leader, in arrival order."""

    __slots__ = ("_by_context", "_queue")

    def __init__(self) -> None:
        self._by_context: dict[bytes, ReadRequest] = {}
        self._queue: list[bytes] = []

    def add(self, index: int, context: bytes, frm: str) -> bool:
        """Queue a request; return False when one with the same context is already pending."""
        if context in self._by_context:
            return False
        self._by_context[context] = ReadRequest(index, context, frm)
        self._queue.append(context)
        return True

    def ack(self, context: bytes, frm: str) -> set[str] | None:
        """Record that ``frm`` answered the heartbeat for ``context``; return who has so far."""
        request = self._by_context.get(context)
        if request is None:
            return None
        request.acks.add(frm)
        return request.acks

    def release(self, context: bytes) -> list[ReadRequest]:
        """Remove and return every request up to and including the one for ``context``."""
        if context not in self._by_context:
            return []
        position = self._queue.index(context)
        done = [self._by_context.pop(c) for c in self._queue[: position + 1]]
        del self._queue[: position + 1]
        return done

    def last_context(self) -> bytes:
        return self._queue[-1] if self._queue else b""

    def __len__(self) -> int:
        return len(self._queue)

    def __contains__(self, context: object) -> bool:
        return context in self._by_context


def count_acks(acks: Collection[str], voters: Collection[str]) -> int:
    """Return how many of ``voters`` answered."""
    return sum(1 for v in voters if v in acks)
