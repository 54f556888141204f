"""The errors a caller of the transport can see, each with text an operator can act on."""

from __future__ import annotations

__all__ = ["ConnectionLost", "NotSent", "RemoteError", "RequestTimeout", "TransportError"]


class TransportError(Exception):
    """The transport could not do what was asked; the text names the address or peer involved."""

    errno = 0  # the OS error of a failed bind (EADDRINUSE, ...), else 0


class NotSent(TransportError):
    """The request never left this node (no connection, or one lost and not back): it reached no
    one, so sending it again, to that node or another, cannot make it happen twice."""


class ConnectionLost(TransportError):
    """The connection a request went out on closed before its reply came (the other process
    stopped, or was killed): no reply will come, and what was asked may or may not have been done."""


class RequestTimeout(TransportError):
    """No reply came before the deadline; the text names the destination, the kind and the deadline."""


class RemoteError(TransportError):
    """The remote actor answered with an ErrorReply.

    ``code`` is machine-readable (see ErrorReply) so that callers can branch on it without
    parsing the operator text.
    """

    def __init__(self, code: str, text: str) -> None:
        super().__init__(f"{code}: {text}")
        self.code = code
        self.text = text
