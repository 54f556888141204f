"""RaftMember on a real disk: nothing acknowledged before it is durable, nothing lost after; and
its linearizable reads (read-index).

The actor is built but not started: the test's thread plays the actor's, calling on_start and
the Ready round itself: on a one-voter swarm (which commits on its own write alone), or as the
follower of a leader the test plays.
"""

from __future__ import annotations

import dataclasses
import errno
import itertools
import logging
import math
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from swarmnode.actors.messages import Address
from swarmnode.actors.raft import actor as actor_module
from swarmnode.actors.raft import actor as raft_actor
from swarmnode.actors.raft.actor import (
    NO_LEADER,
    GetRaftStatus,
    NotAMember,
    Outcome,
    Propose,
    RaftAddress,
    RaftMember,
    Read,
    ReadOutcome,
    _Recover,
    encode_snapshot,
    initial_snapshot,
    raft_dir,
)
from swarmnode.actors.raft.messages import (
    ENTRY_NORMAL,
    MSG_APP,
    MSG_APP_RESP,
    MSG_HEARTBEAT,
    MSG_PRE_VOTE,
    MSG_READ_INDEX_RESP,
    MSG_SNAP,
    ConfState,
    RaftEntry,
    RaftMessage,
    RaftSnapshot,
    SnapshotMeta,
)
from swarmnode.actors.runtime import REMOVED, SESSION_KEY, NodeContext, Refused, Session
from swarmnode.actors.runtime.addressable import Request
from swarmnode.actors.runtime.context import CurveKeys
from swarmnode.actors.store import WalDiskFull, WalWriteError
from swarmnode.actors.store import wal as wal_module
from swarmnode.actors.store.client import DISK_FULL_KEY, PEERS_OUT_KEY, DiskFull
from swarmnode.actors.store.core import ApplyResult, StoreCore
from swarmnode.actors.store.transactions import Create, Transaction, Update
from swarmnode.transport import Identity, NotSent, RemoteError, ReplyFuture, TransportError
from tests.support.disk import no_room

NODE = "n1"
LEADER = "l1"


def context(state_dir: Path) -> NodeContext:
    return NodeContext(
        node_id=NODE, role="manager", state_dir=state_dir, listen="127.0.0.1:0", keys=CurveKeys(b"p" * 40, b"s" * 40)
    )


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    directory = raft_dir(tmp_path)
    directory.mkdir(parents=True)
    wal_module.write_snapshot(directory, 1, initial_snapshot(StoreCore(), NODE))
    return tmp_path


def started(state_dir: Path) -> RaftMember:
    member = RaftMember(None, context(state_dir))
    member.on_start()
    assert isinstance(member.actor_inbox.get_nowait().message, _Recover)  # told to itself, first
    member.on_receive(_Recover())  # the lone voter campaigns and commits its term's no-op
    return member


@pytest.fixture
def members(state_dir: Path) -> Iterator[list[RaftMember]]:
    made: list[RaftMember] = []
    yield made
    for member in made:
        member.timers.close()
        member._close("test over")


def failing_once(code: int) -> Callable[[int, object], int]:
    calls = [0]

    def write(fd: int, data: object) -> int:
        calls[0] += 1
        if calls[0] == 1:
            raise OSError(code, os.strerror(code))
        return os.write(fd, data)  # type: ignore[arg-type]

    return write


def propose(member: RaftMember, object_id: str, outcome: Outcome | None = None) -> Outcome:
    outcome = outcome or Outcome()
    member._propose((Create("task", object_id, {"n": 1}),), outcome)
    member._process()
    return outcome


def test_a_write_is_acknowledged_once_durable_and_read_back_after_a_restart(
    state_dir: Path, members: list[RaftMember]
) -> None:
    member = started(state_dir)
    members.append(member)
    outcome = propose(member, "t1")
    assert outcome.wait(0).ok
    member.timers.close()
    member._close("restart")
    members.remove(member)
    again = started(state_dir)
    members.append(again)
    assert again.store.get("task", "t1") is not None


def test_big_entries_bring_a_snapshot_before_the_entry_count_does(
    state_dir: Path, members: list[RaftMember], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A restart replays what came after the last snapshot: bytes bound that too, not only entries."""
    monkeypatch.setattr(raft_actor, "SNAPSHOT_EVERY_BYTES", 2000)
    member = started(state_dir)
    members.append(member)
    snapshots = lambda: sorted(raft_dir(state_dir).glob("snapshot-*"))
    before = snapshots()
    for i in range(3):
        member._propose((Create("task", f"big{i}", {"blob": "x" * 900}),), Outcome())
        member._process()
    assert len(snapshots()) > len(before)  # 3 entries, far below snapshot_every_entries (10,000)


def test_a_log_that_cannot_go_on_after_its_snapshot_is_told_apart() -> None:
    snap = SnapshotMeta(index=10, term=3, conf=ConfState(voters=(NODE,), learners=()))
    log = [(i, 3 if i <= 10 else 4, b"") for i in range(5, 15)]
    assert raft_actor._log_behind(log, 14, snap) is False  # holds the snapshot's entry: goes on
    assert raft_actor._log_behind(log[:3], 7, snap) is True  # ends before it (a follower long down)
    older = [(i, 2, b"") for i in range(5, 15)]  # entries of an older leader past the snapshot
    assert raft_actor._log_behind(older, 14, snap) is True
    assert raft_actor._log_behind(log[6:], 14, snap) is False  # its own, the segment at 10 deleted since
    assert raft_actor._log_behind([], None, snap) is True


def test_a_write_the_disk_refuses_crashes_the_member_unacknowledged_and_is_not_committed(
    state_dir: Path, members: list[RaftMember], monkeypatch: pytest.MonkeyPatch
) -> None:
    member = started(state_dir)
    members.append(member)
    assert member.core is not None
    commit_before = member.core.status().commit
    monkeypatch.setattr(wal_module, "_os_write", failing_once(errno.ENOSPC))  # a full disk, freed at once
    refused = Outcome()
    with pytest.raises(WalWriteError, match="disk full"):
        propose(member, "lost", refused)  # on the actor's thread this is a crash: its supervisor restarts it
    assert member.core.status().commit == commit_before, "the core counted a write that never reached the disk"
    assert not refused.settled, "a write the disk refused was answered"
    member.timers.close()
    member.on_crash(WalDiskFull("disk full while writing wal-1.log: nothing of this write was acknowledged"))
    with pytest.raises(Refused) as told:
        refused.wait(0)  # the crash tells its caller it failed: as a leader it sent the write before its own
    assert told.value.text == (
        f"the store of manager {NODE} crashed (its disk is full) before the write was answered: "
        "the write may or may not be committed; check before you retry"
    ), "told that nothing was acknowledged, of a write the followers may commit"
    members.remove(member)
    again = started(state_dir)  # the restart recovers from the disk
    members.append(again)
    assert again.store.get("task", "lost") is None
    assert propose(again, "t2").wait(0).ok, "the member does not write again after the disk has room"


def test_a_member_restarted_after_its_disk_filled_waits_for_room_then_goes_on(
    state_dir: Path, members: list[RaftMember], monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Not a crash at every write until the supervisors give up and the node exits: the restarted
    member takes no part until the disk has room, says why to whoever asks, then goes on."""
    caplog.set_level(logging.INFO, "swarmnode.raft")
    member = started(state_dir)
    members.append(member)
    monkeypatch.setattr(wal_module, "_os_write", failing_once(errno.ENOSPC))
    with pytest.raises(WalDiskFull, match="disk full") as crashed:
        propose(member, "lost")
    member.timers.close()
    member.on_crash(crashed.value)  # as the actor's crash does
    members.remove(member)
    room = [False]
    looked: list[int] = []

    def has_room(directory: Path, nbytes: int) -> bool:
        looked.append(nbytes)
        return room[0]

    monkeypatch.setattr(actor_module, "has_room", has_room)
    again = RaftMember(None, member.context)  # its supervisor starts it again with the node's context
    members.append(again)
    again.on_start()
    again.on_receive(again.actor_inbox.get_nowait().message)  # its _Recover
    assert again.core is not None and again.core.role != "leader", "the lone voter campaigned with its disk full"
    refused = propose(again, "t1")
    with pytest.raises(
        Refused, match=r"disk is full \(a write to .*wal-0+1\.log met a full disk; .*\): it takes no part"
    ) as caught:
        refused.wait(0)
    assert "it waits for 9 MiB free in" in caught.value.text, caught.value.text  # 8 MiB and a snapshot, rounded up
    assert "nothing" not in caught.value.text, "the WAL's words of the write that failed, not of this one"
    assert again.store.get("task", "lost") is None
    again._receive(actor_module._Tick())
    expected = wal_module.room_to_go_on(len(again.store.snapshot()))
    assert looked == [expected], "it did not look for room for the log's next steps and a snapshot of its Store"
    again._receive(actor_module._Tick())
    assert len(looked) == 1, "it looked for room again before DISK_PROBE_S"
    assert again.context.get_shared(DISK_FULL_KEY).waiting
    room[0] = True
    again.disk_looked_at = -math.inf  # DISK_PROBE_S later
    again._receive(actor_module._Tick())
    assert again.core.role == "leader" and not again.context.get_shared(DISK_FULL_KEY).waiting
    assert propose(again, "t2").wait(0).ok, "it does not write again once the disk has room"
    assert "takes part in Raft again" in caplog.text


def test_a_follower_whose_disk_filled_neither_answers_nor_campaigns_until_there_is_room(
    state_dir: Path, members: list[RaftMember], monkeypatch: pytest.MonkeyPatch
) -> None:
    room = [False]
    monkeypatch.setattr(actor_module, "has_room", lambda directory, nbytes: room[0])
    conf = ConfState(voters=(LEADER, NODE), learners=())
    member, sender = started_in(state_dir, members, conf, disk_full="disk full while writing wal-1.log")
    for _ in range(3):  # the leader's append, tried again
        member.step(leader_append(2), Request(peer=Identity(LEADER, "manager")))
        member._process()
    for _ in range(4 * actor_module.ELECTION_TICKS):  # twice the longest election timeout
        member._receive(actor_module._Tick())
    assert sender.events == ["send RaftOutOfService"], f"with its disk full it answered or campaigned: {sender.events}"
    told = sender.sent[0]
    assert isinstance(told, actor_module.OutOfService) and told.text.startswith("its disk is full (disk full while")
    assert member.leader == "" and member.core is not None and member.core.log.last_index == 1
    for outcome in (read_tasks(member), propose(member, "t1")):
        assert outcome.settled, "a read or write waits for a leader it cannot follow"
        assert isinstance(outcome._error, Refused) and "disk is full" in outcome._error.text, outcome._error
    with pytest.raises(Refused, match="not the leader"):
        member.forwarded(actor_module.ForwardProposal(txn=b""), Request(peer=Identity(LEADER, "manager")))
    room[0] = True
    member.disk_looked_at = -math.inf
    member._receive(actor_module._Tick())
    member.step(leader_append(2), Request(peer=Identity(LEADER, "manager")))
    member._process()
    assert member.leader == LEADER and member.core.log.last_index == 2, "it does not follow once there is room"
    assert "send app_resp" in sender.events


def test_the_room_waited_for_is_a_snapshot_of_the_store_not_every_byte_written_since(
    state_dir: Path, members: list[RaftMember]
) -> None:
    """One object rewritten again and again: the log holds many times what a snapshot needs (an
    operator's 24 MB disk was asked for 20 MB free while the Store was small)."""
    member = started(state_dir)
    members.append(member)
    propose(member, "t0")
    for i in range(40):
        member._propose((Update("task", "t0", {"blob": f"{i}" + "x" * 100_000}),), Outcome())
        member._process()
    assert member.since_snapshot_bytes > 4_000_000
    assert member._room_needed() < wal_module.room_to_go_on(0) + 200_000


def test_a_snapshot_that_met_a_full_disk_is_not_tried_again_before_there_is_room(
    state_dir: Path, members: list[RaftMember], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The restart's recovery applies what the failed snapshot held: it must not try it again at once."""
    monkeypatch.setattr(actor_module, "SNAPSHOT_EVERY_BYTES", 2000)
    member = started(state_dir)
    members.append(member)
    tried: list[int] = []
    real_write_snapshot = actor_module.write_snapshot

    def full(directory: Path, index: int, data: bytes) -> Path:
        tried.append(index)
        raise WalDiskFull("disk full while writing snapshot: nothing was acknowledged; free space and retry")

    monkeypatch.setattr(actor_module, "write_snapshot", full)
    with pytest.raises(WalDiskFull) as crashed:
        for i in range(5):
            member._propose((Create("task", f"big{i}", {"blob": "x" * 900}),), Outcome())
            member._process()
    assert tried, "no snapshot was tried"
    member.timers.close()
    member.on_crash(crashed.value)
    members.remove(member)
    room = [False]
    monkeypatch.setattr(actor_module, "has_room", lambda directory, nbytes: room[0])
    again = RaftMember(None, member.context)
    members.append(again)
    again.on_start()
    tried.clear()
    again.on_receive(again.actor_inbox.get_nowait().message)  # its _Recover applies the entries again
    again._receive(actor_module._Tick())
    assert tried == [] and again.disk_full, "it tried the snapshot again with its disk full"
    assert again.store.get("task", "big0") is not None, "the recovery lost what was committed"
    room[0] = True
    again.disk_looked_at = -math.inf
    monkeypatch.setattr(actor_module, "write_snapshot", real_write_snapshot)
    again._receive(actor_module._Tick())
    assert propose(again, "after").wait(0).ok
    assert len(list(raft_dir(state_dir).glob("snapshot-*.snap"))) == 2, "no snapshot once there is room"


def test_a_log_to_restart_after_an_installed_snapshot_waits_for_room_not_a_failed_start(
    state_dir: Path, members: list[RaftMember], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The leader's snapshot is on disk, the log restart after it met the full disk: the next
    start must restart the log, and could not; it now does so once there is room."""
    member, _ = following(state_dir, members)
    writes = [0]

    def second_write_fails(fd: int, data: object) -> int:
        writes[0] += 1
        if writes[0] >= 2:  # the snapshot's file fits, the log's restart after it does not
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return os.write(fd, data)  # type: ignore[arg-type]

    monkeypatch.setattr(wal_module, "_os_write", second_write_fails)
    conf = ConfState(voters=(LEADER, NODE), learners=())
    snap = RaftSnapshot(meta=SnapshotMeta(index=100, term=2, conf=conf), data=StoreCore().snapshot())
    member.step(
        RaftMessage(type=MSG_SNAP, to=NODE, frm=LEADER, term=2, snapshot=snap, commit=100),
        Request(peer=Identity(LEADER, "manager")),
    )
    with pytest.raises(WalDiskFull) as crashed:
        member._process()
    member.timers.close()
    member.on_crash(crashed.value)
    members.remove(member)
    monkeypatch.setattr(wal_module, "_os_fallocate", no_room)
    room = [False]
    monkeypatch.setattr(actor_module, "has_room", lambda directory, nbytes: room[0])
    again = RaftMember(None, member.context)
    sender = RecordingSender([])
    again.sender = sender  # type: ignore[assignment]
    members.append(again)
    again.on_start()  # raised WalDiskFull: a failed start at every restart, and the node gave up
    assert again.disk_full and again.restart_log_at == 101
    again.on_receive(again.actor_inbox.get_nowait().message)
    room[0] = True  # statvfs says so, and the disk still refuses (a quota, say)
    again._receive(actor_module._Tick())
    assert again.disk_full and again.restart_log_at == 101, "it went on with a log it could not restart"
    monkeypatch.setattr(wal_module, "_os_write", os.write)
    monkeypatch.setattr(wal_module, "_os_fallocate", os.posix_fallocate)
    again.disk_looked_at = -math.inf
    again._receive(actor_module._Tick())
    assert not again.disk_full and again.restart_log_at == 0
    assert again.wal is not None and again.wal.last_index is None, "the log was not restarted after the snapshot"
    append = RaftMessage(
        type=MSG_APP, to=NODE, frm=LEADER, term=2, log_term=2, index=100, commit=100,
        entries=(RaftEntry(index=101, term=2, kind=ENTRY_NORMAL, data=b""),),
    )  # fmt: skip
    again.step(append, Request(peer=Identity(LEADER, "manager")))
    again._process()
    assert again.core is not None and again.core.log.last_index == 101 and again.wal.last_index == 101
    assert sender.sent and sender.sent[-1].type == MSG_APP_RESP and not sender.sent[-1].reject


def test_a_member_that_cannot_look_at_its_disk_says_so_once_and_goes_on_waiting(
    state_dir: Path, members: list[RaftMember], monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, "swarmnode.raft")

    def failing(directory: Path, nbytes: int) -> bool:
        raise OSError(errno.EIO, os.strerror(errno.EIO))

    monkeypatch.setattr(actor_module, "has_room", failing)
    conf = ConfState(voters=(LEADER, NODE), learners=())
    member, _ = started_in(state_dir, members, conf, disk_full="disk full while writing wal-1.log")
    for _ in range(3):
        member.disk_looked_at = -math.inf
        member._receive(actor_module._Tick())  # raised into the tick: a crash, and its supervisor gave up
    assert member.disk_full and caplog.text.count("looking for room") == 1, caplog.text


def test_a_disk_that_fills_again_soon_after_is_looked_at_less_often(
    state_dir: Path, members: list[RaftMember], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each time it goes on and meets the full disk again costs a restart: its supervisors give up
    after a few in a short while."""
    looked: list[float] = []

    def has_room(directory: Path, nbytes: int) -> bool:
        looked.append(time.monotonic())
        return len(looked) == 1  # room the first time: it goes on

    monkeypatch.setattr(actor_module, "has_room", has_room)
    conf = ConfState(voters=(LEADER, NODE), learners=())
    member, _ = started_in(state_dir, members, conf, disk_full="disk full while writing wal-1.log")
    member._receive(actor_module._Tick())
    assert len(looked) == 1 and not member.disk_full
    member.timers.close()
    member.on_crash(WalDiskFull("disk full while writing wal-1.log", "wal-1.log"))  # soon after it went on
    members.remove(member)
    record = member.context.get_shared(DISK_FULL_KEY)
    assert record.crashes == 2 and record.waiting
    again = RaftMember(None, member.context)  # its supervisor's restart
    again.sender = RecordingSender([])  # type: ignore[assignment]
    members.append(again)
    again.on_start()
    again.on_receive(again.actor_inbox.get_nowait().message)
    assert again._disk_probe_s() == actor_module.DISK_PROBE_SLOW_S
    again._receive(actor_module._Tick())  # looked at once, went on and crashed again: a restart each time
    assert len(looked) == 1, "the restart looked for room at once"
    again.disk_looked_at -= actor_module.DISK_PROBE_S + 0.01
    again._receive(actor_module._Tick())
    assert len(looked) == 1, "it looked again after DISK_PROBE_S, not DISK_PROBE_SLOW_S"
    again.disk_looked_at -= actor_module.DISK_PROBE_SLOW_S
    again._receive(actor_module._Tick())
    assert len(looked) == 2


def test_a_member_told_another_is_out_of_service_shows_it_until_it_takes_part_again(
    state_dir: Path, members: list[RaftMember], monkeypatch: pytest.MonkeyPatch
) -> None:
    member, _ = following(state_dir, members)
    peer = Request(peer=Identity(LEADER, "manager"))
    member.out_of_service(actor_module.OutOfService("its disk is full (a write met a full disk)"), peer)
    assert member.context.get_shared(PEERS_OUT_KEY) == {LEADER: "its disk is full (a write met a full disk)"}
    member.step(leader_append(3), peer)  # it takes part again
    assert member.context.get_shared(PEERS_OUT_KEY) == {}
    member.out_of_service(actor_module.OutOfService("its disk is full"), peer)
    monkeypatch.setattr(actor_module, "OUT_OF_SERVICE_S", 0.0)  # it went quiet: gone, or back
    member.out_of_service(actor_module.OutOfService("its disk is full"), peer)
    member._receive(actor_module._Tick())
    assert member.context.get_shared(PEERS_OUT_KEY) == {}


def test_a_restarted_member_forgets_what_the_one_before_heard_of_managers_out(
    state_dir: Path, members: list[RaftMember]
) -> None:
    """Its own copy starts empty: a shared one kept would show a manager back long ago "disk full"."""
    shared = context(state_dir)
    shared.set_shared(PEERS_OUT_KEY, {LEADER: "its disk is full"})
    member = RaftMember(None, shared)
    members.append(member)
    member.on_start()
    assert shared.get_shared(PEERS_OUT_KEY) == {}


class RecordingSender:
    """Stands in for the DirectSender: notes each message sent, in order with the fsyncs."""

    def __init__(self, events: list[str]) -> None:
        self.events = events
        self.sent: list[RaftMessage] = []

    def send(self, dst: object, body: RaftMessage, *, src_actor: str) -> None:
        self.events.append(f"send {getattr(body, 'type', body.KIND)}")
        self.sent.append(body)

    def close(self) -> None:
        pass


def started_in(
    state_dir: Path,
    members: list[RaftMember],
    conf: ConfState,
    store: StoreCore | None = None,
    transport: object | None = None,
    disk_full: str = "",
) -> tuple[RaftMember, RecordingSender]:
    """A member started from a snapshot of membership ``conf`` (and ``store``), its messages
    recorded; ``transport`` stands in for the transport, which it uses to connect to peers;
    ``disk_full``: restarted after its disk filled (what the WAL said)."""
    directory = raft_dir(state_dir)
    for stale in directory.glob("snapshot-*"):
        stale.unlink()
    meta = SnapshotMeta(index=1, term=1, conf=conf)
    data = (store or StoreCore()).snapshot()
    wal_module.write_snapshot(directory, 1, encode_snapshot(RaftSnapshot(meta=meta, data=data)))
    member = RaftMember(None, context(state_dir))
    member.context.set_transport(transport)  # type: ignore[arg-type]
    if disk_full:
        member.context.set_shared(DISK_FULL_KEY, DiskFull(disk_full, str(raft_dir(state_dir))))
    sender = RecordingSender([])
    member.sender = sender  # type: ignore[assignment]
    member.on_start()
    assert isinstance(member.actor_inbox.get_nowait().message, _Recover)  # told to itself, first
    member.on_receive(_Recover())
    members.append(member)
    return member, sender


def follower(
    state_dir: Path, members: list[RaftMember], transport: object | None = None
) -> tuple[RaftMember, list[str]]:
    """A member that is one of two voters, the other (LEADER) played by the test; no leader yet."""
    member, sender = started_in(state_dir, members, ConfState(voters=(LEADER, NODE), learners=()), None, transport)
    return member, sender.events


def following(
    state_dir: Path, members: list[RaftMember], transport: object | None = None
) -> tuple[RaftMember, list[str]]:
    """A follower (see ``follower``) that took LEADER's first append: it knows its leader."""
    member, events = follower(state_dir, members, transport)
    member.step(leader_append(2), Request(peer=Identity(LEADER, "manager")))
    member._process()
    assert member.leader == LEADER
    return member, events


def drain(member: RaftMember) -> None:
    """Handle what was told to ``member`` (the test plays its thread): the transport's word, say."""
    while not member.actor_inbox.empty():
        member.on_receive(member.actor_inbox.get_nowait().message)


def leader_append(index: int) -> RaftMessage:
    """LEADER's append of its term-2 no-op at ``index`` (after entries of term 1)."""
    entries = (RaftEntry(index=index, term=2, kind=ENTRY_NORMAL, data=b""),)
    return RaftMessage(
        type=MSG_APP, to=NODE, frm=LEADER, term=2, log_term=1, index=index - 1, entries=entries, commit=1
    )


def test_a_follower_acknowledges_entries_only_after_its_fsync(
    state_dir: Path, members: list[RaftMember], monkeypatch: pytest.MonkeyPatch
) -> None:
    member, events = follower(state_dir, members)
    real_fdatasync = os.fdatasync

    def fdatasync(fd: int) -> None:
        real_fdatasync(fd)
        events.append("fsync")

    monkeypatch.setattr(os, "fdatasync", fdatasync)
    member.step(leader_append(2), Request(peer=Identity(LEADER, "manager")))
    member._process()
    assert "send app_resp" in events, f"the follower did not answer the append: {events}"
    assert "fsync" in events[: events.index("send app_resp")], f"acknowledged before its fsync: {events}"


def test_a_manager_without_a_leader_says_so_every_no_leader_log_s_not_every_tick(
    state_dir: Path, members: list[RaftMember], monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    member, _ = follower(state_dir, members)
    member._receive(actor_module._Tick())
    assert "still no leader" not in caplog.text, "said before NO_LEADER_LOG_S went by"
    monkeypatch.setattr(actor_module, "NO_LEADER_LOG_S", 0.0)
    member._receive(actor_module._Tick())
    assert f"a leader needs 2 of the 2 voters ({LEADER}, {NODE}) up" in caplog.text
    caplog.clear()
    monkeypatch.setattr(actor_module, "NO_LEADER_LOG_S", 3600.0)
    member._receive(actor_module._Tick())
    assert "still no leader" not in caplog.text, "said again at the next tick"
    member.step(leader_append(2), Request(peer=Identity(LEADER, "manager")))
    member._process()
    monkeypatch.setattr(actor_module, "NO_LEADER_LOG_S", 0.0)
    member._receive(actor_module._Tick())
    assert member.leader == LEADER and "still no leader" not in caplog.text


def test_a_manager_removed_from_the_swarm_stops_campaigning_until_it_is_answered_again(
    state_dir: Path, members: list[RaftMember], monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The other managers drop what a removed node sends: it would pre-vote and warn for ever."""
    caplog.set_level(logging.INFO, "swarmnode.raft")
    member, events = following(state_dir, members)  # its append queued for it while it was down
    assert member.leader == LEADER
    events.clear()
    monkeypatch.setattr(actor_module, "NO_LEADER_LOG_S", 0.0)
    member.context.set_shared(SESSION_KEY, Session(REMOVED, "node n1 was removed from the swarm", 0.0))
    member._receive(actor_module._Tick())
    assert member.leader == "", "a removed manager still names the leader it heard before"
    member.step(leader_append(3), Request(peer=Identity(LEADER, "manager")))
    member._process()
    for _ in range(4 * actor_module.ELECTION_TICKS):  # twice the longest election timeout
        member._receive(actor_module._Tick())
    assert events == [], f"a removed manager campaigned or answered: {events}"
    assert member.leader == "" and member.core is not None and member.core.log.last_index == 2
    assert "stops campaigning" in caplog.text and "still no leader" not in caplog.text
    member.context.set_shared(SESSION_KEY, Session("active", "heartbeats answered", 0.0))
    for _ in range(4 * actor_module.ELECTION_TICKS):
        member._receive(actor_module._Tick())
    assert f"send {MSG_PRE_VOTE}" in events, "answered again, it did not campaign"
    assert "part of the swarm again" in caplog.text


def test_a_removed_manager_fails_reads_and_writes_at_once_with_what_it_was_told(
    state_dir: Path, members: list[RaftMember]
) -> None:
    """Not "an election may be under way" at the deadline: a retry cannot help a removed node."""
    member, _ = following(state_dir, members)
    waiting = read_tasks(member)  # asked of LEADER, which will never confirm it now
    member.context.set_shared(SESSION_KEY, Session(REMOVED, "node n1 was removed from the swarm", 0.0))
    member._receive(actor_module._Tick())
    for outcome in (waiting, read_tasks(member), propose(member, "t1")):
        assert outcome.settled, "it waits for a leader that will never answer"
        assert isinstance(outcome._error, Refused) and outcome._error.code == REMOVED, outcome._error
        assert "was removed from the swarm" in outcome._error.text


def test_a_removed_manager_answers_the_writes_the_leader_committed_and_tells_askers_it_does_not_lead(
    state_dir: Path, members: list[RaftMember]
) -> None:
    """Its Store will not catch up: a write the leader answered is answered with the leader's
    word, not left to time out; a manager forwarding to it hears "not the leader", not what this
    node's operator is told."""
    member, _ = follower(state_dir, members)
    committed = Outcome()
    result = ApplyResult(index=99, txn_id="t", ok=True, error=None, events=())
    member._receive(actor_module._ForwardAnswered(committed, result))
    assert not committed.settled, "answered before this Store held the write"
    member.context.set_shared(SESSION_KEY, Session(REMOVED, "node n1 was removed from the swarm", 0.0))
    member._receive(actor_module._Tick())
    assert committed.wait(0) == result
    with pytest.raises(Refused) as refused:
        member.forwarded(actor_module.ForwardProposal(txn=b""), Request(peer=Identity(LEADER, "manager")))
    assert (refused.value.code, refused.value.text) == ("not-leader", f"node {NODE} is not the leader")


def test_a_leader_removed_from_the_swarm_steps_down(state_dir: Path, members: list[RaftMember]) -> None:
    """A stale leader, cut off while the others elected another and removed it: a halted member
    never ticks the check-quorum that would have ended its leadership."""
    member, sender = started_in(state_dir, members, ConfState(voters=(NODE,), learners=(LEARNER,)))
    answer_appends(member, sender)
    assert member.is_leader
    member.context.set_shared(SESSION_KEY, Session(REMOVED, "node n1 was removed from the swarm", 0.0))
    member._receive(actor_module._Tick())
    assert not member.is_leader and member.leader == ""
    outcome = propose(member, "t1")
    assert isinstance(outcome._error, Refused) and outcome._error.code == REMOVED


DROPPED = "d1"  # a manager demoted (or dropped by a forced new cluster), out of the group


def with_nodes(cert_role: str = "", **roles: str) -> StoreCore:
    """A Store holding node objects of these desired roles (their certificates saying ``cert_role``)."""
    store = StoreCore()
    status = {"cert_role": cert_role} if cert_role else {}
    ops = tuple(Create("node", node_id, {"role": role}, status) for node_id, role in roles.items())
    store.apply(1, Transaction(ops=ops, now=0.0, txn_id="t0"))
    return store


def pre_vote_from(sender: str, term: int = 5) -> RaftMessage:
    return RaftMessage(type=MSG_PRE_VOTE, to=NODE, frm=sender, term=term, log_term=9, index=99)


def heartbeat_from(sender: str, term: int) -> RaftMessage:
    return RaftMessage(type=MSG_HEARTBEAT, to=NODE, frm=sender, term=term, commit=1)


def told(sender: RecordingSender) -> list[NotAMember]:
    return [m for m in sender.sent if isinstance(m, NotAMember)]


def test_a_demoted_manager_is_held_out_and_told_so_and_a_new_one_is_not(
    state_dir: Path, members: list[RaftMember], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Managers dropped by a forced new cluster that come back together hold a majority of the
    old group: a higher term of theirs must not make the leader follow them, and they are told."""
    store = with_nodes(**{DROPPED: "worker", LEARNER: "manager"})
    member, sender = started_in(state_dir, members, ConfState(voters=(NODE,), learners=()), store)
    assert member.core is not None and member.is_leader
    term = member.core.term
    member.step(heartbeat_from(DROPPED, term + 5), Request(peer=Identity(DROPPED, "manager")))
    member._process()
    assert member.is_leader and member.core.term == term, "a node held out made the leader follow it"
    assert [m.text for m in told(sender)] == [
        f"manager {NODE} holds node {DROPPED} out of the Raft group (it was demoted)"
    ]
    member.step(pre_vote_from(DROPPED, term + 5), Request(peer=Identity(DROPPED, "manager")))
    assert len(told(sender)) == 1, "told again at once"
    monkeypatch.setattr(actor_module, "NOT_A_MEMBER_TELL_S", 0.0)
    member.step(pre_vote_from(DROPPED, term + 5), Request(peer=Identity(DROPPED, "manager")))
    assert len(told(sender)) == 2
    member.step(pre_vote_from(LEARNER, term + 5), Request(peer=Identity(LEARNER, "manager")))  # promoted, not told yet
    assert len(told(sender)) == 2, "a manager being added was held out"


def test_only_a_leader_holds_a_node_out_but_a_forced_cluster_holds_out_whom_it_dropped(
    state_dir: Path, members: list[RaftMember]
) -> None:
    """A follower's Store may be behind: a manager promoted again installs an old snapshot first,
    in which the leader itself is a worker; it must take the leader's messages. Whom a forced new
    cluster here dropped is held out before it first leads (and commits their demotion)."""
    store = with_nodes(**{LEADER: "worker"})
    member, sender = started_in(state_dir, members, ConfState(voters=(NODE, "n2"), learners=()), store)
    assert member.core is not None and not member.is_leader
    member.step(leader_append(2), Request(peer=Identity(LEADER, "manager")))
    member._process()
    assert member.leader == LEADER and not told(sender)
    member.dropped = {DROPPED}
    member.step(heartbeat_from(DROPPED, 9), Request(peer=Identity(DROPPED, "manager")))
    member._process()
    assert member.leader == LEADER and member.core.term == 2
    assert [m.text for m in told(sender)] == [
        f"manager {NODE} holds node {DROPPED} out of the Raft group (a forced new cluster dropped it)"
    ]


def test_a_leader_tells_the_managers_out_of_its_group_unasked_less_and_less_often(
    state_dir: Path, members: list[RaftMember], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A dropped manager that leads the old group may not reach this one: it is told all the same."""
    store = with_nodes("manager", **{DROPPED: "worker", LEARNER: "manager"})
    member, sender = started_in(state_dir, members, ConfState(voters=(NODE,), learners=()), store)
    clock = [1000.0]
    monkeypatch.setattr(actor_module.time, "monotonic", lambda: clock[0])
    told_at = []
    for _ in range(400):  # 40 s of ticks
        before = len(told(sender))
        member._receive(actor_module._Tick())
        if len(told(sender)) > before:
            told_at.append(clock[0] - 1000.0)
        clock[0] += actor_module.TICK_S
    assert {m.text.split("node ")[1].split()[0] for m in told(sender)} == {DROPPED}, "only the one out of the group"
    gaps = [round(b - a) for a, b in itertools.pairwise(told_at)]
    assert told_at[0] < 1 and gaps[:4] == [2, 4, 8, 16], told_at


def test_a_manager_told_it_is_out_of_the_group_steps_down_and_neither_campaigns_nor_votes_until_a_leader_speaks(
    state_dir: Path, members: list[RaftMember]
) -> None:
    member, events = following(state_dir, members)
    events.clear()
    member.not_a_member(NotAMember(term=3, text="manager x holds node n1 out"), Request(peer=Identity("x", "manager")))
    member._process()
    assert member.leader == ""
    member.step(pre_vote_from(LEADER), Request(peer=Identity(LEADER, "manager")))
    for _ in range(4 * actor_module.ELECTION_TICKS):
        member._receive(actor_module._Tick())
    assert events == [], f"it campaigned or voted: {events}"
    stale = RaftMessage(type=MSG_HEARTBEAT, to=NODE, frm=LEADER, term=1, commit=1)  # from before: it changes nothing
    member.step(stale, Request(peer=Identity(LEADER, "manager")))
    assert member.not_a_member_since is not None
    member.step(leader_append(3), Request(peer=Identity(LEADER, "manager")))  # a leader of its group after all
    member._process()
    assert member.leader == LEADER and member.not_a_member_since is None


def test_being_told_out_of_the_group_expires(
    state_dir: Path, members: list[RaftMember], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The one that told it may be a stale leader, and its vote may be needed: it campaigns again."""
    member, events = follower(state_dir, members)
    member.not_a_member(NotAMember(term=3, text="manager x holds node n1 out"), Request(peer=Identity("x", "manager")))
    monkeypatch.setattr(actor_module, "NOT_A_MEMBER_S", 0.0)
    for _ in range(4 * actor_module.ELECTION_TICKS):
        member._receive(actor_module._Tick())
    assert member.not_a_member_since is None and f"send {MSG_PRE_VOTE}" in events


# ------------------------------------------------------------------------------- lazy commit

LEARNER = "r1"


def with_untold_commit(
    state_dir: Path, members: list[RaftMember], monkeypatch: pytest.MonkeyPatch
) -> tuple[RaftMember, RecordingSender]:
    """The lone voter, leading, with a learner (LEARNER, played by the test) that holds its log
    up to a write committed since the last append, so not yet told of it; no flush is due for
    an hour."""
    member, sender = started_in(state_dir, members, ConfState(voters=(NODE,), learners=(LEARNER,)))
    answer_appends(member, sender)
    monkeypatch.setattr(actor_module, "COMMIT_FLUSH_S", 3600.0)
    assert propose(member, "t1").wait(0).ok
    answer_appends(member, sender)  # the learner holds t1; t1 is committed, and it was not told
    assert member.core is not None and member.core.commit_unsent()
    return member, sender


def answer_appends(member: RaftMember, sender: RecordingSender) -> None:
    """LEARNER takes every append sent so far."""
    for msg in [m for m in sender.sent if m.type == MSG_APP]:
        last = msg.entries[-1].index if msg.entries else msg.index
        member.step(
            RaftMessage(type=MSG_APP_RESP, to=NODE, frm=LEARNER, term=msg.term, index=last),
            Request(peer=Identity(LEARNER, "manager")),
        )
    sender.sent.clear()
    member._process()


def test_a_commit_no_append_carried_goes_to_the_followers_once_it_is_commit_flush_s_old(
    state_dir: Path, members: list[RaftMember], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Under a stream of writes the next append carries each commit: the flush timer, armed for
    an earlier commit, must not send a round of empty appends for one that is still young."""
    member, sender = with_untold_commit(state_dir, members, monkeypatch)
    assert member.core is not None
    member._receive(actor_module._FlushCommit())  # a timer armed for an earlier commit
    member._process()
    assert sender.sent == [], f"a commit not {actor_module.COMMIT_FLUSH_S} s old was flushed: {sender.sent}"
    monkeypatch.setattr(actor_module, "COMMIT_FLUSH_S", 0.0)
    member._receive(actor_module._FlushCommit())
    member._process()
    (flush,) = sender.sent
    assert flush.type == MSG_APP and flush.entries == () and flush.commit == member.core.applied
    assert not member.core.commit_unsent()


def test_a_commit_a_flush_could_not_carry_is_flushed_again_commit_flush_s_later_not_at_once(
    state_dir: Path, members: list[RaftMember], monkeypatch: pytest.MonkeyPatch
) -> None:
    """When the core cannot send the commit to a follower yet, the next flush waits its turn."""
    member, _ = with_untold_commit(state_dir, members, monkeypatch)
    assert member.core is not None
    member.commit_untold_since = time.monotonic() - 7200.0  # untold for longer than a flush
    monkeypatch.setattr(member.core, "broadcast_commit", lambda: None)  # the follower cannot be sent to
    member.commit_flush_armed = False
    member._receive(actor_module._FlushCommit())
    member._process()
    assert member.core.commit_unsent() and member.commit_flush_armed
    pending = member.timers._pending["commit"]
    assert pending.due - time.monotonic() > 3000.0, "the flush was armed again at once"


# ------------------------------------------------------------------------------- reads


def tasks(core: StoreCore) -> list[str]:
    return sorted(obj.id for obj in core.list("task"))


def read_tasks(member: RaftMember) -> Outcome:
    """Ask ``member`` for a linearizable read of the task ids; it answers through the outcome."""
    outcome = Outcome()
    assert member._receive(Read(tasks, outcome)) is None
    return outcome


def test_a_linearizable_read_is_served_once_the_leader_confirmed_it(state_dir: Path, members: list[RaftMember]) -> None:
    member = started(state_dir)
    members.append(member)
    assert propose(member, "t1").wait(0).ok
    outcome = read_tasks(member)  # answered later, through the outcome
    assert not outcome.settled, "served before the read-index round"
    member._process()
    result = outcome.wait(0)
    assert isinstance(result, ReadOutcome) and result.unwrap() == ["t1"]


def test_a_read_asked_without_a_leader_is_asked_of_the_leader_once_one_is_known(
    state_dir: Path, members: list[RaftMember]
) -> None:
    member, events = follower(state_dir, members)
    outcome = read_tasks(member)
    member._process()
    assert "send read_index" not in events and not outcome.settled
    member.step(leader_append(2), Request(peer=Identity(LEADER, "manager")))
    member._process()  # LEADER is known now: the read goes to it
    assert "send read_index" in events, f"the read was not asked of the new leader: {events}"
    assert not outcome.settled, "served without the leader's confirmation"


def read_past_its_deadline(member: RaftMember, monkeypatch: pytest.MonkeyPatch) -> Outcome:
    """A linearizable read whose deadline has passed already: the next tick fails it unless it is served."""
    monkeypatch.setattr(actor_module, "READ_INDEX_TIMEOUT_S", 0.0)
    return read_tasks(member)


def test_a_read_without_a_leader_fails_at_its_deadline(
    state_dir: Path, members: list[RaftMember], monkeypatch: pytest.MonkeyPatch
) -> None:
    member, _ = follower(state_dir, members)
    outcome = read_past_its_deadline(member, monkeypatch)
    member._receive(actor_module._Tick())
    with pytest.raises(Refused, match="no leader"):
        outcome.wait(0)
    assert NO_LEADER in str(outcome._error)


class ForwardingTransport:
    """Notes where writes are forwarded; each forward gets the next of ``answers``, then one the
    leader never answers (the futures handed out are kept, for a test to end them)."""

    def __init__(self, *answers: ReplyFuture[Any]) -> None:
        self.requests: list[tuple[str, str]] = []
        self.answers = list(answers)
        self.futures: list[ReplyFuture[Any]] = []

    def connect(self, node_id: str, addr: str, key: bytes) -> None:
        pass

    def request(self, dst: Address, body: object, *, src_actor: str, timeout_s: float) -> ReplyFuture[Any]:
        self.requests.append((dst.node, type(body).__name__))
        self.futures.append(self.answers.pop(0) if self.answers else ReplyFuture())
        return self.futures[-1]


def failed(error: Exception) -> ReplyFuture[Any]:
    future: ReplyFuture[Any] = ReplyFuture()
    future.set_exception(error)
    return future


def operators_write(member: RaftMember, object_id: str) -> Outcome:
    outcome = Outcome()
    member._propose((Create("task", object_id, {"n": 1}),), outcome, wait_for_leader_s=5.0)
    return outcome


def test_an_operators_write_made_without_a_leader_waits_for_one_and_goes_to_it(
    state_dir: Path, members: list[RaftMember]
) -> None:
    """A manager just restarted has not heard from the leader yet; an election may be under way."""
    transport = ForwardingTransport()
    member, _ = follower(state_dir, members, transport)
    outcome = operators_write(member, "t1")
    member._process()
    assert not outcome.settled and transport.requests == [], "failed (or forwarded) without a leader"
    member.step(leader_append(2), Request(peer=Identity(LEADER, "manager")))
    member._process()
    assert transport.requests == [(LEADER, "ForwardProposal")]


def test_an_operators_write_whose_forward_was_not_sent_is_sent_again_and_one_lost_on_the_way_is_not(
    state_dir: Path, members: list[RaftMember], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The connection to a leader just killed is lost: a forward that never left can go again
    (to it, or to the next leader); one lost on its way may have been committed."""
    transport = ForwardingTransport(failed(NotSent("the connection to the node was lost 0.3 s ago")))
    member, _ = following(state_dir, members, transport)
    monkeypatch.setattr(actor_module, "FORWARD_RETRY_S", 0.0)
    outcome = operators_write(member, "t1")
    assert not outcome.settled, "a forward that never left failed the write"
    mailbox = []
    while not member.actor_inbox.empty():
        mailbox.append(member.actor_inbox.get_nowait().message)
    unsent = [m for m in mailbox if isinstance(m, actor_module._AwaitingLeader)]
    assert len(unsent) == 1, mailbox
    member.on_receive(unsent[0])  # told back by the transport's thread
    member._receive(actor_module._Tick())
    assert transport.requests == [(LEADER, "ForwardProposal")] * 2 and not outcome.settled
    transport.answers.append(failed(TransportError("RaftForwardProposal to raft@l1: the connection was lost")))
    lost = operators_write(member, "t2")
    with pytest.raises(Refused, match="may or may not be committed"):
        lost.wait(0)


def test_a_write_failed_on_a_leader_change_is_never_sent_again_when_its_forward_turns_out_unsent(
    state_dir: Path, members: list[RaftMember]
) -> None:
    """The operator was told it may or may not be committed, to check before retrying: it must
    not be committed later all the same."""
    transport = ForwardingTransport()
    member, _ = following(state_dir, members, transport)
    outcome = operators_write(member, "t1")
    member._leadership("")  # the leader lost (an election): what was handed to it is failed
    with pytest.raises(Refused, match="may or may not be committed"):
        outcome.wait(0)
    transport.futures[0].set_exception(NotSent("the connection to the node was lost 0.2 s ago"))  # its word, after
    drain(member)
    assert member.awaiting_leader == [], "an answered write waits to be sent again"
    member._leadership(LEADER)
    member._receive(actor_module._Tick())
    assert transport.requests == [(LEADER, "ForwardProposal")], "sent again after it was failed"


def test_an_operators_write_waiting_to_be_sent_again_is_failed_as_removed_when_the_node_is_removed(
    state_dir: Path, members: list[RaftMember], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The tick that finds the node removed fails what waits before it could go to the leader again."""
    transport = ForwardingTransport(failed(NotSent("the connection to the node was lost 0.1 s ago")))
    member, _ = following(state_dir, members, transport)
    monkeypatch.setattr(actor_module, "FORWARD_RETRY_S", 0.0)
    waiting = operators_write(member, "t1")
    drain(member)  # the transport's word: not sent
    member.context.set_shared(SESSION_KEY, Session(REMOVED, "node n1 was removed from the swarm", 0.0))
    member._receive(actor_module._Tick())
    with pytest.raises(Refused, match="was removed from the swarm"):
        waiting.wait(0)
    assert transport.requests == [(LEADER, "ForwardProposal")], "sent again by a removed node"
    txn = Transaction(ops=(Create("task", "t9", {"n": 1}),), now=0.0, txn_id="t9")
    late = actor_module._AwaitingLeader(txn, b"", Outcome(), 1e18)
    member.on_receive(late)  # an unsent forward's word arriving after the removal
    with pytest.raises(Refused, match="was removed from the swarm"):
        late.outcome.wait(0)


def test_a_write_without_a_leader_fails_at_once_or_when_its_wait_is_over(
    state_dir: Path, members: list[RaftMember]
) -> None:
    """An actor's own write fails at once (it acts again on its next turn); an operator's waits."""
    member, _ = follower(state_dir, members)
    at_once = propose(member, "t1")
    with pytest.raises(Refused, match="no leader"):
        at_once.wait(0)
    waited = operators_write(member, "t2")
    member._receive(actor_module._Tick())
    assert not waited.settled
    member.awaiting_leader = [dataclasses.replace(w, deadline=0.0) for w in member.awaiting_leader]  # its time is up
    member._receive(actor_module._Tick())
    with pytest.raises(Refused, match="no leader"):
        waited.wait(0)


def test_a_read_the_leader_does_not_confirm_is_asked_again(
    state_dir: Path, members: list[RaftMember], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its request or answer may be lost, or the leader began a new term and dropped it."""
    member, events = following(state_dir, members)
    outcome = read_tasks(member)
    member._process()
    assert events.count("send read_index") == 1
    monkeypatch.setattr(actor_module, "READ_RESEND_S", 0.0)
    member._receive(actor_module._Tick())
    assert events.count("send read_index") == 2, f"the read was not asked again: {events}"
    assert not outcome.settled


def test_a_confirmed_read_this_manager_cannot_catch_up_with_fails_at_its_deadline(
    state_dir: Path, members: list[RaftMember], monkeypatch: pytest.MonkeyPatch
) -> None:
    member, _ = following(state_dir, members)
    outcome = read_past_its_deadline(member, monkeypatch)
    member._process()
    (context,) = member.reads_asked
    answer = RaftMessage(type=MSG_READ_INDEX_RESP, to=NODE, frm=LEADER, term=2, index=50, context=context)
    member.step(answer, Request(peer=Identity(LEADER, "manager")))
    member._process()
    assert member.reads_confirmed and not outcome.settled, "served before this manager applied index 50"
    member._receive(actor_module._Tick())
    with pytest.raises(Refused, match="not caught up"):
        outcome.wait(0)
    assert member.reads_confirmed == []


class RecordingTransport:
    """Notes each connection it makes; as the real one, a connect to where a node is connected does nothing."""

    def __init__(self) -> None:
        self.connected: list[tuple[str, str]] = []
        self.at: dict[str, str] = {}

    def connect(self, node_id: str, addr: str, key: bytes) -> None:
        if self.at.get(node_id) != addr:
            self.at[node_id] = addr
            self.connected.append((node_id, addr))


def with_managers_at(**addresses: str) -> StoreCore:
    """A Store holding manager nodes recorded at these addresses."""
    store = StoreCore()
    ops = tuple(
        Create("node", node_id, {"role": "manager"}, {"cert_role": "manager", "addr": addr, "curve_key": "k" * 40})
        for node_id, addr in addresses.items()
    )
    store.apply(1, Transaction(ops=ops, now=0.0, txn_id="t0"))
    return store


def change_in_store(member: RaftMember, node_id: str, **status: str) -> None:
    obj = member.store.get("node", node_id)
    assert obj is not None
    update = Update("node", node_id, status=obj.status | status)
    member.store.apply(member.store.last_index + 1, Transaction(ops=(update,), now=0.0, txn_id="t1"))


def two_managers(state_dir: Path, members: list[RaftMember]) -> tuple[RaftMember, RecordingSender, RecordingTransport]:
    """A member (at :7000) and LEADER (at :5000 in the Store), the two voters."""
    transport = RecordingTransport()
    store = with_managers_at(**{LEADER: "127.0.0.1:5000", NODE: "127.0.0.1:7000"})
    conf = ConfState(voters=(LEADER, NODE), learners=())
    member, sender = started_in(state_dir, members, conf, store, transport)
    assert transport.connected == [(LEADER, "127.0.0.1:5000")]
    return member, sender, transport


FROM_LEADER = Request(peer=Identity(LEADER, "manager"))


def test_a_manager_that_says_where_it_moved_is_reached_there_until_the_store_records_it(
    state_dir: Path, members: list[RaftMember]
) -> None:
    """With two voters the moved one is needed to commit its own new address."""
    member, _, transport = two_managers(state_dir, members)
    member.address_heard(RaftAddress("0.0.0.0:6000"), FROM_LEADER)
    assert transport.connected == [(LEADER, "127.0.0.1:5000")], "an address no node can dial was followed"
    member.address_heard(RaftAddress("127.0.0.1:6000"), FROM_LEADER)
    assert transport.connected[1:] == [(LEADER, "127.0.0.1:6000")]
    member._connect_peers()  # the Store, still at the old address, does not take the member back there
    assert transport.connected[1:] == [(LEADER, "127.0.0.1:6000")]
    transport.connect(LEADER, "127.0.0.1:5000", b"k")  # the Worker, dialling the managers the Store names
    member.address_heard(RaftAddress("127.0.0.1:6000"), FROM_LEADER)  # said again a second later
    assert transport.at[LEADER] == "127.0.0.1:6000", "the Worker's connection to the old address stayed"
    change_in_store(member, LEADER, addr="127.0.0.1:6000")
    member._connect_peers()
    assert member.heard_at == {} and transport.at[LEADER] == "127.0.0.1:6000"


def test_a_manager_that_stops_saying_where_it_is_is_reached_where_the_store_has_it_again(
    state_dir: Path, members: list[RaftMember], monkeypatch: pytest.MonkeyPatch
) -> None:
    """It moved back before the Store recorded where it went: it says nothing any more."""
    member, _, transport = two_managers(state_dir, members)
    member.address_heard(RaftAddress("127.0.0.1:6000"), FROM_LEADER)
    member._receive(actor_module._Tick())
    assert transport.at[LEADER] == "127.0.0.1:6000", "let go before ADDRESS_HELD_SAYS went by"
    monkeypatch.setattr(actor_module, "ADDRESS_HELD_SAYS", 0)
    member.address_heard(RaftAddress("127.0.0.1:6000"), FROM_LEADER)
    member._receive(actor_module._Tick())
    assert transport.at[LEADER] == "127.0.0.1:5000" and member.heard_at == {}


def test_where_a_manager_says_it_is_is_passed_on_once_to_the_others(state_dir: Path, members: list[RaftMember]) -> None:
    """A moved manager may reach only some of the others (the leader may have moved too)."""
    transport = RecordingTransport()
    store = with_managers_at(**{LEADER: "127.0.0.1:5000", NODE: "127.0.0.1:7000", "m3": "127.0.0.1:9000"})
    conf = ConfState(voters=(LEADER, NODE, "m3"), learners=())
    member, sender = started_in(state_dir, members, conf, store, transport)
    member.address_heard(RaftAddress("127.0.0.1:9100"), Request(peer=Identity("m3", "manager")))
    assert transport.at["m3"] == "127.0.0.1:9100"
    assert [m for m in sender.sent if isinstance(m, RaftAddress)] == [RaftAddress("127.0.0.1:9100", "m3")]
    member.address_heard(RaftAddress("127.0.0.1:5100", LEADER), Request(peer=Identity("m3", "manager")))
    assert transport.at[LEADER] == "127.0.0.1:5100", "what another manager passed on was not followed"
    assert len([m for m in sender.sent if isinstance(m, RaftAddress)]) == 1, "passed on again"
    member.address_heard(RaftAddress("127.0.0.1:7100", NODE), FROM_LEADER)  # where this node is: it knows
    assert NODE not in member.heard_at


def test_a_manager_says_where_it_is_to_the_managers_often_while_the_store_has_it_elsewhere_and_now_and_then_after(
    state_dir: Path, members: list[RaftMember], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Now and then after: another manager's Store may lag (it could not answer the leader)."""
    member, sender, _ = two_managers(state_dir, members)
    said = lambda: [m.addr for m in sender.sent if isinstance(m, RaftAddress)]
    monkeypatch.setattr(actor_module, "ADDRESS_SAY_S", 0.0)
    member.context.advertise_addr = "127.0.0.1:7000"  # where the Store has it
    member._say_address()
    member._say_address()
    assert said() == ["127.0.0.1:7000"], "said more often than ADDRESS_RECORDED_SAY_S"
    monkeypatch.setattr(actor_module, "ADDRESS_RECORDED_SAY_S", 0.0)
    member._say_address()
    assert said() == ["127.0.0.1:7000"] * 2
    monkeypatch.setattr(actor_module, "ADDRESS_RECORDED_SAY_S", 3600.0)
    member.context.advertise_addr = "127.0.0.1:8000"  # restarted on another --listen: said at once
    member._say_address()
    assert said()[2:] == ["127.0.0.1:8000"]
    monkeypatch.setattr(actor_module, "ADDRESS_SAY_S", 3600.0)
    member._say_address()
    assert said()[2:] == ["127.0.0.1:8000"], "said again before ADDRESS_SAY_S"
    monkeypatch.setattr(actor_module, "ADDRESS_SAY_S", 0.0)
    change_in_store(member, LEADER, cert_role="worker")  # demoted: told no more, nothing held for it
    member.address_heard(RaftAddress("127.0.0.1:6000"), FROM_LEADER)
    member._connect_peers()
    member._say_address()
    assert said()[2:] == ["127.0.0.1:8000"] and member.heard_at == {} and member.peers == {}
    change_in_store(member, LEADER, cert_role="manager")
    member._connect_peers()
    member._say_address()
    assert said()[2:] == ["127.0.0.1:8000"] * 2
    change_in_store(member, NODE, addr="127.0.0.1:8000")  # recorded: said now and then only
    member._say_address()
    assert said()[2:] == ["127.0.0.1:8000"] * 2


def test_a_manager_back_where_the_store_has_it_is_reached_there_at_once(
    state_dir: Path, members: list[RaftMember]
) -> None:
    member, _, transport = two_managers(state_dir, members)
    member.address_heard(RaftAddress("127.0.0.1:6000"), FROM_LEADER)
    member.address_heard(RaftAddress("127.0.0.1:5000"), FROM_LEADER)  # said now and then: it moved back
    assert transport.at[LEADER] == "127.0.0.1:5000" and member.heard_at == {}


def test_a_removal_waits_while_the_voters_left_that_answer_are_no_majority():
    """The check `node demote` made may be stale (a manager died since): the leader checks again."""
    status = SimpleNamespace(conf=ConfState(("a", "b", "c"), ()), answering=("a", "b"))
    assert RaftMember._removal_unsafe(status, "c") == ""  # c is the silent one: a and b stay
    assert "only 1 of the 2 managers left would be answering" in RaftMember._removal_unsafe(status, "b")
    assert RaftMember._removal_unsafe(status, "d") == ""  # no voter: nothing to lose
    lone = SimpleNamespace(conf=ConfState(("a",), ("l",)), answering=("a",))
    assert RaftMember._removal_unsafe(lone, "l") == ""  # a learner


def test_a_leader_only_write_is_proposed_on_the_leader_and_never_forwarded(
    state_dir: Path, members: list[RaftMember]
) -> None:
    """The Dispatcher's writes: a leader that hung and came back must not have the new leader
    commit what it decided from its stale view (every node unknown at its restart, or down)."""
    transport = ForwardingTransport()
    member, _ = following(state_dir, members, transport)
    refused = Outcome()
    member._receive(Propose((Create("task", "t1", {"n": 1}),), refused, leader_only=True))
    with pytest.raises(Refused, match=f"manager {NODE} does not lead now") as exc:
        refused.wait(0)
    assert exc.value.code == "not-leader" and transport.requests == [], "sent to the leader"
    member._receive(Propose((Create("task", "t2", {"n": 1}),), Outcome()))
    assert transport.requests == [(LEADER, "ForwardProposal")], "an operator's write is still forwarded"


def test_a_leader_only_write_is_committed_by_the_leader(state_dir: Path, members: list[RaftMember]) -> None:
    leader = started(state_dir)
    members.append(leader)
    written = Outcome()
    leader._receive(Propose((Create("task", "t1", {"n": 1}),), written, leader_only=True))
    leader._process()
    assert written.wait(0).ok


def test_the_peers_heard_from_lately_are_in_the_status(
    state_dir: Path, members: list[RaftMember], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without a leader, `cluster status` names the managers it hears (their pre-votes) and those it does not."""
    member, _ = following(state_dir, members)
    assert member._receive(GetRaftStatus()).heard is None, "told who is up before it could have heard them"
    member.started_at -= actor_module.HEARD_S
    assert member._receive(GetRaftStatus()).heard == (LEADER,)
    monkeypatch.setattr(actor_module, "HEARD_S", 0.0)
    assert member._receive(GetRaftStatus()).heard == ()


def test_a_write_the_former_leader_proposed_nowhere_is_sent_again_not_reported_uncertain(
    state_dir: Path, members: list[RaftMember], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A leader whose disk filled refuses forwards with "not-leader": the write was proposed nowhere,
    and "may or may not be committed" sent the operator to check for nothing."""
    transport = ForwardingTransport(failed(RemoteError("not-leader", f"node {LEADER} is not the leader")))
    member, _ = following(state_dir, members, transport)
    monkeypatch.setattr(actor_module, "FORWARD_RETRY_S", 0.0)
    outcome = operators_write(member, "t1")
    drain(member)  # the refusal, told back to this actor's thread
    assert not outcome.settled, "failed as if it may have been committed"
    member._receive(actor_module._Tick())
    assert transport.requests == [(LEADER, "ForwardProposal")] * 2 and not outcome.settled
