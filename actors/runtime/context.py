"""The context shared by every actor of one node process."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from swarmnode.actors.supervision import Registry
from swarmnode.transport import TransportError

from .addressable import Refused
from .membership import Membership

if TYPE_CHECKING:
    from swarmnode.transport import Transport

__all__ = [
    "CERTIFICATE_KEY",
    "MANAGERS_KEY",
    "SESSION_KEY",
    "STOP_NODE_KEY",
    "TRUST_KEY",
    "CurveKeys",
    "NodeContext",
    "NodeSettings",
    "Session",
]

# Values one actor publishes in the context for the others (``get_shared``/``set_shared``).
CERTIFICATE_KEY = "certificate"  # this node's NodeCertInfo (the CertAuthority)
TRUST_KEY = "trust"  # the trusted roots this node holds, a PEM bundle (the CertAuthority, the Worker)
MANAGERS_KEY = "managers"  # the managers this node knows, tuple[ManagerRecord, ...] (the Worker)
STOP_NODE_KEY = "stop_node"  # Callable[[str, str], None]: (reason, "stop" | "leave" | "restart")
SESSION_KEY = "session"  # this node's session with the managers, a Session (the Worker)


@dataclass(frozen=True, slots=True)
class Session:
    """How this node's heartbeats fare, as `swarm-node status` shows it (Docker's "Swarm:" line).

    ``state``: "pending" (none answered yet), "active" (the last one was answered), "failing"
    (the last ones failed) or "removed" (a manager said this node was removed from the swarm);
    ``detail`` says more, for the operator; ``since`` is when the state began (epoch s).
    """

    state: str
    detail: str
    since: float


@dataclass(frozen=True, slots=True)
class CurveKeys:
    """A CURVE key pair, z85-encoded."""

    public: bytes
    secret: bytes


@dataclass(frozen=True, slots=True)
class NodeSettings:
    """Start-up settings of one node process (flags of ``swarm-node start``)."""

    store_segment_bytes: int = 64 * 1024 * 1024
    # Tests lower this (SWARM_NODE_TEST_SNAPSHOT_EVERY) to see followers catch up by snapshot.
    snapshot_every_entries: int = 10_000


class TransportDown(Refused, TransportError):
    """The node's transport is down, most likely restarting.

    Both a refusal and a transport error, so that neither kind of reader crashes on it: a
    request handler that reads the transport then (a status, say) answers "unavailable", and
    code that already handles a failed send (a heartbeat, a renewal) treats it as one. The
    actors that use the transport are restarted with it anyway.
    """

    def __init__(self) -> None:
        super().__init__("unavailable", "the transport of this node is not running (it may be restarting); try again")


@dataclass(slots=True)
class NodeContext:
    """Who this node is and how its actors reach each other and the network.

    Some parts change while the node runs (the transport when its actor restarts, the
    membership after each committed change, the manager list, the certificate after a
    renewal), so actors read them here each time instead of keeping their own copies.
    """

    node_id: str
    role: str
    state_dir: Path
    listen: str
    keys: CurveKeys
    cluster_id: str = ""
    advertise_addr: str = ""
    hostname: str = ""
    settings: NodeSettings = field(default_factory=NodeSettings)
    registry: Registry = field(default_factory=Registry)
    started_at: float = 0.0
    listened: str = ""  # where the transport first listened; a restarted one listens there again
    _transport: Transport | None = None
    _membership: Membership = field(default_factory=Membership)
    _shared: dict[str, Any] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def transport(self) -> Transport:
        """The running transport; raise :class:`TransportDown` while it restarts under its supervisor."""
        with self._lock:
            transport = self._transport
        if transport is None:
            raise TransportDown()
        return transport

    def set_transport(self, transport: Transport | None) -> None:
        with self._lock:
            self._transport = transport

    @property
    def membership(self) -> Membership:
        """The current admission table (read without a lock: it is replaced whole)."""
        return self._membership

    def set_membership(self, membership: Membership) -> None:
        self._membership = membership

    def get_shared(self, key: str, default: Any = None) -> Any:
        """Read a value one actor publishes for the others (e.g. the node's certificate)."""
        with self._lock:
            return self._shared.get(key, default)

    def set_shared(self, key: str, value: Any) -> None:
        with self._lock:
            self._shared[key] = value

    @property
    def control_path(self) -> Path:
        """The node's control socket, inside its private state directory."""
        return self.state_dir / "control.sock"

    @property
    def cluster_addr(self) -> str:
        """The address other nodes reach this node at: the advertise address, with the real port."""
        addr = self.advertise_addr or self.listen
        host, _, port = addr.rpartition(":")
        if port == "0" and self.listened:  # the port the kernel chose, kept across transport restarts
            return f"{host}:{self.listened.rpartition(':')[2]}"
        return addr
