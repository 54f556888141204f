"""The Raft core's types: the wire messages, and the plain values the core hands its driver.

The wire messages (``RaftEntry``, ``ConfState``, ``SnapshotMeta``, ``RaftSnapshot``,
``RaftMessage``) are ``@message`` classes, so the RaftMember actor sends them as they are. The
rest (``HardState``, ``SoftState``, ``ReadState``, ``ConfChange``, ``Ready``, ``RaftConfig``,
``Restored``) never cross the network: they pass between the core and its driver.
docs/raft-core-api.md is the contract these follow.
"""

from __future__ import annotations

from dataclasses import dataclass

from swarmnode.actors.messages import Message, message

__all__ = [
    "CONF_CHANGE_OPS",
    "CONTEXT_TRANSFER",
    "ENTRY_CONF_CHANGE",
    "ENTRY_NORMAL",
    "MSG_APP",
    "MSG_APP_RESP",
    "MSG_HEARTBEAT",
    "MSG_HEARTBEAT_RESP",
    "MSG_PRE_VOTE",
    "MSG_PRE_VOTE_RESP",
    "MSG_READ_INDEX",
    "MSG_READ_INDEX_RESP",
    "MSG_SNAP",
    "MSG_TIMEOUT_NOW",
    "MSG_TRANSFER_LEADER",
    "MSG_VOTE",
    "MSG_VOTE_RESP",
    "OP_ADD_LEARNER",
    "OP_PROMOTE",
    "OP_REMOVE",
    "ROLE_CANDIDATE",
    "ROLE_FOLLOWER",
    "ROLE_LEADER",
    "ROLE_PRE_CANDIDATE",
    "ConfChange",
    "ConfState",
    "HardState",
    "RaftConfig",
    "RaftEntry",
    "RaftMessage",
    "RaftSnapshot",
    "ReadState",
    "Ready",
    "Restored",
    "SnapshotMeta",
    "SoftState",
    "decode_conf_change",
    "encode_conf_change",
]

ENTRY_NORMAL = 0
ENTRY_CONF_CHANGE = 1

MSG_VOTE = "vote"
MSG_VOTE_RESP = "vote_resp"
MSG_PRE_VOTE = "pre_vote"
MSG_PRE_VOTE_RESP = "pre_vote_resp"
MSG_APP = "app"
MSG_APP_RESP = "app_resp"
MSG_HEARTBEAT = "heartbeat"
MSG_HEARTBEAT_RESP = "heartbeat_resp"
MSG_SNAP = "snap"
MSG_TIMEOUT_NOW = "timeout_now"
MSG_READ_INDEX = "read_index"
MSG_READ_INDEX_RESP = "read_index_resp"
MSG_TRANSFER_LEADER = "transfer_leader"

ROLE_FOLLOWER = "follower"
ROLE_PRE_CANDIDATE = "pre_candidate"
ROLE_CANDIDATE = "candidate"
ROLE_LEADER = "leader"

OP_ADD_LEARNER = "add_learner"
OP_PROMOTE = "promote"
OP_REMOVE = "remove"
CONF_CHANGE_OPS = (OP_ADD_LEARNER, OP_PROMOTE, OP_REMOVE)

# The context of a vote request sent on a leader's timeout_now: voters grant it even while
# they have heard from that leader recently (leader stickiness would refuse it otherwise).
CONTEXT_TRANSFER = b"transfer"


@message
class RaftEntry(Message):
    """One log entry; ENTRY_NORMAL with ``data == b""`` is a new leader's no-op of its term."""

    KIND = "RaftEntry"
    index: int
    term: int
    kind: int
    data: bytes


@message
class ConfState(Message):
    """The membership: voters elect and count for commit; learners only receive the log."""

    KIND = "RaftConfState"
    voters: tuple[str, ...]
    learners: tuple[str, ...]

    def has(self, node_id: str) -> bool:
        """Whether ``node_id`` is a member: a voter or a learner."""
        return node_id in self.voters or node_id in self.learners


@message
class SnapshotMeta(Message):
    """Where a snapshot stands in the log, and the membership at that point."""

    KIND = "RaftSnapshotMeta"
    index: int
    term: int
    conf: ConfState


@message
class RaftSnapshot(Message):
    """The application's state at ``meta.index`` (``data`` is the Store's snapshot)."""

    KIND = "RaftSnapshot"
    meta: SnapshotMeta
    data: bytes


@message
class RaftMessage(Message):
    """Every message Raft nodes exchange; ``type`` is one of the ``MSG_*`` strings."""

    KIND = "RaftMessage"
    type: str
    to: str
    frm: str
    term: int
    log_term: int = 0  # app: the term of the entry before `entries`; votes: the last log term
    index: int = 0  # app: the index before `entries`; votes: the last log index
    entries: tuple[RaftEntry, ...] = ()
    commit: int = 0
    reject: bool = False
    reject_hint: int = 0
    snapshot: RaftSnapshot | None = None
    context: bytes = b""  # read-index request id; CONTEXT_TRANSFER on a forced campaign


@dataclass(frozen=True, slots=True)
class HardState:
    """What must be durable before any message of the same Ready is sent."""

    term: int
    vote: str
    commit: int


@dataclass(frozen=True, slots=True)
class SoftState:
    """Volatile facts worth telling the driver: who leads, and this node's role."""

    leader: str
    role: str  # ROLE_FOLLOWER | ROLE_PRE_CANDIDATE | ROLE_CANDIDATE | ROLE_LEADER


@dataclass(frozen=True, slots=True)
class ReadState:
    """A linearizable read: serve the read tagged ``context`` once applied index >= ``index``."""

    index: int
    context: bytes


@dataclass(frozen=True, slots=True)
class ConfChange:
    """One membership change: ``op`` is "add_learner", "promote" or "remove"."""

    op: str
    node_id: str


def encode_conf_change(cc: ConfChange) -> bytes:
    """Return the data of an ENTRY_CONF_CHANGE entry for ``cc``."""
    return f"{cc.op}:{cc.node_id}".encode()


def decode_conf_change(data: bytes) -> ConfChange:
    """Return the ConfChange in an entry's data; raise ValueError when it is not one."""
    try:
        text = data.decode()
    except UnicodeDecodeError:
        raise ValueError(f"conf change data is not UTF-8: {data[:40]!r}") from None
    op, sep, node_id = text.partition(":")
    if not sep or op not in CONF_CHANGE_OPS or not node_id:
        raise ValueError(
            f"conf change data must be '<op>:<node id>' with op one of {CONF_CHANGE_OPS}, got {text[:60]!r}"
        )
    return ConfChange(op, node_id)


@dataclass(frozen=True, slots=True)
class Ready:
    """What the driver must do now, in this order: persist, apply, send; then ``advance``."""

    soft_state: SoftState | None  # set when the leader or the role changed since the last Ready
    hard_state: HardState | None  # set when it changed: persist before sending messages
    entries: tuple[RaftEntry, ...]  # append to stable storage; if entries[0].index <= the last
    # stored index, the storage first drops its suffix from entries[0].index (a conflict)
    snapshot: RaftSnapshot | None  # a snapshot from the leader: persist, then restore the app
    committed: tuple[RaftEntry, ...]  # apply in order, after persisting the above
    messages: tuple[RaftMessage, ...]  # send after the above are durable
    read_states: tuple[ReadState, ...]  # serve each read once the applied index >= its index
    # Whether persisting needs an fsync (etcd's MustSync): new entries, a snapshot, or a new term
    # or vote. A hard state that moves only its commit index may be written without one: a lost
    # commit index is learned again from the leader, and every entry it covers was synced already.
    must_sync: bool


@dataclass(frozen=True, slots=True)
class RaftConfig:
    """How one node runs Raft; ticks are the driver's timer periods."""

    node_id: str
    election_ticks: int = 10  # randomized per election in [election_ticks, 2*election_ticks)
    heartbeat_ticks: int = 1
    pre_vote: bool = True
    check_quorum: bool = True
    max_inflight: int = 256  # AppendEntries messages in flight per follower (pipelining)
    max_entries_per_msg: int = 512
    max_bytes_per_msg: int = 1 << 20
    # A commit that no new entries carry is not broadcast at once: the next append or heartbeat
    # carries it, or the driver's broadcast_commit() (a round of empty appends per commit halves
    # what a lone client's write costs; etcd always sends it at once).
    lazy_commit: bool = False


@dataclass(frozen=True, slots=True)
class Restored:
    """What the storage recovered at start."""

    hard_state: HardState | None
    snapshot: SnapshotMeta | None  # the newest snapshot's metadata (its data goes to the app)
    entries: tuple[RaftEntry, ...]  # every stored entry after the snapshot, in order
    conf: ConfState  # the membership to start with when no snapshot or conf entry says otherwise
