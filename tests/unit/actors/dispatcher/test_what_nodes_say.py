"""What a node's heartbeat says of itself, and what the Dispatcher records of it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from swarmnode.actors.dispatcher import actor as dispatcher_module
from swarmnode.actors.dispatcher.actor import Dispatcher
from swarmnode.actors.dispatcher.messages import HeartbeatRequest
from swarmnode.actors.runtime import CurveKeys, NodeContext
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

    def update_object(context: NodeContext, kind: str, object_id: str, change: Any) -> None:
        _, status = change(StoredObject(kind, object_id, {}, {"issuer": OLD_ROOT}, 3, 0.0, 0.0))
        written.append(status)

    monkeypatch.setattr(dispatcher_module, "update_object", update_object)
    beat = HeartbeatRequest(trust_digest="t", issuer=said, addr="127.0.0.1:2177", cannot_manage="")
    Dispatcher(None, context)._note_what_it_says(node(OLD_ROOT), beat)
    assert [w.get("issuer") for w in written] == ([recorded] if recorded else [])
