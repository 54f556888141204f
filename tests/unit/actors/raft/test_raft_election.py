"""Leader election: randomized timeouts, the election restriction, pre-vote and check-quorum."""

from __future__ import annotations

import random

from swarmnode.actors.raft import (
    MSG_PRE_VOTE,
    MSG_VOTE,
    ConfState,
    HardState,
    RaftConfig,
    RaftCore,
    RaftMessage,
    Restored,
)
from tests.unit.actors.raft.raft_net import Net, entries


def test_a_single_node_elects_itself_and_commits_after_advance():
    """5.2 leader election; contract: a single-node cluster commits as soon as an entry is advanced."""
    core = RaftCore(RaftConfig("a"), Restored(None, None, (), ConfState(("a",), ())), random.Random(1))
    for _ in range(20):
        core.tick()
    assert core.role == "leader" and core.term == 1
    rd = core.ready()
    assert rd.hard_state == HardState(1, "a", 0)
    assert [(e.index, e.term, e.data) for e in rd.entries] == [(1, 1, b"")]  # the leader's no-op
    assert rd.committed == ()
    core.advance(rd)
    rd = core.ready()
    assert [e.index for e in rd.committed] == [1] and rd.hard_state == HardState(1, "a", 1)
    core.advance(rd)
    assert core.propose(b"x") == 2
    rd = core.ready()
    assert [e.data for e in rd.entries] == [b"x"] and rd.committed == ()
    core.advance(rd)
    rd = core.ready()
    assert [e.data for e in rd.committed] == [b"x"]
    core.advance(rd)
    assert not core.has_ready()


def test_the_first_node_to_time_out_becomes_leader_of_term_1():
    """5.2: a follower that hears nothing within its election timeout campaigns and wins a majority."""
    net = Net("a", "b", "c", seed=3)
    for _ in range(40):
        net.tick_all()
        if any(n.core.role == "leader" for n in net.nodes.values()):
            break
    leaders = [i for i, n in net.nodes.items() if n.core.role == "leader"]
    assert len(leaders) == 1
    assert {n.core.term for n in net.nodes.values()} == {1}
    assert {n.core.lead for n in net.nodes.values()} == {leaders[0]}


def test_election_timeouts_are_randomized_in_one_to_two_timeouts():
    """5.2: election timeouts are chosen randomly from a fixed interval, here [10, 20) ticks."""
    seen = set()
    for seed in range(30):
        core = RaftCore(
            RaftConfig("a", pre_vote=False), Restored(None, None, (), ConfState(("a", "b"), ())), random.Random(seed)
        )
        ticks = 0
        while core.role == "follower":
            core.tick()
            ticks += 1
        seen.add(ticks)
    assert min(seen) >= 10 and max(seen) < 20 and len(seen) > 3


def test_runs_replay_exactly_given_the_seed():
    """Determinism: the core's only randomness is the injected generator."""

    def run() -> list[tuple[str, str, int]]:
        net = Net("a", "b", "c", seed=11)
        net.tick_all(30)
        return [(m.type, m.to, m.term) for m in net.delivered]

    assert run() == run()


def test_a_voter_grants_one_vote_per_term():
    """5.2: each server votes for at most one candidate in a given term, first come first served."""
    core = RaftCore(
        RaftConfig("a", pre_vote=False), Restored(None, None, (), ConfState(("a", "b", "c"), ())), random.Random(0)
    )
    core.step(RaftMessage(MSG_VOTE, "a", "b", 1))
    core.step(RaftMessage(MSG_VOTE, "a", "c", 1))
    core.step(RaftMessage(MSG_VOTE, "a", "b", 1))  # a retry from the same candidate is granted again
    answers = [(m.to, m.reject) for m in core.ready().messages]
    assert answers == [("b", False), ("c", True), ("b", False)]
    assert core.vote == "b"


def test_a_candidate_with_a_stale_log_is_refused():
    """5.4.1 election restriction: a vote goes only to a candidate whose log is at least as up to date."""
    net = Net("a", "b", "c", logs={"a": entries(1), "b": entries(1, 2), "c": entries(1, 2)}, pre_vote=False)
    net.core("a").campaign()
    net.stabilize()
    assert net.core("a").role != "leader"
    assert all(m.reject for m in net.sent("vote_resp", to="a"))
    net.elect("b")  # b's log is as up to date as c's


def test_pre_vote_keeps_a_partitioned_node_from_raising_its_term():
    """9.6 pre-vote: a node cut off from the cluster keeps failing pre-votes and never raises its term."""
    net = Net("a", "b", "c")
    net.elect("a")
    net.propose("a", b"x")
    net.isolated.add("c")
    net.tick_all(100)
    assert net.core("c").term == 1 and net.core("c").role == "pre_candidate"
    net.isolated.clear()
    net.tick_all(5)
    # c rejoins without disturbing the leader: same term, same leader, c follows again.
    assert net.core("a").role == "leader" and net.core("a").term == 1
    assert net.core("c").lead == "a" and net.core("c").role == "follower"
    assert net.applied_data("c") == [b"x"]


def test_without_pre_vote_a_partitioned_node_inflates_its_term():
    """9.6 (the problem pre-vote solves): a partitioned candidate raises its term on every timeout."""
    net = Net("a", "b", "c", pre_vote=False, check_quorum=False)
    net.elect("a")
    net.isolated.add("c")
    net.tick_all(100)
    assert net.core("c").term > 3


def test_a_leader_that_loses_its_quorum_steps_down():
    """6.2 check-quorum: a leader that hears from no majority within an election timeout steps down."""
    net = Net("a", "b", "c")
    net.elect("a")
    net.isolated.add("a")
    net.tick_all(21)
    assert net.core("a").role == "follower" and net.core("a").lead == ""


def test_followers_that_hear_a_leader_ignore_vote_requests():
    """4.2.3 leader stickiness: a node that heard from a leader within the timeout ignores higher-term votes."""
    net = Net("a", "b", "c")
    net.elect("a")
    # c, not hearing a (cut), times out and asks b for votes at a higher term; b still hears a.
    net.cut.add(frozenset(("a", "c")))
    net.tick_all(45)
    assert net.core("a").role == "leader" and net.core("a").term == 1
    assert net.core("b").term == 1 and net.core("b").lead == "a"
    assert net.sent(MSG_PRE_VOTE, frm="c")


def test_a_higher_term_message_turns_a_leader_into_a_follower():
    """5.1: a server that sees a higher term updates its term and reverts to follower."""
    net = Net("a", "b", "c", check_quorum=False, pre_vote=False)
    net.elect("a")
    net.isolated.add("a")
    net.elect("b")
    net.isolated.clear()
    net.tick_all(2)
    assert net.core("a").role == "follower" and net.core("a").term == 2 and net.core("a").lead == "b"


def test_a_split_vote_is_resolved_by_a_later_election():
    """5.2: split votes are rare with randomized timeouts and resolved by a new election."""
    net = Net("a", "b", "c", "d", pre_vote=False)
    net.core("a").campaign()
    net.core("b").campaign()  # both at term 1, and the queued requests race
    net.stabilize()
    net.tick_all(60)
    leaders = [i for i, n in net.nodes.items() if n.core.role == "leader"]
    assert len(leaders) == 1


def test_a_member_that_forgets_its_leader_keeps_its_term_vote_and_log():
    """A member removed from the group halts (the actor stops ticking it): it follows no one, and
    a stale leader steps down."""
    net = Net("a", "b", "c", seed=3)
    net.elect("a")
    follower = net.core("b")
    before = (follower.term, follower.vote, follower.log.last_index, follower.log.committed)
    assert follower.lead == "a"
    follower.forget_leader()
    assert follower.lead == "" and follower.role == "follower"
    assert (follower.term, follower.vote, follower.log.last_index, follower.log.committed) == before
    leader = net.core("a")
    term, vote = leader.term, leader.vote
    leader.forget_leader()
    assert (leader.role, leader.lead, leader.term, leader.vote) == ("follower", "", term, vote)
