"""Who sent a message, what an actor receives, and the transport's counters."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from swarmnode.actors.messages import Envelope

__all__ = ["Admission", "Identity", "Inbound", "TransportStatistics"]


@dataclass(frozen=True, slots=True)
class Identity:
    """Name the authenticated sender of an inbound message, as the admission hook decided.

    Handlers check ``role`` before acting, so the transport must attach the identity of the
    connection a message really came on, never one a peer could claim in the envelope.
    """

    node_id: str
    role: str  # "manager" | "worker" | "anonymous" | "removed" | "local" (control socket)


class Admission(Protocol):
    """Decide whether a CURVE key may connect, and as whom.

    ``public_key`` is the peer's CURVE public key, z85-encoded (40 bytes); ``address`` is the
    peer's IP address as text. Returning None refuses the handshake: the peer gets no reply.
    """

    def __call__(self, public_key: bytes, address: str) -> Identity | None: ...


@dataclass(frozen=True, slots=True)
class Inbound:
    """Carry one message from the network or the control socket to an actor.

    ``origin`` is opaque to actors: it tells :meth:`Transport.reply` which connection the
    request came on, so that the reply goes back the same way.
    """

    envelope: Envelope
    peer: Identity
    origin: object


@dataclass(frozen=True, slots=True)
class TransportStatistics:
    """Count what the transport did since it started; a snapshot, safe to keep."""

    sent: int  # envelopes written to sockets
    received: int  # envelopes read from sockets and decoded
    refused_peers: int  # handshakes the admission hook refused
    bad_frames: int  # inbound frames that were dropped or answered "bad-message"
    peers: int  # peer nodes connected with connect()
    unmatched_replies: int  # replies to no pending request (late, duplicated or forged)
