"""Run one node of Raft as a pure state machine: tick, step, propose; then ready and advance.

No I/O, no threads, no clock: the driver (the RaftMember actor, or the simulator) calls
:meth:`RaftCore.tick` on a timer and :meth:`RaftCore.step` for each message from the network;
:meth:`RaftCore.ready` says what to persist, apply and send, and :meth:`RaftCore.advance`
says it was done. Randomness comes only from the injected ``random.Random``, so a run
replays exactly. The design follows etcd-io/raft (raft.go, log.go, tracker/progress.go,
read_only.go). Rules, with the sections of the Raft paper (5.x) and thesis (3.x, 4.x, 6.x):

* Terms and votes (5.1, 5.2): a message of a higher term makes this node a follower of that
  term, except votes refused under leader stickiness (below). A node votes once per term, for
  a candidate whose log is at least as up to date as its own (5.4.1, election restriction).
  Election timeouts are drawn in [election_ticks, 2*election_ticks) per election.
* Pre-vote (thesis 9.6): a node whose timeout fires first asks "would you vote for me at
  term+1?" without raising its term; only a quorum of yes starts the real election, so a
  partitioned node cannot inflate terms and disrupt the cluster when it returns.
* Check-quorum and leader stickiness (thesis 6.2, 4.2.3): a leader that has not heard from a
  quorum of voters within an election timeout steps down; a node that heard from a leader
  within the last election timeout ignores (pre-)vote requests of higher terms, unless the
  request carries CONTEXT_TRANSFER (a leadership transfer).
* Replication (5.3): AppendEntries carries at most max_entries_per_msg entries and
  max_bytes_per_msg bytes of data (one entry at least). A follower in "replicate" state gets
  appends pipelined with an optimistic next index, at most max_inflight unanswered; in
  "probe" state, one append at a time until one is accepted. A rejection carries a hint
  (the follower's last index with a term <= the leader's prev term) so that the leader skips
  back a whole term per round trip; in "snapshot" state the follower is getting a snapshot.
* Commit (5.4.2): the leader commits an entry of its current term once a quorum of voters
  stores it; earlier entries commit with it, never by counting. A new leader appends an
  empty entry of its term at once. The leader counts itself only for entries it persisted
  (those of Ready.entries it advanced past).
* Snapshots (7): :meth:`compact` keeps the application's snapshot and drops the entries it
  covers; a follower whose next entry is gone gets "snap", restores its log and membership
  from the snapshot's metadata, and answers app_resp with its new last index.
* Membership (4.1, 4.2.1, 4.3): one change at a time ("add_learner", "promote", "remove"). A
  change takes effect on each node when its entry is APPENDED to that node's log, and is
  undone if the entry is truncated. Learners get the log but neither vote nor count for
  commit. A leader that removed itself keeps leading until the change commits (without
  counting itself), then sends timeout_now to an up-to-date voter and steps down.
  The founding membership is not in the log (it is Restored.conf, or a snapshot's): a node
  that joins must start with the cluster's current membership, or receive a snapshot first.
* Leadership transfer (3.10): the leader refuses proposals (NotLeader naming the target),
  brings the target up to date, then sends it timeout_now; the target campaigns at once,
  without pre-vote, with CONTEXT_TRANSFER. A transfer not done within an election timeout is
  abandoned.
* Read-index (6.4): a read records the commit index, once the leader committed an entry of
  its term; it is served when a quorum of voters answered a heartbeat carrying its context.
  A follower's read_index goes to the leader, which answers read_index_resp; a node with no
  leader drops the request (the caller retries on its own timeout), and so does a follower
  that gets a request meant for a leader.
* Ready and advance: ``Ready.entries`` must be durable, and ``Ready.hard_state`` too, before
  ``Ready.messages`` are sent and ``Ready.committed`` applied. The leader's appends to its
  followers may sit in the same Ready as the entries it has not persisted yet (as in etcd);
  that is safe because the leader counts itself for commit only after advance. Proposals,
  commits and acknowledgements only mark followers as needing an append; the appends are
  built when the driver calls has_ready() or ready(), so a burst of proposals between two
  Readys travels as one batched append per follower.
* :meth:`step` never raises: messages of older terms, of unknown types, from or to other
  nodes, and malformed ones (non-contiguous entries, terms out of order) are ignored or
  answered as Raft says.
* After a restart, ``applied`` starts at the snapshot's index: the committed entries after it
  come again in Ready.committed. To let a restarted leader send its snapshot to a slow
  follower, the driver calls ``compact(snapshot index, data)`` once with the restored data.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from ._log import RaftLog
from ._progress import PROBE, REPLICATE, SNAPSHOT, Progress
from ._readonly import ReadOnly, ReadRequest, count_acks
from .messages import (
    CONF_CHANGE_OPS,
    CONTEXT_TRANSFER,
    ENTRY_CONF_CHANGE,
    ENTRY_NORMAL,
    MSG_APP,
    MSG_APP_RESP,
    MSG_HEARTBEAT,
    MSG_HEARTBEAT_RESP,
    MSG_PRE_VOTE,
    MSG_PRE_VOTE_RESP,
    MSG_READ_INDEX,
    MSG_READ_INDEX_RESP,
    MSG_SNAP,
    MSG_TIMEOUT_NOW,
    MSG_TRANSFER_LEADER,
    MSG_VOTE,
    MSG_VOTE_RESP,
    OP_ADD_LEARNER,
    OP_PROMOTE,
    OP_REMOVE,
    ROLE_CANDIDATE,
    ROLE_FOLLOWER,
    ROLE_LEADER,
    ROLE_PRE_CANDIDATE,
    ConfChange,
    ConfState,
    HardState,
    RaftConfig,
    RaftEntry,
    RaftMessage,
    RaftSnapshot,
    ReadState,
    Ready,
    Restored,
    SnapshotMeta,
    SoftState,
    decode_conf_change,
    encode_conf_change,
)

__all__ = [
    "ConfChange",
    "ConfChangeInProgress",
    "ConfState",
    "HardState",
    "NotLeader",
    "RaftConfig",
    "RaftCore",
    "RaftEntry",
    "RaftMessage",
    "RaftSnapshot",
    "RaftStatus",
    "ReadState",
    "Ready",
    "Restored",
    "SnapshotMeta",
    "SoftState",
]

# A snapshot that got no answer in this many election timeouts is sent again.
_SNAPSHOT_RETRY_ELECTIONS = 2
# RaftStatus.answering: heard from within this many ticks (heartbeats go every heartbeat_ticks).
ANSWERING_TICKS = 3
# _bcast values: nothing to send to everyone; new entries; new entries or at least the commit.
_BCAST_NONE, _BCAST_ENTRIES, _BCAST_COMMIT = 0, 1, 2
_ENTRY_KINDS = (ENTRY_NORMAL, ENTRY_CONF_CHANGE)


class NotLeader(Exception):
    """Only the leader takes proposals; ``leader`` names the node to ask ("" when unknown)."""

    def __init__(self, leader: str) -> None:
        hint = f"send it to the leader {leader!r}" if leader else "no leader is known yet; retry after the election"
        super().__init__(f"this node is not the Raft leader (or is handing leadership over): {hint}")
        self.leader = leader


class ConfChangeInProgress(Exception):
    """A membership change is under way; propose the next one once it has committed."""


@dataclass(frozen=True, slots=True)
class RaftStatus:
    """A snapshot of one node's Raft state, for logs, tests and the CLI."""

    id: str
    term: int
    role: str
    leader: str
    commit: int
    applied: int
    last_index: int
    conf: ConfState
    progress: dict[str, tuple[int, int, str]]  # leader only: peer -> (match, next, state)
    # The membership as of the commit index: what a change waits for before it is relied on.
    committed_conf: ConfState
    # Leader only: the members it heard from within an election timeout, itself included.
    active: tuple[str, ...]
    # Leader only: those it heard from within ANSWERING_TICKS (a live one answers every heartbeat):
    # what a removal or a hand-over may count on, where a peer killed a moment ago is still "active".
    answering: tuple[str, ...]
    # Filled by the driver (RaftMember; the core has no clock): the peers it got a Raft message
    # from lately. Without a leader, the live managers' pre-votes reach each other.
    heard: tuple[str, ...] | None = None  # None: not known (not yet HEARD_S since it started)

    def is_member(self, node_id: str) -> bool:
        """Whether ``node_id`` is a member in the membership in effect here or in the committed one."""
        return self.conf.has(node_id) or self.committed_conf.has(node_id)


def _changed_conf(conf: ConfState, cc: ConfChange) -> ConfState:
    voters, learners = set(conf.voters), set(conf.learners)
    node = cc.node_id
    if cc.op == OP_ADD_LEARNER:
        if node not in voters:
            learners.add(node)
    elif cc.op == OP_PROMOTE:
        if node in learners:
            learners.discard(node)
            voters.add(node)
    elif cc.op == OP_REMOVE:
        voters.discard(node)
        learners.discard(node)
    return ConfState(tuple(sorted(voters)), tuple(sorted(learners)))


class RaftCore:
    """One Raft node's state machine; see the module docstring for the rules it keeps."""

    def __init__(self, config: RaftConfig, restored: Restored, rng: random.Random) -> None:
        self.id = config.node_id
        self._cfg = config
        self._rng = rng
        self._election_timeout = max(1, config.election_ticks)
        self._heartbeat_timeout = max(1, config.heartbeat_ticks)
        self._max_entries = max(1, config.max_entries_per_msg)
        self._max_bytes = max(0, config.max_bytes_per_msg)
        hs = restored.hard_state or HardState(0, "", 0)
        meta = restored.snapshot
        snap_index, snap_term = (meta.index, meta.term) if meta is not None else (0, 0)
        entries = [e for e in restored.entries if e.index > snap_index]
        self.log = RaftLog(snap_index, snap_term, entries, hs.commit)
        self.term = hs.term
        self.vote = hs.vote
        self.lead = ""
        self.role = ROLE_FOLLOWER
        # Membership: the conf at the log's start, then one (index, conf) per conf entry after it.
        self._conf_base = meta.conf if meta is not None else restored.conf
        self._conf_history: list[tuple[int, ConfState]] = []
        self._voters: frozenset[str] = frozenset()
        self._learners: frozenset[str] = frozenset()
        self._set_conf(self._conf_base)
        self._note_conf_entries(entries)
        self._snapshot: RaftSnapshot | None = None  # what compact() kept, sent to slow followers
        self.prs: dict[str, Progress] = {}
        self._votes: dict[str, bool] = {}
        self._msgs: list[RaftMessage] = []
        self._read_states: list[ReadState] = []
        self._ticks = 0  # ticks since this core started (status: whom the leader heard from lately)
        self._quorum_since = 0  # the tick of the last check-quorum round, or of this role's start
        self._read_only = ReadOnly()
        self._pending_reads: list[tuple[bytes, str]] = []  # until the leader commits in its term
        self._sends: dict[str, bool] = {}  # followers owed an append -> send even if empty
        self._commit_wanted: dict[str, int] = {}  # lazy commit: follower -> index it waits to learn committed
        self._bcast = _BCAST_NONE
        self._lead_transferee = ""
        self._pending_conf_index = 0
        self._election_elapsed = 0
        self._heartbeat_elapsed = 0
        self._randomized_timeout = self._election_timeout
        self._reset_randomized_timeout()
        self._prev_soft = SoftState(self.lead, self.role)
        self._prev_hard = hs

    # ----------------------------------------------------------------- driver API

    def tick(self) -> None:
        """Advance the logical clock by one tick."""
        self._ticks += 1
        if self.role == ROLE_LEADER:
            self._tick_leader()
        else:
            self._election_elapsed += 1
            if self._election_elapsed >= self._randomized_timeout and self._promotable():
                self._election_elapsed = 0
                self._hup(transfer=False)

    def step(self, msg: RaftMessage) -> None:
        """Take one message from the network; stale, foreign or malformed ones are ignored."""
        if not isinstance(msg, RaftMessage) or msg.to != self.id or not msg.frm or msg.frm == self.id:
            return
        t = msg.type
        # Requests relayed between nodes (read_index, transfer_leader) go by whatever the
        # sender's term; everything else passes the term rules first.
        if t not in (MSG_READ_INDEX, MSG_TRANSFER_LEADER) and not self._step_term(msg):
            return
        if t in (MSG_VOTE, MSG_PRE_VOTE):
            self._step_vote(msg)
        elif self.role == ROLE_LEADER:
            self._step_leader(msg)
        elif self.role == ROLE_FOLLOWER:
            self._step_follower(msg)
        else:
            self._step_candidate(msg)

    def _step_term(self, msg: RaftMessage) -> bool:
        """Apply the term rules (5.1) to ``msg``; return False when it is to be dropped here."""
        t = msg.type
        if msg.term > self.term:
            if t in (MSG_VOTE, MSG_PRE_VOTE):
                force = msg.context == CONTEXT_TRANSFER
                in_lease = (
                    self._cfg.check_quorum and self.lead != "" and self._election_elapsed < self._election_timeout
                )
                if in_lease and not force:
                    return False  # leader stickiness (thesis 4.2.3): a leader is alive, ignore the vote
            if t == MSG_PRE_VOTE or (t == MSG_PRE_VOTE_RESP and not msg.reject):
                pass  # pre-votes never change terms; a granted one is for the term we'd move to
            elif t in (MSG_APP, MSG_HEARTBEAT, MSG_SNAP):
                self._become_follower(msg.term, msg.frm)
            else:
                self._become_follower(msg.term, "")
        elif msg.term < self.term:
            if t in (MSG_APP, MSG_HEARTBEAT):
                # A stale leader (one cut off, perhaps by check-quorum on our side) learns the term.
                if self._cfg.check_quorum or self._cfg.pre_vote:
                    self._send(RaftMessage(MSG_APP_RESP, msg.frm, self.id, self.term))
            elif t == MSG_PRE_VOTE:
                self._send(RaftMessage(MSG_PRE_VOTE_RESP, msg.frm, self.id, self.term, reject=True))
            return False
        return True

    def propose(self, data: bytes) -> int:
        """Append ``data`` to the log as the leader; return its index."""
        self._check_can_propose()
        return self._append_new(ENTRY_NORMAL, data)

    def propose_conf_change(self, cc: ConfChange) -> int:
        """Append one membership change as the leader; return its index.

        Raise ConfChangeInProgress while an earlier change is uncommitted, and ValueError for
        a change that makes no sense in the current membership.
        """
        self._check_can_propose()
        if cc.op not in CONF_CHANGE_OPS or not cc.node_id:
            raise ValueError(f"conf change op must be one of {CONF_CHANGE_OPS} with a node id, got {cc!r}")
        if self._pending_conf_index > self.log.committed:
            raise ConfChangeInProgress(
                f"the membership change at index {self._pending_conf_index} has not committed yet "
                f"(commit index {self.log.committed}); propose {cc.op} {cc.node_id!r} after it commits"
            )
        node = cc.node_id
        if cc.op == OP_ADD_LEARNER and node in self._voters:
            raise ValueError(f"cannot add {node!r} as a learner: it is already a voter")
        if cc.op == OP_PROMOTE and node not in self._learners:
            raise ValueError(f"cannot promote {node!r}: it is not a learner; add it with add_learner first")
        if cc.op == OP_REMOVE:
            if node not in self._voters and node not in self._learners:
                raise ValueError(f"cannot remove {node!r}: it is not a member")
            if self._voters == {node}:
                raise ValueError(f"cannot remove {node!r}: it is the last voter")
        index = self._append_new(ENTRY_CONF_CHANGE, encode_conf_change(cc))
        self._pending_conf_index = index
        return index

    def read_index(self, context: bytes) -> None:
        """Ask for a linearizable read tagged ``context``; a ReadState comes in a later Ready."""
        if self.role == ROLE_LEADER:
            self._leader_read_index(context, self.id)
        elif self.lead:
            self._send(RaftMessage(MSG_READ_INDEX, self.lead, self.id, self.term, context=context))

    def commit_unsent(self) -> bool:
        """Say whether a follower that can be sent to holds committed entries it was not told are committed."""
        if self.role != ROLE_LEADER:
            return False
        return any(self._owes_commit(peer, pr) for peer, pr in self.prs.items())

    def broadcast_commit(self) -> None:
        """Send the commit index to every follower that commit_unsent() counts (leader only).

        With ``lazy_commit`` the driver calls it when followers should learn a commit that no
        append carried (RaftMember: 5 ms after it).
        """
        if self.role != ROLE_LEADER:
            return
        for peer, pr in self.prs.items():
            if self._owes_commit(peer, pr):
                self._sends[peer] = True

    def send_commit_when_held(self, peer: str, index: int) -> None:
        """Tell ``peer`` the commit index as soon as entry ``index`` is committed and it holds it (leader only).

        With ``lazy_commit``: a follower that forwarded a write waits to apply it before it
        answers its client, and it may be the follower whose answer came too late to count.
        """
        if self.role != ROLE_LEADER or peer == self.id or peer not in self.prs:
            return
        self._commit_wanted[peer] = max(index, self._commit_wanted.get(peer, 0))
        self._send_wanted_commits()

    def _owes_commit(self, peer: str, pr: Progress) -> bool:
        return peer != self.id and not pr.is_paused() and pr.sent_commit < min(pr.match, self.log.committed)

    def _send_wanted_commits(self) -> None:
        if not self._commit_wanted:
            return
        committed = self.log.committed
        for peer, index in list(self._commit_wanted.items()):
            pr = self.prs.get(peer)
            if pr is None:
                del self._commit_wanted[peer]
            elif pr.match >= index and committed >= index:
                del self._commit_wanted[peer]
                if self._owes_commit(peer, pr):
                    self._sends[peer] = True

    def transfer_leadership(self, to: str) -> None:
        """Hand leadership to voter ``to`` (leader only; ignored elsewhere)."""
        if self.role == ROLE_LEADER:
            self._transfer(to)

    def campaign(self) -> None:
        """Start an election now (with pre-vote when configured)."""
        self._hup(transfer=False)

    def has_ready(self) -> bool:
        """Say whether ready() has anything to persist, apply or send."""
        self._flush_sends()
        log = self.log
        return bool(
            self._msgs
            or self._read_states
            or log.has_unstable()
            or log.pending_snapshot is not None
            or log.has_next_committed()
            or self.lead != self._prev_soft.leader
            or self.role != self._prev_soft.role
            or self.term != self._prev_hard.term
            or self.vote != self._prev_hard.vote
            or log.committed != self._prev_hard.commit
        )

    def ready(self) -> Ready:
        """Return what to persist, apply and send now; call advance() once it is done."""
        self._flush_sends()
        log = self.log
        soft = SoftState(self.lead, self.role)
        hard = HardState(self.term, self.vote, log.committed)
        entries = log.unstable()
        rd = Ready(
            soft_state=soft if soft != self._prev_soft else None,
            hard_state=hard if hard != self._prev_hard else None,
            entries=entries,
            snapshot=log.pending_snapshot,
            committed=log.next_committed(),
            messages=tuple(self._msgs),
            read_states=tuple(self._read_states),
            must_sync=bool(entries)
            or log.pending_snapshot is not None
            or hard.term != self._prev_hard.term
            or hard.vote != self._prev_hard.vote,
        )
        self._msgs = []
        self._read_states = []
        self._prev_soft = soft
        self._prev_hard = hard
        return rd

    def advance(self, ready: Ready) -> None:
        """Record that everything in ``ready`` was persisted (and its committed entries applied).

        A leader counts itself toward committing ``ready.entries`` only here, once they are
        durable; its appends to its followers may have gone out before its own write (Raft
        thesis 10.2.1): what commits is durable on a majority.
        """
        log = self.log
        if ready.snapshot is not None and ready.snapshot is log.pending_snapshot:
            log.pending_snapshot = None
            log.applied = max(log.applied, ready.snapshot.meta.index)
        if ready.committed:
            log.applied = min(log.committed, max(log.applied, ready.committed[-1].index))
        if ready.entries:
            last = ready.entries[-1]
            log.stable_to(last.index, last.term)
            if self.role == ROLE_LEADER:
                pr = self.prs.get(self.id)
                if pr is not None and pr.maybe_update(log.stable):
                    self._maybe_commit()

    def compact(self, index: int, data: bytes) -> SnapshotMeta:
        """Keep the application's snapshot ``data`` taken at applied ``index``; drop entries up to it.

        Return the kept snapshot's metadata (index, term, membership), which the driver
        stores beside the data: it is what ``Restored.snapshot`` gives back after a restart.
        An ``index`` older than the kept snapshot changes nothing.
        """
        log = self.log
        if index > log.applied:
            raise ValueError(f"cannot compact the log at {index}: only entries up to {log.applied} are applied")
        kept = self._snapshot
        if index < log.snap_index:
            return kept.meta if kept is not None else SnapshotMeta(log.snap_index, log.snap_term, self._conf_base)
        if index == log.snap_index:
            if kept is None or kept.meta.index != index:
                kept = self._snapshot = RaftSnapshot(SnapshotMeta(index, log.snap_term, self._conf_base), data)
            return kept.meta
        term = log.term(index)
        assert term is not None  # snap_index < index <= applied <= last_index
        history = self._conf_history
        while history and history[0][0] <= index:
            self._conf_base = history.pop(0)[1]
        log.compact(index)
        self._snapshot = RaftSnapshot(SnapshotMeta(index, term, self._conf_base), data)
        return self._snapshot.meta

    def status(self) -> RaftStatus:
        """Return this node's state as a frozen value."""
        leading = self.role == ROLE_LEADER
        progress = {peer: (pr.match, pr.next, pr.state) for peer, pr in self.prs.items()} if leading else {}
        active = self._heard_within(self._election_timeout) if leading else ()
        answering = self._heard_within(ANSWERING_TICKS) if leading else ()
        return RaftStatus(
            id=self.id,
            term=self.term,
            role=self.role,
            leader=self.lead,
            commit=self.log.committed,
            applied=self.log.applied,
            last_index=self.log.last_index,
            conf=self.conf,
            progress=progress,
            committed_conf=self.committed_conf,
            active=active,
            answering=answering,
        )

    def _heard_within(self, ticks: int) -> tuple[str, ...]:
        since = self._ticks - ticks
        return tuple(sorted(p for p, pr in self.prs.items() if p == self.id or pr.heard_at >= since))

    @property
    def applied(self) -> int:
        """The index the driver last said it applied (advance), or the snapshot's."""
        return self.log.applied

    @property
    def conf(self) -> ConfState:
        """The membership in effect: the latest one appended to this node's log."""
        return self._conf_history[-1][1] if self._conf_history else self._conf_base

    @property
    def committed_conf(self) -> ConfState:
        """The membership as of the commit index (the one in effect may be newer, not yet committed)."""
        committed = self.log.committed
        for index, conf in reversed(self._conf_history):
            if index <= committed:
                return conf
        return self._conf_base

    # ----------------------------------------------------------------- roles

    def _reset(self, term: int) -> None:
        if term != self.term:
            self.term = term
            self.vote = ""
        self.lead = ""
        self._election_elapsed = 0
        self._heartbeat_elapsed = 0
        self._reset_randomized_timeout()
        self._lead_transferee = ""
        self._quorum_since = self._ticks
        self._votes = {}
        self.prs = {}
        self._read_only = ReadOnly()
        self._pending_reads = []
        self._sends.clear()
        self._commit_wanted.clear()
        self._bcast = _BCAST_NONE

    def _reset_randomized_timeout(self) -> None:
        self._randomized_timeout = self._rng.randrange(self._election_timeout, 2 * self._election_timeout)

    def forget_leader(self) -> None:
        """Follow no one: this member halts (it was removed from the group, and the others drop
        what it sends). A leader steps down: a stale one, cut off while the others elected another
        and removed it, would lead on until its check-quorum, which a halted member never ticks.
        Its term, vote and log stay; it knows no leader until one speaks to it again.
        """
        self._become_follower(self.term, "")

    def _become_follower(self, term: int, lead: str) -> None:
        self._reset(term)
        self.lead = lead
        self.role = ROLE_FOLLOWER

    def _become_pre_candidate(self) -> None:
        # Neither the term nor the vote changes: that is the point of pre-vote.
        self._votes = {}
        self.lead = ""
        self.role = ROLE_PRE_CANDIDATE

    def _become_candidate(self) -> None:
        self._reset(self.term + 1)
        self.vote = self.id
        self.role = ROLE_CANDIDATE

    def _become_leader(self) -> None:
        self._reset(self.term)
        self.lead = self.id
        self.role = ROLE_LEADER
        log = self.log
        for peer in sorted(self._voters | self._learners):
            self.prs[peer] = Progress(log.last_index + 1, self._cfg.max_inflight, is_learner=peer in self._learners)
        me = self.prs.get(self.id)
        if me is not None:
            me.maybe_update(log.stable)
            me.become_replicate()
        # Any conf entry in the log may be uncommitted: allow the next change only after the
        # empty entry of this term commits (which commits everything before it).
        self._pending_conf_index = log.last_index
        self._append_new(ENTRY_NORMAL, b"")

    def _promotable(self) -> bool:
        return self.id in self._voters

    def _quorum(self) -> int:
        return len(self._voters) // 2 + 1

    # ----------------------------------------------------------------- elections

    def _hup(self, *, transfer: bool) -> None:
        if self.role == ROLE_LEADER or not self._promotable():
            return
        self._campaign(pre=self._cfg.pre_vote and not transfer, transfer=transfer)

    def _campaign(self, *, pre: bool, transfer: bool) -> None:
        if pre:
            self._become_pre_candidate()
            vote_term, mtype = self.term + 1, MSG_PRE_VOTE
        else:
            self._become_candidate()
            vote_term, mtype = self.term, MSG_VOTE
        self._votes[self.id] = True
        if self._tally()[0] >= self._quorum():
            if pre:
                self._campaign(pre=False, transfer=False)
            else:
                self._become_leader()
            return
        context = CONTEXT_TRANSFER if transfer else b""
        last_index, last_term = self.log.last_index, self.log.last_term
        for peer in sorted(self._voters):
            if peer != self.id:
                self._send(
                    RaftMessage(mtype, peer, self.id, vote_term, log_term=last_term, index=last_index, context=context)
                )

    def _tally(self) -> tuple[int, int]:
        granted = rejected = 0
        for peer, yes in self._votes.items():
            if peer in self._voters:
                if yes:
                    granted += 1
                else:
                    rejected += 1
        return granted, rejected

    def _step_vote(self, m: RaftMessage) -> None:
        """Answer a (pre-)vote request: once per term, for an up-to-date log (5.2, 5.4.1)."""
        pre = m.type == MSG_PRE_VOTE
        resp = MSG_PRE_VOTE_RESP if pre else MSG_VOTE_RESP
        can_vote = self.vote == m.frm or (self.vote == "" and self.lead == "") or (pre and m.term > self.term)
        if can_vote and self.log.is_up_to_date(m.index, m.log_term):
            self._send(RaftMessage(resp, m.frm, self.id, m.term))
            if not pre:
                self._election_elapsed = 0
                self.vote = m.frm
        else:
            self._send(RaftMessage(resp, m.frm, self.id, self.term, reject=True))

    def _step_candidate(self, m: RaftMessage) -> None:
        t = m.type
        if t in (MSG_APP, MSG_HEARTBEAT, MSG_SNAP):
            self._become_follower(m.term, m.frm)  # a leader of this term exists (5.2)
            self._step_follower(m)
            return
        expected = MSG_PRE_VOTE_RESP if self.role == ROLE_PRE_CANDIDATE else MSG_VOTE_RESP
        if t != expected or m.frm not in self._voters:
            return
        self._votes.setdefault(m.frm, not m.reject)
        granted, rejected = self._tally()
        quorum = self._quorum()
        if granted >= quorum:
            if self.role == ROLE_PRE_CANDIDATE:
                self._campaign(pre=False, transfer=False)
            else:
                self._become_leader()
        elif rejected >= quorum:
            self._become_follower(self.term, "")

    # ----------------------------------------------------------------- follower

    def _step_follower(self, m: RaftMessage) -> None:
        t = m.type
        if t == MSG_APP:
            self._election_elapsed = 0
            self.lead = m.frm
            self._handle_append(m)
        elif t == MSG_HEARTBEAT:
            self._election_elapsed = 0
            self.lead = m.frm
            self.log.commit_to(m.commit)
            self._send(RaftMessage(MSG_HEARTBEAT_RESP, m.frm, self.id, self.term, context=m.context))
        elif t == MSG_SNAP:
            self._election_elapsed = 0
            self.lead = m.frm
            self._handle_snapshot(m)
        elif t == MSG_TIMEOUT_NOW:
            self._hup(transfer=True)
        # read_index and transfer_leader from another node are dropped, not relayed: the asker
        # took us for the leader and retries once it knows better; a relayed message would
        # carry a sender (frm) other than the node that sends it.
        elif t == MSG_READ_INDEX_RESP:
            self._read_states.append(ReadState(m.index, m.context))

    def _handle_append(self, m: RaftMessage) -> None:
        log = self.log
        if m.index < log.committed:
            self._send(RaftMessage(MSG_APP_RESP, m.frm, self.id, self.term, index=log.committed))
            return
        ents = m.entries
        has_conf = False
        if ents:
            prev_index, prev_term = m.index, m.log_term
            for e in ents:
                if e.index != prev_index + 1 or not prev_term <= e.term <= m.term or e.kind not in _ENTRY_KINDS:
                    return  # malformed: not a leader's append
                has_conf = has_conf or e.kind == ENTRY_CONF_CHANGE
                prev_index, prev_term = e.index, e.term
        if log.match_term(m.index, m.log_term):
            last_new = m.index + len(ents)
            conflict = log.find_conflict(ents) if ents else 0
            if conflict:
                if conflict <= log.committed:
                    return  # would overwrite a committed entry: not a leader's append
                new = ents[conflict - m.index - 1 :]
                if conflict <= log.last_index:
                    self._truncate_conf(conflict)
                log.append(new)
                if has_conf:
                    self._note_conf_entries(new)
            log.commit_to(min(m.commit, last_new))
            self._send(RaftMessage(MSG_APP_RESP, m.frm, self.id, self.term, index=last_new))
        else:
            hint_index, hint_term = log.find_conflict_by_term(min(m.index, log.last_index), m.log_term)
            self._send(
                RaftMessage(
                    MSG_APP_RESP,
                    m.frm,
                    self.id,
                    self.term,
                    index=m.index,
                    reject=True,
                    reject_hint=hint_index,
                    log_term=hint_term,
                )
            )

    def _handle_snapshot(self, m: RaftMessage) -> None:
        s = m.snapshot
        if s is None or s.meta.index < 0 or not 0 <= s.meta.term <= m.term:
            return
        log = self.log
        index = log.committed
        if s.meta.index > log.committed:
            if log.match_term(s.meta.index, s.meta.term):
                log.commit_to(s.meta.index)  # we have the entries: just fast-forward the commit
                index = log.committed
            else:
                log.restore(s)
                self._snapshot = s
                self._conf_base = s.meta.conf
                self._conf_history = []
                self._set_conf(self._conf_base)
                index = log.last_index
        self._send(RaftMessage(MSG_APP_RESP, m.frm, self.id, self.term, index=index))

    # ----------------------------------------------------------------- leader

    def _tick_leader(self) -> None:
        self._heartbeat_elapsed += 1
        self._election_elapsed += 1
        retry_ticks = _SNAPSHOT_RETRY_ELECTIONS * self._election_timeout
        for peer, pr in self.prs.items():
            if pr.state == SNAPSHOT:
                pr.snapshot_ticks += 1
                if pr.snapshot_ticks >= retry_ticks:
                    pr.abort_snapshot()
                    self._sends[peer] = True
        if self._election_elapsed >= self._election_timeout:
            self._election_elapsed = 0
            if self._cfg.check_quorum and not self._quorum_active():
                self._become_follower(self.term, "")  # check-quorum (thesis 6.2)
                return
            self._lead_transferee = ""  # a transfer must finish within an election timeout
        if self._heartbeat_elapsed >= self._heartbeat_timeout:
            self._heartbeat_elapsed = 0
            self._bcast_heartbeat(self._read_only.last_context())

    def _quorum_active(self) -> bool:
        """Whether a quorum of voters answered since the last check (or since this term began)."""
        since, self._quorum_since = self._quorum_since, self._ticks
        active = 0
        for voter in self._voters:
            pr = self.prs.get(voter)
            if voter == self.id or (pr is not None and pr.heard_at >= since):
                active += 1
        return active >= self._quorum()

    def _recently_active(self, pr: Progress) -> bool:
        """Heard from since the last check-quorum round (etcd's RecentActive)."""
        return pr.heard_at >= self._quorum_since

    def _step_leader(self, m: RaftMessage) -> None:
        t = m.type
        if t == MSG_APP_RESP:
            self._handle_append_response(m)
        elif t == MSG_HEARTBEAT_RESP:
            pr = self.prs.get(m.frm)
            if pr is None:
                return
            pr.heard_at = self._ticks
            pr.probe_sent = False
            if pr.state == REPLICATE and len(pr.inflights) >= pr.max_inflight:
                pr.inflights.popleft()  # an append may be lost: let one more through
            if pr.match < self.log.last_index:
                self._sends[m.frm] = True
            if m.context:
                self._read_ack(m.context, m.frm)
        elif t == MSG_READ_INDEX:
            self._leader_read_index(m.context, m.frm)
        elif t == MSG_TRANSFER_LEADER:
            self._transfer(m.frm)

    def _handle_append_response(self, m: RaftMessage) -> None:
        pr = self.prs.get(m.frm)
        if pr is None:
            return
        pr.heard_at = self._ticks
        log = self.log
        if m.reject:
            next_probe = m.reject_hint
            if m.log_term > 0:
                next_probe, _ = log.find_conflict_by_term(m.reject_hint, m.log_term)
            if pr.maybe_decrease_to(m.index, next_probe):
                if pr.state == REPLICATE:
                    pr.become_probe()
                self._sends[m.frm] = True
            return
        if m.index > log.last_index:
            return  # acknowledges entries we never had: not a follower's answer
        if not pr.maybe_update(m.index):
            return
        if pr.state == PROBE:
            pr.become_replicate()
        elif pr.state == SNAPSHOT:
            if pr.match + 1 >= log.first_index:
                pr.become_probe()
                pr.become_replicate()
        else:
            pr.free_le(m.index)
        self._sends.setdefault(m.frm, False)
        self._maybe_commit()
        self._send_wanted_commits()  # a follower's late answer: the commit moved without it
        if m.frm == self._lead_transferee and pr.match == log.last_index:
            self._send(RaftMessage(MSG_TIMEOUT_NOW, m.frm, self.id, self.term))

    def _maybe_commit(self) -> bool:
        """Commit the highest index a quorum of voters stores, if it is of this term (5.4.2)."""
        voters = self._voters
        if not voters:
            return False
        prs = self.prs
        matches = sorted((prs[v].match if v in prs else 0 for v in voters), reverse=True)
        index = matches[self._quorum() - 1]
        log = self.log
        if index <= log.committed or log.term(index) != self.term:
            return False
        log.commit_to(index)
        if not self._cfg.lazy_commit:
            self._bcast = _BCAST_COMMIT
        self._send_wanted_commits()  # a waiting follower may hold what just committed
        if self._pending_reads:
            pending, self._pending_reads = self._pending_reads, []
            for context, frm in pending:
                self._leader_read_index(context, frm)
        if self.id not in voters and (not self._conf_history or self._conf_history[-1][0] <= log.committed):
            self._step_down_removed()
        return True

    def _step_down_removed(self) -> None:
        """Leave leadership after our own removal committed, handing over to an up-to-date voter."""
        self._flush_sends()
        last = self.log.last_index
        for voter in sorted(self._voters):
            pr = self.prs.get(voter)
            if pr is not None and pr.match == last:
                self._send(RaftMessage(MSG_TIMEOUT_NOW, voter, self.id, self.term))
                break
        self._become_follower(self.term, "")

    def _check_can_propose(self) -> None:
        if self.role != ROLE_LEADER:
            raise NotLeader(self.lead)
        if self._lead_transferee:
            raise NotLeader(self._lead_transferee)

    def _append_new(self, kind: int, data: bytes) -> int:
        log = self.log
        index = log.last_index + 1
        entry = RaftEntry(index, self.term, kind, data)
        log.entries.append(entry)
        if kind == ENTRY_CONF_CHANGE:
            self._note_conf_entries((entry,))
        if self._bcast == _BCAST_NONE:
            self._bcast = _BCAST_ENTRIES
        return index

    def _flush_sends(self) -> None:
        """Build the appends owed to followers (batched: one pass per Ready, not per event)."""
        if self.role != ROLE_LEADER:
            self._sends.clear()
            self._bcast = _BCAST_NONE
            return
        sends = self._sends
        if self._bcast != _BCAST_NONE:
            if_empty = self._bcast == _BCAST_COMMIT
            for peer in self.prs:
                if peer != self.id:
                    sends[peer] = sends.get(peer, False) or if_empty
            self._bcast = _BCAST_NONE
        if not sends:
            return
        for peer, if_empty in sends.items():
            pr = self.prs.get(peer)
            if pr is None or peer == self.id:
                continue
            sent = self._maybe_send_append(peer, pr, if_empty)
            while sent and pr.state == REPLICATE and pr.next <= self.log.last_index:
                sent = self._maybe_send_append(peer, pr, False)
        sends.clear()

    def _maybe_send_append(self, to: str, pr: Progress, if_empty: bool) -> bool:
        if pr.is_paused():
            return False
        log = self.log
        pr.next = min(pr.next, log.last_index + 1)
        prev = pr.next - 1
        prev_term = log.term(prev)
        if prev_term is None:
            return self._send_snapshot(to, pr)
        entries = log.entries_from(pr.next, self._max_entries, self._max_bytes)
        if not entries and not if_empty:
            return False
        self._send(
            RaftMessage(
                MSG_APP, to, self.id, self.term, log_term=prev_term, index=prev, entries=entries, commit=log.committed
            )
        )
        # What the follower will take: the commit, up to the last entry this append leaves it.
        pr.sent_commit = max(pr.sent_commit, min(log.committed, prev + len(entries)))
        if entries:
            pr.sent(entries[-1].index)
        elif pr.state == PROBE:
            pr.probe_sent = True
        return True

    def _send_snapshot(self, to: str, pr: Progress) -> bool:
        snapshot = self._snapshot
        if not self._recently_active(pr) or snapshot is None:
            return False
        pr.become_snapshot(snapshot.meta.index)
        self._send(RaftMessage(MSG_SNAP, to, self.id, self.term, snapshot=snapshot))
        return True

    def _bcast_heartbeat(self, context: bytes) -> None:
        committed = self.log.committed
        for peer, pr in self.prs.items():
            if peer != self.id:
                commit = min(pr.match, committed)
                self._send(RaftMessage(MSG_HEARTBEAT, peer, self.id, self.term, commit=commit, context=context))
                pr.sent_commit = max(pr.sent_commit, commit)

    def _transfer(self, to: str) -> None:
        pr = self.prs.get(to)
        if to == self.id or pr is None or to not in self._voters or to == self._lead_transferee:
            return
        self._election_elapsed = 0
        self._lead_transferee = to
        if pr.match == self.log.last_index:
            self._send(RaftMessage(MSG_TIMEOUT_NOW, to, self.id, self.term))
        else:
            self._sends[to] = True

    # ----------------------------------------------------------------- read-index

    def _leader_read_index(self, context: bytes, frm: str) -> None:
        log = self.log
        if log.term(log.committed) != self.term:
            self._pending_reads.append((context, frm))  # the commit index may be stale until then
            return
        if not self._read_only.add(log.committed, context, frm):
            return
        if self.id in self._voters:
            self._read_ack(context, self.id)
        if context in self._read_only:  # not answered by our own ack alone (a single voter)
            self._bcast_heartbeat(context)

    def _read_ack(self, context: bytes, frm: str) -> None:
        acks = self._read_only.ack(context, frm)
        if acks is None or count_acks(acks, self._voters) < self._quorum():
            return
        for request in self._read_only.release(context):
            self._answer_read(request)

    def _answer_read(self, request: ReadRequest) -> None:
        if request.frm == self.id:
            self._read_states.append(ReadState(request.index, request.context))
        else:
            self._send(
                RaftMessage(
                    MSG_READ_INDEX_RESP, request.frm, self.id, self.term, index=request.index, context=request.context
                )
            )

    # ----------------------------------------------------------------- membership

    def _set_conf(self, conf: ConfState) -> None:
        self._voters = frozenset(conf.voters)
        self._learners = frozenset(conf.learners)
        if self.role != ROLE_LEADER:
            return
        members = self._voters | self._learners
        last = self.log.last_index
        for peer in sorted(members):
            pr = self.prs.get(peer)
            if pr is None:
                pr = self.prs[peer] = Progress(last + 1, self._cfg.max_inflight)
                # Neither check-quorum nor status counts a newcomer as silent.
                pr.heard_at = self._ticks
                if peer == self.id:
                    pr.maybe_update(self.log.stable)
                    pr.become_replicate()
            pr.is_learner = peer in self._learners
        for peer in [p for p in self.prs if p not in members]:
            del self.prs[peer]
            self._sends.pop(peer, None)
            if peer == self._lead_transferee:
                self._lead_transferee = ""

    def _note_conf_entries(self, entries: list[RaftEntry] | tuple[RaftEntry, ...]) -> None:
        """Make the conf changes among newly appended ``entries`` take effect (thesis 4.1)."""
        for e in entries:
            if e.kind != ENTRY_CONF_CHANGE:
                continue
            try:
                cc = decode_conf_change(e.data)
            except ValueError:
                continue  # not a change we understand: the entry stays in the log, inert
            conf = _changed_conf(self.conf, cc)
            self._conf_history.append((e.index, conf))
            self._set_conf(conf)

    def _truncate_conf(self, first: int) -> None:
        """Undo the conf changes of entries from ``first`` on, which are being overwritten."""
        history = self._conf_history
        if history and history[-1][0] >= first:
            while history and history[-1][0] >= first:
                history.pop()
            self._set_conf(self.conf)

    # ----------------------------------------------------------------- plumbing

    def _send(self, msg: RaftMessage) -> None:
        self._msgs.append(msg)
