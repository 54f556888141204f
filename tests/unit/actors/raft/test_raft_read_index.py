"""Linearizable reads with read-index (Raft thesis 6.4)."""

from __future__ import annotations

import random

from swarmnode.actors.raft import (
    MSG_APP_RESP,
    MSG_HEARTBEAT,
    MSG_READ_INDEX,
    ConfState,
    RaftConfig,
    RaftCore,
    ReadState,
    Restored,
)
from tests.unit.actors.raft.raft_net import Net


def test_the_leader_serves_a_read_after_a_quorum_confirms_it_leads():
    """6.4: the leader records its commit index, then confirms leadership with a heartbeat round."""
    net = Net("a", "b", "c")
    net.elect("a")
    net.propose("a", b"x")
    net.delivered.clear()
    net.core("a").read_index(b"r1")
    net.stabilize()
    assert net.nodes["a"].read_states == [ReadState(2, b"r1")]
    assert {m.to for m in net.sent(MSG_HEARTBEAT) if m.context == b"r1"} == {"b", "c"}


def test_a_leader_cut_off_from_the_quorum_serves_no_read():
    """6.4: a deposed leader that cannot reach a majority must not answer reads (no stale reads)."""
    net = Net("a", "b", "c")
    net.elect("a")
    net.isolated.update(("b", "c"))
    net.core("a").read_index(b"r1")
    net.stabilize()
    assert net.nodes["a"].read_states == []
    net.isolated.discard("b")
    net.tick_all(1)  # the next heartbeat carries the pending context again
    assert net.nodes["a"].read_states == [ReadState(1, b"r1")]


def test_a_follower_read_is_forwarded_to_the_leader():
    """6.4: a follower asks the leader for the read index, then serves the read itself once applied."""
    net = Net("a", "b", "c")
    net.elect("a")
    net.propose("a", b"x")
    net.core("c").read_index(b"from-c")
    net.stabilize()
    assert net.sent(MSG_READ_INDEX, frm="c", to="a")
    assert net.nodes["c"].read_states == [ReadState(2, b"from-c")]
    assert net.nodes["a"].read_states == []


def test_a_new_leader_answers_reads_only_after_committing_in_its_term():
    """6.4 step 1: until the no-op of its term commits, a new leader may not know the latest commit index."""
    net = Net("a", "b", "c")
    net.drop = lambda m: m.type == MSG_APP_RESP  # the no-op is not acknowledged yet
    a = net.core("a")
    a.campaign()
    net.stabilize()
    assert a.role == "leader" and a.status().commit == 0
    a.read_index(b"early")
    net.stabilize()
    assert net.nodes["a"].read_states == []
    net.drop = None
    net.tick_all(1)
    assert net.nodes["a"].read_states == [ReadState(1, b"early")]


def test_a_single_node_reads_after_its_first_commit():
    """6.4: with one voter, leadership needs no confirmation round."""
    core = RaftCore(RaftConfig("a"), Restored(None, None, (), ConfState(("a",), ())), random.Random(0))
    core.campaign()
    core.read_index(b"r")
    core.advance(core.ready())  # the no-op is persisted: it commits
    rd = core.ready()
    assert rd.read_states == (ReadState(1, b"r"),) and rd.messages == ()


def test_a_read_without_a_leader_is_dropped():
    """6.4: a node that knows no leader cannot get a read index; the caller retries on its own timeout."""
    core = RaftCore(RaftConfig("a"), Restored(None, None, (), ConfState(("a", "b"), ())), random.Random(0))
    core.read_index(b"r")
    assert not core.has_ready()
