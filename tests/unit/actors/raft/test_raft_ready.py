"""The Ready/advance contract (docs/raft-core-api.md) and the leader's progress states (5.3)."""

from __future__ import annotations

import random

from swarmnode.actors.raft import (
    MSG_APP,
    MSG_APP_RESP,
    MSG_HEARTBEAT,
    ConfState,
    HardState,
    RaftConfig,
    RaftCore,
    RaftMessage,
    Restored,
    SoftState,
)
from tests.unit.actors.raft.raft_net import Net, entries


def test_hard_and_soft_state_come_only_when_they_change():
    """5.2: term and vote are persisted before any message that depends on them; nothing is repeated."""
    core = RaftCore(
        RaftConfig("a", pre_vote=False), Restored(None, None, (), ConfState(("a", "b"), ())), random.Random(0)
    )
    assert not core.has_ready()
    core.campaign()
    rd = core.ready()
    assert rd.hard_state == HardState(1, "a", 0) and rd.soft_state == SoftState("", "candidate")
    assert [m.type for m in rd.messages] == ["vote"]
    core.advance(rd)
    assert not core.has_ready()
    core.step(RaftMessage("vote_resp", "a", "b", 1))
    rd = core.ready()
    assert rd.hard_state is None and rd.soft_state == SoftState("a", "leader")


def test_the_leader_sends_entries_in_the_same_ready_that_persists_them():
    """5.3 (as etcd allows): the leader's appends may leave before its own write; it counts itself after advance."""
    net = Net("a", "b", "c")
    net.elect("a")
    a = net.core("a")
    a.propose(b"x")
    rd = a.ready()
    assert [e.data for e in rd.entries] == [b"x"]
    apps = [m for m in rd.messages if m.type == MSG_APP]
    assert {m.to for m in apps} == {"b", "c"} and all(m.entries[-1].data == b"x" for m in apps)
    assert a.status().progress["a"][0] == 1  # not counted before advance
    a.advance(rd)
    assert a.status().progress["a"][0] == 2


def test_proposals_between_two_readys_travel_as_one_append():
    """5.3 batching: proposals made between two Readys go to each follower in one AppendEntries."""
    net = Net("a", "b", "c")
    net.elect("a")
    a = net.core("a")
    for i in range(50):
        a.propose(b"%d" % i)
    rd = a.ready()
    assert sorted((m.to, len(m.entries)) for m in rd.messages) == [("b", 50), ("c", 50)]


def test_committed_entries_of_a_follower_may_be_the_ones_it_just_received():
    """5.3: a follower applies what the leader says is committed, once persisted (same Ready)."""
    core = RaftCore(RaftConfig("b"), Restored(None, None, (), ConfState(("a", "b"), ())), random.Random(0))
    core.step(RaftMessage(MSG_APP, "b", "a", 1, entries=entries(1, 1), commit=2))
    rd = core.ready()
    assert [e.index for e in rd.entries] == [1, 2] == [e.index for e in rd.committed]
    assert rd.hard_state == HardState(1, "", 2) and [m.type for m in rd.messages] == [MSG_APP_RESP]


def test_a_rejected_follower_is_probed_one_append_at_a_time_then_replicated():
    """5.3: after a rejection the leader sends one append per answer (probe), then streams (replicate)."""
    net = Net(
        "a",
        "b",
        "c",
        logs={"a": entries(1, 1, 1, 1), "b": entries(1), "c": entries(1, 1, 1, 1)},
        max_entries_per_msg=1,
    )
    net.isolated.add("b")
    net.elect("a")
    a = net.core("a")
    for i in range(5):
        net.propose("a", b"%d" % i)
    net.isolated = {"c"}
    net.tick("a")  # the heartbeat reaches b, whose answer starts the probing
    states = []
    for _ in range(40):
        net.process_all()
        state = a.status().progress["b"][2]
        states.append(state)
        if state == "probe":
            assert len([m for m in net.queue if m.to == "b" and m.type == MSG_APP]) <= 1
        if not net.queue:
            break
        net.deliver()
    assert "probe" in states and states[-1] == "replicate"
    assert a.status().progress["b"] == (10, 11, "replicate")
    assert net.applied_data("b")[-5:] == [b"%d" % i for i in range(5)]


def test_heartbeats_carry_only_the_commit_a_follower_can_hold():
    """5.3: a heartbeat's commit is min(follower's match, commit), so a lagging follower never commits a gap."""
    net = Net("a", "b", "c")
    net.elect("a")
    net.isolated.add("c")
    net.propose("a", b"x")
    net.delivered.clear()
    net.isolated.clear()
    net.drop = lambda m: m.type == MSG_APP
    net.tick("a")
    net.stabilize()
    beats = {m.to: m.commit for m in net.sent(MSG_HEARTBEAT)}
    assert beats == {"b": 2, "c": 1}
