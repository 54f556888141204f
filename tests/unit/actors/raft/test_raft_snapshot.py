"""Log compaction and InstallSnapshot (Raft paper section 7)."""

from __future__ import annotations

import random

import pytest

from swarmnode.actors.raft import (
    MSG_APP,
    MSG_APP_RESP,
    MSG_SNAP,
    ConfState,
    HardState,
    RaftConfig,
    RaftCore,
    RaftMessage,
    RaftSnapshot,
    Restored,
    SnapshotMeta,
)
from tests.unit.actors.raft.raft_net import Net, entries


def compact_all(net: Net) -> None:
    for node_id in net.nodes:
        net.compact(node_id)


def test_a_slow_follower_gets_the_snapshot_then_the_entries_after_it():
    """7: the leader sends InstallSnapshot to a follower whose next entry it has discarded."""
    net = Net("a", "b", "c")
    net.elect("a")
    net.isolated.add("c")
    for i in range(8):
        net.propose("a", b"%d" % i)
    compact_all(net)  # a and b compact at index 9
    net.propose("a", b"after")
    net.isolated.clear()
    net.tick_all(3)
    snaps = net.sent(MSG_SNAP, to="c")
    assert len(snaps) == 1 and snaps[0].snapshot is not None and snaps[0].snapshot.meta.index == 9
    assert snaps[0].snapshot.data == b"state@9" and snaps[0].snapshot.meta.conf == ConfState(("a", "b", "c"), ())
    c = net.nodes["c"]
    assert c.stored_snapshot is not None and c.stored_snapshot.index == 9
    assert [e.data for e in c.stored] == [b"after"] and c.applied_index == 10
    assert net.core("a").status().progress["c"] == (10, 11, "replicate")
    net.propose("a", b"more")
    assert net.applied_data("c")[-1] == b"more"


def test_compaction_drops_entries_from_memory():
    """7: entries up to the snapshot's index are discarded; the log keeps its last index and term."""
    net = Net("a")
    net.elect("a")
    for i in range(5):
        net.propose("a", b"%d" % i)
    core = net.core("a")
    core.compact(4, b"s")
    assert core.log.first_index == 5 and len(core.log.entries) == 2 and core.log.last_index == 6
    with pytest.raises(ValueError, match="only entries up to 6 are applied"):
        core.compact(7, b"s")
    core.compact(3, b"older")  # an older snapshot than the one kept: nothing to do
    assert core.log.first_index == 5


def test_a_lost_snapshot_is_sent_again():
    """7: InstallSnapshot is retried when its answer does not come (here after two election timeouts)."""
    net = Net("a", "b", "c")
    net.elect("a")
    net.isolated.add("c")
    net.propose("a", b"x")
    compact_all(net)
    net.isolated.clear()
    net.drop = lambda m: m.type == MSG_SNAP
    net.tick_all(3)
    assert net.core("a").status().progress["c"][2] == "snapshot"
    net.drop = None
    net.tick_all(25)
    assert net.nodes["c"].applied_index == 2 and net.core("a").status().progress["c"][2] == "replicate"


def test_a_snapshot_the_follower_already_covers_only_moves_its_commit():
    """7: if the follower's log has the snapshot's last entry, it keeps its log and just commits up to it."""
    conf = ConfState(("f", "l"), ())
    core = RaftCore(RaftConfig("f"), Restored(HardState(1, "", 1), None, entries(1, 1, 1), conf), random.Random(0))
    snap = RaftSnapshot(SnapshotMeta(2, 1, conf), b"s")
    core.step(RaftMessage(MSG_SNAP, "f", "l", 1, snapshot=snap))
    rd = core.ready()
    assert rd.snapshot is None and core.log.last_index == 3 and core.status().commit == 2
    assert [(m.type, m.index) for m in rd.messages] == [(MSG_APP_RESP, 2)]


def test_a_snapshot_replaces_a_conflicting_log_and_its_membership():
    """7: a follower discards its whole log when the snapshot does not match it, and takes the snapshot's conf."""
    core = RaftCore(
        RaftConfig("f"),
        Restored(HardState(1, "", 0), None, entries(1, 1, 1), ConfState(("f", "l"), ())),
        random.Random(0),
    )
    conf = ConfState(("f", "l", "m"), ("n",))
    core.step(RaftMessage(MSG_SNAP, "f", "l", 3, snapshot=RaftSnapshot(SnapshotMeta(5, 2, conf), b"s")))
    rd = core.ready()
    assert rd.snapshot is not None and rd.snapshot.meta.index == 5 and rd.entries == ()
    assert rd.hard_state == HardState(3, "", 5)
    assert [(m.type, m.index) for m in rd.messages] == [(MSG_APP_RESP, 5)]
    assert core.conf == conf
    core.advance(rd)
    assert core.status().applied == 5 and not core.has_ready()
    core.step(RaftMessage(MSG_APP, "f", "l", 3, log_term=2, index=5, entries=entries(3, start=6), commit=6))
    rd = core.ready()
    assert [e.index for e in rd.entries] == [6] and [e.index for e in rd.committed] == [6]


def test_a_restart_from_a_snapshot_reapplies_the_committed_entries_after_it():
    """7 and the Ready contract: after a restart, applied starts at the snapshot; later committed entries come again."""
    conf = ConfState(("a",), ())
    restored = Restored(HardState(2, "a", 7), SnapshotMeta(5, 2, conf), entries(2, 2, start=6), conf)
    core = RaftCore(RaftConfig("a"), restored, random.Random(0))
    assert core.status().applied == 5 and core.status().last_index == 7
    rd = core.ready()
    assert rd.hard_state is None and rd.entries == () and [e.index for e in rd.committed] == [6, 7]


def test_a_restarted_leader_sends_the_snapshot_it_was_given_back():
    """7: after a restart the driver hands the restored snapshot's data back with compact(index, data)."""
    net = Net("a", "b", "c")
    net.elect("a")
    net.isolated.add("c")
    for i in range(3):
        net.propose("a", b"%d" % i)
    compact_all(net)
    for node_id in ("a", "b"):
        node = net.restart(node_id)
        assert node.stored_snapshot is not None
        node.core.compact(node.stored_snapshot.index, b"restored")
    net.isolated.clear()
    net.tick_all(60)
    assert net.nodes["c"].stored_snapshot is not None
    assert [m.snapshot.data for m in net.sent(MSG_SNAP, to="c") if m.snapshot] == [b"restored"]
