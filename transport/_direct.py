"""One-way messages sent from the caller's own thread, on sockets of its own.

:meth:`Transport.send` hands the bytes to the I/O thread: one thread hop per message, and a
wait for the GIL whenever the sending thread keeps running Python. For the messages on Raft's
commit path (appends and their answers) that hop is a good part of a commit's latency, so
RaftMember sends them through a :class:`DirectSender` instead.

Rules: a DirectSender belongs to one thread; make it, send and close it there (zmq sockets are
not thread-safe). It has its own zmq context, so that stopping the transport never waits for
it. Peers are the transport's: a node must be connected there (:meth:`Transport.connect`), and
a change of its address or key there reopens the socket here, and so does a send that fails
(see ``REOPEN_AFTER_S``). What arrives is judged by the
peer exactly as what comes through the transport: same CURVE key, same admission.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import zmq

from swarmnode.actors.messages import Address, Message

from ._errors import TransportError
from ._transport import LOG_INTERVAL_S, REOPEN_AFTER_S, RateLimitedLog, Transport

__all__ = ["DirectSender"]


@dataclass(slots=True)
class _Held:
    target: tuple[str, bytes]  # (endpoint, server key) it was opened for
    socket: zmq.Socket[bytes]
    opened_at: float


class DirectSender:
    """Send one-way messages to peer nodes from the calling thread (see the module docstring)."""

    def __init__(self, transport: Transport) -> None:
        self._transport = transport
        self._context: zmq.Context[zmq.Socket[bytes]] | None = None
        self._sockets: dict[str, _Held] = {}
        self._warn = RateLimitedLog(LOG_INTERVAL_S)
        self.sent = 0

    def send(self, dst: Address, body: Message, *, src_actor: str) -> None:
        """Send ``body`` to ``dst`` now; TransportError when the node is not connected or it is too big.

        A full send queue (the peer is away and HWM messages wait already) drops the message,
        as the transport's own one-way sends do.
        """
        target = self._transport.peer_target(dst.node)
        if target is None:
            self._close_socket(dst.node)
            raise TransportError(f"cannot send {body.KIND} to {dst}: node {dst.node!r} is not connected")
        payload = self._transport.encode_one_way(dst, body, src_actor)
        held = self._sockets.get(dst.node)
        if held is None or held.target != target:
            held = self._open(dst.node, target)
        try:
            held.socket.send(payload, zmq.NOBLOCK)
        except zmq.ZMQError as exc:
            self._warn.warning(f"direct:{dst.node}", "one-way message to node %s dropped: %s", dst.node, exc)
            if time.monotonic() - held.opened_at >= REOPEN_AFTER_S:
                self._open(dst.node, target)  # a refused handshake leaves the socket dead for good
            return
        self.sent += 1

    def _open(self, node: str, target: tuple[str, bytes]) -> _Held:
        self._close_socket(node)
        if self._context is None:
            self._context = zmq.Context(io_threads=1)
        held = _Held(target, self._transport.open_peer_dealer(self._context, *target), time.monotonic())
        self._sockets[node] = held
        return held

    def close(self) -> None:
        """Close every socket and the context (unsent messages are dropped). Idempotent."""
        for node in list(self._sockets):
            self._close_socket(node)
        if self._context is not None:
            self._context.destroy(linger=0)  # closes whatever socket an error left open
            self._context = None

    def _close_socket(self, node: str) -> None:
        held = self._sockets.pop(node, None)
        if held is not None:
            held.socket.close(0)
