"""CURVE key pairs, made here because the transport is the only code that imports zmq."""

from __future__ import annotations

import zmq

__all__ = ["generate_keypair"]


def generate_keypair() -> tuple[bytes, bytes]:
    """Return a new CURVE (public, secret) key pair, each z85 text of 40 bytes."""
    public, secret = zmq.curve_keypair()
    return public, secret
