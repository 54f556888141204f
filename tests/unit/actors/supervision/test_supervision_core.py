"""The pure decision logic of supervisors: strategies, restart types, intensity."""

from __future__ import annotations

import pytest

from swarmnode.actors.supervision.core import (
    ChildState,
    GiveUp,
    Ignore,
    Restart,
    RestartChildren,
    Strategy,
    SupervisorCore,
)

P, T, TMP = Restart.PERMANENT, Restart.TRANSIENT, Restart.TEMPORARY


def core(strategy: Strategy, *children: tuple[str, Restart], intensity: int = 3, period_s: float = 5.0):
    c = SupervisorCore(strategy, list(children), intensity=intensity, period_s=period_s)
    for name, _ in children:
        c.started(name)
    return c


def test_one_for_one_restarts_only_the_crashed_child():
    c = core(Strategy.ONE_FOR_ONE, ("a", P), ("b", P), ("c", P))
    assert c.exited("b", "boom", now=0.0) == RestartChildren(stop=(), start=("b",))
    assert c.child("b")[1] == 1
    assert c.child("a")[1] == 0


def test_one_for_all_stops_others_in_reverse_and_starts_all_in_order():
    c = core(Strategy.ONE_FOR_ALL, ("a", P), ("b", P), ("c", P))
    assert c.exited("b", "boom", now=0.0) == RestartChildren(stop=("c", "a"), start=("a", "b", "c"))


def test_rest_for_one_restarts_the_child_and_those_started_after_it():
    c = core(Strategy.REST_FOR_ONE, ("a", P), ("b", P), ("c", P), ("d", P))
    assert c.exited("b", "boom", now=0.0) == RestartChildren(stop=("d", "c"), start=("b", "c", "d"))


def test_a_sibling_restarted_with_a_child_that_exited_says_so_not_an_old_reason_of_its_own():
    c = core(Strategy.REST_FOR_ONE, ("a", P), ("b", P), ("c", P))
    c.exited("c", "its own crash", now=0.0)
    c.started("c")
    c.exited("a", "boom", now=1.0)
    assert [c.child(n)[2] for n in "abc"] == ["boom", *["stopped: 'a' exited (rest_for_one)"] * 2]


def test_rest_for_one_first_child_restarts_everything():
    c = core(Strategy.REST_FOR_ONE, ("a", P), ("b", P))
    assert c.exited("a", "boom", now=0.0) == RestartChildren(stop=("b",), start=("a", "b"))


def test_transient_child_is_restarted_only_after_an_abnormal_exit():
    c = core(Strategy.ONE_FOR_ONE, ("a", T))
    assert c.exited("a", None, now=0.0) == Ignore()
    assert c.child("a")[0] is ChildState.STOPPED
    c.started("a")
    assert c.exited("a", "boom", now=1.0) == RestartChildren(stop=(), start=("a",))


def test_permanent_child_is_restarted_even_after_a_normal_exit():
    c = core(Strategy.ONE_FOR_ONE, ("a", P))
    assert c.exited("a", None, now=0.0) == RestartChildren(stop=(), start=("a",))


def test_temporary_child_is_never_restarted_and_forgotten():
    c = core(Strategy.ONE_FOR_ALL, ("a", P), ("t", TMP))
    assert c.exited("t", "boom", now=0.0) == Ignore()
    assert c.order == ("a",)


def test_temporary_sibling_stopped_by_a_restart_is_not_started_again():
    c = core(Strategy.ONE_FOR_ALL, ("a", P), ("t", TMP), ("b", P))
    assert c.exited("a", "boom", now=0.0) == RestartChildren(stop=("b", "t"), start=("a", "b"))
    assert c.order == ("a", "b")


def test_sibling_that_stopped_normally_stays_stopped_on_a_group_restart():
    c = core(Strategy.ONE_FOR_ALL, ("a", P), ("t", T), ("b", P))
    assert c.exited("t", None, now=0.0) == Ignore()
    assert c.exited("a", "boom", now=0.0) == RestartChildren(stop=("b",), start=("a", "b"))


def test_more_than_intensity_restarts_in_period_gives_up_stopping_in_reverse():
    c = core(Strategy.ONE_FOR_ONE, ("a", P), ("b", P), ("c", P), intensity=2, period_s=10.0)
    for now in (0.0, 1.0):
        assert isinstance(c.exited("b", "boom", now=now), RestartChildren)
        c.started("b")
    plan = c.exited("b", "boom", now=2.0)
    assert isinstance(plan, GiveUp)
    assert plan.stop == ("c", "a")
    assert "more than 2 restart(s) in 10 s" in plan.reason
    assert "'b'" in plan.reason


def test_restarts_older_than_the_period_are_forgotten():
    c = core(Strategy.ONE_FOR_ONE, ("a", P), intensity=1, period_s=5.0)
    assert isinstance(c.exited("a", "boom", now=0.0), RestartChildren)
    c.started("a")
    assert isinstance(c.exited("a", "boom", now=6.0), RestartChildren)
    c.started("a")
    assert isinstance(c.exited("a", "boom", now=7.0), GiveUp)


def test_intensity_zero_gives_up_on_the_first_exit():
    c = core(Strategy.ONE_FOR_ONE, ("a", P), intensity=0)
    assert isinstance(c.exited("a", "boom", now=0.0), GiveUp)


def test_start_failure_during_restart_counts_and_replans():
    c = core(Strategy.REST_FOR_ONE, ("a", P), ("b", P), ("c", P), intensity=5)
    plan = c.exited("a", "boom", now=0.0)
    assert plan == RestartChildren(stop=("c", "b"), start=("a", "b", "c"))
    c.started("a")
    # b fails to start: a keeps running, b and c are started again (c never ran in this round).
    replan = c.start_failed("b", "port busy", now=0.1)
    assert replan == RestartChildren(stop=(), start=("b", "c"))
    assert "failed to start: port busy" in c.child("b")[2]


def test_counts_restarts_per_child_and_in_total():
    c = core(Strategy.ONE_FOR_ALL, ("a", P), ("b", P), intensity=10)
    c.exited("a", "boom", now=0.0)
    assert c.restarts_total == 2
    assert c.child("a")[1] == 1
    assert c.child("b")[1] == 1


def test_rejects_bad_settings_with_the_value():
    with pytest.raises(ValueError, match="intensity must be >= 0, got -1"):
        SupervisorCore(Strategy.ONE_FOR_ONE, [], intensity=-1, period_s=1)
    with pytest.raises(ValueError, match="period_s must be > 0"):
        SupervisorCore(Strategy.ONE_FOR_ONE, [], intensity=1, period_s=0)
    with pytest.raises(ValueError, match="unique"):
        SupervisorCore(Strategy.ONE_FOR_ONE, [("a", P), ("a", P)], intensity=1, period_s=1)


def test_an_exit_while_an_earlier_sibling_dies_is_left_for_that_siblings_restart():
    # rest_for_one a, b, c: b crashed (say, of a's death) while a still cleans up.
    c = core(Strategy.REST_FOR_ONE, ("a", P), ("b", P), ("c", P), intensity=1)
    plan = c.exited("b", "the transport is not running", now=0.0, dying=("a",))
    assert plan == Ignore("child 'b' is left for the restart of 'a', which died before it")
    assert c.child("b")[0] is ChildState.FAILED
    # a's exit restarts b with it, and the pair counts as one restart: intensity 1 holds.
    assert c.exited("a", "boom", now=0.0) == RestartChildren(stop=("c",), start=("a", "b", "c"))
    assert [c.child(n)[1] for n in "abc"] == [1, 1, 1]


def test_a_failed_start_while_an_earlier_sibling_dies_waits_for_it_too():
    c = core(Strategy.REST_FOR_ONE, ("a", P), ("b", P), intensity=0)
    assert c.start_failed("b", "no transport", now=0.0, dying=("a",)) == Ignore(
        "child 'b' is left for the restart of 'a', which died before it"
    )


@pytest.mark.parametrize(
    ("strategy", "exits", "dying", "left"),
    [
        (Strategy.REST_FOR_ONE, "a", ("b",), False),  # a later sibling's restart does not restart a
        (Strategy.ONE_FOR_ONE, "b", ("a",), False),  # nor does any sibling's under one_for_one
        (Strategy.ONE_FOR_ALL, "a", ("b",), True),  # under one_for_all every sibling's does
        (Strategy.REST_FOR_ONE, "c", ("t",), False),  # a temporary sibling restarts nobody
        (Strategy.REST_FOR_ONE, "c", (), False),
    ],
)
def test_which_dying_siblings_an_exit_waits_for(strategy, exits, dying, left):
    c = core(strategy, ("a", P), ("t", TMP), ("b", P), ("c", P))
    plan = c.exited(exits, "boom", now=0.0, dying=dying)
    assert isinstance(plan, Ignore) is left
