"""The ZAP protocol (ZeroMQ RFC 27): parse an authentication request, build the reply.

libzmq asks the handler bound at inproc://zeromq.zap.01 whether each CURVE handshake may
complete; the transport answers from its own I/O thread instead of pyzmq's authenticator
thread, so that one thread owns every socket.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ZAP_ENDPOINT", "ZapRequest", "parse_zap_request", "zap_reply"]

ZAP_ENDPOINT = "inproc://zeromq.zap.01"
ZAP_VERSION = b"1.0"
_HEADER_FRAMES = 6  # version, request id, domain, address, routing id, mechanism


@dataclass(frozen=True, slots=True)
class ZapRequest:
    """One handshake to judge: who connects (address, mechanism, key) and how to answer."""

    request_id: bytes
    domain: str
    address: str
    mechanism: str
    credentials: tuple[bytes, ...]


def parse_zap_request(frames: list[bytes]) -> ZapRequest:
    """Return the request in ``frames``; raise ValueError when they are not a ZAP 1.0 request."""
    if len(frames) < _HEADER_FRAMES or frames[0] != ZAP_VERSION:
        raise ValueError(f"not a ZAP 1.0 request ({len(frames)} frames)")
    return ZapRequest(
        request_id=frames[1],
        domain=frames[2].decode("utf-8", "replace"),
        address=frames[3].decode("utf-8", "replace"),
        mechanism=frames[5].decode("ascii", "replace"),
        credentials=tuple(frames[_HEADER_FRAMES:]),
    )


def zap_reply(request_id: bytes, *, allowed: bool, user_id: str = "", text: str = "") -> list[bytes]:
    """Return the frames that answer one ZAP request.

    The user id comes back on every message of the connection as the "User-Id" property,
    which is how an inbound message is tied to the identity the admission hook chose.
    """
    status = b"200" if allowed else b"400"
    return [ZAP_VERSION, request_id, status, text.encode(), user_id.encode(), b""]
