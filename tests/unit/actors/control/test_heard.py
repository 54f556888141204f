"""`cluster status` without a leader: which voters this manager hears (their pre-votes)."""

from __future__ import annotations

from types import SimpleNamespace

from swarmnode.actors.control.actor import _heard
from swarmnode.actors.raft.messages import ConfState


def status(me: str, voters: tuple[str, ...], learners: tuple[str, ...], heard: tuple[str, ...] | None) -> object:
    return SimpleNamespace(id=me, leader="", conf=ConfState(voters=voters, learners=learners), heard=heard)


def test_a_voter_says_whom_it_heard_and_nothing_of_itself_or_a_learner() -> None:
    seen = status("a", ("a", "b", "c"), ("l",), heard=("b",))
    assert [_heard(seen, n) for n in ("a", "b", "c", "l")] == ["", "reachable", "unreachable", ""]


def test_a_learner_hears_no_pre_votes_and_says_nothing() -> None:
    """Pre-votes go from voters to voters: it would name every voter silent, and say to force a new cluster."""
    seen = status("l", ("a", "b", "c"), ("l",), heard=())
    assert [_heard(seen, n) for n in ("a", "b", "c")] == ["", "", ""]


def test_nothing_is_said_before_it_could_have_heard_them_or_with_a_leader() -> None:
    assert _heard(status("a", ("a", "b"), (), heard=None), "b") == ""
    assert _heard(SimpleNamespace(id="a", leader="b", conf=ConfState(("a", "b"), ()), heard=()), "b") == ""
