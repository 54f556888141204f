"""Membership changes one server at a time (Raft thesis chapter 4, the paper's section 6)."""

from __future__ import annotations

import random

import pytest

from swarmnode.actors.raft import (
    ENTRY_CONF_CHANGE,
    MSG_APP,
    MSG_APP_RESP,
    MSG_TIMEOUT_NOW,
    MSG_VOTE_RESP,
    ConfChange,
    ConfChangeInProgress,
    ConfState,
    HardState,
    RaftConfig,
    RaftCore,
    RaftEntry,
    RaftMessage,
    Restored,
    decode_conf_change,
    encode_conf_change,
)
from tests.unit.actors.raft.raft_net import Net, entries


def join(net: Net, node_id: str, leader: str) -> None:
    """Start an empty node with the membership the leader told it at join time.

    The cluster's founding membership is not in the log, so a joiner cannot learn it from the
    entries alone; replaying the log's conf entries over the current membership gives the
    current membership again.
    """
    net.add(node_id, Restored(None, None, (), net.core(leader).conf), seed=99)


def test_conf_changes_encode_and_decode():
    """6 membership changes: a conf change entry carries the op and the node."""
    cc = ConfChange("add_learner", "node:1")
    assert decode_conf_change(encode_conf_change(cc)) == cc
    for bad in (b"", b"grow:x", b"remove:", b"\xff"):
        with pytest.raises(ValueError):
            decode_conf_change(bad)


def test_a_learner_is_added_caught_up_promoted_and_removed():
    """6 / thesis 4.2.1: a new server joins as a non-voting learner, catches up, then becomes a voter."""
    net = Net("a", "b", "c")
    net.elect("a")
    net.propose("a", b"x")
    join(net, "d", "a")
    a = net.core("a")
    a.propose_conf_change(ConfChange("add_learner", "d"))
    net.stabilize()
    net.tick_all(2)
    assert a.conf == ConfState(("a", "b", "c"), ("d",)) == net.core("d").conf
    assert net.applied_data("d")[0] == b"x"
    # A learner neither votes nor counts for commit: a with d alone cannot commit.
    net.isolated.update(("b", "c"))
    net.propose("a", b"y")
    assert a.status().commit == net.core("d").status().last_index - 1
    net.isolated.clear()
    net.tick_all(1)
    a.propose_conf_change(ConfChange("promote", "d"))
    net.stabilize()
    assert a.conf == ConfState(("a", "b", "c", "d"), ()) == net.core("d").conf
    a.propose_conf_change(ConfChange("remove", "b"))
    net.stabilize()
    assert a.conf == ConfState(("a", "c", "d"), ())
    assert "b" not in a.status().progress
    net.propose("a", b"z")
    for node_id in "acd":
        assert net.applied_data(node_id)[-1] == b"z"


def test_a_learner_never_campaigns():
    """Thesis 4.2.1: a non-voting member does not start elections."""
    net = Net("a", "b", "c", learners=("c",))
    net.elect("a")
    net.isolated.add("a")
    net.tick_all(100)
    assert net.core("c").role == "follower" and net.core("c").term == 1


def test_one_membership_change_at_a_time_in_effect_when_appended_relied_on_once_committed():
    """Thesis 4.1: a change may start only once the previous one committed; it takes effect when
    appended, and the committed membership (what a worker certificate waits for) follows it once
    it commits."""
    net = Net("a", "b", "c")
    net.elect("a")
    a = net.core("a")
    net.isolated.update(("b", "c"))
    a.propose_conf_change(ConfChange("remove", "c"))
    net.process_all()
    status = a.status()
    assert status.conf == ConfState(("a", "b"), ())
    assert status.committed_conf == ConfState(("a", "b", "c"), ())
    with pytest.raises(ConfChangeInProgress, match="has not committed"):
        a.propose_conf_change(ConfChange("add_learner", "e"))
    net.isolated.clear()
    net.tick_all(1)
    assert a.status().committed_conf == ConfState(("a", "b"), ()) == net.core("b").status().committed_conf
    a.propose_conf_change(ConfChange("add_learner", "e"))


def test_a_new_leader_waits_for_its_first_commit_before_a_change():
    """Thesis 4.1: a new leader may hold its predecessor's uncommitted change; it commits in its term first."""
    conf = ConfState(("a", "b", "c"), ())
    add = RaftEntry(2, 1, ENTRY_CONF_CHANGE, encode_conf_change(ConfChange("add_learner", "d")))
    restored = Restored(HardState(1, "", 1), None, (*entries(1), add), conf)
    a = RaftCore(RaftConfig("a", pre_vote=False), restored, random.Random(0))
    assert a.conf == ConfState(("a", "b", "c"), ("d",))  # in effect since appended
    a.campaign()
    a.step(RaftMessage(MSG_VOTE_RESP, "a", "b", 2))
    assert a.role == "leader"
    a.advance(a.ready())
    with pytest.raises(ConfChangeInProgress):
        a.propose_conf_change(ConfChange("add_learner", "e"))
    a.step(RaftMessage(MSG_APP_RESP, "a", "b", 2, index=3))  # the no-op of term 2 commits, and index 2 with it
    assert a.status().commit == 3
    a.propose_conf_change(ConfChange("add_learner", "e"))


def test_nonsense_changes_are_refused_with_a_reason():
    """6: the leader refuses changes that do not apply to the current membership."""
    net = Net("a", "b", learners=("b",))
    net.elect("a")
    a = net.core("a")
    with pytest.raises(ValueError, match="already a voter"):
        a.propose_conf_change(ConfChange("add_learner", "a"))
    with pytest.raises(ValueError, match="not a learner"):
        a.propose_conf_change(ConfChange("promote", "zz"))
    with pytest.raises(ValueError, match="not a member"):
        a.propose_conf_change(ConfChange("remove", "zz"))
    with pytest.raises(ValueError, match="last voter"):
        a.propose_conf_change(ConfChange("remove", "a"))
    with pytest.raises(ValueError, match="op must be one of"):
        a.propose_conf_change(ConfChange("grow", "c"))


def test_a_leader_removing_itself_steps_down_once_the_change_commits():
    """Thesis 4.2.2: the removed leader manages the change without counting itself, then steps down."""
    net = Net("a", "b", "c")
    net.elect("a")
    a = net.core("a")
    a.propose_conf_change(ConfChange("remove", "a"))
    net.stabilize()
    assert a.role == "follower" and a.conf == ConfState(("b", "c"), ())
    # It handed over with timeout_now, so a new leader is there without waiting for a timeout.
    assert net.sent(MSG_TIMEOUT_NOW, frm="a")
    leader = next(i for i in "bc" if net.core(i).role == "leader")
    net.propose(leader, b"after")
    assert net.applied_data("b")[-1] == net.applied_data("c")[-1] == b"after"
    net.tick_all(60)
    assert a.role == "follower" and a.term < net.core(leader).term + 1


def test_a_change_takes_effect_when_appended_and_is_undone_if_truncated():
    """Thesis 4.1: a server uses the latest configuration in its log, committed or not."""
    conf = ConfState(("f", "l1", "l2"), ())
    core = RaftCore(RaftConfig("f"), Restored(HardState(1, "", 1), None, entries(1), conf), random.Random(0))
    add = RaftEntry(2, 1, ENTRY_CONF_CHANGE, encode_conf_change(ConfChange("add_learner", "n")))
    core.step(RaftMessage(MSG_APP, "f", "l1", 1, log_term=1, index=1, entries=(add,), commit=1))
    assert core.conf == ConfState(("f", "l1", "l2"), ("n",))
    # A new leader of term 2 overwrites the uncommitted entry: the change is undone.
    core.step(RaftMessage(MSG_APP, "f", "l2", 2, log_term=1, index=1, entries=entries(2, start=2), commit=1))
    assert core.conf == conf and core.log.last_index == 2 and core.log.term(2) == 2
    rd = core.ready()
    assert [(e.index, e.term) for e in rd.entries] == [(2, 2)]  # storage drops its suffix from index 2


def test_a_node_removed_while_it_was_away_does_not_disrupt_the_cluster():
    """6 (removed servers): pre-vote and leader stickiness make the removed node's elections harmless."""
    net = Net("a", "b", "c")
    net.elect("a")
    net.isolated.add("c")
    net.core("a").propose_conf_change(ConfChange("remove", "c"))
    net.stabilize()
    net.tick_all(100)
    net.isolated.clear()
    net.tick_all(100)
    assert net.core("a").role == "leader" and net.core("a").term == 1


def test_status_names_the_members_the_leader_heard_from_within_an_election_timeout():
    """What `node ls`, a demotion's quorum check and a hand-over count as reachable."""
    net = Net("a", "b", "c")
    net.elect("a")
    net.tick_all(1)
    a = net.core("a")
    assert a.status().active == ("a", "b", "c")
    assert net.core("b").status().active == ()  # only a leader knows
    net.isolated.add("c")
    net.tick_all(3)
    assert a.status().answering == ("a", "b", "c")
    net.tick_all(1)
    assert a.status().answering == ("a", "b")  # 4 heartbeats unanswered: a removal does not count on c
    net.tick_all(6)
    assert a.status().active == ("a", "b", "c")  # heard from c 10 ticks ago: not yet unreachable
    net.tick_all(1)
    assert a.status().active == ("a", "b")
    net.isolated.clear()
    net.tick_all(1)
    assert a.status().active == ("a", "b", "c")


def test_a_new_leader_counts_no_peer_it_never_heard_from_as_answering():
    """Right after it starts (its tick count near 0), a peer it never heard from is not "heard lately"."""
    net = Net("a", "b", "c")
    net.isolated.add("c")
    net.elect("a")
    status = net.core("a").status()
    assert status.role == "leader"
    assert status.answering == ("a", "b") and status.active == ("a", "b")
