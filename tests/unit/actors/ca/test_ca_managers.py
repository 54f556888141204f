"""What a manager says of the managers it knows, and why it cannot say it."""

from __future__ import annotations

from pathlib import Path

import pytest

from swarmnode.actors.ca import actor as ca_actor
from swarmnode.actors.raft import ConfState
from swarmnode.actors.raft.core import RaftStatus
from swarmnode.actors.runtime import NodeContext, Refused
from swarmnode.actors.runtime.context import CurveKeys


def status(conf: ConfState) -> RaftStatus:
    return RaftStatus(
        id="m1",
        term=2,
        role="follower",
        leader="m0",
        commit=5,
        applied=5,
        last_index=5,
        conf=conf,
        progress={},
        committed_conf=conf,
        active=(),
        answering=(),
    )


@pytest.mark.parametrize(
    ("conf", "said"),
    [
        (
            ConfState((), ()),
            "manager m1 is new to the managers (just joined or promoted): it waits for the leader's state",
        ),
        (ConfState(("m0", "m2"), ()), "node m1 is not a manager (any more)"),
    ],
)
def test_a_manager_outside_raft_says_whether_it_just_joined_or_was_demoted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, conf: ConfState, said: str
) -> None:
    context = NodeContext("m1", "manager", tmp_path, "127.0.0.1:0", CurveKeys(b"p" * 40, b"s" * 40))
    monkeypatch.setattr(ca_actor, "raft_status", lambda context, timeout_s: status(conf))
    with pytest.raises(Refused) as refused:
        ca_actor.leader_and_managers(context)
    assert refused.value.text == said
