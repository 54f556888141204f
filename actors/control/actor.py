"""The Control actor: answer the control API of the node (status now; services later)."""

from __future__ import annotations

import os
import time
from typing import cast

from swarmnode.actors.runtime import MANAGERS, NodeActor, NodeContext, Refused, handles
from swarmnode.actors.runtime.addressable import Request
from swarmnode.actors.supervision import GetStatistics, Link, SupervisorStatistics, describe

from .messages import ActorRow, StatusReply, StatusRequest

__all__ = ["ControlActor"]

ROOT_NAME = "node"
STATISTICS_TIMEOUT_S = 3.0


class ControlActor(NodeActor):
    """Serve the node's control API."""

    def __init__(self, link: Link | None, context: NodeContext) -> None:
        super().__init__(link)
        self.context = context

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
