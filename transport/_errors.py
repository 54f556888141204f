"""The errors a caller of the transport can see, each with text an operator can act on."""

from __future__ import annotations

__all__ = ["NotSent", "RemoteError", "RequestTimeout", "TransportError"]


class TransportError(Exception):
    """The transport could not do what was asked; the text names the address or peer involved."""

    errno = 0  # the OS error of a failed bind (EADDRINUSE, ...), else 0


class NotSent(TransportError):
    """The request never left this node (no connection, or one lost and not back): it reached no
    one, so sending it again, to that node or another, cannot make it happen twice."""


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
