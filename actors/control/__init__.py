"""The Control actor: the node's control API, reached by the CLI through the control socket."""

from .actor import ControlActor
from .messages import ActorRow, StatusReply, StatusRequest

__all__ = ["ActorRow", "ControlActor", "StatusReply", "StatusRequest"]
