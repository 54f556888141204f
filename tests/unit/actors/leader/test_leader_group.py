"""The LeaderGroup's start when the Raft member it follows is already gone."""

from __future__ import annotations

from pathlib import Path

import pykka
import pytest

from swarmnode.actors.leader.actor import LeaderGroup
from swarmnode.actors.runtime import CurveKeys, NodeContext
from swarmnode.actors.store.client import STORE_ACTOR


class Gone(pykka.ThreadingActor):
    """A Raft member that crashed as soon as it started (its first write met a full disk)."""


@pytest.mark.parametrize("registered", [True, False])
def test_a_raft_member_gone_before_the_group_starts_does_not_fail_the_nodes_start(
    tmp_path: Path, registered: bool
) -> None:
    """Its supervisor restarts both (rest_for_one); a failed start failed the node's, and it exited."""
    context = NodeContext("m1", "manager", tmp_path, "127.0.0.1:0", CurveKeys(b"p" * 40, b"s" * 40))
    if registered:  # dead, not yet unregistered
        ref = Gone.start()
        ref.stop()
        context.registry.register(STORE_ACTOR, ref)
    group = LeaderGroup(None, context, list)
    group.on_start()  # raised ActorDeadError (or AssertionError)
    assert group.leader_ref is None and not group.leading
