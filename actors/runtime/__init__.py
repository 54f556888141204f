"""What every actor of a node shares: its context, and how messages reach its handlers."""

from .addressable import (
    ANY_ROLE,
    LOCAL_ONLY,
    MANAGERS,
    Addressable,
    Delivery,
    NodeActor,
    NodeSupervisor,
    Refused,
    handles,
)
from .context import CurveKeys, NodeContext

__all__ = [
    "ANY_ROLE",
    "LOCAL_ONLY",
    "MANAGERS",
    "Addressable",
    "CurveKeys",
    "Delivery",
    "NodeActor",
    "NodeContext",
    "NodeSupervisor",
    "Refused",
    "handles",
]
