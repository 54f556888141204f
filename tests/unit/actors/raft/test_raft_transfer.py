"""Leadership transfer (Raft thesis 3.10)."""

from __future__ import annotations

import pytest

from swarmnode.actors.raft import (
    CONTEXT_TRANSFER,
    MSG_TIMEOUT_NOW,
    MSG_TRANSFER_LEADER,
    MSG_VOTE,
    NotLeader,
    RaftMessage,
)
from tests.unit.actors.raft.raft_net import Net


def test_leadership_moves_to_an_up_to_date_follower_at_once():
    """3.10: the leader sends timeout_now to a caught-up target, which campaigns without pre-vote."""
    net = Net("a", "b", "c")
    net.elect("a")
    net.propose("a", b"x")
    net.core("a").transfer_leadership("b")
    net.stabilize()
    assert net.core("b").role == "leader" and net.core("b").term == 2
    assert net.core("a").role == "follower" and net.core("a").lead == "b"
    votes = net.sent(MSG_VOTE, frm="b")
    assert votes and all(m.context == CONTEXT_TRANSFER for m in votes)  # granted despite leader stickiness
    net.propose("b", b"y")
    assert net.applied_data("a") == [b"x", b"y"]


def test_the_leader_catches_a_lagging_target_up_first_and_refuses_proposals_meanwhile():
    """3.10: the leader stops accepting client requests and brings the target's log up to date first."""
    net = Net("a", "b", "c")
    net.elect("a")
    net.isolated.add("c")
    net.propose("a", b"x")
    a = net.core("a")
    a.transfer_leadership("c")
    with pytest.raises(NotLeader) as refused:
        a.propose(b"y")
    assert refused.value.leader == "c"
    net.process_all()
    assert not net.sent(MSG_TIMEOUT_NOW)
    net.isolated.clear()
    net.tick_all(1)
    timeout_now = net.sent(MSG_TIMEOUT_NOW, frm="a", to="c")
    assert len(timeout_now) == 1
    assert net.core("c").role == "leader" and net.applied_data("c") == [b"x"]


def test_a_transfer_that_does_not_finish_within_an_election_timeout_is_abandoned():
    """3.10: if the transfer does not complete within an election timeout, the leader resumes accepting requests."""
    net = Net("a", "b", "c")
    net.elect("a")
    net.isolated.add("c")
    net.propose("a", b"x")
    net.core("a").transfer_leadership("c")
    net.tick_all(10)
    assert net.core("a").role == "leader"
    net.propose("a", b"y")
    assert net.applied_data("b") == [b"x", b"y"]


def test_a_follower_may_ask_the_leader_to_hand_over():
    """3.10: transfer_leader from a follower makes the leader transfer to it; a follower does not relay it."""
    net = Net("a", "b", "c")
    net.elect("a")
    net.queue.append(RaftMessage(MSG_TRANSFER_LEADER, "b", "c", 1))  # c took b for the leader: dropped
    net.stabilize()
    assert net.core("a").role == "leader"
    net.queue.append(RaftMessage(MSG_TRANSFER_LEADER, "a", "c", 1))
    net.stabilize()
    assert net.core("c").role == "leader"


def test_transfers_to_itself_learners_or_strangers_are_ignored():
    """3.10: only a voter other than the leader can take over."""
    net = Net("a", "b", "c", learners=("c",))
    net.elect("a")
    for target in ("a", "c", "zz"):
        net.core("a").transfer_leadership(target)
        net.stabilize()
        assert net.core("a").role == "leader"
    net.propose("a", b"x")
