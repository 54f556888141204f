"""Which CURVE keys may talk to this node, and as whom.

Until certificates bind CURVE keys to node ids and roles (the init/join issue), a node admits
only the keys it was told about explicitly, and refuses every other key: secure by default,
even when that means a lone node talks to nobody.
"""

from __future__ import annotations

import logging
import threading

from swarmnode.transport import Identity

__all__ = ["KeyAdmission"]

log = logging.getLogger("swarmnode.admission")


class KeyAdmission:
    """Admit the CURVE public keys in an explicit table, each with its identity."""

    def __init__(self, known: dict[bytes, Identity] | None = None) -> None:
        self._lock = threading.Lock()
        self._known = dict(known or {})

    def allow(self, public_key: bytes, identity: Identity) -> None:
        with self._lock:
            self._known[public_key] = identity

    def forget(self, public_key: bytes) -> None:
        with self._lock:
            self._known.pop(public_key, None)

    def __call__(self, public_key: bytes, address: str) -> Identity | None:
        with self._lock:
            return self._known.get(public_key)
