"""Heartbeat bookkeeping: down after the grace time, ready on the next beat, transitions only."""

from __future__ import annotations

import pytest

from swarmnode.actors.dispatcher.core import HeartbeatCore, NodeLiveness, Transition

READY, DOWN = NodeLiveness.READY, NodeLiveness.DOWN


def test_first_heartbeat_makes_a_node_ready_once():
    core = HeartbeatCore(period_s=1.0)
    assert core.beat("a", now=0.0) == Transition("a", READY)
    assert core.beat("a", now=1.0) is None


def test_a_node_is_down_only_after_grace_periods_of_silence():
    core = HeartbeatCore(period_s=1.0, grace_periods=3)
    core.beat("a", now=0.0)
    assert core.expire(now=3.0) == []
    assert core.expire(now=3.01) == [Transition("a", DOWN)]
    assert core.expire(now=10.0) == [], "a transition is reported once"
    assert core.state("a") is DOWN


def test_a_down_node_that_beats_again_is_ready():
    core = HeartbeatCore(period_s=1.0)
    core.beat("a", now=0.0)
    core.expire(now=5.0)
    assert core.beat("a", now=6.0) == Transition("a", READY)


def test_nodes_known_ready_at_start_get_a_full_grace_window():
    core = HeartbeatCore(period_s=2.0)
    core.track("a", READY, now=100.0)
    assert core.expire(now=105.9) == []
    assert core.expire(now=106.1) == [Transition("a", DOWN)]


def test_a_node_unknown_to_a_new_leader_is_ready_at_its_first_beat_or_down_after_the_grace():
    core = HeartbeatCore(period_s=2.0)
    core.track("a", NodeLiveness.UNKNOWN, now=100.0)
    core.track("b", NodeLiveness.UNKNOWN, now=100.0)
    assert core.next_expiry() == 106.0
    assert core.beat("a", now=101.0) == Transition("a", READY)
    assert core.expire(now=106.1) == [Transition("b", DOWN)]


def test_nodes_known_down_at_start_stay_down_silently():
    core = HeartbeatCore(period_s=1.0)
    core.track("a", DOWN, now=0.0)
    assert core.expire(now=100.0) == []
    assert core.beat("a", now=100.0) == Transition("a", READY)


def test_next_expiry_is_the_earliest_ready_deadline():
    core = HeartbeatCore(period_s=1.0)
    assert core.next_expiry() is None
    core.beat("a", now=0.0)
    core.beat("b", now=2.0)
    assert core.next_expiry() == 3.0
    core.forget("a")
    assert core.next_expiry() == 5.0


def test_transitions_are_sorted_for_deterministic_proposals():
    core = HeartbeatCore(period_s=1.0)
    for name in ("c", "a", "b"):
        core.beat(name, now=0.0)
    assert [t.node_id for t in core.expire(now=10.0)] == ["a", "b", "c"]


@pytest.mark.parametrize("period", [0, -1])
def test_bad_periods_are_refused_with_the_value(period):
    with pytest.raises(ValueError, match=f"got {period}"):
        HeartbeatCore(period_s=period)


def test_time_the_dispatcher_did_not_run_is_not_the_nodes_silence():
    """A leader that hung (a stopped process, a machine that froze) heard no heartbeat meanwhile:
    at its next check it must not find every node down (once its own node)."""
    core = HeartbeatCore(period_s=1.0, grace_periods=3, checked_often=True)
    core.beat("a", now=0.0)
    core.beat("b", now=0.0)
    for quarter in range(1, 8):  # checked every quarter period; b beats on, a goes silent at 0
        core.beat("b", now=quarter / 4)
        assert core.expire(now=quarter / 4) == []
    assert core.expire(now=1.75 + 17.0) == [], "hung 17 s: its own silence"
    # a had been silent 1.75 s before the hang: down once 3 s of silence were seen, 1.25 s later.
    downs = {}
    for quarter in range(1, 9):
        now = 18.75 + quarter / 4
        core.beat("b", now=now)
        downs[now] = core.expire(now=now)
    assert {now: t for now, t in downs.items() if t} == {20.25: [Transition("a", DOWN)]}


def test_a_transition_that_could_not_be_recorded_is_reported_again():
    core = HeartbeatCore(period_s=1.0, grace_periods=3)
    core.track("a", NodeLiveness.UNKNOWN, now=0.0)
    ready = core.beat("a", now=0.5)
    assert ready == Transition("a", READY)
    core.revert(ready)
    assert core.beat("a", now=1.0) == Transition("a", READY), "not said again at the next beat"
    (down,) = core.expire(now=4.1)
    core.revert(down)
    assert core.expire(now=4.3) == [Transition("a", DOWN)], "not said again at the next check"
    new = core.beat("b", now=5.0)  # a node it did not track
    assert new is not None
    core.revert(new)
    assert core.state("b") is None and core.beat("b", now=6.0) == Transition("b", READY)


def test_late_checks_while_heartbeats_are_handled_do_not_keep_a_dead_node_ready():
    """Checks delayed by the Dispatcher's own writes (each one waits on the Store) come a period
    apart and more; the heartbeats it handles meanwhile show it runs: the dead node's silence counts."""
    core = HeartbeatCore(period_s=1.0, grace_periods=3, checked_often=True)
    core.beat("live", now=0.0)
    core.beat("dead", now=0.0)
    now, downs = 0.0, []
    while now < 10.0 and not downs:
        for _ in range(4):
            now += 0.2625  # 1.05 periods between checks, the live node beating every quarter of them
            core.beat("live", now=now)
        downs = core.expire(now=now)
    assert downs == [Transition("dead", DOWN)] and now < 4.5, (now, downs)


def test_the_time_a_handler_waits_on_the_store_is_the_nodes_silence():
    """Each beat's handler waits 1.2 periods on the Store (a slow disk): that is no stall of the
    process, and the dead node goes down after its grace time all the same."""
    core = HeartbeatCore(period_s=1.0, grace_periods=3, checked_often=True)
    core.beat("live", now=0.0)
    core.beat("dead", now=0.0)
    now, downs = 0.0, []
    while now < 20.0 and not downs:
        core.beat("live", now=now)
        now += 1.2  # the handler's wait
        core.handled(now)
        now += 0.001
        downs = core.expire(now=now)  # the check queued meanwhile
        core.handled(now)
    assert downs == [Transition("dead", DOWN)] and now < 5.0, (now, downs)
