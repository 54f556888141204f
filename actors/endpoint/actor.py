"""The Transport actor: start, restart and stop the node's transport under supervision.

The transport's I/O thread does the work; this actor gives it a place in the supervision tree
(first child of the node, so that a restart of it restarts every actor that talks through it)
and turns each inbound message into a :class:`~swarmnode.actors.runtime.Delivery` told to the
actor registered under the destination name.
"""

from __future__ import annotations

import errno
import logging
import time
from typing import Any

import pykka

from swarmnode.actors.messages import ErrorReply
from swarmnode.actors.runtime import Delivery, Membership, NodeActor, NodeContext
from swarmnode.actors.supervision import Link
from swarmnode.transport import Admission, Identity, Inbound, RateLimitedLog, Transport, TransportError

__all__ = ["TransportActor"]

log = logging.getLogger("swarmnode.transport")

REBIND_S = 1.0  # how long a restarted transport tries again for its port while something holds it
REBIND_PAUSE_S = 0.05
REFUSAL_LOG_S = 60.0  # a removed node goes on sending (a manager's Raft, a minute's heartbeats): a line a minute


def _current_identity(inbound: Inbound, membership: Membership) -> Inbound:
    # A "removed" identity is never upgraded: a revoked node id stays revoked (the cluster's list
    # only grows), and a connection admitted as removed keeps that identity for its whole life.
    peer = inbound.peer
    if peer.role == "anonymous":
        member = membership.by_key.get(peer.node_id.encode())
    elif peer.role in ("manager", "worker"):
        member = membership.by_id.get(peer.node_id)
    else:
        return inbound
    if member is None or (member.node_id, member.role) == (peer.node_id, peer.role):
        return inbound
    return Inbound(inbound.envelope, Identity(member.node_id, member.role), inbound.origin)


class TransportActor(NodeActor):
    """Own the node's :class:`~swarmnode.transport.Transport` for one incarnation."""

    def __init__(self, link: Link | None, context: NodeContext, admit: Admission, bootstrap: bool = False) -> None:
        super().__init__(link)
        self.context = context
        self.admit = admit
        self.bootstrap = bootstrap
        self.transport: Transport | None = None
        self.refusals = RateLimitedLog(REFUSAL_LOG_S)  # on the transport's I/O thread only (_route)

    def on_start(self) -> None:
        # A restart listens where the first incarnation did (with port 0 the kernel chose it),
        # since peers reach this node there.
        listened = self.context.listened
        deadline = time.monotonic() + REBIND_S
        while True:
            transport = self._transport(listened or self.context.listen)
            try:
                transport.start()
                break
            except TransportError as exc:
                # Between the old transport's close and this bind, a connection elsewhere on
                # this machine may have taken the port (or the one above) for a moment.
                if not listened or exc.errno != errno.EADDRINUSE or time.monotonic() >= deadline:
                    raise
                log.warning("%s; trying again", exc)
                time.sleep(REBIND_PAUSE_S)
        self.context.listened = transport.address
        self.transport = transport
        self.context.set_transport(transport)
        log.info("transport listening on %s", transport.address)

    def _transport(self, listen: str) -> Transport:
        return Transport(
            node_id=self.context.node_id,
            listen=listen,
            public_key=self.context.keys.public,
            secret_key=self.context.keys.secret,
            admit=self.admit,
            deliver=self._route,
            control_path=str(self.context.control_path),
            bootstrap=self.bootstrap,
        )

    def _route(self, inbound: Inbound) -> bool:
        """Tell the destination actor; runs on the transport's I/O thread, so it only tells."""
        transport = self.transport
        if transport is None:
            return False
        # Admission judged the connection when it opened; membership may have changed since:
        # a node removed or expired is refused here, message by message, and a peer that became
        # a member (a joiner whose node object is now committed here) or changed role is seen as
        # what it is now. CURVE authenticated the key, so the upgrade is safe.
        membership = self.context.membership
        inbound = _current_identity(inbound, membership)
        refusal = membership.refusal(inbound.peer, time.time())
        if refusal is not None:
            self.refusals.warning(
                f"{refusal.code}:{inbound.peer.node_id}",
                "refused %s to %s: %s",
                inbound.envelope.kind,
                inbound.envelope.dst.actor,
                refusal.text,
            )
            if inbound.envelope.id:
                transport.reply(inbound, ErrorReply(code=refusal.code, text=refusal.text))
            return True
        ref: pykka.ActorRef[Any] | None = self.context.registry.get(inbound.envelope.dst.actor)
        if ref is None:
            return False
        try:
            ref.tell(Delivery(inbound, transport))
        except pykka.ActorDeadError:
            return False
        return True

    def on_stop(self) -> None:
        self._close()

    def on_crash(self, exc: BaseException) -> None:
        self._close()

    def _close(self) -> None:
        self.context.set_transport(None)
        if self.transport is not None:
            self.transport.stop()
            self.transport = None
