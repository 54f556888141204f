"""The Transport actor: owns the node's CurveZMQ transport and hands inbound messages to actors."""

from .actor import TransportActor

__all__ = ["TransportActor"]
