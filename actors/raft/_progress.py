"""What a leader knows of each follower's log, and how fast it may send to it.

* ``probe``: the leader does not know where the follower's log matches; it sends one append
  at a time and waits for the answer (a rejection moves ``next`` back, using the hint).
* ``replicate``: the follower matched; the leader streams appends, moving ``next`` on
  optimistically, with at most ``max_inflight`` messages unanswered (flow control).
* ``snapshot``: the entries the follower needs are compacted away; a snapshot is on its way
  and nothing else is sent until the follower answers with its new match.
"""

from __future__ import annotations

from collections import deque

__all__ = ["PROBE", "REPLICATE", "SNAPSHOT", "Progress"]

PROBE = "probe"
REPLICATE = "replicate"
SNAPSHOT = "snapshot"


class Progress:
    """One follower's replication state, as its leader sees it."""

    __slots__ = (
        "heard_at",
        "inflights",
        "is_learner",
        "match",
        "max_inflight",
        "next",
        "pending_snapshot",
        "probe_sent",
        "sent_commit",
        "snapshot_ticks",
        "state",
    )

    def __init__(self, next_index: int, max_inflight: int, *, is_learner: bool = False) -> None:
        self.match = 0
        self.next = next_index
        self.state = PROBE
        self.probe_sent = False  # probe state: an append is out, wait for its answer
        self.pending_snapshot = 0  # snapshot state: the index of the snapshot sent
        self.snapshot_ticks = 0  # snapshot state: ticks since it was sent, to retry a lost one
        # The leader's tick count when it last heard from it (never: long ago); check-quorum, the
        # snapshot gate and the status's active/answering all read it.
        self.heard_at = -(1 << 30)
        self.sent_commit = 0  # the highest commit index sent to it (lazy commit: who still needs one)
        self.is_learner = is_learner
        self.max_inflight = max(1, max_inflight)
        self.inflights: deque[int] = deque()  # the last index of each unanswered append, in order

    def _reset(self, state: str) -> None:
        self.state = state
        self.probe_sent = False
        self.pending_snapshot = 0
        self.snapshot_ticks = 0
        self.inflights.clear()
        # A rejection, a snapshot or a restart: what it took of earlier commits is not known.
        self.sent_commit = min(self.sent_commit, self.match)

    def become_probe(self) -> None:
        # After a snapshot the follower has at least the snapshot: probe right after it.
        pending = self.pending_snapshot if self.state == SNAPSHOT else 0
        self._reset(PROBE)
        self.next = max(self.match + 1, pending + 1)

    def become_replicate(self) -> None:
        self._reset(REPLICATE)
        self.next = self.match + 1

    def become_snapshot(self, snapshot_index: int) -> None:
        self._reset(SNAPSHOT)
        self.pending_snapshot = snapshot_index

    def abort_snapshot(self) -> None:
        """Give up on a snapshot that got no answer: probe from the match, which resends it."""
        self._reset(PROBE)
        self.next = self.match + 1

    def is_paused(self) -> bool:
        if self.state == REPLICATE:
            return len(self.inflights) >= self.max_inflight
        if self.state == PROBE:
            return self.probe_sent
        return True

    def sent(self, last_index: int) -> None:
        """Record an append carrying entries up to ``last_index``."""
        if self.state == REPLICATE:
            self.next = last_index + 1
            self.inflights.append(last_index)
        elif self.state == PROBE:
            self.probe_sent = True

    def maybe_update(self, index: int) -> bool:
        """Record the follower's acknowledgement up to ``index``; say whether match moved."""
        updated = False
        if self.match < index:
            self.match = index
            updated = True
            self.probe_sent = False
        self.next = max(self.next, index + 1)
        return updated

    def maybe_decrease_to(self, rejected: int, match_hint: int) -> bool:
        """Move ``next`` back after the follower rejected an append at ``rejected``.

        Return False for a stale rejection (one answering an append sent before the last
        change of ``next``), which is ignored.
        """
        if self.state == REPLICATE:
            if rejected <= self.match:
                return False
            self.next = self.match + 1
            return True
        if self.next - 1 != rejected:
            return False
        self.next = max(min(rejected, match_hint + 1), self.match + 1)
        self.probe_sent = False
        return True

    def free_le(self, index: int) -> None:
        """Release the inflight appends answered by an acknowledgement up to ``index``."""
        inflights = self.inflights
        while inflights and inflights[0] <= index:
            inflights.popleft()
