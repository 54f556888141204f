"""Route messages to handler methods, with the role check each handler declares.

A message reaches an actor either from another actor in the process (a pykka ``ask`` or
``tell`` of the message itself, with the local identity) or from the transport, wrapped in a
:class:`Delivery` that remembers how to answer. Either way it runs the method registered with
:func:`handles` for its class, after checking the sender's role. A user's mistake raises
:class:`Refused` and becomes an error reply; any other exception is a crash (the supervisor
restarts the actor) and the remote asker still gets an error reply saying so.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from swarmnode.actors.messages import Crash, ErrorReply, Message, Ping, Pong
from swarmnode.actors.supervision import SupervisedActor, Supervisor, describe

from .timers import Timers

if TYPE_CHECKING:
    from swarmnode.transport import Identity, Inbound, Transport

__all__ = [
    "ANY_ROLE",
    "LOCAL_ONLY",
    "MANAGERS",
    "Addressable",
    "Delivery",
    "NodeActor",
    "NodeSupervisor",
    "Refused",
    "handles",
]

log = logging.getLogger("swarmnode.actors")

# Anonymous peers (joiners) are not in it: they may ask for a certificate and nothing else.
ANY_ROLE = frozenset({"manager", "worker", "local"})
MANAGERS = frozenset({"manager", "local"})
LOCAL_ONLY = frozenset({"local"})

M = TypeVar("M", bound=Message)
Handler = Callable[[Any, Any, "Request"], Message | None]


class Refused(Exception):
    """A request the actor will not carry out; ``code`` and text go back to the sender."""

    def __init__(self, code: str, text: str) -> None:
        super().__init__(text)
        self.code = code
        self.text = text


class ChaosCrash(Exception):
    """Raised on purpose by a :class:`~swarmnode.actors.messages.Crash` request."""


@dataclass(frozen=True, slots=True)
class Delivery:
    """An inbound message from the transport, with the transport that can answer it."""

    inbound: Inbound
    transport: Transport


@dataclass(frozen=True, slots=True)
class Request:
    """What a handler knows of the sender, and how to answer in parts (streams)."""

    peer: Identity | None
    delivery: Delivery | None = None

    @property
    def role(self) -> str:
        return self.peer.role if self.peer is not None else "local"

    def reply_part(self, body: Message) -> None:
        """Send one part of a streamed reply (only for requests that came by the transport)."""
        if self.delivery is not None:
            self.delivery.transport.reply_part(self.delivery.inbound, body)

    def reply(self, body: Message) -> None:
        """Answer later, outside the handler (a handler that returns None does this)."""
        if self.delivery is not None and self.delivery.inbound.envelope.id != 0:
            self.delivery.transport.reply(self.delivery.inbound, body)


def handles(kind: type[M], *, roles: Iterable[str] = MANAGERS) -> Callable[[Any], Any]:
    """Mark a method as the handler of message class ``kind`` for senders with ``roles``."""
    allowed = frozenset(roles)

    def mark(fn: Any) -> Any:
        fn.__handles__ = (kind, allowed)
        return fn

    return mark


class Addressable:
    """Mixin for supervised actors: dispatch messages to ``@handles`` methods by class."""

    _handlers: ClassVar[dict[type[Message], tuple[str, frozenset[str]]]] = {}
    name: str

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        table: dict[type[Message], tuple[str, frozenset[str]]] = {}
        for klass in reversed(cls.__mro__):
            for attr, value in vars(klass).items():
                marker = getattr(value, "__handles__", None)
                if marker is not None:
                    table[marker[0]] = (attr, marker[1])
        cls._handlers = table

    def on_receive(self, message: Any) -> Any:
        if isinstance(message, Delivery):
            self._handle_delivery(message)
            return None
        if isinstance(message, Message):
            return self._dispatch_message(message, Request(peer=None))
        return super().on_receive(message)  # type: ignore[misc]

    def on_undelivered(self, message: Any, how: str) -> None:
        """A request that came by the transport gets "unavailable" (its sender may try again at once:
        the supervisor restarts a crashed actor within milliseconds), not a wait for its timeout."""
        if isinstance(message, Delivery):
            text = f"actor {self.name!r} {how} before it handled {message.inbound.envelope.kind}; try again"
            message.transport.reply(message.inbound, ErrorReply(code="unavailable", text=text))
        else:
            super().on_undelivered(message, how)  # type: ignore[misc]

    def _handle_delivery(self, delivery: Delivery) -> None:
        request = Request(peer=delivery.inbound.peer, delivery=delivery)
        crash = self._answer(request, lambda: self._dispatch_message(delivery.inbound.envelope.body, request))
        if crash is not None:
            raise crash

    def _answer(self, request: Request, work: Callable[[], Message | None]) -> Exception | None:
        """Run ``work`` and answer ``request`` with what it returns (None: it answers later
        itself), its refusal, or "crashed"; return the exception of a crash, for the caller to
        crash this actor with."""
        try:
            answer = work()
        except Refused as exc:
            request.reply(ErrorReply(code=exc.code, text=exc.text))
            return None
        except Exception as exc:
            request.reply(ErrorReply(code="crashed", text=f"actor {self.name!r} crashed: {describe(exc)}"))
            return exc
        if answer is not None:
            request.reply(answer)
        return None

    def _dispatch_message(self, body: Message, request: Request) -> Message | None:
        entry = self._handlers.get(type(body))
        if entry is None:
            kinds = ", ".join(sorted(k.KIND for k in self._handlers))
            raise Refused("unknown-kind", f"actor {self.name!r} does not handle {body.KIND}; it handles {kinds}")
        method, roles = entry
        if request.role not in roles:
            who = f"{request.role} node {request.peer.node_id}" if request.peer else request.role
            log.warning("refused %s to actor %s from %s: role not allowed", body.KIND, self.name, who)
            raise Refused(
                "forbidden",
                f"{body.KIND} to actor {self.name!r} needs role {' or '.join(sorted(roles))}; the sender is {who}",
            )
        result: Message | None = getattr(self, method)(body, request)
        return result

    @handles(Ping, roles=ANY_ROLE)
    def _ping(self, msg: Ping, request: Request) -> Pong:
        return Pong(payload=msg.payload)

    @handles(Crash, roles=LOCAL_ONLY)
    def _crash_on_request(self, msg: Crash, request: Request) -> None:
        log.warning("actor %s crashes on request: %s", self.name, msg.reason)
        raise ChaosCrash(msg.reason)


class NodeActor(Addressable, SupervisedActor):
    """A supervised actor of a node, reachable by name through the transport, with timers."""

    _timers: Timers | None = None

    @property
    def timers(self) -> Timers:
        """This incarnation's timers, cancelled when it stops or crashes."""
        if self._timers is None:
            self._timers = Timers(self.actor_ref)
        return self._timers

    def _stop(self) -> None:
        if self._timers is not None:
            self._timers.close()
        super()._stop()

    def _crash(self, exc: BaseException, reason: str) -> None:
        if self._timers is not None:
            self._timers.close()
        super()._crash(exc, reason)


class NodeSupervisor(Addressable, Supervisor):
    """A supervisor that also answers Ping and Crash (so chaos can kill whole subtrees)."""
