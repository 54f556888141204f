"""What `cluster status` says to do when its manager knows no leader."""

from __future__ import annotations

import pytest

from swarmnode.actors.control.messages import ClusterStatusReply, MemberRow
from swarmnode.cli.swarm import _no_leader_steps


def reply(**reachable: str) -> ClusterStatusReply:
    rows = tuple(MemberRow(n, "127.0.0.1:1", "voter", -1, -1, "unknown", r) for n, r in reachable.items())
    return ClusterStatusReply("me", "follower", "", 7, 10, 10, rows, "me")


def test_the_silent_voters_are_named_beside_those_whose_disk_is_full(capsys: pytest.CaptureFixture[str]) -> None:
    """6 voters: one out of Raft (full), two stopped: freeing the disk alone gives 3 of the 4 needed."""
    _no_leader_steps(
        reply(me="", a="unreachable (disk full)", b="unreachable", c="unreachable", d="reachable", e="reachable"), 6
    )
    said = capsys.readouterr().out
    assert (
        "A leader needs 4 of the 6 voters up and reaching each other; "
        "this one hears 3 of the 5 others lately (not b, c)." in said
    )
    assert "- Up, but out of Raft until their disk has room: a." in said
    assert "- Start the managers that are down again" in said


def test_only_full_disks_hold_the_swarm_up(capsys: pytest.CaptureFixture[str]) -> None:
    _no_leader_steps(reply(me="", a="unreachable (disk full)", b="reachable"), 3)
    said = capsys.readouterr().out
    assert "this one hears 2 of the 2 others lately." in said and "disk has room: a." in said
    assert "Start the managers that are down again" not in said


def test_who_is_up_is_not_claimed_when_it_cannot_be_told(capsys: pytest.CaptureFixture[str]) -> None:
    """Just after a start, or of a manager whose disk is full: "?" rows."""
    _no_leader_steps(reply(me="", a="", b=""), 3)
    said = capsys.readouterr().out
    assert "A leader needs 2 of the 3 voters up and reaching each other.\n" in said and "hears" not in said
