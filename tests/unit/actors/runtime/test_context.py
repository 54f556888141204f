"""NodeContext while the transport restarts: readers get an answerable refusal, not a crash."""

from __future__ import annotations

from pathlib import Path

import pytest

from swarmnode.actors.messages import Address, Envelope, ErrorReply, Message, message
from swarmnode.actors.runtime import ANY_ROLE, Addressable, CurveKeys, NodeContext, TransportDown, handles
from swarmnode.actors.runtime.addressable import Delivery, Request
from swarmnode.transport import Identity, Inbound, TransportError


@message
class WhereRequest(Message):
    KIND = "TestWhereRequest"


@message
class WhereReply(Message):
    KIND = "TestWhereReply"
    address: str


class Where(Addressable):
    name = "where"

    def __init__(self, context: NodeContext) -> None:
        self.context = context

    @handles(WhereRequest, roles=ANY_ROLE)
    def _where(self, msg: WhereRequest, request: Request) -> WhereReply:
        return WhereReply(address=self.context.transport.address)


class Recording:
    def __init__(self) -> None:
        self.replies: list[Message] = []

    def reply(self, inbound: Inbound, body: Message) -> None:
        self.replies.append(body)


def test_reading_the_transport_while_it_restarts_raises_a_refusal_that_is_also_a_transport_error(tmp_path: Path):
    context = NodeContext("n1", "manager", tmp_path, "127.0.0.1:0", CurveKeys(b"p" * 40, b"s" * 40))
    with pytest.raises(TransportDown) as caught:
        _ = context.transport
    assert isinstance(caught.value, TransportError)  # what heartbeats and renewals already handle
    assert caught.value.code == "unavailable"


def test_a_request_that_reads_the_transport_while_it_restarts_is_refused_not_crashed(tmp_path: Path):
    context = NodeContext("n1", "manager", tmp_path, "127.0.0.1:0", CurveKeys(b"p" * 40, b"s" * 40))
    actor, transport = Where(context), Recording()
    env = Envelope(7, 0, Address("", "cli"), Address("", "where"), WhereRequest())
    inbound = Inbound(env, Identity("n1", "local"), object())
    request = Request(peer=Identity("n1", "local"), delivery=Delivery(inbound, transport))  # type: ignore[arg-type]
    crash = actor._answer(request, lambda: actor._dispatch_message(WhereRequest(), request))
    assert crash is None
    assert transport.replies == [ErrorReply(code="unavailable", text=TransportDown().text)]


def test_a_node_on_port_0_is_reached_at_the_port_its_transport_first_listened_on(tmp_path: Path):
    context = NodeContext("n1", "manager", tmp_path, "127.0.0.1:0", CurveKeys(b"p" * 40, b"s" * 40))
    context.listened = "127.0.0.1:41234"
    assert context.cluster_addr == "127.0.0.1:41234"  # also while the transport restarts
    context.advertise_addr = "10.0.0.5:0"
    assert context.cluster_addr == "10.0.0.5:41234"
