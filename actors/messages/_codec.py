"""The wire envelope and the one msgpack codec for every message.

An envelope is ``{v, kind, id, reply_to, src, dst, body}``: ``v`` the wire version, ``kind``
the body's message kind, ``id`` the sender's correlation number (0 for a one-way send),
``reply_to`` the id this answers (0 when it answers nothing), ``src`` and ``dst`` the
addresses ``[node id, actor name]``. Anything else is refused with :class:`CodecError`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgpack

from ._base import CodecError, Message, _describe, from_body, to_body

__all__ = [
    "MAX_MESSAGE_BYTES",
    "WIRE_VERSION",
    "Address",
    "Envelope",
    "decode_envelope",
    "encode_envelope",
]

WIRE_VERSION = 1
MAX_MESSAGE_BYTES = 16 * 1024 * 1024
_MAX_ID = 2**63 - 1
_FIELDS = frozenset(("v", "kind", "id", "reply_to", "src", "dst", "body"))
# Decoded addresses, shared (an Address is frozen): the same few pairs come in every message.
_ADDRESS_CACHE = 4096
_ADDRESSES: dict[tuple[str, str], Address] = {}


@dataclass(frozen=True, slots=True)
class Address:
    """An actor name on a node id; the node id is empty for "this node"."""

    node: str
    actor: str

    def __str__(self) -> str:
        return f"{self.actor}@{self.node or 'local'}"


@dataclass(frozen=True, slots=True)
class Envelope:
    """One message on the wire with its routing and correlation header."""

    id: int
    reply_to: int
    src: Address
    dst: Address
    body: Message

    @property
    def kind(self) -> str:
        return self.body.KIND


def encode_envelope(env: Envelope) -> bytes:
    """Return the bytes of ``env``."""
    return msgpack.packb(
        {
            "v": WIRE_VERSION,
            "kind": env.body.KIND,
            "id": env.id,
            "reply_to": env.reply_to,
            "src": [env.src.node, env.src.actor],
            "dst": [env.dst.node, env.dst.actor],
            "body": to_body(env.body),
        },
        use_bin_type=True,
    )


def decode_envelope(data: bytes, max_bytes: int = MAX_MESSAGE_BYTES) -> Envelope:
    """Return the envelope in ``data``; raise :class:`CodecError` saying what was wrong."""
    if len(data) > max_bytes:
        raise CodecError(f"message of {len(data)} bytes is over the limit of {max_bytes} bytes")
    try:
        raw = msgpack.unpackb(data, raw=False, strict_map_key=True, use_list=True)
    except Exception as exc:  # msgpack raises several unrelated types for bad bytes
        raise CodecError(f"not a msgpack message ({type(exc).__name__}: {exc})") from None
    if not isinstance(raw, dict):
        raise CodecError(f"envelope must be a map, not {type(raw).__name__}")
    if raw.keys() != _FIELDS:
        keys = set(raw)
        missing = sorted(_FIELDS - keys)
        unknown = sorted(str(k) for k in keys - _FIELDS)
        parts = []
        if missing:
            parts.append("missing " + ", ".join(missing))
        if unknown:
            parts.append("unknown " + ", ".join(map(repr, unknown)))
        raise _fail(raw, "envelope fields: " + "; ".join(parts))
    version = raw["v"]
    if version != WIRE_VERSION or type(version) is not int:
        raise _fail(raw, f"wire version {_describe(version)} is not supported (this node speaks {WIRE_VERSION})")
    try:
        env_id = _id(raw["id"], "id")
        reply_to = _id(raw["reply_to"], "reply_to")
        src = _address(raw["src"], "src")
        dst = _address(raw["dst"], "dst")
    except CodecError as exc:
        raise _fail(raw, str(exc)) from None
    kind = raw["kind"]
    if type(kind) is not str:
        raise _fail(raw, f"envelope kind must be a string, not {type(kind).__name__}")
    try:
        body = from_body(kind, raw["body"])
    except CodecError as exc:
        raise _fail(raw, str(exc)) from None
    return Envelope(env_id, reply_to, src, dst, body)


def _fail(raw: dict[Any, Any], text: str) -> CodecError:
    # Whatever else is wrong, a readable id and source let the receiver answer with the error.
    reply_id, reply_src = _header_for_errors(raw)
    return CodecError(text, envelope_id=reply_id, src=reply_src)


def _header_for_errors(raw: dict[Any, Any]) -> tuple[int | None, tuple[str, str] | None]:
    """Return the id and source of a damaged envelope when both are readable, else Nones."""
    try:
        env_id = _id(raw.get("id"), "id")
        src = _address(raw.get("src"), "src")
    except CodecError:
        return None, None
    return env_id, (src.node, src.actor)


def _id(value: Any, name: str) -> int:
    if type(value) is not int or not 0 <= value <= _MAX_ID:
        raise CodecError(f"envelope {name} must be an integer from 0 to 2**63-1, got {_describe(value)}")
    return value


def _address(value: Any, name: str) -> Address:
    if (
        type(value) is not list
        or len(value) != 2
        or type(value[0]) is not str
        or type(value[1]) is not str
        or len(value[0]) > 128
        or len(value[1]) > 128
    ):
        raise CodecError(f"envelope {name} must be [node id, actor name] strings, got {_describe(value)}")
    key = (value[0], value[1])
    known = _ADDRESSES.get(key)
    if known is None:
        if len(_ADDRESSES) >= _ADDRESS_CACHE:
            _ADDRESSES.clear()  # many peers and actors: start over rather than grow
        known = _ADDRESSES[key] = Address(value[0], value[1])
    return known
