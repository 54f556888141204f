"""The in-memory Raft log: a list of entries after the last snapshot, with an offset.

Index ``i`` lives at ``entries[i - snap_index - 1]``, so a lookup is one subtraction and a
list access. Entries up to ``stable`` are durable (the driver persisted them and advanced);
entries up to ``in_progress`` were handed out in ``Ready.entries`` and are being written;
entries after it are handed out once in the next Ready. Terms never decrease along the log,
which lets a conflict search by term bisect instead of walking back entry by entry.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence

from .messages import RaftEntry, RaftSnapshot

__all__ = ["RaftLog"]


def _term_of(entry: RaftEntry) -> int:
    return entry.term


class RaftLog:
    """Entries after ``snap_index``, the commit and apply points, and what is durable."""

    __slots__ = (
        "applied",
        "committed",
        "entries",
        "in_progress",
        "pending_snapshot",
        "snap_index",
        "snap_term",
        "stable",
    )

    def __init__(self, snap_index: int, snap_term: int, entries: Sequence[RaftEntry], committed: int) -> None:
        self.snap_index = snap_index
        self.snap_term = snap_term
        self.entries: list[RaftEntry] = list(entries)
        self.stable = self.last_index
        self.in_progress = self.stable  # >= stable: handed out in a Ready, maybe not durable yet
        self.committed = max(snap_index, min(committed, self.last_index))
        self.applied = snap_index
        self.pending_snapshot: RaftSnapshot | None = None  # received, not yet handed out as durable

    @property
    def first_index(self) -> int:
        return self.snap_index + 1

    @property
    def last_index(self) -> int:
        return self.snap_index + len(self.entries)

    @property
    def last_term(self) -> int:
        return self.entries[-1].term if self.entries else self.snap_term

    def term(self, index: int) -> int | None:
        """Return the term at ``index``, or None when it is compacted away or beyond the end."""
        offset = index - self.snap_index
        if offset == 0:
            return self.snap_term
        if 0 < offset <= len(self.entries):
            return self.entries[offset - 1].term
        return None

    def match_term(self, index: int, term: int) -> bool:
        return self.term(index) == term

    def is_up_to_date(self, index: int, term: int) -> bool:
        """Say whether a log ending at (index, term) is at least as up to date as this one (5.4.1)."""
        last_term = self.last_term
        return term > last_term or (term == last_term and index >= self.last_index)

    def find_conflict(self, entries: Sequence[RaftEntry]) -> int:
        """Return the index of the first of ``entries`` not already in the log, or 0."""
        if not entries or entries[0].index > self.last_index:
            return entries[0].index if entries else 0
        for e in entries:
            if self.term(e.index) != e.term:
                return e.index
        return 0

    def find_conflict_by_term(self, index: int, term: int) -> tuple[int, int]:
        """Return the largest (i, term(i)) with i <= index and term(i) <= term.

        The follower answers a rejected append with it, and the leader uses it on its own log,
        so that one round trip skips a whole term of divergent entries (the "fast backtracking"
        of the Raft paper's 5.3 note). (i, 0) means the term at i is not known here.
        """
        if index > self.last_index or index < self.snap_index:
            return index, 0
        k = bisect_right(self.entries, term, 0, index - self.snap_index, key=_term_of)
        if k > 0:
            return self.snap_index + k, self.entries[k - 1].term
        if self.snap_term <= term:
            return self.snap_index, self.snap_term
        return self.snap_index - 1, 0

    def append(self, entries: Sequence[RaftEntry]) -> None:
        """Append ``entries``, first dropping any suffix of the log from ``entries[0].index``."""
        first = entries[0].index
        keep = first - self.snap_index - 1
        if keep < len(self.entries):
            del self.entries[keep:]
            if self.stable >= first:
                self.stable = first - 1
            if self.in_progress >= first:
                self.in_progress = first - 1
        self.entries.extend(entries)

    def entries_from(self, lo: int, max_count: int, max_bytes: int) -> tuple[RaftEntry, ...]:
        """Return entries from ``lo``: at most ``max_count``, and ``max_bytes`` of data unless one is larger."""
        start = lo - self.snap_index - 1
        end = min(len(self.entries), start + max(1, max_count))
        if start >= end:
            return ()
        size = 0
        for i in range(start, end):
            size += len(self.entries[i].data)
            if size > max_bytes and i > start:
                end = i
                break
        return tuple(self.entries[start:end])

    def unstable(self) -> tuple[RaftEntry, ...]:
        """Return the entries not yet handed out, and mark them in progress."""
        start = self.in_progress - self.snap_index
        if start >= len(self.entries):
            return ()
        self.in_progress = self.last_index
        return tuple(self.entries[start:])

    def has_unstable(self) -> bool:
        return self.in_progress < self.last_index

    def next_committed(self) -> tuple[RaftEntry, ...]:
        """Return the committed entries not yet applied."""
        lo = max(self.applied, self.snap_index)
        if self.committed <= lo:
            return ()
        base = self.snap_index + 1
        return tuple(self.entries[lo + 1 - base : self.committed + 1 - base])

    def has_next_committed(self) -> bool:
        return self.committed > max(self.applied, self.snap_index)

    def commit_to(self, index: int) -> bool:
        if index > self.committed and index <= self.last_index:
            self.committed = index
            return True
        return False

    def stable_to(self, index: int, term: int) -> None:
        """Record that entries up to (index, term) are durable, unless the log changed meanwhile."""
        if index > self.stable and self.term(index) == term:
            self.stable = index
            self.in_progress = max(self.in_progress, index)

    def restore(self, snapshot: RaftSnapshot) -> None:
        """Replace the whole log with ``snapshot``: everything after it comes later."""
        meta = snapshot.meta
        self.snap_index = meta.index
        self.snap_term = meta.term
        self.entries = []
        self.stable = meta.index
        self.in_progress = meta.index
        self.committed = meta.index
        self.pending_snapshot = snapshot

    def compact(self, index: int) -> None:
        """Drop the entries up to ``index`` (durable and applied) from memory."""
        term = self.term(index)
        if term is None or index <= self.snap_index:
            return
        del self.entries[: index - self.snap_index]
        self.snap_index = index
        self.snap_term = term
