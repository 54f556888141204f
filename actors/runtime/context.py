"""The context shared by every actor of one node process."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from swarmnode.actors.supervision import Registry

if TYPE_CHECKING:
    from swarmnode.transport import Transport

__all__ = ["CurveKeys", "NodeContext"]


@dataclass(frozen=True, slots=True)
class CurveKeys:
    """A CURVE key pair, z85-encoded."""

    public: bytes
    secret: bytes


@dataclass(slots=True)
class NodeContext:
    """Who this node is and how its actors reach each other and the network.

    The transport changes when the Transport actor restarts, so actors read
    ``context.transport`` each time they send instead of keeping their own reference.
    """

    node_id: str
    role: str
    state_dir: Path
    listen: str
    keys: CurveKeys
    registry: Registry = field(default_factory=Registry)
    started_at: float = 0.0
    _transport: Transport | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def transport(self) -> Transport:
        """The running transport; raise when it is down (it restarts under its supervisor)."""
        with self._lock:
            transport = self._transport
        if transport is None:
            raise RuntimeError("the transport is not running (it may be restarting)")
        return transport

    def set_transport(self, transport: Transport | None) -> None:
        with self._lock:
            self._transport = transport

    @property
    def control_path(self) -> Path:
        """The node's control socket, inside its private state directory."""
        return self.state_dir / "control.sock"
