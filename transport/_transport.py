"""The node's network endpoint: one I/O thread that owns every zmq socket.

Rules this module keeps (they are why it looks the way it does):

- One thread, the I/O thread, touches the ROUTER (CURVE server on the cluster port), the peer
  DEALERs (CURVE clients), the ZAP handler and the control ROUTER; zmq sockets are not thread
  safe. Other threads append commands to a deque and wake the I/O thread through an eventfd,
  at most once per batch, and the I/O thread drains the whole deque per wake-up.
- The admission hook answers ZAP on the I/O thread; the identity it returns travels as the
  connection's ZAP User-Id (a token), so every inbound message carries the identity of the
  connection it really came on, also after a key reconnects.
- Nothing a peer sends can kill the I/O thread: each frame is handled in its own try block,
  counted and logged (rate-limited), and answered "bad-message" when it was a readable request.
- Deadlines live on the I/O thread (the poll timeout is the nearest one), so every future and
  stream resolves: with a reply, a RemoteError, a RequestTimeout, or a TransportError at stop.
"""

from __future__ import annotations

import contextlib
import errno
import heapq
import itertools
import logging
import os
import socket
import stat
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable, Iterator
from typing import Any

import zmq
import zmq.utils.monitor
import zmq.utils.z85

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

from ._endpoints import (
    BOOTSTRAP_MAX_BYTES,
    bind_error,
    bootstrap_address,
    join_host_port,
    split_host_port,
    tcp_endpoint,
)
from ._errors import NotSent, RemoteError, RequestTimeout, TransportError
from ._future import ReplyFuture, ReplyStream
from ._poll import SocketPoll, has_input
from ._types import Admission, Identity, Inbound, TransportStatistics
from ._zap import ZAP_ENDPOINT, parse_zap_request, zap_reply

__all__ = ["Transport"]

log = logging.getLogger("swarmnode.transport")

POLL_MAX_S = 1.0  # the loop wakes at least this often even when idle, as a safety net
RECV_BATCH = 512  # messages read from one socket per poll before the others get a turn
# A batch read asks whether another message waits (has_input) after each of its first this many
# messages: most batches hold one or two, and a batch that ends in a failed receive costs an
# exception (pyzmq builds zmq.Again with imports), several times the price of the question; a
# longer batch reads on to zmq.Again rather than ask after every message.
HAS_INPUT_CHECKS = 8
LINGER_MS = 0  # unsent messages are dropped at close: a stopping node must not hang
RECONNECT_IVL_MS = 100
# A peer back from the dead is reconnected within this (zmq backs off from RECONNECT_IVL_MS): a
# heartbeat to a manager that restarted fails as "lost" until then (zmq's own default is 100 ms, flat).
RECONNECT_IVL_MAX_MS = 1_000
HEARTBEAT_IVL_MS = 2_000  # ZMTP pings detect a peer that vanished without closing TCP
# What a peer DEALER's monitor reports: a lost connection, or a handshake the peer refused. The
# requests in flight to that peer fail then (their replies cannot come), not at their deadline.
_LOST = zmq.EVENT_DISCONNECTED
_BACK = zmq.EVENT_HANDSHAKE_SUCCEEDED
_REFUSED_TEXT = (
    "the node refused this node's key, or the handshake with it failed (it does not know this node yet, it "
    "removed it, or another node listens at that address)"
)
_REFUSED = zmq.EVENT_HANDSHAKE_FAILED_AUTH | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL | zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL
_WATCHED = _LOST | _BACK | _REFUSED
BATCH_EVENTS = 32  # monitor events read per wake-up
HEARTBEAT_TIMEOUT_MS = 6_000
HWM_MESSAGES = 10_000
# A DEALER whose handshake a peer refused (its admission did not know this node yet, say) is
# dead for good: libzmq ends the session on an authentication failure and never reconnects, so
# every later send fails with EAGAIN. A send that fails so reopens the socket, at most this often
# per peer (when the queue is merely full, the messages it held are dropped, as a full queue's are).
REOPEN_AFTER_S = 0.25
LOG_INTERVAL_S = 5.0  # one warning per peer and kind of problem per interval
ZAP_DOMAIN = b"swarmnode"
CONTROL_MODE = 0o600

# Channels an inbound message can come on, kept in its origin so a reply goes back the same way.
_ROUTER = 0
_CONTROL = 1
_LOCAL = 2
_BOOTSTRAP = 3
_CHANNEL_NAMES = ("cluster port", "control socket", "local", "bootstrap port")  # by channel, for logs

# Commands from other threads to the I/O thread: tuples whose first item is one of these.
_OP_REQUEST = 0  # (op, pending, payload)
_OP_SEND = 1  # (op, node_id, payload)
_OP_REPLY = 2  # (op, origin, payload)
_OP_LOCAL_REQUEST = 3  # (op, pending, envelope)
_OP_LOCAL_SEND = 4  # (op, envelope)
_OP_LOCAL_REPLY = 5  # (op, request_id, body)
_OP_CONNECT = 6  # (op, node_id, endpoint, server_public_key)
_OP_DISCONNECT = 7  # (op, node_id)
_OP_CANCEL = 8  # (op, request_id)

_LOCAL_ROLE = "local"
BOOTSTRAP_ROLE = "bootstrap"
BIND_ATTEMPTS = 20  # for port 0 with a bootstrap port: tries to find a free pair of ports


class _Origin:
    """Say where an inbound message came from: the channel and the zmq routing id."""

    __slots__ = ("channel", "routing_id")

    def __init__(self, channel: int, routing_id: bytes) -> None:
        self.channel = channel
        self.routing_id = routing_id

    def __repr__(self) -> str:
        return f"<origin {_CHANNEL_NAMES[self.channel]} {self.routing_id.hex()}>"


_LOCAL_ORIGIN = _Origin(_LOCAL, b"")


class _Pending:
    """Remember one request until its reply, its deadline or the stop of the transport."""

    __slots__ = ("deadline", "dst", "future", "kind", "node", "request_id", "stream", "timeout_s")

    def __init__(
        self,
        *,
        request_id: int,
        node: str,
        dst: Address,
        kind: str,
        timeout_s: float,
        future: ReplyFuture[Message] | None,
        stream: ReplyStream | None,
    ) -> None:
        self.request_id = request_id
        self.node = node  # the peer whose DEALER must carry the reply ("" for local requests)
        self.dst = dst
        self.kind = kind
        self.timeout_s = timeout_s
        self.deadline = time.monotonic() + timeout_s
        self.future = future
        self.stream = stream

    def fail(self, exc: BaseException) -> None:
        if self.future is not None:
            self.future.set_exception(exc)
        elif self.stream is not None:
            self.stream.parts.put(exc)

    def timeout_error(self) -> RequestTimeout:
        what = "stream part" if self.stream is not None else "reply"
        return RequestTimeout(f"no {what} from {self.dst} to {self.kind} within {self.timeout_s:g} s")


class _Peer:
    """One connected peer node: its DEALER and what it was connected with."""

    __slots__ = ("endpoint", "lost_at", "monitor", "node_id", "opened_at", "refused", "server_key", "socket")

    def __init__(self, node_id: str, endpoint: str, server_key: bytes, sock: zmq.Socket[bytes]) -> None:
        self.node_id = node_id
        self.endpoint = endpoint
        self.server_key = server_key
        self.socket = sock
        self.opened_at = time.monotonic()
        # When its connection was lost (monotonic), until a handshake succeeds again: requests
        # to it fail at once meanwhile, as a call on a broken gRPC connection does, rather than
        # wait in zmq's queue for a reconnection that a dead node never makes.
        self.lost_at: float | None = None
        self.refused = False  # the last handshake failed: libzmq will not reconnect by itself
        self.monitor: zmq.Socket[bytes] | None = None  # the socket's zmq monitor (_adopt)


class RateLimitedLog:
    """Log one warning per key per interval and say how many were suppressed in between."""

    def __init__(self, interval_s: float) -> None:
        self._interval_s = interval_s
        self._last: dict[str, tuple[float, int]] = {}

    def warning(self, key: str, text: str, *args: object) -> None:
        now = time.monotonic()
        last, suppressed = self._last.get(key, (-self._interval_s, 0))
        if now - last < self._interval_s:
            self._last[key] = (last, suppressed + 1)
            return
        if len(self._last) > 10_000:  # keys come from peers: never let them grow memory
            self._last.clear()
        self._last[key] = (now, 0)
        if suppressed:
            log.warning(text + " (%d similar suppressed)", *args, suppressed)
        else:
            log.warning(text, *args)


class Transport:
    """Carry envelopes between this node's actors and other nodes over CurveZMQ.

    See the module docstring for the threading rules. ``deliver`` runs on the I/O thread for
    every valid inbound message addressed to this node (or to "" for "whichever node this is")
    and must be quick: it hands the message to an actor mailbox and returns False when no actor
    of that name exists.
    """

    def __init__(
        self,
        *,
        node_id: str,
        listen: str,
        public_key: bytes,
        secret_key: bytes,
        admit: Admission,
        deliver: Callable[[Inbound], bool],
        control_path: str | None = None,
        max_message_bytes: int = MAX_MESSAGE_BYTES,
        bootstrap: bool = False,
    ) -> None:
        if len(public_key) != 40 or len(secret_key) != 40:
            raise TransportError("CURVE keys must be z85 text of 40 bytes (see zmq.curve_keypair())")
        self.node_id = node_id
        self._host, self._port = split_host_port(listen)
        self._public_key = public_key
        self._secret_key = secret_key
        self._admit = admit
        self._deliver = deliver
        self._control_path = control_path
        self._max_bytes = max_message_bytes
        self._local_identity = Identity(node_id=node_id, role=_LOCAL_ROLE)
        self._bootstrap_identity = Identity(node_id="", role=BOOTSTRAP_ROLE)
        self._serve_bootstrap = bootstrap

        # Shared with callers' threads: the command deque (thread-safe appends and pops), the
        # wake-up flag, the request id counter and the set of connected peer names.
        self._commands: deque[tuple[Any, ...]] = deque()
        self._wake_pending = False
        self._wake_fd = -1
        self._ids = itertools.count(1)
        self._peer_names: dict[str, tuple[str, bytes]] = {}
        self._peer_lock = threading.Lock()
        self._running = False
        self._closed = False
        self._thread: threading.Thread | None = None
        self._bound_address = ""

        # Owned by the I/O thread.
        self._context: zmq.Context[zmq.Socket[bytes]] | None = None
        self._router: zmq.Socket[bytes] | None = None
        self._control: zmq.Socket[bytes] | None = None
        self._bootstrap: zmq.Socket[bytes] | None = None
        self._zap: zmq.Socket[bytes] | None = None
        self._poll = SocketPoll()
        self._peers: dict[str, _Peer] = {}
        self._dealer_nodes: dict[zmq.Socket[bytes], str] = {}
        self._monitor_nodes: dict[zmq.Socket[bytes], str] = {}  # a monitor -> the peer's node id
        self._lost_listeners: tuple[Callable[[str], None], ...] = ()  # replaced whole: read without a lock
        self._pending: dict[int, _Pending] = {}
        self._deadlines: list[tuple[float, int]] = []
        self._identity_tokens: dict[Identity, str] = {}
        self._identities: dict[str, Identity] = {}
        self._stopping = False
        self._warn = RateLimitedLog(LOG_INTERVAL_S)

        # Counters, written by the I/O thread only.
        self._sent = 0
        self._received = 0
        self._refused = 0
        self._bad_frames = 0
        self._unmatched = 0

    @classmethod
    def outbound_only(cls, node_id: str, public_key: bytes, secret_key: bytes) -> Transport:
        """Return a transport that only makes requests: it admits no peer and delivers nothing.

        For a joiner before it has a certificate, and for clients in tests and benchmarks; it
        still binds a ROUTER (on an ephemeral loopback port), since every Transport has one.
        """
        return cls(
            node_id=node_id,
            listen="127.0.0.1:0",
            public_key=public_key,
            secret_key=secret_key,
            admit=lambda key, address: None,
            deliver=lambda inbound: False,
        )

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        """Bind the cluster port and the control socket, then start the I/O thread.

        Binding happens here, on the caller's thread, so that a busy port is reported to the
        caller as a TransportError; the sockets then move to the I/O thread (thread start is
        the memory barrier zmq asks for).
        """
        if self._thread is not None or self._closed:
            raise TransportError(f"transport of node {self.node_id!r} was already started")
        ctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context(io_threads=1)
        sockets: list[zmq.Socket[bytes]] = []
        try:
            self._zap = self._socket(ctx, zmq.REP, sockets)
            self._zap.bind(ZAP_ENDPOINT)
            self._router, self._bootstrap = self._bind_ports(ctx, sockets)
            if self._control_path is not None:
                self._control = self._bind_control(ctx, sockets, self._control_path)
        except BaseException:
            for s in sockets:
                s.close(0)
            ctx.term()
            raise
        self._context = ctx
        self._wake_fd = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
        # Writers may still hold a reference after stop(); the fd must outlive them, or a late
        # write could land in a file that reused the number.
        weakref.finalize(self, os.close, self._wake_fd)
        self._running = True
        self._thread = threading.Thread(target=self._run, name=f"transport-{self.node_id}", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        """Close every socket and join the I/O thread; pending requests fail. Idempotent."""
        thread = self._thread
        if thread is None:
            self._closed = True
            return
        self._running = False
        self._stopping = True
        self._wake()
        if thread is not threading.current_thread():
            thread.join(timeout_s)
            if thread.is_alive():
                log.warning("transport of node %s: I/O thread still running after %g s", self.node_id, timeout_s)

    @property
    def address(self) -> str:
        """Return the bound "host:port" (with the real port when 0 was asked for)."""
        return self._bound_address

    @property
    def bootstrap_address(self) -> str:
        """Return the "host:port" of the bootstrap port, or "" when this node serves none."""
        return bootstrap_address(self._bound_address) if self._bootstrap is not None else ""

    def statistics(self) -> TransportStatistics:
        """Return a snapshot of the counters."""
        with self._peer_lock:
            peers = len(self._peer_names)
        return TransportStatistics(
            sent=self._sent,
            received=self._received,
            refused_peers=self._refused,
            bad_frames=self._bad_frames,
            peers=peers,
            unmatched_replies=self._unmatched,
        )

    # ------------------------------------------------------------------ peers

    def connect(self, node_id: str, address: str, server_public_key: bytes) -> None:
        """Open (or re-point) the DEALER to a peer node; zmq reconnects by itself after it restarts."""
        if not node_id or node_id == self.node_id:
            raise TransportError(f"cannot connect to node {node_id!r}: it is empty or this node itself")
        if len(server_public_key) != 40:
            raise TransportError(f"server key of node {node_id!r} must be z85 text of 40 bytes")
        host, port = split_host_port(address)
        endpoint = tcp_endpoint(host, port)
        with self._peer_lock:
            if self._peer_names.get(node_id) == (endpoint, server_public_key):
                return
            self._peer_names[node_id] = (endpoint, server_public_key)
        self._post((_OP_CONNECT, node_id, endpoint, server_public_key))

    def on_peer_lost(self, listener: Callable[[str], None], *, remove: bool = False) -> None:
        """Call ``listener(node_id)`` when the connection to a peer is lost (or stop, ``remove``).

        It runs on the I/O thread: it must only hand the news on (an actor's tell). A node's
        agent beats to another manager at once when its manager's connection goes, as a
        swarmkit agent whose session broke.
        """
        with self._peer_lock:
            listeners = [x for x in self._lost_listeners if x != listener]
            self._lost_listeners = tuple(listeners if remove else [*listeners, listener])

    def disconnect(self, node_id: str) -> None:
        """Close the DEALER to a peer node; its pending requests fail with TransportError."""
        with self._peer_lock:
            if self._peer_names.pop(node_id, None) is None:
                return
        self._post((_OP_DISCONNECT, node_id))

    # ------------------------------------------------------------------ sending (any thread)

    def request(self, dst: Address, body: Message, *, src_actor: str, timeout_s: float) -> ReplyFuture[Message]:
        """Send a request; the future resolves to the reply body, RemoteError or RequestTimeout."""
        future: ReplyFuture[Message] = ReplyFuture()
        self._submit(dst=dst, body=body, src_actor=src_actor, timeout_s=timeout_s, future=future, stream=None)
        return future

    def stream(self, dst: Address, body: Message, *, src_actor: str, timeout_s: float) -> Iterator[Message]:
        """Send a request whose reply comes in parts; yield them until StreamEnd.

        ``timeout_s`` is the idle deadline: the longest wait for the next part.
        """
        request_id: list[int] = []
        stream = ReplyStream(
            timeout_s,
            f"{body.KIND} to {dst}",
            lambda: self._post((_OP_CANCEL, request_id[0])) if request_id else None,
        )
        request_id.append(
            self._submit(dst=dst, body=body, src_actor=src_actor, timeout_s=timeout_s, future=None, stream=stream)
        )
        return stream

    def send(self, dst: Address, body: Message, *, src_actor: str) -> None:
        """Send a one-way message (id 0): nothing answers, nothing waits."""
        self._check_running()
        env = Envelope(id=0, reply_to=0, src=Address(self.node_id, src_actor), dst=dst, body=body)
        if dst.node in ("", self.node_id):
            self._post((_OP_LOCAL_SEND, env))
            return
        if dst.node not in self._peer_names:
            raise TransportError(f"cannot send {body.KIND} to {dst}: node {dst.node!r} is not connected")
        self._post((_OP_SEND, dst.node, self._encode(env)))

    def reply(self, inbound: Inbound, body: Message) -> None:
        """Send the final reply to ``inbound`` back on the connection it came from."""
        env = inbound.envelope
        if env.id == 0:
            return  # a one-way message: nobody waits for an answer
        origin = inbound.origin
        if not isinstance(origin, _Origin):
            raise TransportError(f"cannot reply to {env.kind} from {env.src}: not an inbound of a transport")
        if origin.channel == _LOCAL:
            self._post((_OP_LOCAL_REPLY, env.id, body))
            return
        out = Envelope(id=0, reply_to=env.id, src=Address(self.node_id, env.dst.actor), dst=env.src, body=body)
        try:
            payload = self._encode(out)
        except TransportError as exc:
            # Tell the requester rather than let it wait for its deadline.
            error = ErrorReply(code="bad-message", text=str(exc))
            payload = encode_envelope(Envelope(id=0, reply_to=env.id, src=out.src, dst=out.dst, body=error))
            log.warning("reply to %s from %s not sent: %s", env.kind, env.src, exc)
        self._post((_OP_REPLY, origin, payload))

    def reply_part(self, inbound: Inbound, body: Message) -> None:
        """Send one part of a streamed reply; finish with ``reply(inbound, StreamEnd())``."""
        self.reply(inbound, body)

    # ------------------------------------------------------------------ caller-side helpers

    def _submit(
        self,
        *,
        dst: Address,
        body: Message,
        src_actor: str,
        timeout_s: float,
        future: ReplyFuture[Message] | None,
        stream: ReplyStream | None,
    ) -> int:
        request_id = next(self._ids)
        node = dst.node
        local = node in ("", self.node_id)
        pending = _Pending(
            request_id=request_id,
            node="" if local else node,
            dst=dst,
            kind=body.KIND,
            timeout_s=timeout_s,
            future=future,
            stream=stream,
        )
        if not self._running:
            pending.fail(NotSent(f"cannot send {body.KIND} to {dst}: the transport is not running"))
            return request_id
        env = Envelope(id=request_id, reply_to=0, src=Address(self.node_id, src_actor), dst=dst, body=body)
        if local:
            self._post((_OP_LOCAL_REQUEST, pending, env))
            return request_id
        if node not in self._peer_names:
            pending.fail(NotSent(f"cannot send {body.KIND} to {dst}: node {node!r} is not connected"))
            return request_id
        try:
            payload = self._encode(env)
        except TransportError as exc:
            pending.fail(exc)
            return request_id
        self._post((_OP_REQUEST, pending, payload))
        return request_id

    def _encode(self, env: Envelope) -> bytes:
        try:
            payload = encode_envelope(env)
        except Exception as exc:  # msgpack raises TypeError, ValueError or OverflowError
            raise TransportError(f"cannot encode {env.kind} to {env.dst}: {exc}") from exc
        if len(payload) > self._max_bytes:
            raise TransportError(
                f"{env.kind} to {env.dst} is {len(payload)} bytes, over the limit of {self._max_bytes} bytes"
            )
        return payload

    def _check_running(self) -> None:
        if not self._running:
            raise TransportError(f"transport of node {self.node_id!r} is not running")

    def _post(self, command: tuple[Any, ...]) -> None:
        self._commands.append(command)
        if self._closed:
            # The I/O thread is gone or going: fail what it may never read.
            self._fail_commands()
            return
        if not self._wake_pending:
            self._wake_pending = True
            self._wake()

    def _wake(self) -> None:
        if self._wake_fd >= 0:
            with contextlib.suppress(OSError):
                os.eventfd_write(self._wake_fd, 1)

    # ------------------------------------------------------------------ socket setup

    @staticmethod
    def _socket(ctx: zmq.Context[zmq.Socket[bytes]], kind: int, sockets: list[zmq.Socket[bytes]]) -> zmq.Socket[bytes]:
        sock = ctx.socket(kind)
        sockets.append(sock)
        sock.setsockopt(zmq.LINGER, LINGER_MS)
        return sock

    def _bind_ports(
        self, ctx: zmq.Context[zmq.Socket[bytes]], sockets: list[zmq.Socket[bytes]]
    ) -> tuple[zmq.Socket[bytes], zmq.Socket[bytes] | None]:
        """Bind the cluster port and, on managers, the bootstrap port right above it.

        With port 0 the kernel picks the cluster port, so the port above may be taken: then
        both are given back and another pair is tried.
        """
        for attempt in range(BIND_ATTEMPTS):
            router = self._bind_router(ctx, sockets)
            if not self._serve_bootstrap:
                return router, None
            try:
                return router, self._bind_bootstrap(ctx, sockets)
            except TransportError:
                if self._port != 0 or attempt == BIND_ATTEMPTS - 1:
                    raise
                sockets.remove(router)
                router.close(0)
        raise AssertionError("unreachable")

    def _bind_bootstrap(
        self, ctx: zmq.Context[zmq.Socket[bytes]], sockets: list[zmq.Socket[bytes]]
    ) -> zmq.Socket[bytes]:
        sock = self._socket(ctx, zmq.ROUTER, sockets)
        sock.setsockopt(zmq.MAXMSGSIZE, BOOTSTRAP_MAX_BYTES)
        sock.setsockopt(zmq.ROUTER_MANDATORY, 1)
        sock.setsockopt(zmq.SNDHWM, HWM_MESSAGES)
        sock.setsockopt(zmq.RCVHWM, HWM_MESSAGES)
        where = bootstrap_address(self._bound_address)
        host, port = split_host_port(where)
        if ":" in host:
            sock.setsockopt(zmq.IPV6, 1)
        try:
            sock.bind(tcp_endpoint(host, port))
        except zmq.ZMQError as exc:
            sockets.remove(sock)
            sock.close(0)
            raise bind_error(f"{where} (the bootstrap port, cluster port + 1)", exc.errno or 0, exc.strerror) from None
        return sock

    def _bind_router(self, ctx: zmq.Context[zmq.Socket[bytes]], sockets: list[zmq.Socket[bytes]]) -> zmq.Socket[bytes]:
        router = self._socket(ctx, zmq.ROUTER, sockets)
        router.setsockopt(zmq.CURVE_SERVER, 1)
        router.setsockopt(zmq.CURVE_PUBLICKEY, self._public_key)
        router.setsockopt(zmq.CURVE_SECRETKEY, self._secret_key)
        router.setsockopt(zmq.ZAP_DOMAIN, ZAP_DOMAIN)
        router.setsockopt(zmq.MAXMSGSIZE, self._max_bytes)
        router.setsockopt(zmq.ROUTER_MANDATORY, 1)  # a reply to a departed peer raises, not vanishes
        router.setsockopt(zmq.SNDHWM, HWM_MESSAGES)
        router.setsockopt(zmq.RCVHWM, HWM_MESSAGES)
        router.setsockopt(zmq.HEARTBEAT_IVL, HEARTBEAT_IVL_MS)
        router.setsockopt(zmq.HEARTBEAT_TIMEOUT, HEARTBEAT_TIMEOUT_MS)
        if ":" in self._host:
            router.setsockopt(zmq.IPV6, 1)
        where = join_host_port(self._host, self._port)
        try:
            router.bind(tcp_endpoint(self._host, self._port))
        except zmq.ZMQError as exc:
            raise bind_error(where, exc.errno or 0, exc.strerror) from None
        endpoint = router.getsockopt(zmq.LAST_ENDPOINT)
        assert isinstance(endpoint, bytes)
        host, port = split_host_port(endpoint.decode())
        self._bound_address = join_host_port(host, port)
        return router

    def _bind_control(
        self, ctx: zmq.Context[zmq.Socket[bytes]], sockets: list[zmq.Socket[bytes]], path: str
    ) -> zmq.Socket[bytes]:
        _claim_socket_path(path)
        control = self._socket(ctx, zmq.ROUTER, sockets)
        control.setsockopt(zmq.MAXMSGSIZE, self._max_bytes)
        control.setsockopt(zmq.ROUTER_MANDATORY, 1)
        # The umask is process-wide, so instead of changing it the file is chmod-ed right after
        # bind; with the usual umask (022) nobody else can connect in between, since connecting
        # to a unix socket needs write permission.
        try:
            control.bind(f"ipc://{path}")
            os.chmod(path, CONTROL_MODE)
        except zmq.ZMQError as exc:
            raise bind_error(path, exc.errno or 0, exc.strerror) from None
        except OSError as exc:
            raise TransportError(f"cannot listen on {path}: {exc.strerror}") from None
        return control

    def open_peer_dealer(
        self, context: zmq.Context[zmq.Socket[bytes]], endpoint: str, server_key: bytes, *, monitored: bool = False
    ) -> zmq.Socket[bytes]:
        """Open a DEALER to a peer's cluster port as this node (CURVE client), in ``context``.

        The one place a peer connection is set up: the I/O thread's DEALERs and a
        :class:`DirectSender`'s are alike. ``monitored``: its monitor (what ``_adopt`` reads) is
        attached before it connects, so that no event of the connection comes before it.
        """
        dealer: zmq.Socket[bytes] = context.socket(zmq.DEALER)
        try:
            dealer.setsockopt(zmq.LINGER, LINGER_MS)
            dealer.setsockopt(zmq.CURVE_SERVERKEY, server_key)
            dealer.setsockopt(zmq.CURVE_PUBLICKEY, self._public_key)
            dealer.setsockopt(zmq.CURVE_SECRETKEY, self._secret_key)
            dealer.setsockopt(zmq.MAXMSGSIZE, self._max_bytes)
            dealer.setsockopt(zmq.SNDHWM, HWM_MESSAGES)
            dealer.setsockopt(zmq.RCVHWM, HWM_MESSAGES)
            dealer.setsockopt(zmq.RECONNECT_IVL, RECONNECT_IVL_MS)
            dealer.setsockopt(zmq.RECONNECT_IVL_MAX, RECONNECT_IVL_MAX_MS)
            dealer.setsockopt(zmq.HEARTBEAT_IVL, HEARTBEAT_IVL_MS)
            dealer.setsockopt(zmq.HEARTBEAT_TIMEOUT, HEARTBEAT_TIMEOUT_MS)
            if endpoint.startswith("tcp://["):
                dealer.setsockopt(zmq.IPV6, 1)
            if monitored:
                dealer.get_monitor_socket(_WATCHED)  # kept by the socket: _adopt gets this one
            dealer.connect(endpoint)
        except zmq.ZMQError as exc:
            dealer.close(0)
            raise TransportError(f"cannot connect to {endpoint}: {exc}") from None
        return dealer

    def peer_target(self, node_id: str) -> tuple[str, bytes] | None:
        """Return the (endpoint, server key) of a connected peer, or None (any thread)."""
        return self._peer_names.get(node_id)

    def encode_one_way(self, dst: Address, body: Message, src_actor: str) -> bytes:
        """Return the bytes of a one-way message from ``src_actor`` here; TransportError if too big."""
        return self._encode(Envelope(id=0, reply_to=0, src=Address(self.node_id, src_actor), dst=dst, body=body))

    # ------------------------------------------------------------------ the I/O thread

    def _run(self) -> None:
        router, zap = self._router, self._zap
        assert router is not None and zap is not None
        poll = self._poll
        poll.add_socket(router)
        poll.add_socket(zap)
        poll.add_fd(self._wake_fd)
        if self._control is not None:
            poll.add_socket(self._control)
        if self._bootstrap is not None:
            poll.add_socket(self._bootstrap)
        try:
            self._loop(router, zap)
        except Exception:
            log.exception("transport of node %s: I/O thread failed", self.node_id)
        finally:
            self._shutdown()

    def _loop(self, router: zmq.Socket[bytes], zap: zmq.Socket[bytes]) -> None:
        poll, commands = self._poll, self._commands
        while not self._stopping:
            ready = poll.wait(self._poll_timeout_ms())
            if commands:
                # Replies first: an actor has finished that work, and a caller waits on it; what
                # the sockets hold waits the few microseconds a reply takes to send.
                self._run_commands()
            for source in ready:
                try:
                    self._read_ready(source, router, zap)
                except Exception:  # a bug on one socket must not stop the others
                    log.exception("transport of node %s: error while reading", self.node_id)
            if commands:
                self._run_commands()
            if self._deadlines:
                self._expire(time.monotonic())

    def _read_ready(self, source: Any, router: zmq.Socket[bytes], zap: zmq.Socket[bytes]) -> None:
        """Read what ``source`` (a socket or the wake-up fd that poll found ready) holds."""
        control, bootstrap = self._control, self._bootstrap
        if source == self._wake_fd:
            with contextlib.suppress(BlockingIOError):
                os.eventfd_read(self._wake_fd)
            self._wake_pending = False
            return
        try:
            if source is router:
                self._read_router(router)
            elif source is zap:
                self._serve_zap(zap)
            elif source is control and control is not None:
                self._read_plain(control, self._local_identity, _CONTROL)
            elif source is bootstrap and bootstrap is not None:
                self._read_plain(bootstrap, self._bootstrap_identity, _BOOTSTRAP)
            else:
                node = self._dealer_nodes.get(source)
                if node is not None:
                    self._read_dealer(source, node)
                elif (watched := self._monitor_nodes.get(source)) is not None:
                    self._read_monitor(source, watched)
        finally:
            self._poll.touched(source)  # more may wait (a full batch), or the reads took the signal

    def _poll_timeout_ms(self) -> int:
        if self._commands:
            return 0
        deadlines, pending = self._deadlines, self._pending
        # Drop entries of requests already answered so the heap stays small.
        while deadlines and deadlines[0][1] not in pending:
            heapq.heappop(deadlines)
        if not deadlines:
            return int(POLL_MAX_S * 1000)
        wait_s = deadlines[0][0] - time.monotonic()
        return max(0, min(int(wait_s * 1000) + 1, int(POLL_MAX_S * 1000)))

    def _run_commands(self) -> None:
        commands = self._commands
        while commands:
            try:
                command = commands.popleft()
            except IndexError:
                return
            try:
                self._run_command(command)
            except Exception:
                log.exception("transport of node %s: command %r failed", self.node_id, command[0])

    def _run_command(self, command: tuple[Any, ...]) -> None:
        op = command[0]
        if op == _OP_REPLY:
            self._send_to_origin(command[1], command[2])
        elif op == _OP_REQUEST:
            self._start_request(command[1], command[2])
        elif op == _OP_SEND:
            peer = self._peers.get(command[1])
            if peer is None:
                log.info("one-way message to disconnected node %s dropped", command[1])
                return
            self._poll.touched(peer.socket)
            try:
                peer.socket.send(command[2], zmq.NOBLOCK)
                self._sent += 1
            except zmq.ZMQError as exc:
                self._warn.warning(f"send:{peer.node_id}", "one-way message to node %s dropped: %s", peer.node_id, exc)
                self._reopen_if_stuck(peer)
        elif op == _OP_LOCAL_REQUEST:
            pending: _Pending = command[1]
            self._track(pending)
            self._deliver_local(command[2])
        elif op == _OP_LOCAL_SEND:
            self._deliver_local(command[1])
        elif op == _OP_LOCAL_REPLY:
            pending_reply = self._pending.get(command[1])
            if pending_reply is None or pending_reply.node != "":
                self._unmatched += 1
                return
            self._resolve(pending_reply, command[2])
        elif op == _OP_CONNECT:
            self._connect_now(command[1], command[2], command[3])
        elif op == _OP_DISCONNECT:
            self._disconnect_now(command[1])
        elif op == _OP_CANCEL:
            self._pending.pop(command[1], None)

    def _track(self, pending: _Pending) -> None:
        self._pending[pending.request_id] = pending
        heapq.heappush(self._deadlines, (pending.deadline, pending.request_id))

    def _start_request(self, pending: _Pending, payload: bytes) -> None:
        peer = self._peers.get(pending.node)
        if peer is None:
            pending.fail(
                NotSent(f"cannot send {pending.kind} to {pending.dst}: node {pending.node!r} is not connected")
            )
            return
        if peer.lost_at is not None:
            ago = time.monotonic() - peer.lost_at
            if peer.refused:
                why = _REFUSED_TEXT
                self._reopen_if_stuck(peer)  # libzmq does not reconnect after a refused handshake
            else:
                why = f"the connection to the node was lost {ago:.1f} s ago and is not back (it is being retried)"
            pending.fail(NotSent(f"cannot send {pending.kind} to {pending.dst}: {why}"))
            return
        self._poll.touched(peer.socket)
        try:
            peer.socket.send(payload, zmq.NOBLOCK)
        except zmq.Again:
            self._reopen_if_stuck(peer)
            pending.fail(
                NotSent(
                    f"cannot send {pending.kind} to {pending.dst}: the node is not reachable (its send queue is "
                    "full, or it refused this node's key)"
                )
            )
            return
        self._sent += 1
        self._track(pending)

    def _connect_now(self, node_id: str, endpoint: str, server_key: bytes) -> None:
        old = self._peers.get(node_id)
        if old is not None:
            if old.endpoint == endpoint and old.server_key == server_key:
                return
            self._close_peer(old)
            # Their replies would come back on the socket just closed: fail them now, not at their
            # deadline (they left: the node may have acted on them).
            self._fail_requests_to(node_id, f"the connection to the node moved to {endpoint} before the reply came")
        assert self._context is not None
        dealer = self.open_peer_dealer(self._context, endpoint, server_key, monitored=True)
        peer = self._peers[node_id] = _Peer(node_id, endpoint, server_key, dealer)
        self._adopt(peer)

    def _adopt(self, peer: _Peer) -> None:
        """Read the replies on ``peer``'s socket, and its monitor's events."""
        self._dealer_nodes[peer.socket] = peer.node_id
        self._poll.add_socket(peer.socket)
        peer.monitor = peer.socket.get_monitor_socket(_WATCHED)  # attached before it connected
        self._monitor_nodes[peer.monitor] = peer.node_id
        self._poll.add_socket(peer.monitor)

    def _read_monitor(self, monitor: zmq.Socket[bytes], node_id: str) -> None:
        """Fail the requests in flight to ``node_id`` when its connection is lost or refused."""
        for _ in range(BATCH_EVENTS):
            try:
                event = zmq.utils.monitor.recv_monitor_message(monitor, zmq.NOBLOCK)["event"]
            except zmq.Again:
                return
            peer = self._peers.get(node_id)
            if peer is None:
                continue
            if event & _BACK:
                peer.lost_at, peer.refused = None, False
                continue
            # A reply that came before the connection went is still in the DEALER: taken first.
            self._read_dealer(peer.socket, node_id)
            self._poll.touched(peer.socket)  # the read may have taken its descriptor's signal
            if event & _LOST:
                # Listeners hear of a connection that was up going down, once: not of each end of a
                # handshake that failed (a wrong key at that address retries ten times a second).
                was_up = peer.lost_at is None and not peer.refused
                peer.lost_at = peer.lost_at or time.monotonic()
                why = _REFUSED_TEXT if peer.refused else "the connection to the node was lost"
                self._fail_requests_to(node_id, why + " (the request may or may not have reached it)")
                for listener in self._lost_listeners if was_up else ():
                    try:
                        listener(node_id)
                    except Exception:  # a listener's bug must not stop the I/O thread
                        log.exception("a listener of lost connections failed")
            elif event & _REFUSED:
                peer.lost_at, peer.refused = time.monotonic(), True
                self._fail_requests_to(node_id, _REFUSED_TEXT)

    def _reopen_if_stuck(self, peer: _Peer) -> None:
        """A send to ``peer`` failed: reopen its DEALER (see REOPEN_AFTER_S).

        Requests in flight on the old socket would never get their replies: they fail now.
        """
        now = time.monotonic()
        if now - peer.opened_at < REOPEN_AFTER_S:
            return
        assert self._context is not None
        try:
            fresh = self.open_peer_dealer(self._context, peer.endpoint, peer.server_key, monitored=True)
        except TransportError as exc:
            log.warning("cannot reopen the connection to node %s: %s", peer.node_id, exc)
            return
        self._fail_requests_to(peer.node_id, "the connection to the node was reopened")
        self._close_peer(peer)
        peer.socket = fresh
        peer.opened_at = now
        peer.lost_at, peer.refused = None, False
        self._adopt(peer)
        log.info("reopened the connection to node %s after a failed send", peer.node_id)

    def _disconnect_now(self, node_id: str) -> None:
        peer = self._peers.pop(node_id, None)
        if peer is not None:
            self._close_peer(peer)
        self._fail_requests_to(node_id, f"node {node_id!r} was disconnected")

    def _fail_requests_to(self, node_id: str, why: str) -> None:
        """Fail the requests in flight to ``node_id``: their replies cannot come any more."""
        for pending in [p for p in self._pending.values() if p.node == node_id]:
            del self._pending[pending.request_id]
            pending.fail(TransportError(f"{pending.kind} to {pending.dst}: {why}"))

    def _close_peer(self, peer: _Peer) -> None:
        self._poll.remove_socket(peer.socket)
        self._dealer_nodes.pop(peer.socket, None)
        monitor, peer.monitor = peer.monitor, None
        if monitor is not None:
            self._poll.remove_socket(monitor)
            self._monitor_nodes.pop(monitor, None)
            with contextlib.suppress(zmq.ZMQError):
                peer.socket.disable_monitor()
            monitor.close(0)
        peer.socket.close(LINGER_MS)

    def _expire(self, now: float) -> None:
        deadlines, pending_by_id = self._deadlines, self._pending
        while deadlines and deadlines[0][0] <= now:
            _, request_id = heapq.heappop(deadlines)
            pending = pending_by_id.get(request_id)
            if pending is None:
                continue
            if pending.deadline > now:  # a stream part moved the deadline on
                heapq.heappush(deadlines, (pending.deadline, request_id))
                continue
            del pending_by_id[request_id]
            pending.fail(pending.timeout_error())

    def _resolve(self, pending: _Pending, body: Message) -> None:
        stream = pending.stream
        if stream is not None:
            if isinstance(body, StreamEnd | ErrorReply):
                del self._pending[pending.request_id]
            else:
                pending.deadline = time.monotonic() + pending.timeout_s
            stream.parts.put(body)
            return
        del self._pending[pending.request_id]
        future = pending.future
        assert future is not None
        if isinstance(body, ErrorReply):
            future.set_exception(RemoteError(body.code, body.text))
        else:
            future.set_result(body)

    # ------------------------------------------------------------------ inbound

    def _read_router(self, router: zmq.Socket[bytes]) -> None:
        identities = self._identities
        for routing_id, payload in _receive_routed(router):
            try:
                if payload is None:
                    self._bad("frames", "dropped a message of more than one frame")
                    continue
                # The ZAP User-Id is a property of the connection, so it cannot be forged in-band.
                identity = identities.get(payload.get("User-Id"))  # type: ignore[arg-type]
                if identity is None:  # cannot happen with ZAP on; refuse rather than guess
                    self._bad("no-identity", "dropped a message from a connection without an identity")
                    continue
                self._on_inbound(payload.bytes, identity, _Origin(_ROUTER, routing_id))
            except Exception:
                self._bad_frames += 1
                log.exception("transport of node %s: inbound message failed", self.node_id)

    def _read_plain(self, sock: zmq.Socket[bytes], identity: Identity, channel: int) -> None:
        """Read the control socket or the bootstrap port: no CURVE, one identity for every peer."""
        for frames in _receive_batch(sock, copy=True):
            try:
                if len(frames) != 2:
                    self._bad(
                        f"{identity.role}-frames", "dropped a %s message of %d frames", identity.role, len(frames) - 1
                    )
                    continue
                self._on_inbound(frames[1], identity, _Origin(channel, frames[0]))
            except Exception:
                self._bad_frames += 1
                log.exception("transport of node %s: %s message failed", self.node_id, identity.role)

    def _on_inbound(self, data: bytes, identity: Identity, origin: _Origin) -> None:
        try:
            env = decode_envelope(data, self._max_bytes)
        except CodecError as exc:
            self._bad(f"codec:{identity.node_id}", "bad message from %s (%s): %s", identity.node_id, identity.role, exc)
            if exc.envelope_id and exc.src is not None:
                error = ErrorReply(code="bad-message", text=str(exc))
                self._answer(origin, exc.envelope_id, Address(*exc.src), "", error)
            return
        self._received += 1
        if env.reply_to:
            # Replies travel back on our DEALERs; one arriving here answers nothing we sent.
            self._unmatched += 1
            return
        if env.dst.node and env.dst.node != self.node_id:
            text = f"message for node {env.dst.node!r} reached node {self.node_id!r}"
            self._bad(f"misrouted:{identity.node_id}", "%s (from %s)", text, identity.node_id)
            if env.id:
                self._answer(origin, env.id, env.src, env.dst.actor, ErrorReply(code="bad-message", text=text))
            return
        self._deliver_inbound(Inbound(env, identity, origin))

    def _deliver_inbound(self, inbound: Inbound) -> None:
        env = inbound.envelope
        try:
            known = self._deliver(inbound)
        except Exception:
            log.exception("deliver() failed for %s to %s", env.kind, env.dst)
            if env.id:
                error = ErrorReply(code="unavailable", text=f"node {self.node_id} could not take {env.kind}")
                self._answer_inbound(inbound, error)
            return
        if not known and env.id:
            error = ErrorReply(code="unknown-actor", text=f"no actor {env.dst.actor!r} on node {self.node_id}")
            self._answer_inbound(inbound, error)

    def _deliver_local(self, env: Envelope) -> None:
        self._deliver_inbound(Inbound(env, self._local_identity, _LOCAL_ORIGIN))

    def _answer_inbound(self, inbound: Inbound, body: Message) -> None:
        env = inbound.envelope
        origin = inbound.origin
        assert isinstance(origin, _Origin)
        if origin.channel == _LOCAL:
            pending = self._pending.get(env.id)
            if pending is not None and pending.node == "":
                self._resolve(pending, body)
            return
        self._answer(origin, env.id, env.src, env.dst.actor, body)

    def _answer(self, origin: _Origin, request_id: int, to: Address, actor: str, body: Message) -> None:
        env = Envelope(id=0, reply_to=request_id, src=Address(self.node_id, actor), dst=to, body=body)
        self._send_to_origin(origin, encode_envelope(env))

    def _send_to_origin(self, origin: _Origin, payload: bytes) -> None:
        sock = (self._router, self._control, None, self._bootstrap)[origin.channel]
        if sock is None:
            return
        self._poll.touched(sock)
        try:
            sock.send_multipart((origin.routing_id, payload), zmq.NOBLOCK)
            self._sent += 1
        except zmq.ZMQError as exc:
            where = _CHANNEL_NAMES[origin.channel]
            if exc.errno == errno.EHOSTUNREACH:  # it timed out and closed (a CLI command): routine
                log.info("reply on the %s dropped: its requester went away", where)
            else:  # it stopped reading (EAGAIN): it will time out
                self._warn.warning(f"reply:{exc.errno}", "reply on the %s dropped: %s", where, exc.strerror)

    def _read_dealer(self, dealer: zmq.Socket[bytes], node: str) -> None:
        pending_by_id = self._pending
        max_bytes = self._max_bytes
        for data in _receive_single(dealer):
            try:
                if data is None:
                    self._bad(f"frames:{node}", "dropped a multi-part message from node %s", node)
                    continue
                env = decode_envelope(data, max_bytes)
            except CodecError as exc:
                self._bad(f"codec:{node}", "bad reply from node %s: %s", node, exc)
                continue
            self._received += 1
            pending = pending_by_id.get(env.reply_to) if env.reply_to else None
            if pending is None or pending.node != node:
                self._unmatched += 1
                continue
            try:
                self._resolve(pending, env.body)
            except Exception:
                log.exception("transport of node %s: resolving a reply failed", self.node_id)

    def _bad(self, key: str, text: str, *args: object) -> None:
        self._bad_frames += 1
        self._warn.warning(key, text, *args)

    # ------------------------------------------------------------------ ZAP

    def _serve_zap(self, zap: zmq.Socket[bytes]) -> None:
        # REP alternates recv and send strictly, so each request is answered before the next.
        for _ in range(RECV_BATCH):
            try:
                frames = zap.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                return
            try:
                reply = self._judge(frames)
            except Exception:
                log.exception("transport of node %s: ZAP request failed", self.node_id)
                reply = zap_reply(frames[1] if len(frames) > 1 else b"", allowed=False, text="error")
            zap.send_multipart(reply)

    def _judge(self, frames: list[bytes]) -> list[bytes]:
        request = parse_zap_request(frames)
        if request.mechanism != "CURVE" or len(request.credentials) != 1:
            # Only the cluster port authenticates, and it speaks CURVE only.
            return zap_reply(request.request_id, allowed=False, text="CURVE required")
        key = zmq.utils.z85.encode(request.credentials[0])
        try:
            identity = self._admit(key, request.address)
        except Exception:
            log.exception("admission hook failed for key %s from %s", key.decode(), request.address)
            identity = None
        if identity is None:
            self._refused += 1
            self._warn.warning(
                f"refused:{key.decode()}",
                "refused connection from %s with CURVE key %s",
                request.address,
                key.decode(),
            )
            return zap_reply(request.request_id, allowed=False, text="not admitted")
        return zap_reply(request.request_id, allowed=True, user_id=self._token_of(identity), text="OK")

    def _token_of(self, identity: Identity) -> str:
        token = self._identity_tokens.get(identity)
        if token is None:
            token = str(len(self._identity_tokens) + 1)
            self._identity_tokens[identity] = token
            self._identities[token] = identity
        return token

    # ------------------------------------------------------------------ shutdown

    def _shutdown(self) -> None:
        self._running = False
        self._closed = True
        stopped = TransportError(f"transport of node {self.node_id!r} stopped")
        for pending in self._pending.values():
            pending.fail(stopped)
        self._pending.clear()
        self._deadlines.clear()
        self._fail_commands()
        for peer in list(self._peers.values()):
            self._close_peer(peer)
        self._peers.clear()
        for sock in (self._router, self._control, self._bootstrap, self._zap):
            if sock is not None:
                sock.close(LINGER_MS)
        if self._control_path is not None and self._control is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self._control_path)
        if self._context is not None:
            self._context.term()

    def _fail_commands(self) -> None:
        stopped = TransportError(f"transport of node {self.node_id!r} stopped")
        while True:
            try:
                command = self._commands.popleft()
            except IndexError:
                return
            if command[0] in (_OP_REQUEST, _OP_LOCAL_REQUEST):
                command[1].fail(stopped)


def _receive_batch(sock: zmq.Socket[bytes], *, copy: bool) -> list[Any]:
    """Return up to RECV_BATCH waiting messages, each a list of frames, without blocking.

    Reading the whole batch before handling any of it keeps the socket calls (which release
    the GIL) together, instead of handing the GIL to actor threads between every two messages.
    """
    batch: list[Any] = []
    append = batch.append
    try:
        for i in range(RECV_BATCH):
            append(sock.recv_multipart(zmq.NOBLOCK, copy=copy))
            if i < HAS_INPUT_CHECKS and not has_input(sock):
                break
    except zmq.Again:
        pass
    return batch


def _receive_routed(sock: zmq.Socket[bytes]) -> list[tuple[bytes, zmq.Frame | None]]:
    """Return up to RECV_BATCH waiting ROUTER messages as (routing id, payload frame).

    The payload is None for a message of more than one frame after the routing id (its
    frames are read and dropped). Frames, not bytes, because the ZAP User-Id of the
    connection is a property of the frame.
    """
    batch: list[tuple[bytes, zmq.Frame | None]] = []
    append = batch.append
    try:
        for i in range(RECV_BATCH):
            routing_id = sock.recv(zmq.NOBLOCK)
            # A multi-part message arrives whole, so the parts after the first never block.
            payload = sock.recv(zmq.NOBLOCK, copy=False)
            if payload.more:
                while sock.recv(zmq.NOBLOCK, copy=False).more:
                    pass
                append((routing_id, None))
            else:
                append((routing_id, payload))
            if i < HAS_INPUT_CHECKS and not has_input(sock):
                break
    except zmq.Again:
        pass
    return batch


def _receive_single(sock: zmq.Socket[bytes]) -> list[bytes | None]:
    """Return up to RECV_BATCH waiting one-frame messages; None stands for a multi-part one."""
    batch: list[bytes | None] = []
    append = batch.append
    try:
        for i in range(RECV_BATCH):
            frame = sock.recv(zmq.NOBLOCK, copy=False)
            if frame.more:
                while sock.recv(zmq.NOBLOCK, copy=False).more:
                    pass
                append(None)
            else:
                append(frame.bytes)
            if i < HAS_INPUT_CHECKS and not has_input(sock):
                break
    except zmq.Again:
        pass
    return batch


def _claim_socket_path(path: str) -> None:
    """Make sure ``path`` is free for a unix socket; remove it if a dead node left it behind.

    libzmq silently unlinks whatever is at the path when it binds, which would steal the control
    socket of a node that is still running, or delete a file that is not a socket at all.
    """
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(mode):
        raise TransportError(f"cannot listen on {path}: it exists and is not a socket; choose another path")
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(path)
    except ConnectionRefusedError:
        os.unlink(path)  # nobody listens: a stale file from a node that died
        return
    except OSError as exc:
        if exc.errno != errno.ECONNREFUSED:
            raise TransportError(f"cannot listen on {path}: {exc.strerror}") from None
        os.unlink(path)
        return
    finally:
        probe.close()
    raise TransportError(f"cannot listen on {path}: another node is listening there")
