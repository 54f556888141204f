"""RaftMember: a manager's Raft member, its log on disk, and the Store it applies to.

One actor owns the Raft core, the write-ahead log and the in-memory Store, so the order of
what Raft decides, what is on disk and what readers see is one order. Every input (a tick, a
message from a peer, a proposal) is followed by one round of the core's Ready: persist the
hard state and entries (one fsync), send the messages, apply the committed entries to the
Store, answer the proposals they carry, then advance. Proposals made on a follower are
forwarded to the leader, which answers once the write is applied there; the follower answers
its caller once its own Store has applied it too (a caller reads its own writes here).

Snapshots: every ``settings.snapshot_every_entries`` applied entries the Store is snapshotted (written,
fsynced, renamed) and the log before it compacted; a follower too far behind gets the snapshot.
"""

from __future__ import annotations

import contextlib
import logging
import math
import random
import threading
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import msgpack
import pykka

from swarmnode.actors.messages import Address, ErrorReply, Message, from_body, message, to_body
from swarmnode.actors.node.addresses import dialable
from swarmnode.actors.node.swarm_state import STORE_DIR
from swarmnode.actors.runtime import (
    LOCAL_ONLY,
    MANAGERS_KEY,
    REMOVED,
    SESSION_KEY,
    Member,
    Membership,
    NodeActor,
    NodeContext,
    Refused,
    TransportDown,
    handles,
)
from swarmnode.actors.runtime.addressable import Request
from swarmnode.actors.store.client import DISK_FULL_KEY, PEERS_OUT_KEY, STORE_CRASH_KEY, DiskFull, disk_full
from swarmnode.actors.store.core import ApplyResult, Event, StoreCore, Watchers
from swarmnode.actors.store.objects import NodeView, cluster_of, nodes_of
from swarmnode.actors.store.transactions import (
    Create,
    Op,
    StoreError,
    Transaction,
    Update,
    decode_transaction,
    encode_transaction,
    new_txn_id,
)
from swarmnode.actors.store.wal import HardState as WalHardState
from swarmnode.actors.store.wal import (
    WalDiskFull,
    WriteAheadLog,
    has_room,
    read_latest_snapshot,
    room_to_go_on,
    write_snapshot,
)
from swarmnode.actors.supervision import Link, describe
from swarmnode.transport import DirectSender, NotSent, RemoteError, TransportError

from .core import (
    ConfChange,
    ConfChangeInProgress,
    HardState,
    NotLeader,
    RaftConfig,
    RaftCore,
    Ready,
    Restored,
)
from .messages import (
    ENTRY_NORMAL,
    MSG_APP,
    MSG_HEARTBEAT,
    MSG_PRE_VOTE,
    MSG_READ_INDEX,
    MSG_SNAP,
    MSG_TRANSFER_LEADER,
    MSG_VOTE,
    ROLE_LEADER,
    ConfState,
    RaftEntry,
    RaftMessage,
    RaftSnapshot,
    SnapshotMeta,
)

__all__ = [
    "LeadershipChanged",
    "Propose",
    "RaftMember",
    "Read",
    "StoreEvents",
    "Subscribe",
    "Unsubscribe",
    "initial_snapshot",
    "raft_dir",
]

log = logging.getLogger("swarmnode.raft")

TICK_S = 0.1  # one Raft tick; elections take ELECTION_TICKS..2*ELECTION_TICKS ticks
ELECTION_TICKS = 8
FORWARD_TIMEOUT_S = 10.0
# A commit that no append carried goes to the followers this long after it (lazy_commit): under
# a stream of writes the next append carries it; a lone write's followers learn it this late.
# The time counts from the oldest commit still untold, so that a stream of writes, whose appends
# carry each commit a moment later, sends no extra round of empty appends every 5 ms.
COMMIT_FLUSH_S = 0.005
# A peer heard from within this is up and reaches this manager: without a leader, each live
# manager pre-votes every election timeout (0.8-1.6 s).
HEARD_S = 3.0
# A snapshot also once the entries applied since the last one hold this many bytes: a restart
# replays them, and big entries (a large spec rewritten again and again) make that slow.
SNAPSHOT_EVERY_BYTES = 64 << 20
RECOVER_LOG_ENTRIES = 1000  # a recovery that applies more says how long it took
# A learner this close to the commit index votes from now on: under a steady stream of writes it
# may never hold *everything* committed at the moment the leader looks.
PROMOTE_LAG_ENTRIES = 64
NO_LEADER_LOG_S = 30.0  # while this manager knows no leader, it says so this often
# A forwarded write whose answer did not come may have been committed all the same.
UNKNOWN = "the write may or may not be committed; check before you retry"
NO_LEADER = (
    "the swarm has no leader right now (an election may be under way, or too few managers are up: "
    "`swarm-node cluster status` says more)"
)
# A linearizable read not confirmed by then fails: no leader all that time, or its request or
# answer was lost.
READ_INDEX_TIMEOUT_S = 5.0
# A manager whose disk filled looks this often whether there is room again (wal.room_to_go_on),
# and this seldom once it met a full disk again soon after it went on (DISK_AGAIN_S): the disk
# fills as fast as it is freed, and a restart each time would make its supervisors give up.
DISK_PROBE_S = 1.0
DISK_PROBE_SLOW_S = 15.0
DISK_AGAIN_S = 60.0
# A member out of Raft for its full disk tells whoever sends it Raft messages, at most this often
# each; what it said is held this long after (it goes quiet once it takes part again).
OUT_OF_SERVICE_TELL_S = 1.0
OUT_OF_SERVICE_S = 5.0
# A forward to the leader that could not be sent (the connection lost) is tried again this often.
FORWARD_RETRY_S = 0.2
# A read not confirmed this long after it was asked is asked again: the request or its answer
# may have been lost, or the leader started a new term and dropped it.
READ_RESEND_S = 0.5
# A follower passes these on to the leader with the asker's name in ``frm`` (as etcd does); any
# other message must come from the manager it names.
RELAYED_TYPES = frozenset({MSG_READ_INDEX, MSG_TRANSFER_LEADER})
NOT_A_MEMBER_TELL_S = 0.5  # a node held out of the group is told so at most this often
NOT_A_MEMBER_PUSH_S = 2.0  # and told, unasked, this often at first while its certificate still says manager,
NOT_A_MEMBER_PUSH_MAX_S = 60.0  # then less and less often, down to this
# A manager told it is out of the group stays out of elections this long, or until a leader speaks to it.
NOT_A_MEMBER_S = 10.0
# A manager the Store records at another address than it has now tells the other managers this often;
# what it said holds that many times as long unless said again (it may have moved back).
ADDRESS_SAY_S = 1.0
ADDRESS_RECORDED_SAY_S = 5.0  # and this often once it is recorded (see RaftMember._say_address)
ADDRESS_HELD_SAYS = 3  # what it said holds for this many of the slower repeats (a manager back where it was says so)


def raft_dir(state_dir: Path) -> Path:
    return state_dir / STORE_DIR


# -- local messages (in-process) --------------------------------------------------------------


class Outcome:
    """A reply that comes later than the ask: the asker waits on it with a deadline.

    ``on_done`` runs once it is settled (forwarded proposals answer over the network from it).
    """

    __slots__ = ("_error", "_event", "_lock", "_on_done", "_value", "answered")

    def __init__(self, on_done: Callable[[Outcome], None] | None = None) -> None:
        self.answered = False  # a forwarded proposal: the leader's answer came (set by the transport)
        self._event = threading.Event()
        self._lock = threading.Lock()  # settled from the actor's thread or the transport's: once
        self._value: Any = None
        self._error: BaseException | None = None
        self._on_done = on_done

    def set(self, value: Any) -> None:
        self._settle(value, None)

    def fail(self, error: BaseException) -> None:
        self._settle(None, error)

    def _settle(self, value: Any, error: BaseException | None) -> None:
        with self._lock:
            if self._event.is_set():
                return  # settled already (e.g. failed on a leader change): the first word stands
            self._value, self._error = value, error
            self._event.set()
        if self._on_done is not None:
            self._on_done(self)

    @property
    def settled(self) -> bool:
        return self._event.is_set()

    def wait(self, timeout_s: float) -> Any:
        if not self._event.wait(timeout_s):
            raise TimeoutError(f"no answer within {timeout_s:g} s")
        if self._error is not None:
            raise self._error
        return self._value


@dataclass(frozen=True, slots=True)
class _Pending:
    """A proposal this manager made as leader: what it proposed at its index, and who waits."""

    txn: Transaction
    data: bytes  # the entry's data: the committed entry at the index is ours only if equal
    outcome: Outcome


@dataclass(frozen=True, slots=True)
class Propose:
    """Commit these ops as one transaction; ``outcome`` gets the ApplyResult once applied here."""

    ops: tuple[Op, ...]
    outcome: Outcome = field(default_factory=Outcome)
    # Made while no leader is known, the write waits this long for one (an operator's: the manager
    # may have just restarted); 0 fails it at once (an actor's own: it acts again on its next turn).
    wait_for_leader_s: float = 0.0
    # The write of an actor that runs only while this manager leads (the Dispatcher): proposed
    # here or not at all, never forwarded. A leader that hung and came back must not have another
    # leader commit what it decided from a stale view (every node unknown, or down).
    leader_only: bool = False


@dataclass(frozen=True, slots=True)
class Read:
    """Run ``fn`` on this manager's Store and reply with its result (served from memory).

    With ``outcome``, a linearizable read (Raft's read-index): ``fn`` runs once this manager's
    Store holds every write committed before the ask, as the leader confirms with a quorum, and
    ``outcome`` gets the ReadOutcome (the ask itself returns None at once). Refused without a
    leader, as Docker's managers refuse their API then.
    """

    fn: Callable[[StoreCore], Any]
    outcome: Outcome | None = None


@dataclass(frozen=True, slots=True)
class Subscribe:
    subscriber_id: str
    ref: pykka.ActorRef[Any]
    kinds: tuple[str, ...] | None = None


@dataclass(frozen=True, slots=True)
class Unsubscribe:
    subscriber_id: str


@dataclass(frozen=True, slots=True)
class StoreEvents:
    """Told to a subscriber: committed changes, in order."""

    events: tuple[Event, ...]


@dataclass(frozen=True, slots=True)
class LeadershipChanged:
    """Told to subscribers when this manager becomes or stops being the leader."""

    leader: str
    is_leader: bool


@dataclass(frozen=True, slots=True)
class GetRaftStatus:
    """Ask for the core's status (term, role, leader, commit, members and their progress)."""


@dataclass(frozen=True, slots=True)
class _Tick:
    """Timer: one Raft tick."""


@dataclass(frozen=True, slots=True)
class _Recover:
    """Told by on_start to itself: apply what the log recovered holds (it may take a while)."""


@dataclass(frozen=True, slots=True)
class _FlushCommit:
    """Timer: tell the followers a commit that no append carried (COMMIT_FLUSH_S after it)."""


@dataclass(slots=True)
class _PendingRead:
    """A linearizable read: last asked of the leader at ``asked_at`` (0: never, no leader yet),
    then confirmed at ``index``; served once this manager has applied that index."""

    fn: Callable[[StoreCore], Any]
    outcome: Outcome
    deadline: float
    asked_at: float = 0.0
    index: int = 0


@dataclass(frozen=True, slots=True)
class _AwaitingLeader:
    """An operator's write that reached no leader yet: none was known, or the forward was not sent
    (the connection to the leader lost). Proposed or forwarded once a leader is known (again at
    ``retry_at`` to the same one), failed at ``deadline`` saying ``why`` (empty: no leader)."""

    txn: Transaction
    data: bytes
    outcome: Outcome
    deadline: float
    retry_at: float = 0.0
    why: str = ""


@dataclass(frozen=True, slots=True)
class _ForwardAnswered:
    """Told by the transport: the leader applied a forwarded proposal (``result.index``)."""

    outcome: Outcome
    result: ApplyResult


@dataclass(frozen=True, slots=True)
class ReadOutcome:
    value: Any
    error: Exception | None

    def unwrap(self) -> Any:
        if self.error is not None:
            raise self.error
        return self.value


# -- wire messages between managers -----------------------------------------------------------


@message
class RaftAddress(Message):
    """Told by a manager to the other managers while the Store records it at another address than
    the one it is reached at now (restarted on another ``--listen``): they connect to it there
    until the Store records the new address.

    The Store records it from the manager's heartbeats, but that write needs a majority: with two
    voters, it needs the moved manager itself, which no one could reach (and a moved leader
    could not be elected again: the votes it asked for went to its old address).

    A manager that hears it passes it on to the other managers it knows (``node_id`` names the
    node it is about; empty: the sender), once: one that moved may reach only some of them
    (the leader too may have moved since the Store recorded it). A wrong address for a node
    makes connections to it fail their CURVE handshake (its key is the one the Store holds),
    nothing worse; only managers are heard.
    """

    KIND = "RaftAddress"
    addr: str
    node_id: str = ""


@message
class OutOfService(Message):
    """Told by a member out of Raft (its disk is full) to a member whose Raft messages it drops:
    `cluster status` and `node ls` there say why it is unreachable, and that it is up."""

    KIND = "RaftOutOfService"
    text: str


@message
class NotAMember(Message):
    """Told to a manager whose Raft messages reach a member that holds it out of the group: it
    was demoted (or dropped by a forced new cluster), so it must not campaign nor vote.

    Managers dropped by ``--force-new-cluster`` that come back together hold a majority of the
    old group between them: without this, they would elect a leader of their own beside the
    forced one (a split brain). What they send the forced leader is answered with this.
    """

    KIND = "RaftNotAMember"
    term: int
    text: str


@message
class ForwardProposal(Message):
    """A follower hands a transaction to the leader; the reply comes once it is applied there."""

    KIND = "RaftForwardProposal"
    txn: bytes


@message
class ProposalResult(Message):
    """The leader's answer to a forwarded proposal: ``code`` is "" when applied, else why not."""

    KIND = "RaftProposalResult"
    index: int
    code: str
    error: str


@message
class ProposeCreate(Message):
    """Create one Store object through Raft and answer once it is applied (debugging, benchmarks)."""

    KIND = "RaftProposeCreate"
    kind: str
    id: str
    spec: dict[str, Any]


@message
class ProposeCreateReply(Message):
    """``commit_us``: how long the leader took from the proposal to its apply (microseconds), the
    commit path without the client's hops to and from the leader (bench/raft.py prints both)."""

    KIND = "RaftProposeCreateReply"
    index: int
    commit_us: int = 0


# -- encoding of log entries and snapshots -----------------------------------------------------


def encode_entry(entry: RaftEntry) -> bytes:
    """The WAL keeps (index, term, data); the entry's kind rides in front of its data."""
    return bytes([entry.kind]) + entry.data


def _log_behind(entries: Sequence[tuple[int, int, bytes]], last_index: int | None, snap: SnapshotMeta) -> bool:
    """Whether a log cannot go on after snapshot ``snap``: it ends before it, or holds another term at it.

    (A node's own snapshot may be at an entry whose segment was deleted since: no entry there is
    not a conflict. One installed from the leader over entries of an older term is.)
    """
    if (last_index or 0) < snap.index:
        return True
    if not entries or not entries[0][0] <= snap.index <= entries[-1][0]:
        return False
    return entries[snap.index - entries[0][0]][1] != snap.term


def decode_entry(index: int, term: int, data: bytes) -> RaftEntry:
    return RaftEntry(index=index, term=term, kind=data[0], data=data[1:])


def encode_snapshot(snapshot: RaftSnapshot) -> bytes:
    return msgpack.packb(to_body(snapshot), use_bin_type=True)


def decode_snapshot(data: bytes) -> RaftSnapshot:
    snap = from_body(RaftSnapshot.KIND, msgpack.unpackb(data, raw=False))
    assert isinstance(snap, RaftSnapshot)
    return snap


def load_latest_snapshot(directory: Path) -> tuple[RaftSnapshot, StoreCore] | None:
    """Return the newest snapshot in ``directory`` and the Store it holds, or None when there is none."""
    latest = read_latest_snapshot(directory)
    if latest is None:
        return None
    snapshot = decode_snapshot(latest[1])
    return snapshot, StoreCore.restore(snapshot.data)


def initial_snapshot(store: StoreCore, node_id: str) -> bytes:
    """The first snapshot of a new swarm: its Store at index 1, one voter (the founder)."""
    meta = SnapshotMeta(index=store.last_index, term=1, conf=ConfState(voters=(node_id,), learners=()))
    return encode_snapshot(RaftSnapshot(meta=meta, data=store.snapshot()))


def membership_of(
    core: StoreCore | None, known_managers: Sequence[Any] = (), vouched: Collection[str] = ()
) -> Membership:
    """Build a manager's admission table from the node and cluster objects (none: ``core`` None).

    ``known_managers`` (from the join reply, then the leader's heartbeat answers) are admitted as
    managers until the Store knows them: a manager that just joined must accept the leader's
    Raft messages before its Store has caught up with the leader's. Where the Store knows one as
    a worker, it stays a manager only if Raft vouches for it here (``vouched``: this manager's
    Raft members and the leader it follows): a manager promoted again installs the leader's
    snapshot, which may be older than the leader's own promotion; refusing the leader left such
    a manager alone with the snapshot's membership, and it elected itself. A demoted manager,
    no member any more, goes by its certificate's role as soon as the Store records it.
    """
    known = {m.curve_key.encode() for m in known_managers if m.curve_key}
    by_key: dict[bytes, Member] = {
        m.curve_key.encode(): Member(m.node_id, "manager", math.inf) for m in known_managers if m.curve_key
    }
    for node in nodes_of(core) if core is not None else ():
        if node.curve_key and node.cert_role:
            key = node.curve_key.encode()
            role = "manager" if key in known and node.node_id in vouched else node.cert_role
            by_key[key] = Member(node.node_id, role, node.cert_expiry)
    cluster = cluster_of(core) if core is not None else None
    revoked = cluster.revoked if cluster is not None else {}
    return Membership(by_key=by_key, revoked={n: k.encode() for n, k in revoked.items()}, anonymous_allowed=True)


class RaftMember(NodeActor):
    """Replicate the Store among the managers with Raft, and serve it from memory."""

    def __init__(
        self,
        link: Link | None,
        context: NodeContext,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
    ) -> None:
        super().__init__(link)
        self.context = context
        self.clock = clock
        self.rng = rng or random.Random()
        self.store = StoreCore()
        self.wal: WriteAheadLog | None = None
        self.core: RaftCore | None = None
        self.watchers: Watchers[pykka.ActorRef[Any]] = Watchers()
        self.pending: dict[int, _Pending] = {}  # log index -> a proposal made here, not yet applied
        self.forwarded_to_leader: set[Outcome] = set()  # proposals handed to the leader, not yet answered
        # Forwarded proposals the leader applied, until this manager's Store has them: (index, ...)
        self.awaiting_apply: list[tuple[Outcome, ApplyResult]] = []
        # Linearizable reads: asked, by read-index context; then confirmed by the leader at a
        # commit index, until this manager has applied it.
        self.reads_asked: dict[bytes, _PendingRead] = {}
        self.reads_confirmed: list[_PendingRead] = []
        self.awaiting_leader: list[_AwaitingLeader] = []  # writes made while no leader was known
        self.leader = ""
        self.is_leader = False
        self.heard_from: dict[str, float] = {}  # peer -> when its last Raft message came (monotonic)
        self.started_at = time.monotonic()
        self.no_leader_said_at = time.monotonic()  # when "still no leader" was last said (or leaderless since)
        self.halted = False  # this node was removed from the swarm (its Worker was told): no campaigning
        # What the WAL said when the disk filled (the crash before this start): until there is
        # room again this member takes no part in Raft. "" when it writes as usual.
        self.disk_full = ""
        self.disk_looked_at = -math.inf  # when the room on the disk was last looked at
        self.disk_error = ""  # the last error met while looking (said once)
        self.snapshot_size = (-1, 0)  # (applied index, bytes of the Store's snapshot there): _room_needed
        self.out_told: dict[str, float] = {}  # node id -> when it was last told this member is out (disk full)
        self.peers_out: dict[str, tuple[str, float]] = {}  # node id -> (why it is out of Raft, until when)
        self.restart_log_at = 0  # the log must restart at this index once there is room (0: no)
        self.not_a_member_since: float | None = None  # when a member said it holds this one out of the group
        self.not_a_member_told: dict[str, float] = {}  # node id -> when it was last told it is not a member
        self.not_a_member_pushed_at = -math.inf  # when the managers out of the group were last told, unasked
        self.not_a_member_push_every: dict[str, float] = {}  # node id -> how often it is told, unasked
        self.since_snapshot = 0
        self.since_snapshot_bytes = 0
        self.peers: dict[str, tuple[str, str]] = {}  # node id -> (addr, curve key) connected
        # node id -> (where it said it is, until when): RaftAddress, until the Store says so or it expires
        self.heard_at: dict[str, tuple[str, float]] = {}
        self.address_said_at = -math.inf  # when this manager last looked whether to tell the others where it is
        self.sender: DirectSender | None = None  # made, used and closed on this actor's thread
        self.commit_flush_armed = False  # a _FlushCommit timer is pending
        self.commit_untold_since: float | None = None  # when (monotonic) followers began to owe a commit
        # The membership may have to follow the Store: a node or the Raft conf changed, leadership
        # came, or a change was refused. Learners are looked at on every tick (they catch up).
        self.members_dirty = True
        self.held = ""  # the membership change that waits, and why (logged once)
        self.dropped: set[str] = set()  # managers a forced new cluster dropped, not yet demoted
        self.demoting_dropped = False  # their demotion is proposed

    # -- start and stop ----------------------------------------------------------------------

    def on_start(self) -> None:
        directory = raft_dir(self.context.state_dir)
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        snap_meta: SnapshotMeta | None = None
        conf = ConfState(voters=(), learners=())
        latest = load_latest_snapshot(directory)
        if latest is not None:
            snapshot, self.store = latest
            snap_meta, conf = snapshot.meta, snapshot.meta.conf
        self.wal, recovered = WriteAheadLog.open(directory, segment_max_bytes=self.context.settings.store_segment_bytes)
        if recovered.cut_bytes:
            log.warning("raft: cut %d bytes of torn tail from %s", recovered.cut_bytes, recovered.cut_file)
        entries = recovered.entries
        if snap_meta is not None and _log_behind(entries, self.wal.last_index, snap_meta):
            # A crash after a snapshot from the leader was written, before its log was restarted
            # after it: the log must go on after the snapshot, not after its own last entry.
            try:
                self.wal.restart_at(snap_meta.index + 1)
            except WalDiskFull as exc:
                # Nothing is written until there is room: the log is restarted first then.
                self.restart_log_at = snap_meta.index + 1
                self._disk_filled(exc)
            entries = []
        hs = recovered.hard_state
        restored = Restored(
            hard_state=HardState(hs.term, hs.vote, hs.commit) if hs else None,
            snapshot=snap_meta,
            entries=tuple(decode_entry(i, t, d) for i, t, d in entries if not snap_meta or i > snap_meta.index),
            conf=conf,
        )
        config = RaftConfig(node_id=self.context.node_id, election_ticks=ELECTION_TICKS, lazy_commit=True)
        self.core = RaftCore(config, restored, self.rng)
        from .recovery import read_dropped  # recovery builds on this module

        self.dropped = read_dropped(directory, hs.term if hs else 0)
        if latest is not None:
            # The core sends this snapshot to followers whose next entry it no longer holds.
            self.core.compact(latest[0].meta.index, latest[0].data)
        self._refresh_membership()
        log.info(
            "raft: recovered snapshot %s, %d log entries, commit %d",
            snap_meta.index if snap_meta else "none",
            len(restored.entries),
            hs.commit if hs else 0,
        )
        # What the member before heard of managers out of Raft: a new one hears it again from them.
        self.context.set_shared(PEERS_OUT_KEY, {})
        record = self.context.get_shared(DISK_FULL_KEY)
        if isinstance(record, DiskFull) and record.waiting:
            self.disk_full = record.what
            if record.crashes > 1:
                # The disk filled again soon after it went on: not looked at before DISK_PROBE_SLOW_S
                # from now either, or each restart would look at once, go on and crash again.
                self.disk_looked_at = time.monotonic()
        elif self.core.status().conf.voters == (self.context.node_id,):
            self.core.campaign()  # the only voter: no one to wait for (a new swarm starts writable)
        # What the log holds is applied by the first message (a restart with a long log takes
        # seconds, which on_start must not: the node's start waits for it, 10 s at most).
        self.actor_ref.tell(_Recover())
        self.timers.start("tick", TICK_S, _Tick())

    def on_stop(self) -> None:
        self._close(f"the store of manager {self.context.node_id} stopped")  # relayed too: named, not "this"

    def on_crash(self, exc: BaseException) -> None:
        # Writes that come while it restarts are told why (a full disk, say), not only "not running".
        self.context.set_shared(STORE_CRASH_KEY, (time.monotonic(), describe(exc)))
        cause = describe(exc)
        if isinstance(exc, WalDiskFull):
            # Restarted, the member rebuilds its core from what the disk holds (the failed write
            # was cut back off) and waits for room rather than crash at every write until its
            # supervisors give up and the node exits (etcd stops on a failed WAL write).
            self._disk_filled(exc)
            cause = "its disk is full"
        self._close(f"the store of manager {self.context.node_id} crashed ({cause})")

    def _close(self, why: str) -> None:
        """Fail what waits here, saying ``why``; release the log."""
        # Proposed here, not answered: a leader's appends left before its own write (and its
        # crash), so the followers may commit it all the same.
        for waiting in self.pending.values():
            waiting.outcome.fail(Refused("unavailable", f"{why} before the write was answered: {UNKNOWN}"))
        self.pending.clear()
        for outcome, result in self.awaiting_apply:
            outcome.set(result)  # the leader's word stands; this Store is going away
        self.awaiting_apply = []
        for outcome in self.forwarded_to_leader:
            # Unanswered, or answered with the answer still in the mailbox, which a stop drops.
            outcome.fail(Refused("unavailable", f"{why} before the leader answered: {UNKNOWN}"))
        self.forwarded_to_leader = set()
        self._fail_waiting(Refused("unavailable", f"{why}; try again"))  # never proposed
        try:
            if self.sender is not None:
                self.sender.close()
                self.sender = None
        finally:
            # The log is released whatever else failed: a restart must be able to open it.
            if self.wal is not None:
                self.wal.close()
                self.wal = None

    # -- inputs --------------------------------------------------------------------------------

    def on_receive(self, message: Any) -> Any:
        if isinstance(message, _Recover):
            self._recover()
            return None
        result = self._receive(message)
        # Group commit: whatever the message was, the last one of a burst runs the Ready round
        # (a write that finished, say, may have committed entries while a Read was queued).
        # (has_ready() is asked only then: it builds the appends, so asking per message would
        # send one append per proposal.)
        if self.core is not None and self.wal is not None:
            self._process_when_idle()
        return result

    def on_undelivered(self, message: Any, how: str) -> None:
        """A write or read told to this member after it stopped (or crashed) is failed at once:
        it was never proposed nor asked, so its sender may simply try again."""
        outcome = message.outcome if isinstance(message, (Propose, Read)) else None
        if outcome is not None:
            outcome.fail(Refused("unavailable", f"this manager's store {how} before it took the request; try again"))
        else:
            super().on_undelivered(message, how)

    def _recover(self) -> None:
        """Apply what the log recovered holds, and say how long it took when it was much."""
        started, applied = time.monotonic(), self.store.last_index
        self._process()
        if self.store.last_index - applied > RECOVER_LOG_ENTRIES:
            log.info(
                "raft: applied the log up to %d (%d entries) in %.1f s",
                self.store.last_index,
                self.store.last_index - applied,
                time.monotonic() - started,
            )
        if self.disk_full:  # said with the room its Store now needs
            with contextlib.suppress(OSError):
                self._room_needed()
            log.warning(
                "raft: %s; this manager takes no part in Raft until then (it looks every %g s)",
                self._disk_says(),
                self._disk_probe_s(),
            )

    def _receive(self, message: Any) -> Any:
        if isinstance(message, _Tick):
            self._tick()
            return None
        if isinstance(message, _AwaitingLeader):  # a forward that was not sent (see _forward)
            self._await_leader(message)
            return None
        if isinstance(message, _ForwardAnswered):
            self.forwarded_to_leader.discard(message.outcome)
            self.awaiting_apply.append((message.outcome, message.result))
            self._settle_applied()
            return None
        if isinstance(message, _FlushCommit):
            assert self.core is not None
            self.commit_flush_armed = False
            since = self.commit_untold_since
            if since is None or time.monotonic() - since >= COMMIT_FLUSH_S:
                self.core.broadcast_commit()
                # A follower still owed it after this (one the core cannot send to now) is told
                # at the next flush, COMMIT_FLUSH_S later: the clock starts again, not a busy loop.
                self.commit_untold_since = None
            # else appends carried the commit it was armed for; _process arms it again for a later one
            return None
        if isinstance(message, Propose):
            self._propose(message.ops, message.outcome, message.wait_for_leader_s, leader_only=message.leader_only)
            return None
        if isinstance(message, GetRaftStatus):
            assert self.core is not None
            lately = time.monotonic() - HEARD_S
            if self.started_at > lately:
                return self.core.status()  # who is up cannot be told yet
            heard = tuple(sorted(node for node, at in self.heard_from.items() if at >= lately))
            return replace(self.core.status(), heard=heard)
        if isinstance(message, Read):
            if message.outcome is not None:
                self._read_index(message.fn, message.outcome)
                return None
            return self._run_read(message.fn)
        if isinstance(message, Subscribe):
            # A restarted subscriber subscribes again under its name: the newest one wins.
            self.watchers.unregister(message.subscriber_id)
            self.watchers.register(message.subscriber_id, message.kinds, target=message.ref)
            message.ref.tell(LeadershipChanged(self.leader, self.is_leader))
            return self.store.last_index
        if isinstance(message, Unsubscribe):
            self.watchers.unregister(message.subscriber_id)
            return None
        return super().on_receive(message)

    @handles(RaftMessage, roles={"manager"})
    def step(self, msg: RaftMessage, request: Request) -> None:
        assert self.core is not None and request.peer is not None
        if msg.frm != request.peer.node_id and msg.type not in RELAYED_TYPES:
            log.warning("raft: dropped a message claiming to be from %s sent by %s", msg.frm, request.peer.node_id)
            return None
        if self.halted:
            return None  # removed from the swarm: messages queued for it while it was down still arrive
        self.heard_from[msg.frm] = time.monotonic()
        if self.disk_full:
            self._tell_out_of_service(request.peer.node_id)
            return None  # it could not write what they ask: the leader counts it as unreachable
        if self._held_out(msg.frm):
            return None
        if msg.frm in self.peers_out:  # it takes part again
            del self.peers_out[msg.frm]
            self._publish_peers_out()
        if self.not_a_member_since is not None:
            if msg.type in (MSG_VOTE, MSG_PRE_VOTE):
                return None  # told it is out of the group: it grants no vote either
            if msg.type in (MSG_APP, MSG_HEARTBEAT, MSG_SNAP) and msg.term >= self.core.term:
                # A leader of a group it belongs to after all (a member behind told it so): go on.
                log.info("raft: %s leads this manager's group; it takes part in elections again", msg.frm)
                self.not_a_member_since = None
        self.core.step(msg)  # on_receive runs the Ready round once the burst is over
        return None

    def _held_out(self, sender: str) -> bool:
        """Whether ``sender`` is out of this Raft group: then what it sends is dropped, and it is
        told so (once per NOT_A_MEMBER_TELL_S)."""
        if not self._is_out(sender):
            return False
        self._tell_not_a_member(sender, dropped_messages=True)
        return True

    def _is_out(self, node_id: str) -> bool:
        """Whether ``node_id`` is out of this Raft group: demoted, or dropped by a forced new cluster.

        The managers a forced new cluster on this manager dropped are out from its start, in any
        role: before it first leads and commits their demotion, a higher term of theirs would
        make it follow the old group. Otherwise only a leader judges: it holds every committed
        entry, where a follower's Store and membership may be behind (a manager promoted again
        installs an old snapshot first, in which the leader itself may be a worker). A node whose
        desired role is manager is being added (the leader adds it as a learner next): it is in.
        """
        assert self.core is not None
        if node_id in self.dropped:
            return True
        if self.core.role != ROLE_LEADER or self.core.conf.has(node_id) or self.core.committed_conf.has(node_id):
            return False
        obj = self.store.get("node", node_id)
        return obj is not None and NodeView.of(obj).role == "worker"

    def _tell_not_a_member(self, node_id: str, *, dropped_messages: bool) -> None:
        assert self.core is not None
        now = time.monotonic()
        last = self.not_a_member_told.get(node_id)
        if last is not None and now - last < NOT_A_MEMBER_TELL_S:
            return
        self.not_a_member_told[node_id] = now
        why = "a forced new cluster dropped it" if node_id in self.dropped else "it was demoted"
        text = f"manager {self.context.node_id} holds node {node_id} out of the Raft group ({why})"
        # Said once (the telling goes on): a warning when it sent something or a forced cluster
        # dropped it; a demoted manager told before it renews into a worker is routine.
        level = logging.WARNING if dropped_messages or node_id in self.dropped else logging.INFO
        what = "dropped the Raft messages of" if dropped_messages else "told"
        log.log(level if last is None else logging.DEBUG, "raft: %s %s, which is not a member", what, node_id)
        try:
            self._direct().send(Address(node_id, self.name), NotAMember(self.core.term, text), src_actor=self.name)
        except TransportError as exc:
            log.info("raft: could not tell %s it is not a member: %s", node_id, describe(exc))

    def _push_not_a_member(self) -> None:
        """Tell the managers out of the group so, every NOT_A_MEMBER_PUSH_S, before they send anything.

        A dropped manager that leads the old group may not reach this one (an asymmetric
        partition): what it sends is never answered, but it may still be told. A manager's
        certificate that says manager, for a node whose desired role is worker, is one that has not
        renewed into a worker yet: it stops being told once it has.
        """
        now = time.monotonic()
        if now - self.not_a_member_pushed_at < NOT_A_MEMBER_PUSH_S:
            return
        self.not_a_member_pushed_at = now
        for obj in self.store.list("node"):  # the raw objects: a leader of thousands of nodes does this
            manager_cert = obj.status.get("cert_role") == "manager"
            if not manager_cert or obj.id == self.context.node_id or not self._is_out(obj.id):
                continue
            # Every 2 s, then less and less often up to once a minute: one that is down would find
            # the notices queued for it, and the log would say the same thing over and over.
            every = self.not_a_member_push_every.get(obj.id, 0.0)
            if now - self.not_a_member_told.get(obj.id, -math.inf) >= every:
                self.not_a_member_push_every[obj.id] = min(max(2 * every, NOT_A_MEMBER_PUSH_S), NOT_A_MEMBER_PUSH_MAX_S)
                self._tell_not_a_member(obj.id, dropped_messages=False)

    def _tell_out_of_service(self, node_id: str) -> None:
        """Tell ``node_id``, whose Raft messages this member drops, why (at most every OUT_OF_SERVICE_TELL_S)."""
        now = time.monotonic()
        if now - self.out_told.get(node_id, -math.inf) < OUT_OF_SERVICE_TELL_S:
            return
        self.out_told[node_id] = now
        text = f"its disk is full ({self._disk_says()})"
        with contextlib.suppress(TransportError):  # an unreachable peer: told at its next message
            self._direct().send(Address(node_id, self.name), OutOfService(text), src_actor=self.name)

    @handles(OutOfService, roles={"manager"})
    def out_of_service(self, msg: OutOfService, request: Request) -> None:
        """A member says it is up but out of Raft: held for OUT_OF_SERVICE_S, for `cluster status`."""
        assert request.peer is not None
        node_id = request.peer.node_id
        said = self.peers_out.get(node_id)
        self.peers_out[node_id] = (msg.text, time.monotonic() + OUT_OF_SERVICE_S)
        if said is None or said[0] != msg.text:
            log.info("raft: manager %s is up but out of Raft: %s", node_id, msg.text)
            self._publish_peers_out()

    def _publish_peers_out(self) -> None:
        now = time.monotonic()
        self.peers_out = {n: out for n, out in self.peers_out.items() if out[1] > now}
        self.context.set_shared(PEERS_OUT_KEY, {n: text for n, (text, _) in self.peers_out.items()})

    @handles(NotAMember, roles={"manager"})
    def not_a_member(self, msg: NotAMember, request: Request) -> None:
        """Another member holds this manager out of the group: it steps down and stops campaigning
        and voting, until a leader of a group it belongs to speaks to it (the one that told it may
        be a member that is behind). Its Worker meanwhile renews it into the role it has now."""
        assert self.core is not None
        if self.not_a_member_since is None:
            log.warning(
                "raft: %s (its term %d); this manager stops campaigning and voting for %g s, or until a leader of its "
                "group speaks to it",
                msg.text,
                msg.term,
                NOT_A_MEMBER_S,
            )
        self.not_a_member_since = time.monotonic()
        self.core.forget_leader()

    def _told_not_a_member(self) -> bool:
        """Whether a member told this one, within NOT_A_MEMBER_S, that it holds it out of the group.

        Not for good: the one that told it may be a stale leader, cut off from a majority that
        promoted this manager again, and its vote may be needed. Once it expires, this manager
        campaigns again, and is told again if it is still out.
        """
        since = self.not_a_member_since
        if since is not None and time.monotonic() - since >= NOT_A_MEMBER_S:
            log.info(
                "raft: no member said for %g s that this manager is out of the group: it takes part again",
                NOT_A_MEMBER_S,
            )
            self.not_a_member_since = None
        return self.not_a_member_since is not None

    def _run_read(self, fn: Callable[[StoreCore], Any]) -> ReadOutcome:
        try:
            return ReadOutcome(value=fn(self.store), error=None)
        except Exception as exc:  # a bug in a reader's function is the reader's crash
            return ReadOutcome(value=None, error=exc)

    def _read_index(self, fn: Callable[[StoreCore], Any], outcome: Outcome) -> None:
        assert self.core is not None
        if (halted := self._halted()) is not None:
            outcome.fail(halted)  # no leader will confirm it: said now, not at the deadline
            return
        context = self.rng.getrandbits(64).to_bytes(8, "big")
        read = _PendingRead(fn, outcome, time.monotonic() + READ_INDEX_TIMEOUT_S)
        self.reads_asked[context] = read
        if self.leader:
            self._ask_leader(context, read)  # on_receive runs the Ready round: the leader confirms
        # else asked of the next leader (_leadership, _tend_reads), or failed at its deadline

    def _ask_leader(self, context: bytes, read: _PendingRead) -> None:
        assert self.core is not None
        read.asked_at = time.monotonic()
        self.core.read_index(context)  # the leader ignores a context it already holds

    def _confirm_reads(self, ready: Ready) -> None:
        """Note the reads the leader confirmed in ``ready``, and serve those this Store has applied.

        Runs after advance(), so the core's applied index is this Store's.
        """
        assert self.core is not None
        for state in ready.read_states:
            read = self.reads_asked.pop(state.context, None)
            if read is not None:
                read.index = state.index
                self.reads_confirmed.append(read)
        if not self.reads_confirmed:
            return
        waiting = []
        for read in self.reads_confirmed:
            if read.index <= self.core.applied:
                read.outcome.set(self._run_read(read.fn))
            else:
                waiting.append(read)
        self.reads_confirmed = waiting

    def _tend_reads(self) -> None:
        """On a tick: ask again what the leader did not confirm, and fail what is past its deadline."""
        now = time.monotonic()
        for context, read in list(self.reads_asked.items()):
            if now >= read.deadline:
                why = "the leader did not confirm the read in time; try again" if self.leader else NO_LEADER
                read.outcome.fail(Refused("unavailable", why))
                del self.reads_asked[context]
            elif self.leader and now - read.asked_at >= READ_RESEND_S:
                self._ask_leader(context, read)  # lost, or dropped by a leader that began a new term
        waiting = []
        for read in self.reads_confirmed:
            if now >= read.deadline:
                text = "this manager has not caught up with the leader in time; try again"
                read.outcome.fail(Refused("unavailable", text))
            else:
                waiting.append(read)
        self.reads_confirmed = waiting

    @handles(ProposeCreate, roles=LOCAL_ONLY)
    def propose_create(self, msg: ProposeCreate, request: Request) -> None:
        started = time.perf_counter()

        def answer(outcome: Outcome) -> None:
            try:
                result: ApplyResult = outcome.wait(0)
            except Refused as exc:
                request.reply(ErrorReply(code=exc.code, text=exc.text))
                return
            except Exception as exc:
                request.reply(ErrorReply(code="unavailable", text=describe(exc)))
                return
            if result.ok:
                commit_us = round((time.perf_counter() - started) * 1e6)
                request.reply(ProposeCreateReply(index=result.index, commit_us=commit_us))
            else:
                request.reply(ErrorReply(code="conflict", text=result.error or "refused"))

        try:
            op = Create(msg.kind, msg.id, msg.spec)
        except StoreError as exc:
            raise Refused("invalid", str(exc)) from None
        self._propose((op,), Outcome(on_done=answer))

    @handles(ForwardProposal, roles={"manager"})
    def forwarded(self, msg: ForwardProposal, request: Request) -> None:
        if self.halted or self.disk_full:  # what this node was told is for its operator, not for the manager asking
            raise Refused("not-leader", f"node {self.context.node_id} is not the leader")  # proposed nowhere

        def answer(outcome: Outcome) -> None:
            try:
                result: ApplyResult = outcome.wait(0)
            except Refused as exc:
                request.reply(ProposalResult(index=0, code=exc.code, error=exc.text))
            except Exception as exc:
                request.reply(ProposalResult(index=0, code="unavailable", error=describe(exc)))
            else:
                code = "" if result.ok else "conflict"
                request.reply(ProposalResult(index=result.index, code=code, error=result.error or ""))

        index = self._propose_txn(decode_transaction(msg.txn), Outcome(on_done=answer), msg.txn)
        if index is not None and request.peer is not None and self.core is not None:
            # The follower answers its client once its own Store applied the write: it learns
            # the commit as soon as it holds the entry, not COMMIT_FLUSH_S later.
            self.core.send_commit_when_held(request.peer.node_id, index)

    # -- proposals -------------------------------------------------------------------------------

    def _propose(
        self, ops: tuple[Op, ...], outcome: Outcome, wait_for_leader_s: float = 0.0, *, leader_only: bool = False
    ) -> None:
        txn = Transaction(ops=ops, now=self.clock(), txn_id=new_txn_id(self.rng))
        deadline = time.monotonic() + wait_for_leader_s if wait_for_leader_s > 0 else 0.0
        self._propose_txn(txn, outcome, encode_transaction(txn), deadline, leader_only=leader_only)

    def _propose_txn(
        self, txn: Transaction, outcome: Outcome, data: bytes, deadline: float = 0.0, *, leader_only: bool = False
    ) -> int | None:
        """Propose ``txn`` (``data`` its encoding), or forward it; until ``deadline`` (monotonic; 0:
        none) it waits for a leader it can reach (see Propose). ``leader_only``: here or not at all.

        Return its log index when proposed here, None when forwarded, waiting or failed.
        """
        assert self.core is not None
        try:
            index = self.core.propose(data)
        except NotLeader as exc:
            if leader_only:
                outcome.fail(Refused("not-leader", f"manager {self.context.node_id} does not lead now"))
            else:
                self._forward(txn, data, outcome, exc.leader, deadline)
            return None
        self.pending[index] = _Pending(txn, data, outcome)  # on_receive runs the Ready round
        return index

    def _forward(self, txn: Transaction, data: bytes, outcome: Outcome, leader: str, deadline: float = 0.0) -> None:
        if (halted := self._halted()) is not None:
            outcome.fail(halted)
            return
        if not leader or leader == self.context.node_id:
            # An election under way, or this manager has just started and not heard from the
            # leader yet: an operator's write waits for one, as a read does (proposed nowhere
            # yet, it is safe to send once a leader is known).
            self._await_leader(_AwaitingLeader(txn, data, outcome, deadline))
            return
        try:
            future = self.context.transport.request(
                Address(leader, self.name),
                ForwardProposal(txn=data),
                src_actor=self.name,
                timeout_s=FORWARD_TIMEOUT_S,
            )
        except (NotSent, TransportDown) as exc:  # raised here: it was not sent
            why = f"cannot reach the leader {leader}: {describe(exc)}"
            self._await_leader(_AwaitingLeader(txn, data, outcome, deadline, time.monotonic() + FORWARD_RETRY_S, why))
            return

        self.forwarded_to_leader = {o for o in self.forwarded_to_leader if not o.settled}
        self.forwarded_to_leader.add(outcome)
        ref = self.actor_ref

        def done(f: Any) -> None:  # on the transport's thread
            try:
                reply = f.result(0)
            except (NotSent, RemoteError) as exc:  # it reached no one, or one that proposed it nowhere
                if isinstance(exc, RemoteError) and exc.code != "not-leader":
                    text = f"the leader {leader} did not answer ({describe(exc)}): {UNKNOWN}"
                    outcome.fail(Refused("unavailable", text))
                    return
                # Tried again, on this actor's thread: with the leader known then.
                why = f"cannot reach the leader {leader}: {describe(exc)}"
                unsent = _AwaitingLeader(txn, data, outcome, deadline, time.monotonic() + FORWARD_RETRY_S, why)
                try:
                    ref.tell(unsent)
                except pykka.ActorDeadError:
                    outcome.fail(Refused("unavailable", why))
                return
            except Exception as exc:
                outcome.fail(Refused("unavailable", f"the leader {leader} did not answer ({describe(exc)}): {UNKNOWN}"))
                return
            assert isinstance(reply, ProposalResult)
            if reply.code not in ("", "conflict"):
                outcome.fail(Refused(reply.code, reply.error))
                return
            result = ApplyResult(
                index=reply.index, txn_id=txn.txn_id, ok=reply.code == "", error=reply.error or None, events=()
            )
            outcome.answered = True  # before the tell: a leader change from now on must not fail it
            try:  # answered once this manager's Store has it too: its readers must see their writes
                ref.tell(_ForwardAnswered(outcome, result))
            except pykka.ActorDeadError:
                outcome.set(result)  # the leader's word stands; this Store is gone

        future.add_done_callback(done)

    def _await_leader(self, write: _AwaitingLeader) -> None:
        """Keep ``write`` until a leader takes it, or fail it now if it may not wait (see Propose).

        One already answered is dropped, never sent again: a leader change may have failed it
        ("may or may not be committed") while the transport's word that it was not sent was on its
        way here, and the operator, told to check, must not find it committed later.
        """
        self.forwarded_to_leader.discard(write.outcome)  # not in flight: the leader's change must not fail it
        if write.outcome.settled:
            return
        if (halted := self._halted()) is not None:
            write.outcome.fail(halted)
        elif time.monotonic() >= write.deadline:
            write.outcome.fail(Refused("unavailable", write.why or NO_LEADER))
        else:
            self.awaiting_leader.append(write)

    def _send_awaiting(self) -> None:
        """A leader is known (a new one): what waited for one is proposed here (the Ready loop goes
        on) or forwarded to it."""
        awaiting, self.awaiting_leader = self.awaiting_leader, []
        for write in awaiting:
            if not write.outcome.settled:
                self._propose_txn(write.txn, write.outcome, write.data, write.deadline)

    def _tend_awaiting_leader(self) -> None:
        """On a tick: fail what waited its time; send what waits to the leader known now (again at
        ``retry_at`` to one that did not get it)."""
        now = time.monotonic()
        waiting, self.awaiting_leader = self.awaiting_leader, []
        for write in waiting:
            if self.leader and now >= write.retry_at and now < write.deadline and not write.outcome.settled:
                self._propose_txn(write.txn, write.outcome, write.data, write.deadline)
            else:
                self._await_leader(write)  # kept, or failed at its deadline (dropped if answered)

    # -- the Ready loop --------------------------------------------------------------------------

    def _process_when_idle(self) -> None:
        """Process the core's Ready once the mailbox is drained (group commit).

        Proposals and peer messages that arrive together are handled first and then persisted
        with one fsync and sent in one round: under load, one Ready carries many entries. The
        last message of a burst finds the mailbox empty and processes; ticks always process.
        """
        if self.actor_inbox.empty():
            self._process()

    def _process(self) -> None:
        core, wal = self.core, self.wal
        assert core is not None and wal is not None
        while core.has_ready():
            ready = core.ready()
            leading = ready.soft_state.role == "leader" if ready.soft_state is not None else self.is_leader
            if leading and ready.snapshot is None and (ready.entries or not ready.must_sync):
                # A leader sends before it writes its own log (Raft thesis 10.2.1): its appends
                # travel while it fsyncs, and the core counts it toward a commit only at
                # advance(), after the write. What it applies is durable on a majority already,
                # so it answers before its fsync; with no entries to send, the answers go before
                # the messages too, which then only carry the commit index.
                if ready.entries:
                    self._send(ready.messages)
                    self._apply(ready)
                else:
                    self._apply(ready)
                    self._send(ready.messages)
                self._write_log(ready, wal)
            else:
                # A follower's answers promise that its entries and vote are on disk: fsync first.
                self._persist_snapshot(ready, wal)
                if not (self.disk_full and not ready.must_sync):
                    # (With its disk full, a member steps nothing: the recovery's new commit index
                    # alone is not written then. It needs not be durable: it is learnt again.)
                    self._write_log(ready, wal)
                self._send(ready.messages)
                self._apply(ready)
            core.advance(ready)
            self._confirm_reads(ready)
            if not self.disk_full and (  # a restart's recovery would fail on it again at once
                self.since_snapshot >= self.context.settings.snapshot_every_entries
                or self.since_snapshot_bytes >= SNAPSHOT_EVERY_BYTES
            ):
                self._snapshot()  # after advance: the core compacts only what it knows is applied
            if ready.soft_state is not None:
                self._leadership(ready.soft_state.leader)
        if not core.commit_unsent():
            self.commit_untold_since = None
        else:
            now = time.monotonic()
            if self.commit_untold_since is None:
                self.commit_untold_since = now
            if not self.commit_flush_armed:
                self.commit_flush_armed = True
                self.timers.start("commit", self.commit_untold_since + COMMIT_FLUSH_S - now, _FlushCommit())

    def _persist_snapshot(self, ready: Ready, wal: WriteAheadLog) -> None:
        if ready.snapshot is not None:
            meta = ready.snapshot.meta
            write_snapshot(wal.directory, meta.index, encode_snapshot(ready.snapshot))
            self.store = StoreCore.restore(ready.snapshot.data)
            wal.restart_at(meta.index + 1)  # its log may end before the snapshot: it goes on after it
            self.since_snapshot = self.since_snapshot_bytes = 0
            self._refresh_membership()
            self._settle_applied()
            log.info("raft: installed a snapshot at index %d from the leader", meta.index)

    @staticmethod
    def _write_log(ready: Ready, wal: WriteAheadLog) -> None:
        """Write the Ready's entries and hard state (fsynced unless only the commit index moved)."""
        hs = ready.hard_state
        wal_hs = WalHardState(hs.term, hs.vote, hs.commit) if hs is not None else None
        if ready.entries:
            first = ready.entries[0].index
            if wal.last_index is not None and first <= wal.last_index:
                wal.truncate_suffix(first)
            wal.append([(e.index, e.term, encode_entry(e)) for e in ready.entries], hard_state=wal_hs)
        elif wal_hs is not None:
            wal.append([], hard_state=wal_hs, sync=ready.must_sync)  # a commit index alone needs no fsync

    def _send(self, messages: tuple[RaftMessage, ...]) -> None:
        if not messages:
            return
        if any(msg.to not in self.peers for msg in messages):
            self._connect_peers()  # once per round, not per message: it walks the Store's nodes
        sender = self._direct()
        for msg in messages:
            try:
                sender.send(Address(msg.to, self.name), msg, src_actor=self.name)
            except TransportError:
                continue  # an unreachable peer: Raft retries by itself

    def _direct(self) -> DirectSender:
        """The sender of Raft's messages, straight from this thread: no hop through the transport's I/O thread."""
        if self.sender is None:
            self.sender = DirectSender(self.context.transport)
        return self.sender

    def _tell_managers(self, body: Message, *, but: str = "") -> None:
        """Tell every other manager this one is connected to ``body`` (one-way; an unreachable one misses it)."""
        sender = self._direct()
        for node_id in self.peers:
            if node_id != but:
                with contextlib.suppress(TransportError):
                    sender.send(Address(node_id, self.name), body, src_actor=self.name)

    def _apply(self, ready: Ready) -> None:
        events: list[Event] = []
        touched_members = False
        for entry in ready.committed:
            if entry.kind != ENTRY_NORMAL or not entry.data:
                touched_members = touched_members or entry.kind != ENTRY_NORMAL
                continue
            waiting = self.pending.pop(entry.index, None)
            ours = waiting is not None and waiting.data == entry.data
            # The proposer applies the transaction it built rather than decoding it again.
            txn = waiting.txn if waiting is not None and ours else decode_transaction(entry.data)
            result = self.store.apply(entry.index, txn)
            events.extend(result.events)
            if waiting is not None:
                if ours:
                    waiting.outcome.set(result)
                else:  # another leader's entry replaced ours at this index: ours was never committed
                    waiting.outcome.fail(Refused("unavailable", "the write was lost in a leader change; try again"))
            self.since_snapshot += 1
            self.since_snapshot_bytes += len(entry.data)
        if events:
            self._publish(events)
        if touched_members:
            self._connect_peers()
            self.members_dirty = True
        self._settle_applied()

    def _settle_applied(self) -> None:
        """Answer the forwarded writes the leader applied that this manager's Store now holds too."""
        if not self.awaiting_apply:
            return
        if self.halted:  # removed: this Store will not catch up, and the leader's word stands
            for outcome, result in self.awaiting_apply:
                outcome.set(result)
            self.awaiting_apply = []
            return
        last = self.store.last_index
        waiting = []
        for outcome, result in self.awaiting_apply:
            if result.index <= last:
                outcome.set(result)
            else:
                waiting.append((outcome, result))
        self.awaiting_apply = waiting

    def _snapshot(self) -> None:
        core, wal = self.core, self.wal
        assert core is not None and wal is not None
        # The Store reflects every applied entry (no-ops and membership changes leave it as it
        # is), so it is a snapshot at the core's applied index; the core answers with the term
        # and membership of that index, not the current ones.
        index = core.applied
        data = self.store.snapshot()
        meta = core.compact(index, data)
        write_snapshot(wal.directory, index, encode_snapshot(RaftSnapshot(meta=meta, data=data)))
        wal.compact(index)
        self.since_snapshot = self.since_snapshot_bytes = 0
        log.info("raft: snapshot at index %d", index)

    # -- what others see -------------------------------------------------------------------------

    def _publish(self, events: list[Event]) -> None:
        if any(e.object.kind in ("node", "cluster") for e in events):
            self._refresh_membership()
        for subscriber_id, routed in self.watchers.route(events).items():
            ref = self.watchers.target(subscriber_id)
            if ref is None:
                continue
            try:
                ref.tell(StoreEvents(tuple(routed)))
            except pykka.ActorDeadError:
                self.watchers.unregister(subscriber_id)

    def _refresh_membership(self) -> None:
        """Admit the managers the Store (and the join reply) knows, and connect to them."""
        vouched: set[str] = set()
        if self.core is not None:
            conf = self.core.conf
            vouched = {*conf.voters, *conf.learners, self.core.lead}
        self.context.set_membership(
            membership_of(self.store, self.context.get_shared(MANAGERS_KEY, ()), vouched - {""})
        )
        self._connect_peers()
        self.members_dirty = True  # the Raft membership may have to follow

    def _leadership(self, leader: str) -> None:
        is_leader = leader == self.context.node_id
        if leader == self.leader and is_leader == self.is_leader:
            return
        if self.leader and not leader:
            self.no_leader_said_at = time.monotonic()  # leaderless from now: said in NO_LEADER_LOG_S if it lasts
        self.leader, self.is_leader = leader, is_leader
        self._refresh_membership()  # the leader it follows is vouched for (membership_of)
        log.info("raft: leader is %s%s", leader or "unknown", " (this manager)" if is_leader else "")
        # A leader that went away will not answer what was handed to it: say so now, not at the
        # forward's deadline (the write may still commit; the caller retries, as after a timeout).
        removed = self._removed()  # a retry cannot help then
        for outcome in self.forwarded_to_leader:
            if not outcome.answered:  # an answered one is committed: its _ForwardAnswered is on its way
                lost = Refused("unavailable", f"the leader changed, or was lost, before answering: {UNKNOWN}")
                outcome.fail(removed or lost)
        self.forwarded_to_leader = {o for o in self.forwarded_to_leader if o.answered and not o.settled}
        if leader:
            # Asked again of this leader: the one before may never answer. A late answer of the
            # one before is still right (it confirmed its commit index with a quorum after the ask).
            for context, read in self.reads_asked.items():
                self._ask_leader(context, read)
            self._send_awaiting()
        if not is_leader:
            # Proposals this manager accepted as leader may now never commit here.
            for index, waiting in list(self.pending.items()):
                if index > self.store.last_index:
                    waiting.outcome.fail(
                        removed or Refused("unavailable", f"leadership changed before the write committed: {UNKNOWN}")
                    )
                    del self.pending[index]
        for ref in self.watchers.targets():
            try:
                ref.tell(LeadershipChanged(leader, is_leader))
            except pykka.ActorDeadError:
                continue

    def _tick(self) -> None:
        assert self.core is not None
        if self.reads_asked or self.reads_confirmed:
            self._tend_reads()
        halted = self._follow_session()  # first: a manager removed sends nothing more (it fails what waits)
        if self.peers_out and any(until <= time.monotonic() for _, until in self.peers_out.values()):
            self._publish_peers_out()  # one that went quiet: gone, or taking part again
        if self.awaiting_leader:
            self._tend_awaiting_leader()  # also while told it is not a member: deadlines hold
        if self.disk_full:
            self._look_for_room()
        if halted or self.disk_full or self._told_not_a_member():
            self.timers.start("tick", TICK_S, _Tick())
            return
        self.core.tick()
        self._process()
        if not self.leader and time.monotonic() - self.no_leader_said_at >= NO_LEADER_LOG_S:
            self._say_no_leader()
        if self.is_leader and (self.members_dirty or self.core.conf.learners):
            self.members_dirty = False
            self._reconcile_members()
        if self.dropped or self.core.role == ROLE_LEADER:
            self._push_not_a_member()
        self._say_address()
        if self.heard_at and any(until <= time.monotonic() for _, until in self.heard_at.values()):
            self._connect_peers()  # it stopped saying so (moved back, say): back to what the Store has
        self.timers.start("tick", TICK_S, _Tick())

    def _follow_session(self) -> bool:
        """Halt this Raft member if this node was removed from the swarm; return whether it is halted.

        Its key is revoked (`node rm`, after `node demote`), so the other managers drop what it
        sends: it would pre-vote, and warn that no leader is known, until the operator runs
        `swarm-node leave`. Like swarmkit's manager stopping on "member removed", it goes quiet
        instead: it steps down or forgets the leader it heard (what a leader queued for it while
        it was down still arrives), drops Raft messages, and fails reads and writes at once with
        what its Worker was told; its log and Store stay as they were. A heartbeat answered
        again (the session active) lets it go on.
        """
        session = self.context.get_shared(SESSION_KEY)
        halted = session is not None and session.state == REMOVED
        if halted != self.halted:
            self.halted = halted
            if halted:
                log.warning("raft: this manager was removed from the swarm; its Raft member stops campaigning")
                assert self.core is not None
                self.core.forget_leader()
                self._process()  # the leadership change fails what was handed to a leader
                refusal = self._removed()
                assert refusal is not None
                self._fail_waiting(refusal)
                self._settle_applied()  # what the leader committed: its word stands
            else:
                log.info("raft: this manager is part of the swarm again; its Raft member goes on")
                self.no_leader_said_at = time.monotonic()
        return halted

    def _fail_waiting(self, refusal: Refused) -> None:
        """Fail the reads and the writes that wait on a leader (this member stops, or was removed)."""
        waiting: list[_PendingRead | _AwaitingLeader] = [
            *self.reads_asked.values(),
            *self.reads_confirmed,
            *self.awaiting_leader,
        ]
        for one in waiting:
            one.outcome.fail(refusal)
        self.reads_asked, self.reads_confirmed, self.awaiting_leader = {}, [], []

    def _disk_filled(self, exc: WalDiskFull) -> None:
        """Say that a write met a full disk: this member (or its next incarnation) waits for room."""
        now = time.monotonic()
        before = self.context.get_shared(DISK_FULL_KEY)
        crashes = 1
        if isinstance(before, DiskFull) and before.waiting:
            crashes = before.crashes  # the same time: its restart met the full disk again
        elif isinstance(before, DiskFull) and now - before.at < DISK_AGAIN_S:
            crashes = before.crashes + 1  # it went on a moment ago (at), and the disk filled again
        where = str(raft_dir(self.context.state_dir))
        # Not the WAL's "nothing was acknowledged; free space and retry": that was said of the
        # write that met the full disk, not of those refused since.
        what = f"a write to {exc.path} met a full disk" if exc.path else str(exc)
        self.context.set_shared(DISK_FULL_KEY, DiskFull(what, where, crashes=crashes, at=now))
        self.disk_full = what

    def _disk_says(self) -> str:
        """What this member says of its full disk: the record with the room it waits for, else the WAL's words."""
        return disk_full(self.context) or self.disk_full

    def _disk_probe_s(self) -> float:
        record = self.context.get_shared(DISK_FULL_KEY)
        return DISK_PROBE_SLOW_S if isinstance(record, DiskFull) and record.crashes > 1 else DISK_PROBE_S

    def _room_needed(self) -> int:
        """The bytes this member waits for: the log's next steps and a snapshot of its Store
        (wal.room_to_go_on), its next one; also what `cluster status` shows. The Store's size is
        worked out once per applied index (nothing is applied while it waits, but its recovery)."""
        index = self.store.last_index
        if self.snapshot_size[0] != index:
            self.snapshot_size = (index, len(self.store.snapshot()))
            record = self.context.get_shared(DISK_FULL_KEY)
            if isinstance(record, DiskFull):
                self.context.set_shared(DISK_FULL_KEY, replace(record, room=room_to_go_on(self.snapshot_size[1])))
        return room_to_go_on(self.snapshot_size[1])

    def _look_for_room(self) -> None:
        """Take part in Raft again once the disk that filled has room (looked at every DISK_PROBE_S).

        The core was rebuilt from the disk at this member's start and has stepped nothing since,
        so it goes on from what the disk holds: it catches up from the leader, or leads again.
        """
        now = time.monotonic()
        if now - self.disk_looked_at < self._disk_probe_s():
            return
        self.disk_looked_at = now
        assert self.core is not None and self.wal is not None
        directory = raft_dir(self.context.state_dir)
        try:
            if not has_room(directory, self._room_needed()):
                return
            if self.restart_log_at:
                self.wal.restart_at(self.restart_log_at)
                self.restart_log_at = 0
        except (OSError, WalDiskFull) as exc:  # a disk that fails otherwise too: said, and looked at again
            if describe(exc) != self.disk_error:
                self.disk_error = describe(exc)
                log.warning("raft: looking for room in %s failed: %s; it looks again", directory, self.disk_error)
            return
        # A warning, as the one it ends: both go to stderr.
        log.warning("raft: the disk has room again in %s; this manager takes part in Raft again", directory)
        self.disk_full = self.disk_error = ""
        record = self.context.get_shared(DISK_FULL_KEY)
        if isinstance(record, DiskFull):  # kept: a full disk met again soon is looked at less often
            self.context.set_shared(DISK_FULL_KEY, replace(record, waiting=False, at=now))
        self.no_leader_said_at = now
        if self.core.status().conf.voters == (self.context.node_id,):
            self.core.campaign()

    def _halted(self) -> Refused | None:
        """Why this manager can serve no read or write now (removed, or its disk full), or None."""
        if (removed := self._removed()) is not None:
            return removed
        if not self.disk_full:
            return None
        said = self._disk_says()
        return Refused(
            "unavailable",
            f"this manager's disk is full ({said}): it takes no part in the swarm's Raft group until then, and "
            "goes on by itself. Meanwhile free space there, or run the command on another manager",
        )

    def _removed(self) -> Refused | None:
        """Why this manager can serve no read or write: it was removed from the swarm (or None)."""
        if not self.halted:
            return None
        session = self.context.get_shared(SESSION_KEY)
        return Refused(REMOVED, session.detail if session is not None else "this node was removed from the swarm")

    def _say_no_leader(self) -> None:
        """Warn that this manager still knows no leader (a quorum loss goes on, or it was removed)."""
        assert self.core is not None
        status = self.core.status()
        voters = status.conf.voters
        log.warning(
            "raft: still no leader (term %d, this manager %s): a leader needs %d of the %d voters (%s) up and "
            "reaching each other; `swarm-node cluster status` says what to do",
            status.term,
            status.role,
            len(voters) // 2 + 1,
            len(voters),
            ", ".join(voters),
        )
        self.no_leader_said_at = time.monotonic()

    def _connect_peers(self) -> None:
        """Keep a connection to every other manager the Store knows: where it said it is, while
        that holds (RaftAddress), else where the Store has it. Nothing while the transport
        restarts (it connects to no one then): the next call does it."""
        try:
            transport = self.context.transport
        except TransportError:
            return
        now = time.monotonic()
        managers: set[str] = set()
        for node in nodes_of(self.store):
            if node.cert_role != "manager" or node.node_id == self.context.node_id:
                continue
            managers.add(node.node_id)
            said, until = self.heard_at.get(node.node_id, ("", 0.0))
            if said and (said == node.addr or until <= now):
                del self.heard_at[node.node_id]  # the Store has it now, or it was not said again
                said = ""
            addr = said or node.addr
            if not addr:
                continue
            target = (addr, node.curve_key)
            if self.peers.get(node.node_id) != target:
                transport.connect(node.node_id, addr, node.curve_key.encode())
                self.peers[node.node_id] = target
        # Managers no more (demoted, removed): not told where this one is, and nothing held for them.
        self.peers = {n: target for n, target in self.peers.items() if n in managers}
        self.heard_at = {n: held for n, held in self.heard_at.items() if n in managers}

    def _say_address(self) -> None:
        """Tell the other managers where this one is: every ADDRESS_SAY_S while its own Store
        records it elsewhere (a restart on another --listen; the Dispatcher records the new address
        from its heartbeats once a leader can commit it), every ADDRESS_RECORDED_SAY_S after.

        After too: another manager's Store may lag (it was down, or could not answer the leader,
        which it looked for at the old address, so it never learnt the commit of the new one).
        What a manager hears that its Store already has costs it nothing but the message."""
        now = time.monotonic()
        if not self.peers or now - self.address_said_at < ADDRESS_SAY_S:
            return
        own = self.store.get("node", self.context.node_id)
        addr = self.context.cluster_addr
        recorded = NodeView.of(own).addr if own is not None else ""
        if recorded == addr and now - self.address_said_at < ADDRESS_RECORDED_SAY_S:
            return
        self.address_said_at = now
        if not recorded or not dialable(addr):
            # Not recorded yet (a new swarm's first moments: its Dispatcher records it); an address
            # no node can dial is not said (the Dispatcher logs it at every heartbeat).
            return
        self._tell_managers(RaftAddress(addr))  # one that misses it is told again in ADDRESS_SAY_S

    @handles(RaftAddress, roles={"manager"})
    def address_heard(self, msg: RaftAddress, request: Request) -> None:
        """A manager says where it (or, passing it on, another) is reached now: connect there.

        Each time, not only the first: the Worker, connecting to the managers the Store names,
        may have taken the connection back to the old address (the transport keeps one per node).
        """
        assert request.peer is not None
        sender = request.peer.node_id
        subject = msg.node_id or sender
        obj = self.store.get("node", subject)
        if subject == self.context.node_id or obj is None:
            return None
        view = NodeView.of(obj)
        if msg.addr == view.addr:  # what the Store has: a manager back where it was
            if self.heard_at.pop(subject, None) is not None:
                self._connect_peers()
            return None
        if not dialable(msg.addr):  # not sent by this code (see _say_address): nothing to tell an operator
            log.debug("raft: %s says %s is reached at %r, which no node can dial; ignored", sender, subject, msg.addr)
            return None
        if self.heard_at.get(subject, ("", 0.0))[0] != msg.addr:
            log.info(
                "raft: manager %s is reached at %s, %s says (the Store has %s): connecting there",
                subject,
                msg.addr,
                "it" if subject == sender else f"manager {sender}",
                view.addr or "no address",
            )
        self.heard_at[subject] = (msg.addr, time.monotonic() + ADDRESS_HELD_SAYS * ADDRESS_RECORDED_SAY_S)
        self._connect_peers()
        if subject not in self.heard_at:  # no manager (_connect_peers keeps no one else)
            return None
        self.context.transport.connect(subject, msg.addr, view.curve_key.encode())  # nothing if connected there
        if subject == sender:  # passed on once, to the managers that may not hear it themselves
            self._tell_managers(RaftAddress(msg.addr, subject), but=subject)
        return None

    # -- membership ------------------------------------------------------------------------------

    def _hand_over(self, status: Any) -> None:
        """This leader is being demoted: hand leadership to the most caught-up other voter."""
        assert self.core is not None
        # Only a voter that answers: a dead one tied on match would be picked again and again.
        others = [v for v in status.conf.voters if v != self.context.node_id and v in status.answering]
        if not others:
            self._hold("hand-over", "no other manager answered lately; this leader stays until one does")
            return
        target = max(others, key=lambda v: status.progress[v][0])
        log.info("raft: this manager is demoted; handing leadership to %s", target)
        self.core.transfer_leadership(target)
        self._process()

    def _demote_dropped(self) -> None:
        """Commit the demotion of the managers a forced new cluster dropped, then forget them."""
        self.members_dirty = True  # until it is done
        if self.demoting_dropped:
            return
        ops = []
        for node_id in sorted(self.dropped):
            obj = self.store.get("node", node_id)
            if obj is not None and obj.spec.get("role") == "manager":
                ops.append(Update("node", node_id, spec=obj.spec | {"role": "worker"}, expected_version=obj.version))
        if not ops:
            from .recovery import write_dropped

            write_dropped(raft_dir(self.context.state_dir), [])
            log.info(
                "raft: the managers the forced new cluster dropped are demoted: %s", ", ".join(sorted(self.dropped))
            )
            self.dropped = set()
            return

        def done(outcome: Outcome) -> None:
            # Answered at apply on this thread, or failed on the transport's (a forward that
            # failed): only this flag and a log line, no state the two could race on.
            self.demoting_dropped = False
            try:
                outcome.wait(0)
            except Exception as exc:
                log.warning("raft: demoting the managers the forced new cluster dropped failed: %s", describe(exc))

        self.demoting_dropped = True
        self._propose(tuple(ops), Outcome(on_done=done))

    @staticmethod
    def _removal_unsafe(status: Any, node_id: str) -> str:
        """Why removing voter ``node_id`` now would leave no quorum of answering voters ("" if it would not).

        The check `node demote` made may be stale by now (another demotion, a manager that died),
        and it counts a voter heard from within an election timeout, where a manager killed a
        moment ago still counts: here only the voters that answer the heartbeats count.
        """
        voters = [v for v in status.conf.voters if v != node_id]
        if node_id not in status.conf.voters or not voters:
            return ""
        answering = [v for v in voters if v in status.answering]
        if len(answering) * 2 > len(voters):
            return ""
        return (
            f"only {len(answering)} of the {len(voters)} managers left would be answering; "
            "waiting for managers to come back"
        )

    def _hold(self, what: str, why: str) -> None:
        """Log once that a membership change waits, and why."""
        text = f"{what}: {why}"
        if text != self.held:
            self.held = text
            log.warning("raft: membership change held: %s", text)

    def _change_membership(self, cc: ConfChange) -> int:
        assert self.core is not None
        try:
            index = self.core.propose_conf_change(cc)
        except NotLeader as exc:
            raise Refused(
                "not-leader", f"only the leader changes the managers; the leader is {exc.leader or 'unknown'}"
            ) from None
        except ConfChangeInProgress:
            raise Refused("busy", "another change of the managers is still being committed; try again") from None
        log.info("raft: proposed %s of %s at index %d", cc.op, cc.node_id, index)
        self._process()
        return index

    def _reconcile_members(self) -> None:
        """Make the Raft membership follow the managers in the Store (leader only, one change at a time).

        A node whose certificate says manager and that is no member yet joins as a learner; a
        learner that holds everything committed is promoted to voter; a member that is no manager
        any more (demoted, or removed) leaves; a leader that is demoted hands leadership over first.
        """
        assert self.core is not None
        status = self.core.status()
        nodes = nodes_of(self.store)
        # Raft talks to a node only with a manager certificate; the operator's word (the desired
        # role) decides who stays.
        can_join = {n.node_id for n in nodes if n.cert_role == "manager" and n.role == "manager"} - self.dropped
        if self.dropped:
            self._demote_dropped()
        wanted = {n.node_id for n in nodes if n.role == "manager"}
        members = set(status.conf.voters) | set(status.conf.learners)
        change: ConfChange | None = None
        joining = sorted(can_join - members)
        leaving = sorted(members - wanted)
        if self.context.node_id in leaving:
            self.members_dirty = True  # until leadership is handed over
            self._hand_over(status)
            return
        if joining:
            change = ConfChange(op="add_learner", node_id=joining[0])
        else:
            for learner in status.conf.learners:
                match = status.progress[learner][0] if learner in status.progress else 0
                # Only one that answers: a dead learner (match 0) is "close" while the log is short.
                if match > 0 and learner in status.active and status.commit - match <= PROMOTE_LAG_ENTRIES:
                    change = ConfChange(op="promote", node_id=learner)
                    break
        if change is None and leaving:
            held = self._removal_unsafe(status, leaving[0])
            if held:
                self.members_dirty = True  # asked again next tick
                self._hold(f"remove {leaving[0]}", held)
            else:
                change = ConfChange(op="remove", node_id=leaving[0])
        if change is None:
            return
        self.held = ""
        try:
            self._change_membership(change)
        except Refused:
            self.members_dirty = True  # the change before it is still being committed: next tick
