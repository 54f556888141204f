"""Wait for zmq sockets and plain file descriptors with one ``poll()`` of their descriptors.

``zmq.Poller`` (zmq_poll) reads ZMQ_EVENTS of every socket before and after each wait: with the
six sockets of a manager's I/O thread that is a dozen system calls and a pass over every socket
per wake-up, on the path of each message. A socket's ZMQ_FD only says that its state may have
changed, and any operation on the socket (a send, a receive, a read of ZMQ_EVENTS) may consume
that signal while messages wait. So the rule (zmq_getsockopt(3), ZMQ_FD) is: read ZMQ_EVENTS of
a socket when its descriptor fires and after every operation on it, and wait only when none of
those has input. :class:`SocketPoll` keeps the set of sockets to read again: the owner calls
:meth:`touched` after it sends or receives on one.
"""

from __future__ import annotations

import select
from typing import Any

import zmq

__all__ = ["SocketPoll", "has_input"]

_EVENTS = zmq.EVENTS
_POLLIN = int(zmq.POLLIN)


class SocketPoll:
    """The sockets and descriptors one thread waits on; not thread-safe (one owner)."""

    def __init__(self) -> None:
        self._poll = select.poll()
        self._sockets: dict[int, zmq.Socket[bytes]] = {}  # ZMQ_FD -> socket
        self._fds: dict[zmq.Socket[bytes], int] = {}  # socket -> ZMQ_FD
        self._touched: dict[zmq.Socket[bytes], None] = {}  # an ordered set: ZMQ_EVENTS to read

    def add_socket(self, sock: zmq.Socket[bytes]) -> None:
        fd = _fd(sock)
        self._sockets[fd] = sock
        self._fds[sock] = fd
        self._poll.register(fd, select.POLLIN)
        self._touched[sock] = None  # messages may be waiting already

    def remove_socket(self, sock: zmq.Socket[bytes]) -> None:
        """Forget ``sock``; call it before closing the socket (its descriptor may be reused)."""
        fd = self._fds.pop(sock, None)
        if fd is not None:
            del self._sockets[fd]
            self._poll.unregister(fd)
        self._touched.pop(sock, None)

    def add_fd(self, fd: int) -> None:
        self._poll.register(fd, select.POLLIN)

    def touched(self, sock: zmq.Socket[bytes]) -> None:
        """Say that ``sock`` was sent or received on: its ZMQ_EVENTS is read before the next wait.

        A socket no longer watched (removed, and perhaps closed, by what read or sent on it) is
        ignored.
        """
        if sock in self._fds:
            self._touched[sock] = None

    def wait(self, timeout_ms: int) -> list[Any]:
        """Return the sockets with input and the plain descriptors that are readable.

        Waits up to ``timeout_ms`` only when no touched socket has input already; either way
        it polls every descriptor, so that a socket that always has more input (a flood, or a
        backlog longer than a batch) cannot hide the others. The owner reads each socket
        returned and then calls :meth:`touched` for it: a socket is reported once, and again
        only after it was touched or its descriptor fired.
        """
        busy = self._with_input()
        found: list[Any] = []
        sockets, touched = self._sockets, self._touched
        for fd, _ in self._poll.poll(0 if busy else timeout_ms):
            sock = sockets.get(fd)
            if sock is None:
                found.append(fd)
            elif sock not in busy:
                touched[sock] = None
        return busy + self._with_input() + found

    def _with_input(self) -> list[Any]:
        touched = self._touched
        if not touched:
            return []
        ready = [sock for sock in touched if has_input(sock)]
        touched.clear()
        return ready


def has_input(sock: zmq.Socket[bytes]) -> bool:
    """Whether a message waits on ``sock`` (its ZMQ_EVENTS; reading them takes its signal)."""
    return bool(sock.getsockopt(_EVENTS) & _POLLIN)  # type: ignore[operator]


def _fd(sock: zmq.Socket[bytes]) -> int:
    fd = sock.getsockopt(zmq.FD)
    assert isinstance(fd, int)
    return fd
