"""The Control actor: the node's control API, reached by the CLI through the control socket.

Status works on every node; swarm management (nodes, join tokens, the CA) needs a manager,
and a worker answers it with Docker's explanation instead.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any, cast

from swarmnode.actors.ca.core import join_tokens, new_secret
from swarmnode.actors.runtime import MANAGERS, STOP_NODE_KEY, NodeActor, NodeContext, Refused, handles
from swarmnode.actors.runtime.addressable import Request
from swarmnode.actors.store.client import propose, read_store, update_object
from swarmnode.actors.store.core import StoreCore, StoredObject
from swarmnode.actors.store.objects import AVAILABILITIES, CLUSTER_ID, ClusterView, NodeView
from swarmnode.actors.store.transactions import Delete, Update
from swarmnode.actors.supervision import GetStatistics, Link, SupervisorStatistics, describe

from .messages import (
    ActorRow,
    JoinTokenReply,
    JoinTokenRequest,
    LeaveReply,
    LeaveRequest,
    NodeInspectReply,
    NodeInspectRequest,
    NodeListReply,
    NodeListRequest,
    NodeRemoveReply,
    NodeRemoveRequest,
    NodeRow,
    NodeUpdateReply,
    NodeUpdateRequest,
    StatusReply,
    StatusRequest,
)

__all__ = ["ControlActor"]

ROOT_NAME = "node"
STATISTICS_TIMEOUT_S = 3.0


def _cluster(core: StoreCore) -> ClusterView:
    obj = core.get("cluster", CLUSTER_ID)
    assert obj is not None, "a manager's store always holds the cluster object"
    return ClusterView.of(obj)


def find_node(core: StoreCore, ref: str, self_id: str) -> StoredObject:
    """Resolve ``ref`` as Docker does: "self", an exact id, a unique id prefix, or a hostname."""
    node_id = self_id if ref == "self" else ref
    exact = core.get("node", node_id)
    if exact is not None:
        return exact
    nodes = core.list("node")
    matches = [n for n in nodes if n.id.startswith(node_id)] or [
        n for n in nodes if n.status.get("hostname") == node_id
    ]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise Refused("not-found", f"no node {ref!r} in this swarm (see `swarm-node node ls`)")
    raise Refused("ambiguous", f"{ref!r} names {len(matches)} nodes; use more of the node id")


class ControlActor(NodeActor):
    """Serve the node's control API."""

    def __init__(self, link: Link | None, context: NodeContext) -> None:
        super().__init__(link)
        self.context = context

    def _read(self, fn: Callable[[StoreCore], Any]) -> Any:
        return read_store(self.context, fn)

    @handles(StatusRequest, roles=MANAGERS)
    def status(self, msg: StatusRequest, request: Request) -> StatusReply:
        root = self.context.registry.get(ROOT_NAME)
        if root is None:
            raise Refused("unavailable", "the node's supervision tree is not running")
        try:
            stats = cast(SupervisorStatistics, root.ask(GetStatistics(), timeout=STATISTICS_TIMEOUT_S))
        except Exception as exc:
            raise Refused("unavailable", f"the node supervisor did not answer: {describe(exc)}") from exc
        rows = [ActorRow(ROOT_NAME, True, "running", 0, "", stats.strategy)]
        rows.extend(
            ActorRow(
                path=f"{ROOT_NAME}/{a.path}",
                supervisor=a.supervisor,
                state=a.state,
                restarts=a.restarts,
                last_reason=a.last_reason,
                strategy=a.strategy,
            )
            for a in stats.actors
        )
        return StatusReply(
            node_id=self.context.node_id,
            role=self.context.role,
            address=self.context.transport.address,
            curve_public_key=self.context.keys.public.decode(),
            pid=os.getpid(),
            uptime_s=round(time.time() - self.context.started_at, 3),
            actors=tuple(rows),
        )

    @handles(NodeListRequest, roles=MANAGERS)
    def node_list(self, msg: NodeListRequest, request: Request) -> NodeListReply:
        nodes = self._read(lambda core: [NodeView.of(o) for o in core.list("node")])
        me = self.context.node_id
        rows = [
            NodeRow(
                node_id=n.node_id,
                hostname=n.hostname,
                role=n.cert_role or n.role,
                status=n.state,
                availability=n.availability,
                manager_status="Leader" if n.node_id == me else ("Reachable" if n.cert_role == "manager" else ""),
                addr=n.addr,
                cert_expiry=n.cert_expiry,
                is_self=n.node_id == me,
            )
            for n in sorted(nodes, key=lambda n: (n.cert_role != "manager", n.hostname, n.node_id))
        ]
        return NodeListReply(nodes=tuple(rows))

    @handles(NodeInspectRequest, roles=MANAGERS)
    def node_inspect(self, msg: NodeInspectRequest, request: Request) -> NodeInspectReply:
        obj = self._read(lambda core: find_node(core, msg.node, self.context.node_id))
        return NodeInspectReply(
            node={
                "id": obj.id,
                "version": obj.version,
                "created_at": obj.created_at,
                "updated_at": obj.updated_at,
                "spec": obj.spec,
                "status": obj.status,
            }
        )

    @handles(NodeUpdateRequest, roles=MANAGERS)
    def node_update(self, msg: NodeUpdateRequest, request: Request) -> NodeUpdateReply:
        if msg.availability and msg.availability not in AVAILABILITIES:
            raise Refused("invalid", f"availability {msg.availability!r} is not one of {', '.join(AVAILABILITIES)}")
        obj = self._read(lambda core: find_node(core, msg.node, self.context.node_id))

        def change(current: StoredObject) -> tuple[dict[str, Any], None]:
            spec = dict(current.spec)
            if msg.availability:
                spec["availability"] = msg.availability
            labels = dict(spec.get("labels", {})) | msg.label_add
            for key in msg.label_rm:
                if key not in labels:
                    raise Refused("not-found", f"node {current.id} has no label {key!r}")
                labels.pop(key)
            spec["labels"] = labels
            return spec, None

        result = update_object(self.context, "node", obj.id, change)
        return NodeUpdateReply(node_id=obj.id, version=result.index)

    @handles(NodeRemoveRequest, roles=MANAGERS)
    def node_remove(self, msg: NodeRemoveRequest, request: Request) -> NodeRemoveReply:
        obj, cluster = self._read(lambda core: (find_node(core, msg.node, self.context.node_id), _cluster(core)))
        node = NodeView.of(obj)
        if node.node_id == self.context.node_id:
            raise Refused("refused", "a manager cannot remove itself; use `swarm-node leave --force` on it")
        if node.cert_role == "manager":
            raise Refused("refused", f"node {node.node_id} is a manager; demote it first (not built yet)")
        if node.state == "ready" and not msg.force:
            raise Refused(
                "refused",
                f"node {node.node_id} is ready and cannot be removed; stop it (or `swarm-node leave` on it) first, "
                "or use --force",
            )
        revoked = dict(cluster.revoked) | {node.node_id: node.curve_key}
        propose(
            self.context,
            Delete("node", node.node_id, expected_version=obj.version),
            Update(
                "cluster", CLUSTER_ID, status=cluster.status() | {"revoked": revoked}, expected_version=cluster.version
            ),
        )
        return NodeRemoveReply(node_id=node.node_id)

    @handles(JoinTokenRequest, roles=MANAGERS)
    def join_token(self, msg: JoinTokenRequest, request: Request) -> JoinTokenReply:
        if msg.role not in ("worker", "manager"):
            raise Refused("invalid", f"role {msg.role!r} has no join token; use worker or manager")
        if msg.rotate:
            field = f"{msg.role}_secret"
            update_object(self.context, "cluster", CLUSTER_ID, lambda obj: (None, obj.status | {field: new_secret()}))
        cluster = self._read(_cluster)
        return JoinTokenReply(
            role=msg.role, token=join_tokens(cluster)[msg.role], manager_addr=self.context.cluster_addr
        )

    @handles(LeaveRequest, roles=MANAGERS)
    def leave(self, msg: LeaveRequest, request: Request) -> LeaveReply:
        if self.context.role == "manager" and not msg.force:
            raise Refused(
                "refused",
                "you are attempting to leave the swarm on a node that is participating as a manager; "
                "removing the last manager erases all current state of the swarm. Use --force to ignore this message",
            )
        stop = self.context.get_shared(STOP_NODE_KEY)
        if stop is None:
            raise Refused("unavailable", "this node process cannot be stopped from here")
        stop("left the swarm", True)
        return LeaveReply(node_id=self.context.node_id)
