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
from .context import (
    CERTIFICATE_KEY,
    MANAGERS_KEY,
    SESSION_KEY,
    STOP_NODE_KEY,
    TRUST_KEY,
    CurveKeys,
    NodeContext,
    NodeSettings,
    Session,
    TransportDown,
)
from .membership import REMOVED, CertAdmission, Member, Membership

__all__ = [
    "ANY_ROLE",
    "CERTIFICATE_KEY",
    "LOCAL_ONLY",
    "MANAGERS",
    "MANAGERS_KEY",
    "REMOVED",
    "SESSION_KEY",
    "STOP_NODE_KEY",
    "TRUST_KEY",
    "Addressable",
    "CertAdmission",
    "CurveKeys",
    "Delivery",
    "Member",
    "Membership",
    "NodeActor",
    "NodeContext",
    "NodeSettings",
    "NodeSupervisor",
    "Refused",
    "Session",
    "TransportDown",
    "handles",
]
