"""The base of every supervised actor: any exception escaping a handler is a crash.

pykka keeps an actor alive when a handler fails under ``ask`` and only stops it under
``tell``. Erlang semantics need one rule: the actor dies either way, the asker gets
:class:`ActorCrashed` naming the actor, and the supervisor is told so that it can restart it.
Nothing sent to an actor waits for ever: what its mailbox still holds when it dies, and what
reaches the mailbox after, is answered at once (an ask gets ``ActorDeadError``; a request that
came by the transport, an "unavailable" error reply: :meth:`SupervisedActor.on_undelivered`).
"""

from __future__ import annotations

import contextlib
import logging
import queue
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, Self

import pykka
import pykka.messages

from .core import Restart

__all__ = [
    "START_TIMEOUT_S",
    "ActorCrashed",
    "ChildExited",
    "ChildSpec",
    "Link",
    "StartFailed",
    "SupervisedActor",
]

log = logging.getLogger("swarmnode.supervision")

START_TIMEOUT_S = 10.0


class ActorCrashed(Exception):
    """The actor that was asked crashed while handling the request."""

    def __init__(self, actor: str, reason: str) -> None:
        super().__init__(f"actor {actor!r} crashed: {reason}")
        self.actor = actor
        self.reason = reason


class StartFailed(Exception):
    """An actor's start-up (``on_start``) failed or took too long."""

    def __init__(self, actor: str, reason: str) -> None:
        super().__init__(f"actor {actor!r} failed to start: {reason}")
        self.actor = actor
        self.reason = reason


@dataclass(frozen=True, slots=True)
class ChildExited:
    """Told to a supervisor by its child: ``reason`` None is a normal exit."""

    name: str
    urn: str
    reason: str | None


@dataclass(frozen=True, slots=True)
class Link:
    """Who supervises an actor and under which name; None for the root of a tree."""

    supervisor: pykka.ActorRef[Any]
    name: str


@dataclass(frozen=True, slots=True)
class ChildSpec:
    """How a supervisor starts, restarts and stops one child."""

    name: str
    start: Callable[[Link], pykka.ActorRef[Any]]
    restart: Restart = Restart.PERMANENT
    shutdown_s: float = 5.0
    supervisor: bool = False


def describe(exc: BaseException) -> str:
    """Return a one-line account of an exception for logs and status."""
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


_simple_put = queue.SimpleQueue.put


class _Inbox(queue.SimpleQueue):  # type: ignore[type-arg]
    """An actor's mailbox that, once closed, hands back what it holds and what is put in later.

    A sender checks that the actor is alive, then puts: between the two the actor may die. So
    whoever puts into a closed mailbox empties it too; every envelope is taken once, by the
    closer or by a late sender, and none is left behind for a reader that is gone.
    """

    __slots__ = ("refuse",)

    def __init__(self) -> None:
        self.refuse: Callable[[Any], None] | None = None

    def put(self, item: Any, block: bool = True, timeout: float | None = None) -> None:
        _simple_put(self, item, block, timeout)  # every message's path: no super() lookup
        if self.refuse is not None:
            self._empty()

    def close(self, refuse: Callable[[Any], None]) -> None:
        self.refuse = refuse
        self._empty()

    def _empty(self) -> None:
        refuse = self.refuse
        assert refuse is not None
        while True:
            try:
                envelope = self.get_nowait()
            except queue.Empty:
                return
            try:
                refuse(envelope)
            except Exception as exc:  # on a sender's thread (the transport's, say): never raise into it
                log.error("an envelope left in a dead actor's mailbox could not be answered: %s", describe(exc))


class SupervisedActor(pykka.ThreadingActor):
    """A pykka actor that reports crashes and exits to its supervisor."""

    # A hung actor must not keep the node process alive after shutdown gave up on it.
    use_daemon_thread = True
    DEFAULT_NAME: ClassVar[str] = ""

    @staticmethod
    def _create_actor_inbox() -> Any:
        # queue.SimpleQueue (C) rather than pykka's queue.Queue (Python locks and a Condition):
        # the inbox is on every message's path, and the actor loop needs only put, get and empty.
        return _Inbox()

    def __init__(self, link: Link | None = None) -> None:
        super().__init__()
        self.link = link
        self._ready = threading.Event()
        self._start_error: BaseException | None = None
        self._crashed = False

    @property
    def name(self) -> str:
        """The name this actor is registered and supervised under."""
        return self.link.name if self.link else (self.DEFAULT_NAME or type(self).__name__)

    @classmethod
    def spec(
        cls,
        name: str,
        *args: Any,
        restart: Restart = Restart.PERMANENT,
        shutdown_s: float = 5.0,
        **kwargs: Any,
    ) -> ChildSpec:
        """Return a child spec that starts this actor class with the given arguments."""
        return ChildSpec(
            name=name,
            start=lambda link: cls.start_linked(link, *args, **kwargs),
            restart=restart,
            shutdown_s=shutdown_s,
        )

    @classmethod
    def start_linked(cls, link: Link | None, *args: Any, **kwargs: Any) -> pykka.ActorRef[Self]:
        """Start the actor and wait until its ``on_start`` finished; raise StartFailed if it failed."""
        actor = cls(link, *args, **kwargs)
        ref: pykka.ActorRef[Self] = actor.actor_ref
        actor._start_actor_loop()
        if not actor._ready.wait(START_TIMEOUT_S):
            ref.stop(block=False)
            raise StartFailed(actor.name, f"on_start did not finish within {START_TIMEOUT_S:g} s")
        if actor._start_error is not None:
            raise StartFailed(actor.name, describe(actor._start_error)) from actor._start_error
        return ref

    # -- pykka hooks, overridden to give crashes one meaning -----------------------------------

    def _actor_loop_setup(self) -> None:
        try:
            self.on_start()
        except Exception as exc:
            log.error("actor %s failed to start: %s", self.name, describe(exc), exc_info=True)
            self._start_error = exc
            pykka.ActorRegistry.unregister(self.actor_ref)
            self.actor_stopped.set()
        finally:
            self._ready.set()

    def _actor_loop_running(self) -> None:
        while not self.actor_stopped.is_set():
            envelope = self.actor_inbox.get()
            try:
                response = self._handle_receive(envelope.message)
            except Exception as exc:
                reason = describe(exc)
                if envelope.reply_to is not None:
                    crashed = ActorCrashed(self.name, reason)
                    envelope.reply_to.set_exception(exc_info=(ActorCrashed, crashed, exc.__traceback__))
                self._crash(exc, reason)
                return
            except BaseException:
                # KeyboardInterrupt or SystemExit in an actor thread: pykka's rule, stop everything.
                log.error("actor %s got %r; stopping all actors", self.name, sys.exc_info()[1])
                self._stop()
                pykka.ActorRegistry.stop_all()
                return
            if envelope.reply_to is not None:
                envelope.reply_to.set(response)

    def _stop(self) -> None:
        # pykka's _stop, with the mailbox closed before on_stop (which may take its time, and may
        # stop what an answer goes through) rather than left to pykka's teardown.
        pykka.ActorRegistry.unregister(self.actor_ref)
        self.actor_stopped.set()
        self._close_inbox("stopped")
        try:
            self.on_stop()
        except Exception:
            self._handle_failure(*sys.exc_info())
        if not self._crashed:
            self._tell_supervisor(None)

    def _actor_loop_teardown(self) -> None:
        # Not pykka's, which empties the mailbox with get(): a sender putting into a closed mailbox
        # empties it too, and the two would race (an envelope taken unanswered, or a get() that
        # never returns). Also closes the mailbox of an actor whose start failed.
        self._close_inbox("crashed" if self._crashed else "stopped")

    def _crash(self, exc: BaseException, reason: str) -> None:
        self._crashed = True
        pykka.ActorRegistry.unregister(self.actor_ref)
        self.actor_stopped.set()
        # Before the log line (a traceback takes milliseconds to format): a request that arrives
        # meanwhile is answered at once rather than left to its sender's timeout.
        self._close_inbox("crashed")
        log.error("actor %s crashed: %s", self.name, reason, exc_info=exc)
        try:
            self.on_crash(exc)
        except Exception as cleanup_exc:
            log.error("actor %s failed to clean up after its crash: %s", self.name, describe(cleanup_exc))
        self._tell_supervisor(reason)

    def _tell_supervisor(self, reason: str | None) -> None:
        if self.link is None:
            return
        # A dead supervisor is stopping this subtree itself and needs no word.
        with contextlib.suppress(pykka.ActorDeadError):
            self.link.supervisor.tell(ChildExited(self.link.name, self.actor_urn, reason))

    def _close_inbox(self, how: str) -> None:
        def refuse(envelope: Any) -> None:
            if envelope.reply_to is None:
                self.on_undelivered(envelope.message, how)
            elif isinstance(envelope.message, pykka.messages._ActorStop):  # as pykka's own teardown does
                envelope.reply_to.set(None)  # stopping a dead actor is done
            else:
                kind = type(envelope.message).__name__
                dead = pykka.ActorDeadError(f"actor {self.name!r} {how} before it handled {kind}")
                envelope.reply_to.set_exception(exc_info=(pykka.ActorDeadError, dead, None))

        inbox = self.actor_inbox
        if isinstance(inbox, _Inbox):
            inbox.close(refuse)

    def on_undelivered(self, message: Any, how: str) -> None:
        """Answer a message told to this actor that it will never handle (``how``: it "crashed"
        or "stopped" first), on whichever thread finds it; nothing by default."""

    def on_crash(self, exc: BaseException) -> None:
        """Release what the actor holds (sockets, files) after a crash; ``on_stop`` is not called."""
