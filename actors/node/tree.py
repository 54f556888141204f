"""The supervision tree of one node, by role (DESIGN.md "Supervision trees")."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pykka

from swarmnode.actors.ca.actor import CertAuthority
from swarmnode.actors.control import ControlActor
from swarmnode.actors.dispatcher.actor import Dispatcher
from swarmnode.actors.endpoint import TransportActor
from swarmnode.actors.leader import LeaderGroup
from swarmnode.actors.raft.actor import RaftMember
from swarmnode.actors.runtime import CertAdmission, NodeContext, NodeSupervisor
from swarmnode.actors.supervision import ChildSpec, Strategy
from swarmnode.actors.worker.actor import Worker

__all__ = ["ROOT_NAME", "node_children", "start_node_tree"]

ROOT_NAME = "node"
# OTP's defaults are 1 restart in 5 s; a node's actors restart fast and cheaply, so allow bursts.
NODE_INTENSITY = 5
NODE_PERIOD_S = 10.0


def node_children(context: NodeContext) -> list[ChildSpec]:
    """Return the node's children in start order: later ones depend on earlier ones."""
    manager = context.role == "manager"
    admission = CertAdmission(lambda: context.membership)
    children = [
        TransportActor.spec("transport", context, admission, bootstrap=manager, shutdown_s=5.0),
        # The CA and the control API each under a one_for_one supervisor of its own: a crash of one
        # (a bug in a handler, a join's input the CA did not foresee) restarts it alone. As
        # children of the root's rest_for_one they took Raft (an election, on a leader) and the
        # agent down with them, and nothing after them needs that: what the CA holds for the others
        # (this node's certificate and trust) stays in the node context across its restarts. The
        # control API keeps answering while the manager and agent subtrees restart.
        _alone("pki", CertAuthority.spec("ca", context), context),
        _alone("api", ControlActor.spec("control", context), context),
    ]
    if manager:
        # The leader-only actors (the Dispatcher; the Allocator, Orchestrator and Scheduler come with
        # the services issue) run under a Leader supervisor that the LeaderGroup starts while this
        # manager leads.
        leader_group = replace(
            LeaderGroup.spec("leader-group", context, lambda: [Dispatcher.spec("dispatcher", context)]),
            supervisor=True,
        )
        children.append(
            NodeSupervisor.supervisor_spec(
                "manager",
                strategy=Strategy.REST_FOR_ONE,
                children=[RaftMember.spec("raft", context), leader_group],
                registry=context.registry,
            )
        )
    # TaskRunners and the MeshProgrammer join the Worker here (the executor and networking issues).
    children.append(
        NodeSupervisor.supervisor_spec(
            "agent",
            strategy=Strategy.ONE_FOR_ONE,
            children=[Worker.spec("worker", context)],
            registry=context.registry,
        )
    )
    return children


def _alone(name: str, child: ChildSpec, context: NodeContext) -> ChildSpec:
    """``child`` under a one_for_one supervisor ``name`` of its own (restarted alone when it crashes)."""
    return NodeSupervisor.supervisor_spec(
        name, strategy=Strategy.ONE_FOR_ONE, children=[child], registry=context.registry
    )


def start_node_tree(context: NodeContext, on_give_up: Callable[[str], None]) -> pykka.ActorRef[Any]:
    """Start the node's root supervisor and its children; raise StartFailed if one cannot start."""
    return NodeSupervisor.start_linked(
        None,
        strategy=Strategy.REST_FOR_ONE,
        children=node_children(context),
        intensity=NODE_INTENSITY,
        period_s=NODE_PERIOD_S,
        registry=context.registry,
        on_give_up=on_give_up,
        name=ROOT_NAME,
    )
