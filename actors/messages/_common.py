"""Messages every actor understands: errors, stream ends, liveness and debugging."""

from __future__ import annotations

from ._base import Message, message

__all__ = ["Crash", "ErrorReply", "Ping", "Pong", "StreamEnd"]


@message
class ErrorReply(Message):
    """A request failed; ``code`` is machine-readable, ``text`` is for the operator.

    Codes: bad-message, unknown-kind, unknown-actor, forbidden, removed (the sender was removed
    from the swarm), crashed, timeout, unavailable, refused.
    """

    KIND = "Error"
    code: str
    text: str


@message
class StreamEnd(Message):
    """The last part of a streamed reply; a stream's other parts come before it."""

    KIND = "StreamEnd"


@message
class Ping(Message):
    """Ask an actor to answer :class:`Pong` with the payload; used for liveness and benchmarks."""

    KIND = "Ping"
    payload: bytes = b""


@message
class Pong(Message):
    KIND = "Pong"
    payload: bytes = b""


@message
class Crash(Message):
    """Make the receiving actor crash on purpose (chaos testing; local control socket only)."""

    KIND = "Crash"
    reason: str = "crash requested"
