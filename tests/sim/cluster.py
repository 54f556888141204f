"""Run many Raft cores in one thread: nodes, their storage and state machines, crashes, clients.

One :class:`Simulation` is one seed. Every random choice (what happens next, message delays,
the cores' election timeouts) comes from one ``random.Random(seed)``, and nothing reads the
wall clock, so a seed replays the same trace; :func:`simulate` returns a digest of it.

A node is what a RaftMember actor would be: a :class:`RaftCore`, a :class:`Storage` holding
exactly what the node persisted from each Ready, and a :class:`StateMachine` that applies
committed entries and snapshots them every few entries. A crash throws the core and the state
machine away and builds them again from the storage (``Restored`` and the snapshot's data).
A crash may also strike inside a Ready, before ``advance``: before its writes are durable
(they are lost and nothing is sent), after persisting but before sending, or after sending but
before applying. A leader handles its Ready in RaftMember's order (it sends its appends and
applies what is committed before it writes its own log), so its crash after sending loses its
own write of entries its followers may hold.

Each step is one event (a delivered message, a tick of every clock, a proposal, a crash, a
partition, a membership change...), and the invariants are checked after every step; see
docs/sim.md.
"""

from __future__ import annotations

import bisect
import hashlib
import itertools
import json
import random
import traceback
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass

from swarmnode.actors.raft import (
    ENTRY_CONF_CHANGE,
    MSG_APP_RESP,
    MSG_HEARTBEAT,
    MSG_READ_INDEX,
    MSG_TRANSFER_LEADER,
    MSG_VOTE_RESP,
    ROLE_LEADER,
    ConfChange,
    ConfChangeInProgress,
    ConfState,
    HardState,
    NotLeader,
    RaftConfig,
    RaftCore,
    RaftEntry,
    RaftMessage,
    RaftSnapshot,
    Ready,
    Restored,
    SnapshotMeta,
    decode_conf_change,
)

from .invariants import Ack, Checker, InvariantViolation, apply_conf_change
from .network import Faults, Network

__all__ = [
    "DEFAULT_STEPS",
    "Params",
    "SimResult",
    "Simulation",
    "StateMachine",
    "Storage",
    "run_seed",
    "simulate",
]

DEFAULT_STEPS = 1200
MAX_MEMBERS = 7  # voters + learners the membership changes grow to at most
MIN_VOTERS = 3  # removals never leave fewer voters than this
TRACE_TAIL = 60  # trace lines quoted in a failure message
MAX_DELIVERIES_PER_TICK = 100_000  # in the final phase: more is a message storm (a livelock)
# Requests a follower relays to its leader with the original sender's id (as etcd-io/raft does).
RELAYED_TYPES = frozenset({MSG_READ_INDEX, MSG_TRANSFER_LEADER})

Applied = tuple[int, int, int, bytes]  # (index, term, kind, data)


# -- storage --------------------------------------------------------------------------------------


class Storage:
    """What one node persisted: hard state, the newest snapshot, and the entries after it."""

    def __init__(self, boot_conf: ConfState) -> None:
        self.boot_conf = boot_conf  # the membership this node was started with
        self.hard_state: HardState | None = None
        # The hard state as of the last synced Ready: a crash may lose a newer one written
        # without an fsync (Ready.must_sync false: only the commit index moved).
        self.synced_hard_state: HardState | None = None
        self.snapshot: RaftSnapshot | None = None
        self.entries: list[RaftEntry] = []  # entries[k].index == snapshot_index() + 1 + k
        self.commit_recorded = 0  # entries up to here were reported to the checker as committed
        self._snap_cache: tuple[RaftSnapshot, dict[int, tuple[int, int, bytes]]] | None = None

    def snapshot_index(self) -> int:
        return self.snapshot.meta.index if self.snapshot else 0

    def snapshot_term(self) -> int:
        return self.snapshot.meta.term if self.snapshot else 0

    def last_index(self) -> int:
        return self.snapshot_index() + len(self.entries)

    def commit(self) -> int:
        return self.hard_state.commit if self.hard_state else 0

    def term_at(self, index: int) -> int | None:
        offset = index - self.snapshot_index()
        if offset == 0:
            return self.snapshot_term()
        if 0 < offset <= len(self.entries):
            return self.entries[offset - 1].term
        return None

    def entry(self, index: int) -> RaftEntry | None:
        offset = index - self.snapshot_index()
        return self.entries[offset - 1] if 0 < offset <= len(self.entries) else None

    def snapshot_entries(self) -> dict[int, tuple[int, int, bytes]]:
        """Return {index: (term, kind, data)} of every entry the snapshot's data holds."""
        if self.snapshot is None:
            return {}
        if self._snap_cache is None or self._snap_cache[0] is not self.snapshot:
            self._snap_cache = (self.snapshot, {i: (t, k, d) for i, t, k, d in decode_state(self.snapshot.data)})
        return self._snap_cache[1]

    def append(self, entries: tuple[RaftEntry, ...]) -> tuple[list[RaftEntry], int]:
        """Append ``entries``, dropping the stored suffix they replace; return (dropped, prev term).

        Raise InvariantViolation when the entries do not continue the log (a gap, or a break
        inside the batch): the core handed out something no storage could persist.
        """
        first = entries[0].index
        for a, b in itertools.pairwise(entries):
            if b.index != a.index + 1:
                raise InvariantViolation(
                    f"Ready contract: Ready.entries not contiguous: index {a.index} then {b.index}"
                )
        snap_index = self.snapshot_index()
        if first > self.last_index() + 1:
            raise InvariantViolation(
                f"Ready contract: entries start at index {first}, leaving a gap after the stored "
                f"last index {self.last_index()}"
            )
        if first <= snap_index:
            # Entries the snapshot already covers: they must agree with it where they meet it.
            for e in entries:
                if e.index == snap_index and e.term != self.snapshot_term():
                    raise InvariantViolation(
                        f"Ready contract: Ready.entries rewrite index {e.index} term {self.snapshot_term()} "
                        f"(in the snapshot) with term {e.term}"
                    )
            entries = tuple(e for e in entries if e.index > snap_index)
            if not entries:
                return [], self.snapshot_term()
            first = entries[0].index
        keep = first - snap_index - 1
        dropped = self.entries[keep:]
        del self.entries[keep:]
        prev_term = self.term_at(first - 1)
        assert prev_term is not None
        self.entries.extend(entries)
        return dropped, prev_term

    def install_snapshot(self, snapshot: RaftSnapshot) -> None:
        """Persist a snapshot from the leader: keep the log after it only if the log matches it (7)."""
        meta = snapshot.meta
        if self.term_at(meta.index) == meta.term and meta.index <= self.last_index():
            self.entries = self.entries[meta.index - self.snapshot_index() :]
        else:
            self.entries = []
        self.snapshot = snapshot

    def compact(self, snapshot: RaftSnapshot) -> None:
        """Persist the application's own snapshot and drop the entries it covers."""
        index = snapshot.meta.index
        self.entries = self.entries[index - self.snapshot_index() :]
        self.snapshot = snapshot

    def restored(self) -> Restored:
        """Return what a restart recovers from this storage."""
        return Restored(
            hard_state=self.hard_state,
            snapshot=self.snapshot.meta if self.snapshot else None,
            entries=tuple(self.entries),
            conf=self.boot_conf,
        )


# -- the application ------------------------------------------------------------------------------


def encode_state(applied: list[Applied]) -> bytes:
    """Encode the applied entries as a snapshot's data."""
    return json.dumps([[i, t, k, d.hex()] for i, t, k, d in applied], separators=(",", ":")).encode()


def decode_state(data: bytes) -> list[Applied]:
    """Decode a snapshot's data made by :func:`encode_state`."""
    return [(i, t, k, bytes.fromhex(d)) for i, t, k, d in json.loads(data)]


class StateMachine:
    """The replicated application: the list of every applied entry, and the membership."""

    def __init__(self, conf: ConfState) -> None:
        self.applied: list[Applied] = []
        self.applied_index = 0
        self.conf = conf  # the membership after the applied entries

    def restore(self, snapshot: RaftSnapshot) -> None:
        self.applied = decode_state(snapshot.data)
        self.applied_index = snapshot.meta.index
        self.conf = snapshot.meta.conf
        if self.applied and self.applied[-1][0] != self.applied_index:
            raise InvariantViolation(
                f"snapshot contents: the snapshot at index {self.applied_index} holds entries "
                f"up to {self.applied[-1][0]}"
            )

    def apply(self, e: RaftEntry) -> None:
        if e.index != self.applied_index + 1:
            raise InvariantViolation(
                f"Ready contract: Ready.committed hands out index {e.index} while the state machine has applied "
                f"up to {self.applied_index} (out of order)"
            )
        self.applied.append((e.index, e.term, e.kind, e.data))
        self.applied_index = e.index
        if e.kind == ENTRY_CONF_CHANGE:
            self.conf = apply_conf_change(self.conf, decode_conf_change(e.data))

    def as_dict(self) -> dict[int, tuple[int, int, bytes]]:
        return {i: (t, k, d) for i, t, k, d in self.applied}


# -- nodes ----------------------------------------------------------------------------------------


@dataclass(slots=True)
class SimNode:
    """One Raft member: its core (None while down), storage and state machine."""

    id: str
    storage: Storage
    sm: StateMachine
    core: RaftCore | None = None
    incarnation: int = 0
    restart_at: int | None = None  # tick at which a crashed node comes back
    removed: bool = False  # its removal is committed: it is stopped for good at stop_at
    stop_at: int | None = None
    term: int = 0  # the core's term at the last look, for a new leader's check
    commit_seen: int = 0  # the core's commit at the last look, within this incarnation

    @property
    def up(self) -> bool:
        return self.core is not None


@dataclass(frozen=True, slots=True)
class Params:
    """Everything a seed decides about a run before it starts."""

    profile: str  # "calm" (no faults), "normal" or "stormy" (crashes and partitions galore)
    nodes: int
    election_ticks: int
    pre_vote: bool
    check_quorum: bool
    max_inflight: int
    max_entries_per_msg: int
    snapshot_every: int  # compact after this many applied entries
    faults: Faults
    p_tick: float  # a step ticks the clocks although messages are deliverable
    p_ready_now: float  # a node handles its Ready right after an event (else at the next tick)
    p_skip_tick: float  # a node's clock misses a tick (clock skew)
    p_propose: float
    p_read: float
    p_crash: float
    p_crash_in_ready: float
    p_partition: float
    p_conf_change: float
    p_transfer: float
    p_campaign: float
    # As RaftMember: a commit no append carries waits for the next append or heartbeat, or for
    # the driver's broadcast_commit(); False is etcd's way (a round of empty appends per commit).
    lazy_commit: bool
    p_flush_commit: float  # lazy_commit: a step calls broadcast_commit() at a node (the driver's timer)

    @staticmethod
    def from_rng(rng: random.Random, nodes: int | None) -> Params:
        # A fifth of the seeds run without faults; a quarter are stormy: leaders crash (inside
        # Readies too) and get cut off often while writes pour in, which is what it takes to
        # reach the paper's figure 8 (a leader committing an old term's entry by counting).
        profile = rng.choices(["calm", "normal", "stormy"], weights=[20, 55, 25])[0]
        calm, stormy = profile == "calm", profile == "stormy"
        faults = Faults(
            drop=0.0 if calm else rng.choice([0.0, 0.01, 0.05, 0.15]),
            duplicate=0.0 if calm else rng.choice([0.0, 0.02, 0.1]),
            max_delay_ticks=rng.choice([0, 1, 2, 4]),
            reorder=rng.random() < 0.7,
        )
        lazy_commit = rng.random() < 0.8  # as production (RaftMember); the other seeds as etcd
        return Params(
            profile=profile,
            nodes=nodes if nodes is not None else rng.choice([3, 5]),
            election_ticks=5 if stormy else rng.choice([5, 10]),
            pre_vote=rng.random() < 0.8,
            check_quorum=rng.random() < 0.8,
            max_inflight=rng.choice([1, 4, 256]),
            max_entries_per_msg=rng.choice([1, 3, 512]),
            snapshot_every=rng.choice([4, 10, 30, 1_000_000]),
            faults=faults,
            p_tick=rng.choice([0.02, 0.1, 0.3]),
            p_ready_now=rng.choice([0.5, 0.9, 1.0]),
            p_skip_tick=rng.choice([0.0, 0.05]),
            p_propose=0.15 if stormy else rng.choice([0.02, 0.05, 0.15]),
            p_read=rng.choice([0.0, 0.01, 0.03]),
            p_crash=0.0 if calm else 0.02 if stormy else rng.choice([0.0, 0.002, 0.01]),
            p_crash_in_ready=0.0 if calm else 0.01 if stormy else rng.choice([0.0, 0.002, 0.01]),
            p_partition=0.0 if calm else 0.02 if stormy else rng.choice([0.0, 0.005, 0.02]),
            p_conf_change=rng.choice([0.0, 0.005, 0.02]),
            p_transfer=rng.choice([0.0, 0.002, 0.01]),
            p_campaign=rng.choice([0.0, 0.001]),
            lazy_commit=lazy_commit,
            p_flush_commit=rng.choice([0.005, 0.02, 0.05]) if lazy_commit else 0.0,
        )

    def describe(self) -> str:
        f = self.faults
        return (
            f"{self.profile}: nodes={self.nodes} election_ticks={self.election_ticks} pre_vote={self.pre_vote} "
            f"check_quorum={self.check_quorum} max_inflight={self.max_inflight} "
            f"max_entries={self.max_entries_per_msg} snapshot_every={self.snapshot_every} "
            f"drop={f.drop} dup={f.duplicate} delay<={f.max_delay_ticks} reorder={f.reorder} "
            f"p_tick={self.p_tick} p_ready_now={self.p_ready_now} propose={self.p_propose} "
            f"read={self.p_read} crash={self.p_crash}/{self.p_crash_in_ready} "
            f"partition={self.p_partition} conf={self.p_conf_change} transfer={self.p_transfer} "
            f"lazy_commit={self.lazy_commit}/{self.p_flush_commit}"
        )


@dataclass(frozen=True, slots=True)
class SimResult:
    """What a passing run did; ``digest`` identifies its whole trace."""

    seed: int
    digest: str
    steps: int
    ticks: int
    acked_writes: int
    reads_answered: int
    elections: int
    crashes: int
    commit_index: int
    params: str
    counts: dict[str, int]  # how often each kind of event happened (snapshots, conf changes, ...)


def describe_message(m: RaftMessage) -> str:
    parts = [f"{m.type} {m.frm}>{m.to} t{m.term}"]
    if m.index or m.log_term:
        parts.append(f"i{m.index}/t{m.log_term}")
    if m.entries:
        parts.append(f"e{m.entries[0].index}..{m.entries[-1].index}")
    if m.commit:
        parts.append(f"c{m.commit}")
    if m.reject:
        parts.append(f"reject(hint {m.reject_hint})")
    if m.snapshot is not None:
        parts.append(f"snap@{m.snapshot.meta.index}/t{m.snapshot.meta.term}")
    if m.context:
        parts.append(f"ctx={m.context!r}")
    return " ".join(parts)


def describe_ready(rd: Ready) -> str:
    parts = []
    if rd.soft_state is not None:
        parts.append(f"soft={rd.soft_state.role}/{rd.soft_state.leader or '-'}")
    if rd.hard_state is not None:
        hs = rd.hard_state
        parts.append(f"hard=t{hs.term}/v{hs.vote or '-'}/c{hs.commit}")
    if rd.snapshot is not None:
        parts.append(f"snap@{rd.snapshot.meta.index}/t{rd.snapshot.meta.term}")
    if rd.entries:
        parts.append(f"entries={rd.entries[0].index}..{rd.entries[-1].index}/t{rd.entries[-1].term}")
    if rd.committed:
        parts.append(f"committed={rd.committed[0].index}..{rd.committed[-1].index}")
    if rd.messages:
        parts.append(f"msgs={len(rd.messages)}")
    if rd.read_states:
        parts.append("reads=" + ",".join(f"{r.context!r}@{r.index}" for r in rd.read_states))
    return " ".join(parts)


# -- the simulation -------------------------------------------------------------------------------


class Simulation:
    """One seed's cluster, network, clients and checker."""

    def __init__(self, seed: int, steps: int = DEFAULT_STEPS, nodes: int | None = None, verbose: bool = False) -> None:
        self.seed = seed
        self.steps = steps
        self.verbose = verbose
        self.rng = random.Random(seed)
        self.params = Params.from_rng(self.rng, nodes)
        self.network = Network(self.rng)
        self.network.faults = self.params.faults
        self.checker = Checker()
        self.nodes: dict[str, SimNode] = {}
        self.now = 0  # ticks
        self.step_no = 0
        self.crashes = 0
        self.counts: Counter[str] = Counter()
        self._next_id = 1
        self._next_value = 1
        self._next_read = 1
        self._heal_at: int | None = None
        # (node, incarnation) -> {index: value} of writes it proposed and has not applied yet
        self._pending: dict[tuple[str, int], dict[int, bytes]] = {}
        self._conf = ConfState(voters=(), learners=())  # the committed membership
        self._conf_history: list[tuple[int, ConfState]] = []  # (index, membership from there on)
        self._max_applied = 0  # the highest index any node applied
        self._digest = hashlib.sha256()
        self._tail: deque[str] = deque(maxlen=TRACE_TAIL)
        self._rare: list[tuple[float, Callable[[], None]]] = [
            (self.params.p_propose, self._propose),
            (self.params.p_read, self._read),
            (self.params.p_crash, self._crash_random),
            (self.params.p_partition, self._partition),
            (self.params.p_conf_change, self._conf_change),
            (self.params.p_transfer, self._transfer),
            (self.params.p_campaign, self._campaign),
            (self.params.p_flush_commit, self._flush_commit),
        ]

    # -- running ---------------------------------------------------------------------------------

    def run(self) -> SimResult:
        """Run the seed; raise AssertionError("seed N: ...") when an invariant breaks."""
        try:
            self._boot()
            for _ in range(self.steps):
                self.step_no += 1
                self._step()
                self._check_step()
            self._settle()
        except AssertionError as exc:
            raise AssertionError(self._failure(str(exc) or type(exc).__name__)) from exc
        except Exception as exc:
            text = "".join(traceback.format_exception(exc)).rstrip()
            raise AssertionError(self._failure(f"unexpected {type(exc).__name__}: {exc}\n{text}")) from exc
        leader = self._leaders()
        return SimResult(
            seed=self.seed,
            digest=self._digest.hexdigest(),
            steps=self.step_no,
            ticks=self.now,
            acked_writes=len(self.checker.acks),
            reads_answered=self.checker.reads_answered,
            elections=self.checker.elections,
            crashes=self.crashes,
            commit_index=leader[0].sm.applied_index if leader else 0,
            params=self.params.describe(),
            counts=dict(sorted(self.counts.items())),
        )

    def _failure(self, text: str) -> str:
        tail = "\n".join("    " + line for line in self._tail)
        return (
            f"seed {self.seed}: {text}\n"
            f"  at step {self.step_no}, tick {self.now}; {self.params.describe()}\n"
            f"  replay: python -m tests.sim --replay {self.seed} --steps {self.steps} --verbose\n"
            f"  last {len(self._tail)} trace lines:\n{tail}"
        )

    def trace(self, line: str) -> None:
        """Add ``line`` to the trace: the digest, the tail quoted on failure, and the verbose output."""
        text = f"{self.step_no} t{self.now} {line}"
        self._digest.update(text.encode())
        self._digest.update(b"\n")
        self._tail.append(text)
        if self.verbose:
            print(text)

    def detail(self, line: str) -> None:
        """Print ``line`` in verbose runs only; it is not part of the digest, so verbosity changes nothing."""
        if self.verbose:
            text = f"{self.step_no} t{self.now}   {line}"
            self._tail.append(text)
            print(text)

    def _boot(self) -> None:
        ids = [self._new_id() for _ in range(self.params.nodes)]
        self._conf = ConfState(voters=tuple(sorted(ids)), learners=())
        self._conf_history.append((0, self._conf))
        self.trace(f"boot {self.params.describe()}")
        if not self.params.lazy_commit:
            self.counts["runs without lazy commit"] += 1
        for node_id in ids:
            self._start(node_id, self._conf)

    def _new_id(self) -> str:
        node_id = f"n{self._next_id}"
        self._next_id += 1
        return node_id

    def _start(self, node_id: str, conf: ConfState) -> None:
        node = SimNode(node_id, Storage(conf), StateMachine(conf))
        self.nodes[node_id] = node
        self._restart(node)

    def _config(self, node_id: str) -> RaftConfig:
        p = self.params
        return RaftConfig(
            node_id=node_id,
            election_ticks=p.election_ticks,
            heartbeat_ticks=1,
            pre_vote=p.pre_vote,
            check_quorum=p.check_quorum,
            max_inflight=p.max_inflight,
            max_entries_per_msg=p.max_entries_per_msg,
            lazy_commit=p.lazy_commit,
        )

    def _restart(self, node: SimNode) -> None:
        """Start the node's core from its storage, as a process restart would."""
        node.incarnation += 1
        node.restart_at = None
        node.sm = StateMachine(node.storage.boot_conf)
        if node.storage.snapshot is not None:
            node.sm.restore(node.storage.snapshot)
        rng = random.Random(self.rng.getrandbits(64))
        node.core = RaftCore(self._config(node.id), node.storage.restored(), rng)
        if node.storage.snapshot is not None:
            # The core keeps the snapshot it sends to slow followers only from compact().
            snap = node.storage.snapshot
            node.core.compact(snap.meta.index, snap.data)
        st = node.core.status()
        node.term = st.term
        node.commit_seen = st.commit
        self.trace(
            f"start {node.id}#{node.incarnation} term={st.term} commit={st.commit} "
            f"snap={node.storage.snapshot_index()} last={node.storage.last_index()}"
        )

    def _crash(self, node: SimNode, why: str) -> None:
        assert node.core is not None
        node.core = None
        self.crashes += 1
        self.counts["crashes in Ready" if "Ready" in why else "crashes"] += 1
        storage = node.storage
        if storage.hard_state != storage.synced_hard_state and self.rng.random() < 0.5:
            # The commit index written without an fsync did not reach the disk.
            self.trace(f"crash of {node.id} loses its unsynced hard state {storage.hard_state}")
            storage.hard_state = storage.synced_hard_state
            self.counts["unsynced hard states lost"] += 1
        self._pending.pop((node.id, node.incarnation), None)
        if not node.removed:
            node.restart_at = self.now + self.rng.randint(1, 3 * self.params.election_ticks)
        self.trace(f"crash {node.id}#{node.incarnation} ({why}) restart at {node.restart_at}")

    def _stop(self, node: SimNode) -> None:
        """Stop a removed node for good; its clients' pending writes get no answer."""
        node.core = None
        node.stop_at = None
        self._pending.pop((node.id, node.incarnation), None)
        self.trace(f"stop {node.id} (removed)")

    def _up_nodes(self) -> list[SimNode]:
        return [n for n in self.nodes.values() if n.core is not None]

    def _leaders(self) -> list[SimNode]:
        return [n for n in self._up_nodes() if n.core is not None and n.core.status().role == "leader"]

    # -- one step ------------------------------------------------------------------------------

    def _step(self) -> None:
        x = self.rng.random()
        for p, action in self._rare:
            if x < p:
                action()
                return
            x -= p
        if self.network.has_due(self.now) and self.rng.random() >= self.params.p_tick:
            self._deliver()
        else:
            self._tick()

    def _deliver(self) -> None:
        got = self.network.pop_due(self.now)
        assert got is not None
        msg, ok = got
        node = self.nodes.get(msg.to)
        if not ok:
            self.trace(f"cut {describe_message(msg)}")
            return
        if node is None or node.core is None:
            self.trace(f"lost {describe_message(msg)} (receiver down)")
            return
        self.trace(f"deliver {describe_message(msg)}")
        node.core.step(msg)
        self._after_event(node)

    def _after_event(self, node: SimNode) -> None:
        if self.rng.random() < self.params.p_ready_now:
            self._handle_ready(node)

    def _tick(self) -> None:
        self.now += 1
        self.trace(f"tick (in flight {self.network.in_flight()})")
        if self._heal_at is not None and self.now >= self._heal_at:
            self._heal_at = None
            self.network.heal()
            self.trace("heal")
        for node in list(self.nodes.values()):
            if node.stop_at is not None and self.now >= node.stop_at and node.core is not None:
                self._stop(node)
            if node.core is None and node.restart_at is not None and self.now >= node.restart_at:
                self._restart(node)
        for node in self._up_nodes():
            if node.core is not None and self.rng.random() >= self.params.p_skip_tick:
                node.core.tick()
        self._drain_readies()

    def _drain_readies(self) -> None:
        for _ in range(20):
            busy = [n for n in self._up_nodes() if n.core is not None and n.core.has_ready()]
            if not busy:
                return
            self.rng.shuffle(busy)
            for node in busy:
                self._handle_ready(node)
        raise InvariantViolation("Ready contract: has_ready() stays true after 20 rounds of ready()/advance()")

    # -- Ready: persist, send, apply, advance --------------------------------------------------

    def _handle_ready(self, node: SimNode) -> None:
        core = node.core
        if core is None or not core.has_ready():
            return
        rd = core.ready()
        self.trace(f"ready {node.id} {describe_ready(rd)}")
        crash_point = ""
        if self.params.p_crash_in_ready and self.rng.random() < self.params.p_crash_in_ready and not node.removed:
            crash_point = self.rng.choice(["before persisting", "before sending", "before applying"])
        st = core.status()
        node.term = st.term
        if st.role == ROLE_LEADER and rd.snapshot is None and (rd.entries or not rd.must_sync):
            if not self._handle_leader_ready(node, rd, st.term, crash_point):
                return  # it crashed
        else:
            if crash_point == "before persisting":
                self._crash(node, "in Ready, before persisting: its writes are lost")
                return
            self._persist(node, rd, st.term)
            self._check_new_leader(node, st.role, st.term)
            if crash_point == "before sending":
                self._crash(node, "in Ready, after persisting, before sending")
                return
            self._send(node, rd)
            if crash_point == "before applying":
                self._crash(node, "in Ready, after sending, before applying")
                return
            self._apply(node, rd, st.term)
        core.advance(rd)
        self._maybe_compact(node)

    def _handle_leader_ready(self, node: SimNode, rd: Ready, term: int, crash_point: str) -> bool:
        """A leader's Ready in RaftMember's order: its appends leave before its own write (Raft
        thesis 10.2.1), and it applies (answers clients) what a majority holds already, also
        before that write; with no entries it applies first and then sends the commit. A crash
        may strike before anything, after sending (its own write of the entries is lost while
        its followers may hold them), or after sending and applying, before persisting. Return
        False when it crashed."""
        self._check_new_leader(node, ROLE_LEADER, term)
        if crash_point == "before sending":
            self._crash(node, "in a leader's Ready, before sending or persisting: its writes are lost")
            return False
        if rd.entries:
            self._send(node, rd)
            if crash_point == "before applying":
                self.counts["leader crashes after sending, before persisting"] += 1
                self._crash(node, "in a leader's Ready, after sending, before applying or persisting")
                return False
            self._apply(node, rd, term, commit_persisted=False)
        else:
            self._apply(node, rd, term, commit_persisted=False)
            self._send(node, rd)
        if crash_point in ("before persisting", "before applying"):
            self.counts["leader crashes after sending, before persisting"] += 1
            self._crash(node, "in a leader's Ready, after sending and applying, before persisting")
            return False
        self._persist(node, rd, term)
        self.counts["leader Readies sent before persisting"] += 1
        return True

    def _check_new_leader(self, node: SimNode, role: str, term: int) -> None:
        if role == ROLE_LEADER and not self.checker.leader_checked(node.id, term):
            self.checker.on_leader(node.id, term)
            self.checker.on_new_leader_log(node.id, term, node.storage)
            self.counts["leaders"] += 1
            self.trace(f"leader {node.id} term {term} log checked")

    def _send(self, node: SimNode, rd: Ready) -> None:
        for m in rd.messages:
            self._check_promise(node, m)
            # A heartbeat's commit is taken as is by its receiver: it must not pass what the
            # leader knows the receiver holds (its match), or a stale tail would be committed.
            pr = node.core.prs.get(m.to) if m.type == MSG_HEARTBEAT and node.core is not None else None
            if pr is not None and m.commit > pr.match:
                raise InvariantViolation(
                    f"heartbeat commit: {node.id} tells {m.to} commit {m.commit} above its match {pr.match}"
                )
            if m.frm != node.id:
                if m.type not in RELAYED_TYPES:
                    raise InvariantViolation(
                        f"message sender: {node.id} sends a message from {m.frm!r}: {describe_message(m)}"
                    )
                # A relay keeps the first sender's id; the RaftMember transport drops such a
                # message (frm is not the authenticated peer), and so does the simulation.
                self.counts["relays dropped"] += 1
                self.trace(f"drop relay {describe_message(m)} sent by {node.id}")
                continue
            what = self.network.send(m, self.now)
            self.detail(f"{what} {describe_message(m)}")

    @staticmethod
    def _check_promise(node: SimNode, m: RaftMessage) -> None:
        """An answer promises what its sender's disk holds: it must hold it when the answer leaves.

        An append's acknowledgement of index i counts the sender toward committing i, and a
        granted vote is one of a quorum that elects; either one sent before its write (a driver
        that answers before its fsync) is a lost write or a second vote after a crash. A later
        term on disk supersedes an answer of an earlier term in the same Ready: the core took
        the steps in order, and once the later term is durable the node neither votes again in
        the earlier one nor keeps entries a leader of the later term replaced.
        """
        storage = node.storage
        synced = storage.synced_hard_state
        if synced is not None and synced.term > m.term:
            return
        if m.type == MSG_APP_RESP and not m.reject and m.index > storage.last_index():
            raise InvariantViolation(
                f"durable answer: {node.id} acknowledges index {m.index} to {m.to} in term {m.term} holding only "
                f"up to {storage.last_index()} on its disk"
            )
        granted = m.type == MSG_VOTE_RESP and not m.reject
        if granted and (synced is None or (synced.term, synced.vote) != (m.term, m.to)):
            raise InvariantViolation(
                f"durable answer: {node.id} grants its vote in term {m.term} to {m.to} with {synced} on its disk"
            )

    def _persist(self, node: SimNode, rd: Ready, term: int) -> None:
        """Persist what ``rd`` says; ``term`` is the core's term now, a bound for what it commits."""
        storage = node.storage
        if rd.snapshot is not None:
            meta = rd.snapshot.meta
            if meta.index <= storage.snapshot_index():
                raise InvariantViolation(
                    f"Ready contract: {node.id} gets a snapshot at index {meta.index} in a Ready, not newer than "
                    f"its stored snapshot at {storage.snapshot_index()}"
                )
            if meta.index <= node.sm.applied_index:
                raise InvariantViolation(
                    f"Ready contract: {node.id} gets a snapshot at index {meta.index} in a Ready, but its state "
                    f"machine has applied up to {node.sm.applied_index}"
                )
            self._check_snapshot(node, rd.snapshot, term)
            storage.install_snapshot(rd.snapshot)
            self.counts["snapshots installed"] += 1
            node.sm.restore(rd.snapshot)
        if rd.entries:
            dropped, prev_term = storage.append(rd.entries)
            self.checker.on_truncate(node.id, dropped, storage.commit())
            self.checker.on_persist_entries(node.id, rd.entries, prev_term)
        if rd.hard_state is not None:
            self._check_hard_state(node, storage.hard_state, rd.hard_state)
            if not rd.must_sync and storage.hard_state is not None:
                old = storage.hard_state
                if (rd.hard_state.term, rd.hard_state.vote) != (old.term, old.vote):
                    raise InvariantViolation(
                        f"Ready contract: {node.id} may persist {rd.hard_state} without an fsync after {old}"
                    )
            storage.hard_state = rd.hard_state
        if rd.must_sync:
            storage.synced_hard_state = storage.hard_state
        commit = storage.commit()
        if commit > storage.last_index():
            raise InvariantViolation(
                f"hard state: {node.id} persists commit {commit} beyond its last stored index {storage.last_index()}"
            )
        for index in range(max(storage.snapshot_index(), storage.commit_recorded) + 1, commit + 1):
            e = storage.entry(index)
            assert e is not None
            self.checker.on_committed(node.id, e, term)
        storage.commit_recorded = max(storage.commit_recorded, commit)

    def _check_hard_state(self, node: SimNode, old: HardState | None, new: HardState) -> None:
        if old is None:
            return
        if new.term < old.term:
            raise InvariantViolation(f"hard state: {node.id} persists term {new.term} after term {old.term}")
        if new.term == old.term and old.vote and new.vote != old.vote:
            raise InvariantViolation(
                f"hard state: one vote per term: {node.id} votes for {new.vote!r} in term {new.term} "
                f"after voting for {old.vote!r}"
            )
        if new.commit < old.commit:
            raise InvariantViolation(f"hard state: {node.id} persists commit {new.commit} after commit {old.commit}")

    def _check_snapshot(self, node: SimNode, snap: RaftSnapshot, term: int) -> None:
        """A snapshot from a leader holds committed entries, and the membership at its index."""
        for i, t, k, d in decode_state(snap.data):
            self.checker.on_apply(node.id, i, t, k, d, term)
        conf = self._conf_at(snap.meta.index)
        if conf is not None and (
            set(conf.voters) != set(snap.meta.conf.voters) or set(conf.learners) != set(snap.meta.conf.learners)
        ):
            raise InvariantViolation(
                f"snapshot membership: {node.id} gets a snapshot at index {snap.meta.index} with membership "
                f"{snap.meta.conf}, but the committed membership there is {conf}"
            )

    def _conf_at(self, index: int) -> ConfState | None:
        """Return the committed membership after ``index``, or None beyond what any node applied."""
        if index > self._max_applied:
            return None
        k = bisect.bisect_right(self._conf_history, index, key=lambda h: h[0])
        return self._conf_history[k - 1][1]

    def _apply(self, node: SimNode, rd: Ready, term: int, *, commit_persisted: bool = True) -> None:
        """Apply ``rd.committed`` and record ``rd.read_states``.

        A leader applies before it persists the Ready's commit index (``commit_persisted``
        False): what it applies must be on its disk already, and the checker sees that it is on
        a majority's.
        """
        storage = node.storage
        for e in rd.committed:
            if commit_persisted and e.index > storage.commit():
                raise InvariantViolation(
                    f"Ready contract: {node.id} applies index {e.index} beyond its persisted commit {storage.commit()}"
                )
            stored = storage.entry(e.index)
            if (stored is None and e.index > storage.snapshot_index()) or (stored is not None and stored != e):
                raise InvariantViolation(f"Ready contract: {node.id} applies {e} but stored {stored}")
            node.sm.apply(e)
            self.checker.on_apply(node.id, e.index, e.term, e.kind, e.data, term)
            if e.index > self._max_applied:
                self._first_apply(node, e)
            pending = self._pending.get((node.id, node.incarnation))
            if pending is not None and e.index in pending:
                value = pending.pop(e.index)
                if e.data == value:
                    self.checker.on_ack(Ack(value, e.index, term, node.id, self.step_no))
                    self.counts["writes acknowledged"] += 1
                    self.trace(f"ack {value!r} at {e.index} by {node.id}")
        for rs in rd.read_states:
            self.checker.on_read_state(node.id, rs)
            self.counts["reads answered"] += 1
            self.trace(f"read {rs.context!r} answered at {node.id} with index {rs.index}")

    def _first_apply(self, node: SimNode, e: RaftEntry) -> None:
        """React to an entry applied for the first time anywhere: membership changes take effect."""
        if e.index != self._max_applied + 1:
            raise InvariantViolation(
                f"state-machine safety: index {e.index} applied before index {self._max_applied + 1} anywhere"
            )
        self._max_applied = e.index
        if e.kind != ENTRY_CONF_CHANGE:
            return
        cc = decode_conf_change(e.data)
        self._conf = apply_conf_change(self._conf, cc)
        self._conf_history.append((e.index, self._conf))
        self.counts[f"{cc.op} committed"] += 1
        self.trace(f"membership {cc.op} {cc.node_id} committed at {e.index}: {self._conf}")
        if cc.op == "add_learner" and cc.node_id not in self.nodes:
            self._start(cc.node_id, self._conf)
            self.network.join(cc.node_id, like=node.id)
        elif cc.op == "remove" and cc.node_id in self.nodes:
            gone = self.nodes[cc.node_id]
            gone.removed = True
            gone.restart_at = None
            gone.stop_at = self.now + self.rng.randint(0, 2 * self.params.election_ticks)

    def _maybe_compact(self, node: SimNode) -> None:
        storage = node.storage
        index = node.sm.applied_index
        if index - storage.snapshot_index() < self.params.snapshot_every:
            return
        term = storage.term_at(index)
        if term is None:
            raise InvariantViolation(
                f"Ready contract: {node.id} applied index {index}, which its storage does not hold "
                f"(snapshot {storage.snapshot_index()}, last {storage.last_index()})"
            )
        data = encode_state(node.sm.applied)
        storage.compact(RaftSnapshot(meta=SnapshotMeta(index=index, term=term, conf=node.sm.conf), data=data))
        assert node.core is not None
        node.core.compact(index, data)
        self.counts["compactions"] += 1
        self.trace(f"compact {node.id} at {index}")

    # -- clients and operators -----------------------------------------------------------------

    def _pick_leader(self) -> SimNode | None:
        leaders = self._leaders()
        return self.rng.choice(leaders) if leaders else None

    def _propose(self) -> None:
        up = self._up_nodes()
        if not up:
            return
        node = self._mostly_a_leader(up)
        assert node.core is not None
        value = f"v{self._next_value}".encode()
        self._next_value += 1
        try:
            index = node.core.propose(value)
        except NotLeader as exc:
            self.trace(f"propose {value!r} at {node.id}: not leader (leader {exc.leader!r})")
            return
        self._pending.setdefault((node.id, node.incarnation), {})[index] = value
        self.trace(f"propose {value!r} at {node.id} -> index {index}")
        self._after_event(node)

    def _read(self) -> None:
        up = self._up_nodes()
        if not up:
            return
        node = self.rng.choice(up)
        assert node.core is not None
        context = f"r{self._next_read}".encode()
        self._next_read += 1
        self.checker.on_read_request(context, node.id, self.step_no)
        self.trace(f"read_index {context!r} at {node.id} (floor {self.checker.max_acked_index})")
        node.core.read_index(context)
        self._after_event(node)

    def _crash_random(self) -> None:
        up = [n for n in self._up_nodes() if not n.removed]
        if up:
            self._crash(self.rng.choice(up), "crash")

    def _partition(self) -> None:
        if self._heal_at is not None:
            return
        ids = sorted(n.id for n in self.nodes.values() if not n.removed)
        how = self.rng.choice(["isolate leader", "isolate", "split", "cut", "one way"])
        leader = self._pick_leader()
        if how == "isolate leader" and leader is not None:
            self.network.isolate(leader.id)
        elif how in ("isolate", "isolate leader"):
            self.network.isolate(self.rng.choice(ids))
        elif how == "split":
            self.rng.shuffle(ids)
            k = self.rng.randint(1, len(ids) - 1)
            self.network.partition([ids[:k], ids[k:]])
        else:
            a, b = self.rng.sample(ids, 2)
            self.network.cut(a, b, both_ways=how == "cut")
        self._heal_at = self.now + self.rng.randint(self.params.election_ticks, 8 * self.params.election_ticks)
        self.counts["partitions"] += 1
        self.trace(f"partition ({how}): {self.network.describe()} until tick {self._heal_at}")

    def _conf_change(self) -> None:
        leader = self._pick_leader()
        if leader is None or leader.core is None:
            return
        st = leader.core.status()
        voters, learners = list(st.conf.voters), list(st.conf.learners)
        options: list[ConfChange] = []
        if len(voters) + len(learners) < MAX_MEMBERS:
            options.append(ConfChange("add_learner", f"n{self._next_id}"))
        for node_id in learners:
            match = st.progress.get(node_id, (0, 0, ""))[0]
            if match + 5 >= st.last_index:
                options.append(ConfChange("promote", node_id))
            options.append(ConfChange("remove", node_id))
        if len(voters) > MIN_VOTERS:
            options.extend(ConfChange("remove", v) for v in voters)
        if not options:
            return
        promotions = [cc for cc in options if cc.op == "promote"]
        # Promotions are rarer than the other options (the learner must have caught up): favour them.
        cc = self.rng.choice(promotions if promotions and self.rng.random() < 0.5 else options)
        try:
            index = leader.core.propose_conf_change(cc)
        except (NotLeader, ConfChangeInProgress, ValueError) as exc:
            self.trace(f"conf change {cc.op} {cc.node_id} at {leader.id}: {type(exc).__name__}: {exc}")
            return
        if cc.op == "add_learner":
            self._next_id += 1
        self.trace(f"conf change {cc.op} {cc.node_id} at {leader.id} -> index {index}")
        self._after_event(leader)

    def _transfer(self) -> None:
        leader = self._pick_leader()
        if leader is None or leader.core is None:
            return
        others = [v for v in leader.core.status().conf.voters if v != leader.id]
        if not others:
            return
        target = self.rng.choice(sorted(others))
        self.counts["transfers"] += 1
        self.trace(f"transfer leadership {leader.id} -> {target}")
        leader.core.transfer_leadership(target)
        self._after_event(leader)

    def _mostly_a_leader(self, up: list[SimNode]) -> SimNode:
        """A node that believes it leads, nine times in ten when there is one; else any up node."""
        node = self._pick_leader() if self.rng.random() < 0.9 else None
        return node or self.rng.choice(up)

    def _flush_commit(self) -> None:
        """The driver's timer: call broadcast_commit() at a node (a no-op unless it leads).

        Usually at a node that believes it leads (only a leader arms the timer), sometimes at any.
        """
        up = self._up_nodes()
        if not up:
            return
        node = self._mostly_a_leader(up)
        assert node.core is not None
        unsent = node.core.commit_unsent()
        if unsent:
            self.counts["lazy commits flushed"] += 1
        peers = sorted(p for p in node.core.prs if p != node.id)
        if peers and self.rng.random() < 0.5:
            # The driver's other call: a follower that forwarded a write waits for its commit.
            peer, index = self.rng.choice(peers), self.rng.randint(1, max(1, node.core.log.last_index))
            self.counts["commits wanted"] += 1
            self.trace(f"send_commit_when_held at {node.id}: {peer} waits for {index}")
            node.core.send_commit_when_held(peer, index)
        else:
            self.trace(f"broadcast_commit at {node.id}{' (a commit unsent)' if unsent else ''}")
            node.core.broadcast_commit()
        self._after_event(node)

    def _campaign(self) -> None:
        up = [n for n in self._up_nodes() if not n.removed]
        if not up:
            return
        node = self.rng.choice(up)
        assert node.core is not None
        if node.id not in node.core.status().conf.voters:
            return
        self.trace(f"campaign {node.id}")
        node.core.campaign()
        self._after_event(node)

    # -- checks after every step ---------------------------------------------------------------

    def _check_step(self) -> None:
        for node in self.nodes.values():
            core = node.core
            if core is None:
                continue
            st = core.status()
            if st.role == "leader":
                self.checker.on_leader(node.id, st.term)
            if st.term < node.term:
                raise InvariantViolation(f"status: {node.id}'s term went back from {node.term} to {st.term}")
            node.term = st.term
            if st.commit < node.commit_seen:
                raise InvariantViolation(f"status: {node.id}'s commit went back from {node.commit_seen} to {st.commit}")
            node.commit_seen = st.commit
            if st.commit > st.last_index:
                raise InvariantViolation(
                    f"status: {node.id}'s commit {st.commit} is beyond its last index {st.last_index}"
                )

    # -- liveness at the end -------------------------------------------------------------------

    def _settle(self) -> None:
        """Heal everything and check that the cluster converges: one leader, every write everywhere."""
        p = self.params
        self.network.heal()
        self._heal_at = None
        self.network.faults = Faults(drop=0.0, duplicate=0.0, max_delay_ticks=1, reorder=p.faults.reorder)
        self._rare = []
        self.trace("settle: heal, restart every node, no more faults")
        for node in self.nodes.values():
            if node.removed and node.core is not None:
                self._stop(node)
            elif not node.removed and node.core is None:
                self._restart(node)
        # Enough ticks to elect a leader many times over, plus two per entry of the longest log:
        # a seed with one entry per message and one message in flight catches up a slow
        # follower (or a learner that starts now) at about one entry per round trip.
        longest = max((n.core.status().last_index for n in self._up_nodes() if n.core is not None), default=0)
        budget = 60 * p.election_ticks + 2 * longest
        final: bytes | None = None
        start = self.now
        while self.now - start < budget:
            self._settle_round()
            leader = self._converged()
            if leader is None or leader.core is None:
                continue
            if final is None:
                final = f"final{self._next_value}".encode()
                self._next_value += 1
                try:
                    index = leader.core.propose(final)
                except NotLeader:
                    final = None
                    continue
                self._pending.setdefault((leader.id, leader.incarnation), {})[index] = final
                self.trace(f"propose {final!r} at {leader.id} -> index {index}")
                continue
            if final in self.checker.acks:
                break
            st = leader.core.status()
            if st.last_index == st.commit:
                # Every member applied all the leader has, and the write is not acknowledged:
                # its proposer lost leadership before the write committed. Try again.
                for pending in self._pending.values():
                    for index in [i for i, v in pending.items() if v == final]:
                        del pending[index]
                self.trace(f"{final!r} was lost with its leader; propose again")
                final = None
        else:
            self._liveness_failure(budget)
        for node in self._up_nodes():
            if not node.removed:
                self.checker.check_acks_applied(node.id, node.sm.as_dict())
        self.trace(f"settled at tick {self.now}: {len(self.checker.acks)} writes acknowledged")

    def _settle_round(self) -> None:
        self.step_no += 1
        for _ in range(MAX_DELIVERIES_PER_TICK):
            if not self.network.has_due(self.now):
                break
            self._deliver()
            self._check_step()
        else:
            raise InvariantViolation(
                f"liveness: more than {MAX_DELIVERIES_PER_TICK} messages delivered within one tick of a "
                f"healed network (a message storm)"
            )
        self._tick()
        self._drain_readies()
        self._check_step()

    def _converged(self) -> SimNode | None:
        """Return the leader when every live member follows it and has applied all it committed."""
        up = [n for n in self._up_nodes() if not n.removed]
        leaders = [n for n in up if n.core is not None and n.core.status().role == "leader"]
        if len(leaders) != 1:
            return None
        leader = leaders[0]
        assert leader.core is not None
        lst = leader.core.status()
        commit = lst.commit
        if commit != lst.last_index:
            # Not yet: a leader knows what is committed only once an entry of its own term is.
            # (A restarted leader may have lost an unsynced commit index: it learns it again so.)
            return None
        for node in up:
            assert node.core is not None
            st = node.core.status()
            if st.leader != leader.id or node.sm.applied_index != commit or st.commit != commit:
                return None
        return leader

    def _liveness_failure(self, budget: int) -> None:
        lines = []
        for node in self.nodes.values():
            if node.core is None:
                lines.append(f"{node.id}: down (removed={node.removed})")
                continue
            st = node.core.status()
            lines.append(
                f"{node.id}: role={st.role} term={st.term} leader={st.leader or '-'} commit={st.commit} "
                f"applied={node.sm.applied_index} last={st.last_index} conf={st.conf} progress={st.progress}"
            )
        raise InvariantViolation(
            f"liveness: no stable leader with every live node caught up after {budget} ticks of a healed "
            f"network\n    " + "\n    ".join(lines)
        )


def simulate(seed: int, steps: int = DEFAULT_STEPS, nodes: int | None = None, verbose: bool = False) -> SimResult:
    """Run one seed and return what it did; raise AssertionError("seed N: ...") on a failure."""
    return Simulation(seed, steps=steps, nodes=nodes, verbose=verbose).run()


def run_seed(seed: int, steps: int = DEFAULT_STEPS, nodes: int | None = None) -> None:
    """Run one seed (3 or 5 nodes, as the seed chooses, unless ``nodes`` says); raise on a failure."""
    simulate(seed, steps=steps, nodes=nodes)
