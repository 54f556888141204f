"""Who may talk to this node, as of the latest committed state: the admission hook's table.

Managers build it from the Store's node and cluster objects after every change; workers from
the managers they know. It is immutable and swapped whole, so the transport's I/O thread reads
it without a lock, and every connection attempt is judged against one consistent version.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from swarmnode.transport import Identity

__all__ = ["REMOVED", "CertAdmission", "Member", "Membership", "Refusal"]

log = logging.getLogger("swarmnode.admission")

ANONYMOUS = "anonymous"
# The identity of a removed node's key on a manager: admitted only to be told, message by message,
# that it was removed (as swarmkit's managers answer a removed node's TLS connection "Permission
# denied: node X was removed from swarm"). Refused at the handshake, it could not learn why.
REMOVED = "removed"


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a connected peer may not talk to this node: an ErrorReply code ("removed" or "forbidden") and text."""

    code: str
    text: str


@dataclass(frozen=True, slots=True)
class Member:
    """A node with a certificate of this swarm: its id, role and certificate expiry (epoch s)."""

    node_id: str
    role: str
    not_after: float


@dataclass(frozen=True, slots=True)
class Membership:
    """CURVE key (z85) -> member; keys of removed nodes; whether strangers may ask to join, and why not."""

    by_key: Mapping[bytes, Member] = field(default_factory=dict)
    revoked: Mapping[str, bytes] = field(default_factory=dict)  # node id -> CURVE key
    anonymous_allowed: bool = False
    # Why a key that is none of the above is refused where strangers may not join (a worker's
    # table, or the empty one a node starts with): what this node knows, not more.
    unknown_key: str = "belongs to no node this one knows yet"
    by_id: Mapping[str, Member] = field(init=False, repr=False, compare=False)
    revoked_keys: Mapping[bytes, str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "by_id", {m.node_id: m for m in self.by_key.values()})
        object.__setattr__(self, "revoked_keys", {k: n for n, k in self.revoked.items()})

    def refusal(self, identity: Identity, now: float) -> Refusal | None:
        """Return why a connected peer may no longer talk to this node, or None if it may."""
        if identity.role in ("manager", "worker", REMOVED):
            if identity.role == REMOVED or identity.node_id in self.revoked:
                return Refusal(REMOVED, _removed(identity.node_id))
            member = self.by_id.get(identity.node_id)
            if member is not None and now > member.not_after:
                expired = f"the certificate of node {identity.node_id} expired at {_when(member.not_after)}"
                return Refusal("forbidden", expired)
        return None


def _when(epoch_s: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(epoch_s))


def _removed(node_id: str) -> str:
    return f"node {node_id} was removed from the swarm"


class CertAdmission:
    """Admit CURVE keys bound in valid certificates of this swarm; strangers only to join."""

    def __init__(self, membership: Callable[[], Membership], clock: Callable[[], float] = time.time) -> None:
        self._membership = membership
        self._clock = clock

    def __call__(self, public_key: bytes, address: str) -> Identity | None:
        table = self._membership()
        removed = table.revoked_keys.get(public_key)  # also a key still bound in the table
        if removed is not None:
            # Refused at the handshake, the node would only see a failed handshake, again and
            # again; admitted, every message it sends is answered that it was removed. The
            # transport warns of its messages (once a minute): the connection itself is info.
            log.info("%s: %s; its messages are answered so", address, _removed(removed))
            return Identity(node_id=removed, role=REMOVED)
        member = table.by_key.get(public_key)
        if member is None:
            if table.anonymous_allowed:
                # A joiner: its only use of the connection is IssueNodeCertificate (role checks).
                return Identity(node_id=public_key.decode(), role=ANONYMOUS)
            log.warning("refused %s: CURVE key %s %s", address, public_key.decode(), table.unknown_key)
            return None
        identity = Identity(node_id=member.node_id, role=member.role)
        refusal = table.refusal(identity, self._clock())
        if refusal is not None:
            log.warning("refused %s: %s", address, refusal.text)
            return None
        return identity
