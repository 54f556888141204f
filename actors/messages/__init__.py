"""Messages: frozen dataclasses with a KIND, and the one msgpack codec that carries them."""

from ._base import (
    CodecError,
    Message,
    from_body,
    message,
    message_class,
    message_kinds,
    message_schema,
    to_body,
)
from ._catalog import load_all_messages
from ._codec import (
    MAX_MESSAGE_BYTES,
    WIRE_VERSION,
    Address,
    Envelope,
    decode_envelope,
    encode_envelope,
)
from ._common import Crash, ErrorReply, Ping, Pong, StreamEnd

__all__ = [
    "MAX_MESSAGE_BYTES",
    "WIRE_VERSION",
    "Address",
    "CodecError",
    "Crash",
    "Envelope",
    "ErrorReply",
    "Message",
    "Ping",
    "Pong",
    "StreamEnd",
    "decode_envelope",
    "encode_envelope",
    "from_body",
    "load_all_messages",
    "message",
    "message_class",
    "message_kinds",
    "message_schema",
    "to_body",
]
