"""Log replication: AppendEntries, conflicts (Figure 7), the commit rule (Figure 8), flow control."""

from __future__ import annotations

import random

import pytest

from swarmnode.actors.raft import (
    MSG_APP,
    MSG_APP_RESP,
    MSG_PRE_VOTE_RESP,
    MSG_VOTE_RESP,
    ConfState,
    HardState,
    NotLeader,
    RaftConfig,
    RaftCore,
    RaftMessage,
    Restored,
)
from tests.unit.actors.raft.raft_net import Net, entries


def test_entries_replicate_commit_and_apply_everywhere():
    """5.3 log replication: the leader appends, replicates, commits once a majority stores it, then all apply."""
    net = Net("a", "b", "c")
    net.elect("a")
    for i in range(5):
        net.propose("a", f"x{i}".encode())
    for node_id in "abc":
        assert net.applied_data(node_id) == [f"x{i}".encode() for i in range(5)]
    net.logs_match()
    assert net.core("b").status().commit == 6


def test_a_follower_refuses_proposals_naming_the_leader():
    """5.1: clients talk to the leader; a follower redirects them."""
    net = Net("a", "b", "c")
    with pytest.raises(NotLeader) as unknown:
        net.core("b").propose(b"x")
    assert unknown.value.leader == ""
    net.elect("a")
    with pytest.raises(NotLeader) as known:
        net.core("b").propose(b"x")
    assert known.value.leader == "a"


def test_a_minority_cannot_commit():
    """5.3: an entry is committed only once a majority of voters stores it."""
    net = Net("a", "b", "c")
    net.elect("a")
    net.isolated.update(("b", "c"))
    net.propose("a", b"x")
    assert net.core("a").status().commit == 1
    net.isolated.clear()
    net.tick_all(1)
    assert net.core("a").status().commit == 2
    assert net.applied_data("b") == [b"x"]


def test_a_follower_persists_before_it_acknowledges():
    """5.3 and the Ready contract: an acknowledgement travels in the same Ready as the entries it covers."""
    net = Net("a", "b")
    net.elect("a")
    net.core("a").propose(b"x")
    net.process("a")
    net.deliver()
    rd = net.core("b").ready()
    assert [e.data for e in rd.entries] == [b"x"]
    assert [(m.type, m.index) for m in rd.messages] == [(MSG_APP_RESP, 2)]


# Figure 7 of the Raft paper: the leader of term 8 and followers (a)-(f) with missing,
# extra and conflicting entries; the index of each list item is its log index - 1.
LEADER_LOG = (1, 1, 1, 4, 4, 5, 5, 6, 6, 6)
FIGURE_7 = {
    "a": (1, 1, 1, 4, 4, 5, 5, 6, 6),
    "b": (1, 1, 1, 4),
    "c": (1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 6),
    "d": (1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 7, 7),
    "e": (1, 1, 1, 4, 4, 4, 4),
    "f": (1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3),
}


@pytest.mark.parametrize("case", sorted(FIGURE_7))
def test_the_leader_forces_its_log_on_followers_figure_7(case: str):
    """5.3 Figure 7: the leader makes each follower's log identical to its own, missing or conflicting."""
    follower = FIGURE_7[case]
    net = Net(
        "lead",
        "f",
        "x",
        logs={"lead": entries(*LEADER_LOG), "f": entries(*follower), "x": entries(*LEADER_LOG)},
        terms={"lead": 8, "f": 7, "x": 8},
    )
    net.elect("lead")
    net.tick_all(1)
    net.logs_match("lead", "f")
    assert [e.term for e in net.nodes["f"].stored] == [*LEADER_LOG, net.core("lead").term]
    # The hint skips a whole term per round trip: few rejections even for the long divergence.
    assert len([m for m in net.sent(MSG_APP_RESP, frm="f") if m.reject]) <= 3


def test_a_follower_rejection_hint_skips_back_by_term():
    """5.3 (optimization): a rejection names the follower's last index with a term <= the leader's prev term."""
    core = RaftCore(
        RaftConfig("f"),
        Restored(HardState(3, "", 0), None, entries(1, 2, 2, 2, 3, 3), ConfState(("f", "l"), ())),
        random.Random(0),
    )
    core.step(RaftMessage(MSG_APP, "f", "l", 4, log_term=4, index=9, entries=entries(4, start=10)))
    (resp,) = core.ready().messages
    assert resp.reject and resp.index == 9
    assert (resp.reject_hint, resp.log_term) == (6, 3)
    core.step(RaftMessage(MSG_APP, "f", "l", 4, log_term=1, index=3))
    (resp,) = core.ready().messages
    assert (resp.reject_hint, resp.log_term) == (1, 1)


def test_only_current_term_entries_commit_by_counting_figure_8():
    """5.4.2 committing entries from previous terms (Figure 8): a majority of replicas is not enough."""
    conf = ConfState(("s1", "s2", "s3", "s4", "s5"), ())
    s1 = RaftCore(
        RaftConfig("s1", pre_vote=False), Restored(HardState(3, "", 1), None, entries(1, 2), conf), random.Random(0)
    )
    s1.campaign()  # term 4
    for voter in ("s2", "s3"):
        s1.step(RaftMessage(MSG_VOTE_RESP, "s1", voter, 4))
    assert s1.role == "leader" and s1.term == 4
    s1.advance(s1.ready())  # s1 persisted its no-op at index 3
    # Index 2 (term 2) reaches s2 and s3: a majority stores it, yet it must not commit...
    for voter in ("s2", "s3"):
        s1.step(RaftMessage(MSG_APP_RESP, "s1", voter, 4, index=2))
    assert s1.status().commit == 1
    # ...until an entry of term 4 is stored by a majority; then index 2 commits with it.
    s1.step(RaftMessage(MSG_APP_RESP, "s1", "s2", 4, index=3))
    assert s1.status().commit == 1  # s1 and s2 of five
    s1.step(RaftMessage(MSG_APP_RESP, "s1", "s3", 4, index=3))
    assert s1.status().commit == 3


def test_figure_8_the_entry_of_an_old_term_is_safe_once_the_new_leader_commits():
    """5.4.2 Figure 8 (d)/(e): once s1's term-4 entry commits, s5 (with a term-3 entry) cannot win."""
    net = Net(
        "s1",
        "s2",
        "s3",
        "s4",
        "s5",
        logs={"s1": entries(1, 2), "s2": entries(1, 2), "s3": entries(1), "s4": entries(1), "s5": entries(1, 3)},
        terms={"s1": 3, "s2": 3, "s3": 3, "s4": 3, "s5": 3},
    )
    net.isolated.add("s5")
    net.elect("s1")
    net.isolated.clear()
    net.isolated.add("s1")
    net.nodes["s5"].core.campaign()
    net.stabilize()
    net.tick_all(50)
    assert net.core("s5").role != "leader"
    assert [e.term for e in net.nodes["s2"].stored][:3] == [1, 2, 4]


def test_appends_are_batched_by_count_and_bytes():
    """5.3 with flow control: one AppendEntries carries at most max_entries_per_msg entries and max bytes."""
    net = Net("a", "b", max_entries_per_msg=4, max_bytes_per_msg=100)
    net.elect("a")
    net.isolated.add("b")
    for i in range(10):
        net.core("a").propose(b"%d" % i)
    net.core("a").propose(b"z" * 300)  # larger than the byte limit: travels alone
    net.core("a").propose(b"w")
    net.stabilize()
    net.isolated.clear()
    net.delivered.clear()
    net.tick_all(1)
    sizes = [len(m.entries) for m in net.sent(MSG_APP, to="b") if m.entries]
    assert max(sizes) <= 4 and sum(sizes) == 12
    assert any(len(m.entries) == 1 and m.entries[0].data == b"z" * 300 for m in net.sent(MSG_APP, to="b"))
    assert net.applied_data("b")[-1] == b"w"


def test_pipelining_stops_at_max_inflight_and_resumes_on_acks():
    """5.3 with flow control: in replicate state appends are pipelined, at most max_inflight unanswered."""
    net = Net("a", "b", max_inflight=3, max_entries_per_msg=1)
    net.elect("a")
    a = net.core("a")
    net.drop = lambda m: m.type == MSG_APP_RESP  # b's answers are held back
    net.delivered.clear()
    for i in range(10):
        a.propose(b"%d" % i)
    net.stabilize()
    apps = [m for m in net.sent(MSG_APP, to="b") if m.entries]
    assert len(apps) == 3 and a.status().progress["b"][2] == "replicate"
    net.drop = None
    net.tick_all(3)
    assert net.applied_data("b") == [b"%d" % i for i in range(10)]


def test_a_lost_append_is_repaired_by_probing():
    """5.3: when an append is lost, the follower rejects the next one and the leader backs up and resends."""
    net = Net("a", "b", "c")
    net.elect("a")
    lost = []

    def drop_first(m: RaftMessage) -> bool:
        if m.type == MSG_APP and m.to == "c" and m.entries and not lost:
            lost.append(m)
            return True
        return False

    net.drop = drop_first
    net.propose("a", b"x")
    net.propose("a", b"y")
    net.tick_all(2)
    assert lost and net.applied_data("c") == [b"x", b"y"]
    net.logs_match()


def test_a_restarted_follower_keeps_what_it_persisted():
    """5.3 and the Ready contract: a crash loses nothing persisted; the leader catches the node up."""
    net = Net("a", "b", "c")
    net.elect("a")
    net.propose("a", b"x")
    net.restart("b")
    net.propose("a", b"y")
    net.tick_all(1)
    assert net.applied_data("b") == [b"x", b"y"]
    assert net.core("b").term == 1


def test_a_restarted_leader_comes_back_as_follower_with_its_log():
    """5.2/5.3: a leader that crashes restarts as a follower and still holds every entry it persisted."""
    net = Net("a", "b", "c")
    net.elect("a")
    net.propose("a", b"x")
    net.restart("a")
    assert net.core("a").role == "follower" and net.core("a").status().last_index == 2
    net.tick_all(45)
    leader = next(i for i, n in net.nodes.items() if n.core.role == "leader")
    net.propose(leader, b"y")
    assert net.applied_data("a")[-1] == b"y"


def test_pre_vote_responses_of_a_granted_poll_do_not_change_terms():
    """9.6 pre-vote: granting or winning a pre-vote changes no term; only the real election does."""
    core = RaftCore(RaftConfig("a"), Restored(None, None, (), ConfState(("a", "b", "c"), ())), random.Random(0))
    core.campaign()
    assert core.role == "pre_candidate" and core.term == 0
    core.step(RaftMessage(MSG_PRE_VOTE_RESP, "a", "b", 1))
    assert core.role == "candidate" and core.term == 1


def _empty_appends(net: Net, start: int) -> list[RaftMessage]:
    return [m for m in net.delivered[start:] if m.type == MSG_APP and not m.entries]


def test_a_lazy_commit_waits_for_the_next_append_or_the_drivers_broadcast():
    """lazy_commit: no round of empty appends per commit; followers learn it later, all the same."""
    net = Net("a", "b", "c", lazy_commit=True)
    net.elect("a")
    net.stabilize()
    mark = len(net.delivered)
    net.propose("a", b"x")
    leader = net.core("a")
    assert leader.status().commit == 2 and not _empty_appends(net, mark)
    assert net.applied_data("b") == [] and leader.commit_unsent()
    net.propose("a", b"y")  # its append carries the commit of x
    assert net.applied_data("b") == [b"x"] and not _empty_appends(net, mark)
    leader.broadcast_commit()
    net.stabilize()
    assert [m.to for m in _empty_appends(net, mark)] == ["b", "c"]
    assert net.applied_data("b") == net.applied_data("c") == [b"x", b"y"] and not leader.commit_unsent()
    mark = len(net.delivered)
    leader.broadcast_commit()  # nothing left to tell: nothing sent
    net.stabilize()
    assert net.delivered[mark:] == []


def test_a_lazy_commit_reaches_followers_with_the_heartbeat():
    net = Net("a", "b", "c", lazy_commit=True)
    net.elect("a")
    net.propose("a", b"x")
    assert net.applied_data("c") == [] and net.core("a").commit_unsent()
    net.tick("a")  # heartbeat_ticks = 1
    net.stabilize()
    assert net.applied_data("c") == [b"x"] and not net.core("a").commit_unsent()


def test_without_lazy_commit_the_commit_goes_out_at_once():
    net = Net("a", "b", "c")
    net.elect("a")
    mark = len(net.delivered)
    net.propose("a", b"x")
    assert net.applied_data("b") == net.applied_data("c") == [b"x"]
    assert [m.to for m in _empty_appends(net, mark)] == ["b", "c"] and not net.core("a").commit_unsent()


def _commit_round_to_c_held_back(net: Net) -> tuple[RaftCore, int, list[RaftMessage]]:
    """a proposes x; b's answer commits it; c's answer is held back. Return a's core, x's index, c's answer."""
    net.elect("a")
    net.stabilize()
    leader = net.core("a")
    index = leader.propose(b"x")
    net.process("a")
    net.deliver()
    net.process("b")
    net.process("c")
    late = [m for m in net.queue if m.frm == "c"]
    net.queue = [m for m in net.queue if m.frm != "c"]
    net.deliver()
    net.process("a")
    assert leader.status().commit == index
    return leader, index, late


def test_a_follower_waiting_on_a_forwarded_write_learns_its_commit_as_soon_as_it_holds_it():
    """c forwarded x and waits to apply it; its answer came after b's had committed x."""
    net = Net("a", "b", "c", lazy_commit=True)
    leader, index, late = _commit_round_to_c_held_back(net)
    leader.send_commit_when_held("c", index)
    assert not [m for m in net.process("a") if m.to == "c"]  # c does not hold x yet, as far as a knows
    net.queue = late
    net.deliver()
    sent = [m for m in net.process("a") if m.to == "c"]
    assert [(m.type, m.entries, m.commit) for m in sent] == [(MSG_APP, (), index)]


def test_a_late_answer_alone_brings_no_commit_round():
    net = Net("a", "b", "c", lazy_commit=True)
    _, _, late = _commit_round_to_c_held_back(net)
    net.queue = late
    net.deliver()
    assert not net.process("a")  # the commit waits for the next append, heartbeat or flush


def test_a_waiting_learner_learns_a_commit_that_the_leaders_own_write_makes():
    """a is the only voter: its write commits x at advance(), before c, a waiting learner, holds x."""
    net = Net("a", "c", learners=("c",), lazy_commit=True)
    net.elect("a")
    net.stabilize()
    leader = net.core("a")
    index = leader.propose(b"x")
    leader.send_commit_when_held("c", index)
    net.process("a")  # persist, send x to c, advance: the leader's own write commits x
    assert leader.status().commit == index
    net.deliver()
    net.process("c")
    assert net.applied_data("c") == []  # the append that brought x was built before the commit
    net.deliver()  # c's answer: it holds x
    sent = [m for m in net.process("a") if m.to == "c"]
    assert [(m.type, m.entries, m.commit) for m in sent] == [(MSG_APP, (), index)]
