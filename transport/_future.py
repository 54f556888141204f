"""A light future for one reply, and an iterator over the parts of a streamed reply.

concurrent.futures.Future builds a Condition and a waiter lock per result() call; a request
round trip is a few tens of microseconds, so the future here is a single pre-acquired lock that
the I/O thread releases when the reply arrives.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from swarmnode.actors.messages import ErrorReply, Message, StreamEnd

from ._errors import RemoteError, RequestTimeout

__all__ = ["ReplyFuture", "ReplyStream"]

T = TypeVar("T")

# How long a waiter waits beyond its own deadline for the I/O thread's verdict before it gives
# up on its own; the I/O thread normally answers first, this only guards against a stopped one.
BACKSTOP_S = 5.0


class ReplyFuture(Generic[T]):
    """Hold the outcome of one request: a value or an exception, set once by the I/O thread."""

    __slots__ = ("_callbacks", "_done", "_exception", "_lock", "_result", "_signal")

    def __init__(self) -> None:
        self._signal = threading.Lock()
        self._signal.acquire()  # released once, when the outcome is set
        self._lock = threading.Lock()  # orders set_* against add_done_callback
        self._done = False
        self._result: T | None = None
        self._exception: BaseException | None = None
        self._callbacks: list[Callable[[ReplyFuture[T]], object]] | None = None

    def done(self) -> bool:
        """Return True once a result or an exception is set."""
        return self._done

    def result(self, timeout: float | None = None) -> T:
        """Return the reply, raise the failure, or raise TimeoutError after ``timeout`` seconds."""
        self._wait(timeout)
        if self._exception is not None:
            raise self._exception
        return self._result  # type: ignore[return-value]

    def exception(self, timeout: float | None = None) -> BaseException | None:
        """Return the failure (None on success), waiting up to ``timeout`` seconds."""
        self._wait(timeout)
        return self._exception

    def add_done_callback(self, fn: Callable[[ReplyFuture[T]], object]) -> None:
        """Call ``fn(self)`` when the outcome is set (at once if it already is)."""
        with self._lock:
            if not self._done:
                if self._callbacks is None:
                    self._callbacks = []
                self._callbacks.append(fn)
                return
        fn(self)

    def set_result(self, value: T) -> bool:
        """Set the reply; return False when an outcome was already set (the first one wins)."""
        with self._lock:
            if self._done:
                return False
            self._result = value
            self._done = True
            callbacks = self._callbacks
        self._signal.release()
        if callbacks:
            self._run(callbacks)
        return True

    def set_exception(self, exc: BaseException) -> bool:
        """Set the failure; return False when an outcome was already set."""
        with self._lock:
            if self._done:
                return False
            self._exception = exc
            self._done = True
            callbacks = self._callbacks
        self._signal.release()
        if callbacks:
            self._run(callbacks)
        return True

    def _wait(self, timeout: float | None) -> None:
        if self._done:
            return
        if not self._signal.acquire(timeout=-1 if timeout is None else max(timeout, 0.0)):
            raise TimeoutError(f"no outcome within {timeout:g} s")
        # Pass the signal on so that every other waiter wakes too.
        self._signal.release()

    def _run(self, callbacks: list[Callable[[ReplyFuture[T]], object]]) -> None:
        for fn in callbacks:
            try:
                fn(self)
            except Exception:  # a callback's bug must not stop the I/O thread
                import logging

                logging.getLogger("swarmnode.transport").exception("reply future callback failed")


class ReplyStream(Iterator[Message]):
    """Yield the parts of a streamed reply until StreamEnd; raise on error or idle timeout.

    The I/O thread puts parts, the final StreamEnd, or an exception into the queue; closing the
    iterator early tells the transport to forget the request.
    """

    def __init__(self, idle_timeout_s: float, describe: str, cancel: Callable[[], None]) -> None:
        self.parts: queue.SimpleQueue[Message | BaseException] = queue.SimpleQueue()
        self._idle_timeout_s = idle_timeout_s
        self._describe = describe
        self._cancel = cancel
        self._finished = False

    def __iter__(self) -> ReplyStream:
        return self

    def __next__(self) -> Message:
        if self._finished:
            raise StopIteration
        try:
            item = self.parts.get(timeout=self._idle_timeout_s + BACKSTOP_S)
        except queue.Empty:
            self.close()
            raise RequestTimeout(f"no part of {self._describe} within {self._idle_timeout_s:g} s") from None
        if isinstance(item, BaseException):
            self._finished = True
            raise item
        if isinstance(item, StreamEnd):
            self._finished = True
            raise StopIteration
        if isinstance(item, ErrorReply):
            self._finished = True
            raise RemoteError(item.code, item.text)
        return item

    def close(self) -> None:
        """Stop reading: the transport drops the parts that still arrive."""
        if not self._finished:
            self._finished = True
            self._cancel()

    def __enter__(self) -> ReplyStream:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
