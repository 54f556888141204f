"""The client side of a node's control socket, for the CLI in another process.

The control socket is a unix socket readable by the node's user only (mode 0600), so it needs
no CURVE: the file permission is the authentication, and every request on it is "local".
The client is meant for one thread (a CLI command); it keeps no I/O thread of its own.
"""

from __future__ import annotations

import itertools
import os
import time
from collections.abc import Iterator
from types import TracebackType

import zmq
import zmq.utils.monitor

from swarmnode.actors.messages import (
    MAX_MESSAGE_BYTES,
    Address,
    CodecError,
    Envelope,
    ErrorReply,
    Message,
    StreamEnd,
    decode_envelope,
    encode_envelope,
)

from ._endpoints import BOOTSTRAP_MAX_BYTES, join_host_port, split_host_port, tcp_endpoint
from ._errors import ConnectionLost, RemoteError, RequestTimeout, TransportError

__all__ = ["ControlClient"]

CLIENT_ACTOR = "cli"
LINGER_MS = 0
LOST_CHECK_MS = 100  # how often a wait for a reply looks whether the connection closed


class ControlClient:
    """Send requests to the actors of the node listening on a control socket."""

    def __init__(
        self,
        path: str,
        *,
        timeout_s: float = 5.0,
        max_message_bytes: int = MAX_MESSAGE_BYTES,
        endpoint: str | None = None,
    ) -> None:
        if endpoint is None:
            if not os.path.exists(path):
                raise TransportError(f"no control socket at {path}: is the node running, and is the path right?")
            endpoint = f"ipc://{path}"
        self._path = path
        self._timeout_s = timeout_s
        self._max_bytes = max_message_bytes
        self._ids = itertools.count(1)
        self._context: zmq.Context[zmq.Socket[bytes]] = zmq.Context(io_threads=1)
        self._socket: zmq.Socket[bytes] = self._context.socket(zmq.DEALER)
        self._socket.setsockopt(zmq.LINGER, LINGER_MS)
        self._socket.setsockopt(zmq.MAXMSGSIZE, max_message_bytes)
        # Its monitor says when the connection closes: a node killed while it handled a request
        # is told at once, not after the whole timeout.
        self._monitor = self._socket.get_monitor_socket(zmq.EVENT_DISCONNECTED)
        self._socket.connect(endpoint)
        self._closed = False

    @classmethod
    def bootstrap(cls, address: str, *, timeout_s: float = 5.0) -> ControlClient:
        """Return a client of a manager's bootstrap port: plain TCP, for the joiner's first request.

        Nothing on that port is trusted: the joiner checks what it gets against its join token.
        """
        host, port = split_host_port(address)
        return cls(
            f"bootstrap port of {join_host_port(host, port)}",
            timeout_s=timeout_s,
            max_message_bytes=BOOTSTRAP_MAX_BYTES,
            endpoint=tcp_endpoint(host, port),
        )

    def request(self, actor: str, body: Message, *, timeout_s: float | None = None) -> Message:
        """Send ``body`` to ``actor`` on the node and return its reply.

        Raises RemoteError when the actor answers ErrorReply, RequestTimeout when nothing comes
        back in time.
        """
        timeout = self._timeout_s if timeout_s is None else timeout_s
        request_id = self._send(actor, body)
        reply = self._receive(request_id, time.monotonic() + timeout, actor, body, timeout)
        if isinstance(reply, ErrorReply):
            raise RemoteError(reply.code, reply.text)
        return reply

    def stream(self, actor: str, body: Message, *, timeout_s: float | None = None) -> Iterator[Message]:
        """Send ``body`` to ``actor`` and yield the parts of its reply until StreamEnd.

        ``timeout_s`` is the longest wait for each next part.
        """
        timeout = self._timeout_s if timeout_s is None else timeout_s
        request_id = self._send(actor, body)
        return self._parts(request_id, actor, body, timeout)

    def _parts(self, request_id: int, actor: str, body: Message, timeout: float) -> Iterator[Message]:
        while True:
            part = self._receive(request_id, time.monotonic() + timeout, actor, body, timeout)
            if isinstance(part, StreamEnd):
                return
            if isinstance(part, ErrorReply):
                raise RemoteError(part.code, part.text)
            yield part

    def close(self) -> None:
        """Close the socket; idempotent."""
        if not self._closed:
            self._closed = True
            self._socket.disable_monitor()
            self._monitor.close(LINGER_MS)
            self._socket.close(LINGER_MS)
            self._context.term()

    def __enter__(self) -> ControlClient:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _send(self, actor: str, body: Message) -> int:
        if self._closed:
            raise TransportError("the control client is closed")
        while self._monitor.poll(0, zmq.POLLIN):  # a connection closed before this request concerns it not
            zmq.utils.monitor.recv_monitor_message(self._monitor)
        request_id = next(self._ids)
        env = Envelope(id=request_id, reply_to=0, src=Address("", CLIENT_ACTOR), dst=Address("", actor), body=body)
        try:
            payload = encode_envelope(env)
        except Exception as exc:  # msgpack raises TypeError, ValueError or OverflowError
            raise TransportError(f"cannot encode {body.KIND} for {actor}: {exc}") from exc
        try:
            self._socket.send(payload, zmq.NOBLOCK)
        except zmq.ZMQError as exc:
            raise TransportError(f"cannot send {body.KIND} to {actor} via {self._path}: {exc}") from None
        return request_id

    def _receive(self, request_id: int, deadline: float, actor: str, body: Message, timeout: float) -> Message:
        # Replies to earlier requests that timed out may still arrive: skip them.
        while True:
            wait_ms = int((deadline - time.monotonic()) * 1000)
            if wait_ms < 0:
                raise RequestTimeout(f"no reply from {actor} on {self._path} to {body.KIND} within {timeout:g} s")
            # The reply is waited for alone (the path of every request); the monitor is looked
            # at between slices of LOST_CHECK_MS.
            if not self._socket.poll(min(wait_ms, LOST_CHECK_MS), zmq.POLLIN):
                if self._monitor.poll(0, zmq.POLLIN):
                    zmq.utils.monitor.recv_monitor_message(self._monitor)  # the one event it watches
                    raise ConnectionLost(f"the connection to {self._path} closed before {actor} answered {body.KIND}")
                continue
            data = self._socket.recv()
            try:
                env = decode_envelope(data, self._max_bytes)
            except CodecError as exc:
                raise TransportError(f"bad reply from {actor} on {self._path}: {exc}") from None
            if env.reply_to == request_id:
                return env.body
