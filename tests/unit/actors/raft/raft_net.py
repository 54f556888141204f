"""A tiny in-memory network for scripted Raft interaction tests (etcd-io/raft's style).

Each node is a RaftCore with a model of its stable storage and of its state machine. The
network holds the messages that Readys produced; ``stabilize`` delivers them until none is
left. Links can be cut, nodes isolated, and messages dropped by a predicate. The storage and
apply models assert the Ready contract as they go: entries are appended contiguously (a
conflict drops the stored suffix first), committed entries are applied in order and only
once stored, and the hard state's commit never points past the stored log.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from swarmnode.actors.raft import (
    ENTRY_NORMAL,
    ConfState,
    HardState,
    RaftConfig,
    RaftCore,
    RaftEntry,
    RaftMessage,
    ReadState,
    Ready,
    Restored,
    SnapshotMeta,
)

Drop = Callable[[RaftMessage], bool]


def entries(*terms: int, start: int = 1) -> tuple[RaftEntry, ...]:
    """Return entries with the given terms from index ``start`` (data names the index)."""
    return tuple(RaftEntry(start + i, t, ENTRY_NORMAL, f"e{start + i}".encode()) for i, t in enumerate(terms))


@dataclass
class Node:
    core: RaftCore
    stored: list[RaftEntry] = field(default_factory=list)  # entries after stored_snapshot
    stored_snapshot: SnapshotMeta | None = None
    hard_state: HardState = field(default_factory=lambda: HardState(0, "", 0))
    applied: list[RaftEntry] = field(default_factory=list)
    applied_index: int = 0
    read_states: list[ReadState] = field(default_factory=list)
    readys: int = 0

    def stored_last(self) -> int:
        base = self.stored_snapshot.index if self.stored_snapshot else 0
        return base + len(self.stored)

    def persist(self, rd: Ready) -> None:
        if rd.snapshot is not None:
            self.stored_snapshot = rd.snapshot.meta
            self.stored = []
            self.applied_index = rd.snapshot.meta.index
        if rd.entries:
            first = rd.entries[0].index
            base = self.stored_snapshot.index if self.stored_snapshot else 0
            assert first <= self.stored_last() + 1, f"gap before {first} in {self.core.id}'s storage"
            del self.stored[first - base - 1 :]
            self.stored.extend(rd.entries)
        if rd.hard_state is not None:
            self.hard_state = rd.hard_state
            assert rd.hard_state.commit <= self.stored_last()
        for e in rd.committed:
            assert e.index == self.applied_index + 1, f"{self.core.id} applies {e.index} after {self.applied_index}"
            assert e.index <= self.stored_last(), "applied before it was stored"
            self.applied.append(e)
            self.applied_index = e.index
        self.read_states.extend(rd.read_states)

    def restored(self) -> Restored:
        """What this node's storage would give back after a crash."""
        return Restored(self.hard_state, self.stored_snapshot, tuple(self.stored), self.core.conf)


def config(node_id: str, **overrides: object) -> RaftConfig:
    return RaftConfig(node_id, **overrides)  # type: ignore[arg-type]


class Net:
    """Cores connected by an in-memory network that delivers what their Readys send."""

    def __init__(
        self,
        *ids: str,
        learners: Iterable[str] = (),
        logs: dict[str, tuple[RaftEntry, ...]] | None = None,
        terms: dict[str, int] | None = None,
        seed: int = 0,
        **cfg: object,
    ) -> None:
        learner_ids = tuple(learners)
        voters = tuple(i for i in ids if i not in learner_ids)
        conf = ConfState(voters, learner_ids)
        self.nodes: dict[str, Node] = {}
        self.cfg = cfg
        self.seed = seed
        for n, node_id in enumerate(ids):
            log = (logs or {}).get(node_id, ())
            hs = HardState((terms or {}).get(node_id, log[-1].term if log else 0), "", 0)
            self.add(node_id, Restored(hs, None, log, conf), seed=seed * 1000 + n)
        self.queue: list[RaftMessage] = []
        self.cut: set[frozenset[str]] = set()
        self.isolated: set[str] = set()
        self.drop: Drop | None = None
        self.delivered: list[RaftMessage] = []

    def add(self, node_id: str, restored: Restored, *, seed: int = 0) -> Node:
        core = RaftCore(config(node_id, **self.cfg), restored, random.Random(seed))
        node = Node(core, stored=list(restored.entries), stored_snapshot=restored.snapshot)
        node.hard_state = restored.hard_state or HardState(0, "", 0)
        node.applied_index = restored.snapshot.index if restored.snapshot else 0
        self.nodes[node_id] = node
        return node

    def restart(self, node_id: str) -> Node:
        """Crash ``node_id`` (losing everything not persisted) and start it from its storage."""
        node = self.nodes[node_id]
        fresh = self.add(node_id, node.restored(), seed=self.seed + 7)
        fresh.applied, fresh.applied_index = [], fresh.applied_index
        return fresh

    def compact(self, node_id: str) -> None:
        """Snapshot ``node_id``'s state machine at its applied index, as the driver would."""
        node = self.nodes[node_id]
        index = node.applied_index
        meta = node.core.compact(index, b"state@%d" % index)
        base = node.stored_snapshot.index if node.stored_snapshot else 0
        if meta.index > base:
            del node.stored[: meta.index - base]
            node.stored_snapshot = meta

    def core(self, node_id: str) -> RaftCore:
        return self.nodes[node_id].core

    # ------------------------------------------------------------------ driving

    def process(self, node_id: str) -> list[RaftMessage]:
        """Run one Ready cycle of ``node_id``: persist, apply, queue its messages, advance."""
        node = self.nodes[node_id]
        out: list[RaftMessage] = []
        while node.core.has_ready():
            rd = node.core.ready()
            node.persist(rd)
            out.extend(rd.messages)
            node.core.advance(rd)
            node.readys += 1
        self.queue.extend(out)
        return out

    def process_all(self) -> None:
        for node_id in self.nodes:
            self.process(node_id)

    def blocked(self, m: RaftMessage) -> bool:
        return (
            m.to not in self.nodes
            or m.to in self.isolated
            or m.frm in self.isolated
            or frozenset((m.frm, m.to)) in self.cut
            or (self.drop is not None and self.drop(m))
        )

    def deliver(self) -> int:
        """Deliver every queued message once (dropping blocked ones); return how many arrived."""
        batch, self.queue = self.queue, []
        n = 0
        for m in batch:
            if not self.blocked(m):
                self.nodes[m.to].core.step(m)
                self.delivered.append(m)
                n += 1
        return n

    def stabilize(self, max_rounds: int = 200) -> None:
        """Process and deliver until no message is left."""
        for _ in range(max_rounds):
            self.process_all()
            if not self.queue:
                return
            self.deliver()
        raise AssertionError("the network did not settle")

    def tick(self, node_id: str, n: int = 1) -> None:
        for _ in range(n):
            self.nodes[node_id].core.tick()

    def tick_all(self, n: int = 1, *, settle: bool = True) -> None:
        for _ in range(n):
            for node in self.nodes.values():
                node.core.tick()
            if settle:
                self.stabilize()

    def elect(self, node_id: str) -> None:
        self.core(node_id).campaign()
        self.stabilize()
        assert self.core(node_id).role == "leader", self.core(node_id).status()

    def propose(self, node_id: str, data: bytes) -> int:
        index = self.core(node_id).propose(data)
        self.stabilize()
        return index

    def sent(self, kind: str, frm: str | None = None, to: str | None = None) -> list[RaftMessage]:
        return [m for m in self.delivered if m.type == kind and frm in (None, m.frm) and to in (None, m.to)]

    # ------------------------------------------------------------------ checks

    def logs_match(self, *ids: str) -> None:
        """Assert the Log Matching property: the given nodes hold the same log (5.3)."""
        logs = {i: [(e.index, e.term, e.data) for e in self.nodes[i].stored] for i in ids or self.nodes}
        first = next(iter(logs.values()))
        for i, log in logs.items():
            assert log == first, f"{i}'s log differs: {log} != {first}"

    def applied_data(self, node_id: str) -> list[bytes]:
        return [e.data for e in self.nodes[node_id].applied if e.data]
