"""Check Raft's safety properties while the simulation runs, and say which one broke.

The checker sees every node from outside, through what the cores say (status, Ready) and
what the simulated storage and state machines hold. It keeps global records across crashes:
which node led which term, every (index, term) ever persisted, every entry known committed,
every acknowledged write and every read request. Each method raises
:class:`InvariantViolation` naming the property (the Raft paper's figure 3 names) and the
offending values; the simulation adds the seed and the last lines of the trace.

"Committed" is what some node applied or persisted as committed. Each committed entry carries
a *term bound*: the term of the node that saw it committed, at that moment. The entry was
committed in that term or an earlier one, so every leader of a higher term must hold it
(leader completeness, section 5.4), without false alarms from a stale candidate that counts
old votes late.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from swarmnode.actors.raft import ConfChange, ConfState, RaftEntry, ReadState

__all__ = ["Checker", "InvariantViolation", "LogView", "apply_conf_change"]


class InvariantViolation(AssertionError):
    """A safety property of Raft does not hold; the text says which and with what values."""


class LogView(Protocol):
    """What the checker reads of a node's persisted log."""

    def snapshot_index(self) -> int: ...

    def entry(self, index: int) -> RaftEntry | None: ...

    def snapshot_entries(self) -> dict[int, tuple[int, int, bytes]]: ...


@dataclass(slots=True)
class _Committed:
    term: int
    kind: int
    data: bytes
    term_bound: int  # committed in this term or earlier
    seen_by: str


@dataclass(frozen=True, slots=True)
class Ack:
    """A write the client was told succeeded."""

    value: bytes
    index: int
    term_bound: int  # the acknowledging leader's term
    node: str
    step: int


@dataclass(frozen=True, slots=True)
class ReadRequest:
    """A read_index call and the highest acknowledged write index when it was made."""

    context: bytes
    node: str
    floor: int  # every write acknowledged before the request has an index <= floor
    step: int


def apply_conf_change(conf: ConfState, cc: ConfChange) -> ConfState:
    """Return ``conf`` after ``cc``, the way the contract defines the three operations."""
    voters = [v for v in conf.voters if v != cc.node_id]
    learners = [v for v in conf.learners if v != cc.node_id]
    if cc.op == "add_learner":
        if cc.node_id in conf.voters:
            voters = list(conf.voters)
        else:
            learners.append(cc.node_id)
    elif cc.op == "promote":
        voters.append(cc.node_id)
    elif cc.op != "remove":
        raise InvariantViolation(f"conf change with unknown op {cc.op!r}")
    return ConfState(voters=tuple(sorted(voters)), learners=tuple(sorted(learners)))


def _short(data: bytes) -> str:
    return repr(data) if len(data) <= 24 else repr(data[:21]) + "..."


class Checker:
    """Global records of a run and the checks against them."""

    def __init__(self) -> None:
        self.leaders: dict[int, str] = {}  # term -> the one node that led it
        # (index, term) -> (kind, data, term of index-1): log matching, by induction on index
        self._entries: dict[tuple[int, int], tuple[int, bytes, int]] = {}
        self.committed: dict[int, _Committed] = {}
        self._value_index: dict[bytes, int] = {}  # client values are unique: one index each
        self.acks: dict[bytes, Ack] = {}
        self.max_acked_index = 0
        self.reads: dict[bytes, ReadRequest] = {}
        self.reads_answered = 0
        self._leader_checked: set[tuple[str, int]] = set()
        self.elections = 0

    # -- election safety ------------------------------------------------------------------------

    def on_leader(self, node: str, term: int) -> None:
        """Record that ``node`` is leader in ``term``: at most one leader per term (5.2)."""
        other = self.leaders.setdefault(term, node)
        if other != node:
            raise InvariantViolation(f"election safety: both {other} and {node} are leader in term {term}")

    # -- log matching ---------------------------------------------------------------------------

    def on_persist_entries(self, node: str, entries: tuple[RaftEntry, ...], prev_term: int) -> None:
        """Check appended entries against every log: same (index, term), same entry and prefix (5.3)."""
        for e in entries:
            key = (e.index, e.term)
            seen = self._entries.setdefault(key, (e.kind, e.data, prev_term))
            if seen != (e.kind, e.data, prev_term):
                kind, data, pterm = seen
                raise InvariantViolation(
                    f"log matching: {node} stores index {e.index} term {e.term} as kind {e.kind} "
                    f"data {_short(e.data)} after term {prev_term}, another log had kind {kind} "
                    f"data {_short(data)} after term {pterm}"
                )
            prev_term = e.term

    def on_truncate(self, node: str, dropped: list[RaftEntry], persisted_commit: int) -> None:
        """A node may drop a conflicting suffix, never an entry it had persisted as committed."""
        for e in dropped:
            if e.index <= persisted_commit:
                raise InvariantViolation(
                    f"committed entry overwritten: {node} drops index {e.index} term {e.term} "
                    f"although its persisted commit is {persisted_commit}"
                )

    # -- commitment and state-machine safety ---------------------------------------------------

    def on_committed(self, node: str, e: RaftEntry, term_bound: int) -> None:
        """Record that ``e`` is committed; no two entries are ever committed at one index."""
        self._commit(node, e.index, e.term, e.kind, e.data, term_bound, "committed")

    def on_apply(self, node: str, index: int, term: int, kind: int, data: bytes, term_bound: int) -> None:
        """Record an applied entry: no two nodes apply different entries at one index (5.4.3)."""
        self._commit(node, index, term, kind, data, term_bound, "state-machine safety")
        if kind == 0 and data:
            other = self._value_index.setdefault(data, index)
            if other != index:
                raise InvariantViolation(
                    f"state-machine safety: {node} applies value {_short(data)} at index {index}, "
                    f"it was already applied at index {other} (a proposal committed twice)"
                )

    def _commit(self, node: str, index: int, term: int, kind: int, data: bytes, term_bound: int, what: str) -> None:
        c = self.committed.get(index)
        if c is None:
            self.committed[index] = _Committed(term, kind, data, term_bound, node)
            return
        if (c.term, c.kind, c.data) != (term, kind, data):
            raise InvariantViolation(
                f"{what}: {node} has index {index} committed as term {term} kind {kind} data "
                f"{_short(data)}, {c.seen_by} had term {c.term} kind {c.kind} data {_short(c.data)}"
            )
        c.term_bound = min(c.term_bound, term_bound)

    # -- leader completeness ---------------------------------------------------------------------

    def leader_checked(self, node: str, term: int) -> bool:
        """Say whether the new-leader check already ran for ``node`` in ``term``."""
        return (node, term) in self._leader_checked

    def on_new_leader_log(self, node: str, term: int, log: LogView) -> None:
        """Check the log of a leader of ``term``: every entry committed before it is there (5.4)."""
        self._leader_checked.add((node, term))
        self.elections += 1
        snap_index = log.snapshot_index()
        snap_entries: dict[int, tuple[int, int, bytes]] | None = None
        for index, c in self.committed.items():
            if c.term_bound >= term:
                continue
            if index <= snap_index:
                if snap_entries is None:
                    snap_entries = log.snapshot_entries()
                got = snap_entries.get(index)
                have = None if got is None else got
            else:
                e = log.entry(index)
                have = None if e is None else (e.term, e.kind, e.data)
            if have != (c.term, c.kind, c.data):
                raise InvariantViolation(
                    f"leader completeness: {node}, leader of term {term}, lacks index {index} "
                    f"(term {c.term} data {_short(c.data)}), committed by term {c.term_bound} "
                    f"(seen by {c.seen_by}); its log has {have!r}"
                )
        for ack in self.acks.values():
            if ack.term_bound >= term:
                continue
            if ack.index <= snap_index:
                if snap_entries is None:
                    snap_entries = log.snapshot_entries()
                got = snap_entries.get(ack.index)
                data = None if got is None else got[2]
            else:
                e = log.entry(ack.index)
                data = None if e is None else e.data
            if data != ack.value:
                raise InvariantViolation(
                    f"acknowledged write lost: {node}, leader of term {term}, lacks write "
                    f"{_short(ack.value)} at index {ack.index}, acknowledged by {ack.node} in term "
                    f"{ack.term_bound} at step {ack.step}; its log has {data!r} there"
                )

    # -- clients -----------------------------------------------------------------------------------

    def on_ack(self, ack: Ack) -> None:
        """Record an acknowledged write."""
        if ack.value in self.acks:
            raise InvariantViolation(f"write {_short(ack.value)} acknowledged twice")
        self.acks[ack.value] = ack
        self.max_acked_index = max(self.max_acked_index, ack.index)

    def on_read_request(self, context: bytes, node: str, step: int) -> None:
        """Record a read_index call with the highest write index acknowledged so far."""
        self.reads[context] = ReadRequest(context, node, self.max_acked_index, step)

    def on_read_state(self, node: str, rs: ReadState) -> None:
        """Check a ReadState: its index covers every write acknowledged before the request."""
        req = self.reads.get(rs.context)
        if req is None:
            raise InvariantViolation(f"read index: {node} got a ReadState for unknown context {rs.context!r}")
        self.reads_answered += 1
        if rs.index < req.floor:
            raise InvariantViolation(
                f"read index: {node} answers read {rs.context!r} (asked of {req.node} at step "
                f"{req.step}) with index {rs.index}, but a write at index {req.floor} was "
                f"acknowledged before the read was asked (a stale read)"
            )

    def check_acks_applied(self, node: str, applied: dict[int, tuple[int, int, bytes]]) -> None:
        """Check that every acknowledged write is applied on ``node`` (liveness, after healing)."""
        for ack in self.acks.values():
            got = applied.get(ack.index)
            if got is None or got[2] != ack.value:
                raise InvariantViolation(
                    f"acknowledged write not applied: {node} has {got!r} at index {ack.index}, "
                    f"where write {_short(ack.value)} was acknowledged by {ack.node} at step {ack.step}"
                )
