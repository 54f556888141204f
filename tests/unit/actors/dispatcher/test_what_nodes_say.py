"""What a node's heartbeat says of itself, and what the Dispatcher records of it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from swarmnode.actors.dispatcher import actor as dispatcher_module
from swarmnode.actors.dispatcher.actor import Dispatcher
from swarmnode.actors.dispatcher.core import HeartbeatCore, NodeLiveness
from swarmnode.actors.dispatcher.messages import HeartbeatRequest
from swarmnode.actors.runtime import CurveKeys, NodeContext, Refused
from swarmnode.actors.store.core import StoredObject
from swarmnode.actors.store.objects import NodeView

OLD_ROOT = "a" * 64
NEW_ROOT = "b" * 64


def node(issuer: str) -> NodeView:
    obj = StoredObject("node", "w1", {"role": "worker"}, {"issuer": issuer, "addr": "127.0.0.1:2177"}, 3, 0.0, 0.0)
    return NodeView.of(obj)


@pytest.mark.parametrize(
    ("said", "recorded"),
    [
        (NEW_ROOT, NEW_ROOT),  # it took a certificate of the new root: a rotation counts it now
        (OLD_ROOT, None),  # nothing new
        ("", None),  # a node that says nothing
        ("x" * 5000, None),  # not a digest: not put in the Store
    ],
)
def test_the_root_a_node_says_it_uses_is_recorded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, said: str, recorded: str | None
) -> None:
    """A rotation counted a node once a certificate was signed for it, saved or not (a full disk):
    the old root left the trust, and the node could not start again."""
    context = NodeContext("m1", "manager", tmp_path, "127.0.0.1:0", CurveKeys(b"p" * 40, b"s" * 40))
    written: list[dict[str, Any]] = []

    def update_object(context: NodeContext, kind: str, object_id: str, change: Any, *, leader_only: bool) -> None:
        assert leader_only, "a leader's own write sent to another leader"
        _, status = change(StoredObject(kind, object_id, {}, {"issuer": OLD_ROOT}, 3, 0.0, 0.0))
        written.append(status)

    monkeypatch.setattr(dispatcher_module, "update_object", update_object)
    beat = HeartbeatRequest(trust_digest="t", issuer=said, addr="127.0.0.1:2177", cannot_manage="")
    Dispatcher(None, context)._note_what_it_says(node(OLD_ROOT), beat)
    assert [w.get("issuer") for w in written] == ([recorded] if recorded else [])


def test_a_node_state_the_store_refuses_is_written_again_at_the_next_check(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The Dispatcher crashed on it: restarted on a manager that had just stopped leading, it
    marked every node unknown through the new leader, where they stayed while they beat."""
    context = NodeContext("m1", "manager", tmp_path, "127.0.0.1:0", CurveKeys(b"p" * 40, b"s" * 40))
    asked: list[tuple[str, str, bool]] = []

    def update_object(context: NodeContext, kind: str, object_id: str, change: Any, *, leader_only: bool) -> None:
        _, status = change(StoredObject(kind, object_id, {}, {"state": "ready"}, 3, 0.0, 0.0))
        asked.append((object_id, status["state"], leader_only))
        if len(asked) == 1:
            raise Refused("not-leader", "manager m1 does not lead now")

    monkeypatch.setattr(dispatcher_module, "update_object", update_object)
    dispatcher = Dispatcher(None, context)
    dispatcher.core = HeartbeatCore(period_s=1.0)
    dispatcher.core.track("w1", NodeLiveness.READY, now=0.0)
    dispatcher._record(dispatcher.core.expire(now=3.5))
    assert dispatcher.core.state("w1") is NodeLiveness.READY
    dispatcher._record(dispatcher.core.expire(now=3.75))
    assert asked == [("w1", "down", True)] * 2 and dispatcher.core.state("w1") is NodeLiveness.DOWN
