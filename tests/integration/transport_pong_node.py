"""A node process for transport integration tests: answers Ping with Pong through a pykka actor.

Usage: transport_pong_node.py NODE_ID PUBLIC_KEY SECRET_KEY. It prints "READY <host:port>" once
listening and runs until its stdin closes, so it never outlives the test that started it.
"""

from __future__ import annotations

import sys
from typing import Any

import pykka

from swarmnode.actors.messages import Ping, Pong
from swarmnode.transport import Identity, Inbound, Transport


class Ponger(pykka.ThreadingActor):
    """Answer every Ping with a Pong carrying the same payload."""

    def __init__(self, transport: Transport) -> None:
        super().__init__()
        self.transport = transport

    def on_receive(self, message: Any) -> None:
        if isinstance(message, Inbound) and isinstance(message.envelope.body, Ping):
            self.transport.reply(message, Pong(message.envelope.body.payload))


def main() -> None:
    node_id, public, secret = sys.argv[1], sys.argv[2].encode(), sys.argv[3].encode()
    ponger: pykka.ActorRef[Ponger] | None = None

    def deliver(inbound: Inbound) -> bool:
        if inbound.envelope.dst.actor != "ponger" or ponger is None:
            return False
        ponger.tell(inbound)
        return True

    transport = Transport(
        node_id=node_id,
        listen="127.0.0.1:0",
        public_key=public,
        secret_key=secret,
        admit=lambda key, address: Identity(node_id="client", role="worker"),
        deliver=deliver,
    )
    ponger = Ponger.start(transport)
    transport.start()
    print(f"READY {transport.address}", flush=True)
    try:
        sys.stdin.read()  # returns when the parent closes our stdin or dies
    finally:
        transport.stop()
        pykka.ActorRegistry.stop_all()


if __name__ == "__main__":
    main()
