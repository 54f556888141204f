"""Messages of the control API."""

from __future__ import annotations

from swarmnode.actors.messages import Message, message

__all__ = ["ActorRow", "StatusReply", "StatusRequest"]


@message
class StatusRequest(Message):
    """Ask a node who it is and how its actors are doing."""

    KIND = "StatusRequest"


@message
class ActorRow(Message):
    """One actor of the supervision tree; ``path`` runs from the root, slash-separated."""

    KIND = "ActorRow"
    path: str
    supervisor: bool
    state: str
    restarts: int
    last_reason: str
    strategy: str


@message
class StatusReply(Message):
    KIND = "StatusReply"
    node_id: str
    role: str
    address: str
    curve_public_key: str
    pid: int
    uptime_s: float
    actors: tuple[ActorRow, ...]
