"""Measure the transport beside baselines measured in the same run, and print the figures.

1. actor-to-actor round trips/s in one process: pykka ask with our messages (baseline: pykka
   ask with a plain object);
2. one-at-a-time round trips/s between two processes over CurveZMQ: Transport.request().result()
   against a node whose deliver() tells a pykka actor that replies Pong (baseline: bare pyzmq
   DEALER/ROUTER with CURVE and msgpack);
3. pipelined messages/s between two processes with a window of requests in flight (baseline:
   bare pyzmq, same window).

Usage: python bench/transport.py [--seconds 3] [--window 256] [--payload 16]
Loopback only; the server processes are killed at the end, whatever happens.
"""

from __future__ import annotations

import argparse
import collections
import os
import select
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import msgpack
import pykka
import zmq

from swarmnode.actors.messages import Address, Ping, Pong
from swarmnode.transport import Identity, Inbound, Transport, generate_keypair

WARMUP_S = 0.3
START_TIMEOUT_S = 20.0
REQUEST_TIMEOUT_S = 10.0
CHECK_EVERY = 64  # loop iterations between clock reads


# ---------------------------------------------------------------------- servers (child processes)


class Ponger(pykka.ThreadingActor):
    """Reply Pong to each Ping that the transport tells this actor."""

    def __init__(self, transport: Transport) -> None:
        super().__init__()
        self.transport = transport

    def on_receive(self, message: Any) -> None:
        body = message.envelope.body
        self.transport.reply(message, Pong(body.payload))


def serve_ours(public: bytes, secret: bytes) -> None:
    ponger: pykka.ActorRef[Ponger] | None = None

    def deliver(inbound: Inbound) -> bool:
        assert ponger is not None
        ponger.tell(inbound)
        return True

    transport = Transport(
        node_id="server",
        listen="127.0.0.1:0",
        public_key=public,
        secret_key=secret,
        admit=lambda key, address: Identity("client", "worker"),
        deliver=deliver,
    )
    ponger = Ponger.start(transport)
    transport.start()
    print(f"READY {transport.address}", flush=True)
    try:
        sys.stdin.read()
    finally:
        transport.stop()
        pykka.ActorRegistry.stop_all()


def serve_raw(public: bytes, secret: bytes) -> None:
    """Answer like the transport does, with nothing in between: decode, build, encode, send."""
    ctx = zmq.Context()
    router = ctx.socket(zmq.ROUTER)
    router.setsockopt(zmq.LINGER, 0)
    router.curve_server = True
    router.curve_publickey, router.curve_secretkey = public, secret
    router.bind("tcp://127.0.0.1:0")
    print(f"READY {router.getsockopt_string(zmq.LAST_ENDPOINT)[len('tcp://') :]}", flush=True)
    poller = zmq.Poller()
    poller.register(router, zmq.POLLIN)
    poller.register(sys.stdin.fileno(), zmq.POLLIN)
    while True:
        events = dict(poller.poll())
        if sys.stdin.fileno() in events:
            break
        while True:
            try:
                rid, data = router.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                break
            env = msgpack.unpackb(data)
            reply = {
                "v": 1,
                "kind": "Pong",
                "id": 0,
                "reply_to": env["id"],
                "src": env["dst"],
                "dst": env["src"],
                "body": {"payload": env["body"]["payload"]},
            }
            router.send_multipart([rid, msgpack.packb(reply)])
    router.close(0)
    ctx.term()


# ---------------------------------------------------------------------- helpers


def start_server(mode: str, public: bytes, secret: bytes) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        [sys.executable, __file__, "--serve", mode, public.decode(), secret.decode()],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=dict(os.environ, PYTHONUNBUFFERED="1"),
    )
    assert process.stdout is not None
    ready, _, _ = select.select([process.stdout], [], [], START_TIMEOUT_S)
    line = process.stdout.readline() if ready else ""
    if not line.startswith("READY "):
        process.kill()
        raise SystemExit(f"the {mode} server did not start (said {line!r})")
    return process, line.split()[1]


def rate(run: Callable[[float], int], seconds: float) -> float:
    """Return operations per second of ``run(deadline)``, which returns how many it did."""
    run(time.perf_counter() + WARMUP_S)
    started = time.perf_counter()
    done = run(started + seconds)
    return done / (time.perf_counter() - started)


# ---------------------------------------------------------------------- figure 1: pykka in one process


class Answerer(pykka.ThreadingActor):
    def on_receive(self, message: Any) -> Any:
        if isinstance(message, Ping):
            return Pong(message.payload)
        return message


class Asker(pykka.ThreadingActor):
    def __init__(self, other: pykka.ActorRef[Answerer]) -> None:
        super().__init__()
        self.other = other

    def on_receive(self, message: Any) -> Any:
        deadline, body = message
        other, done = self.other, 0
        while True:
            for _ in range(CHECK_EVERY):
                other.ask(body)
            done += CHECK_EVERY
            if time.perf_counter() >= deadline:
                return done


def figure_actors(seconds: float, payload: bytes) -> tuple[float, float]:
    answerer = Answerer.start()
    asker = Asker.start(answerer)
    try:
        ours = rate(lambda deadline: asker.ask((deadline, Ping(payload))), seconds)
        plain = rate(lambda deadline: asker.ask((deadline, ("ping", payload))), seconds)
    finally:
        asker.stop()
        answerer.stop()
    return ours, plain


# ---------------------------------------------------------------------- figures 2 and 3: our transport


def client_transport(server_address: str, server_key: bytes) -> Transport:
    public, secret = generate_keypair()
    transport = Transport.outbound_only("client", public, secret)
    transport.start()
    transport.connect("server", server_address, server_key)
    return transport


def ours_one_at_a_time(transport: Transport, payload: bytes) -> Callable[[float], int]:
    dst, body = Address("server", "ponger"), Ping(payload)

    def run(deadline: float) -> int:
        request, done = transport.request, 0
        while True:
            for _ in range(CHECK_EVERY):
                request(dst, body, src_actor="bench", timeout_s=REQUEST_TIMEOUT_S).result()
            done += CHECK_EVERY
            if time.perf_counter() >= deadline:
                return done

    return run


def ours_pipelined(transport: Transport, payload: bytes, window: int) -> Callable[[float], int]:
    dst, body = Address("server", "ponger"), Ping(payload)

    def run(deadline: float) -> int:
        request, done = transport.request, 0
        in_flight = collections.deque(
            request(dst, body, src_actor="bench", timeout_s=REQUEST_TIMEOUT_S) for _ in range(window)
        )
        while True:
            for _ in range(CHECK_EVERY):
                in_flight.popleft().result()
                in_flight.append(request(dst, body, src_actor="bench", timeout_s=REQUEST_TIMEOUT_S))
            done += CHECK_EVERY
            if time.perf_counter() >= deadline:
                break
        for future in in_flight:
            future.result()
        return done + window

    return run


# ---------------------------------------------------------------------- figures 2 and 3: bare pyzmq


class RawClient:
    def __init__(self, server_address: str, server_key: bytes) -> None:
        self.context = zmq.Context()
        self.socket = self.context.socket(zmq.DEALER)
        self.socket.setsockopt(zmq.LINGER, 0)
        self.socket.curve_serverkey = server_key
        self.socket.curve_publickey, self.socket.curve_secretkey = zmq.curve_keypair()
        self.socket.connect(f"tcp://{server_address}")
        self.next_id = 1

    def envelope(self, payload: bytes) -> bytes:
        self.next_id += 1
        return msgpack.packb(
            {
                "v": 1,
                "kind": "Ping",
                "id": self.next_id,
                "reply_to": 0,
                "src": ["client", "bench"],
                "dst": ["server", "ponger"],
                "body": {"payload": payload},
            }
        )

    def one_at_a_time(self, payload: bytes) -> Callable[[float], int]:
        def run(deadline: float) -> int:
            sock, done = self.socket, 0
            while True:
                for _ in range(CHECK_EVERY):
                    sock.send(self.envelope(payload))
                    msgpack.unpackb(sock.recv())
                done += CHECK_EVERY
                if time.perf_counter() >= deadline:
                    return done

        return run

    def pipelined(self, payload: bytes, window: int) -> Callable[[float], int]:
        def run(deadline: float) -> int:
            sock, done = self.socket, 0
            for _ in range(window):
                sock.send(self.envelope(payload))
            while True:
                for _ in range(CHECK_EVERY):
                    msgpack.unpackb(sock.recv())
                    sock.send(self.envelope(payload))
                done += CHECK_EVERY
                if time.perf_counter() >= deadline:
                    break
            for _ in range(window):
                msgpack.unpackb(sock.recv())
            return done + window

        return run

    def close(self) -> None:
        self.socket.close(0)
        self.context.term()


# ---------------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=3.0, help="measuring time per figure and side")
    parser.add_argument("--window", type=int, default=256, help="requests in flight for figure 3")
    parser.add_argument("--payload", type=int, default=16, help="Ping payload bytes")
    parser.add_argument("--serve", nargs=3, metavar=("MODE", "PUBLIC", "SECRET"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        mode, public, secret = args.serve
        (serve_ours if mode == "ours" else serve_raw)(public.encode(), secret.encode())
        return

    seconds = args.seconds / 2  # each figure has two sides
    payload = b"x" * args.payload
    print(f"transport bench: {args.seconds:g} s per figure, payload {args.payload} B, window {args.window}")
    ours_actor, plain_actor = figure_actors(seconds, payload)
    print(f"1. in-process pykka ask round trips/s:  ours {ours_actor:10,.0f}   plain-object ask {plain_actor:10,.0f}")

    processes: list[subprocess.Popen[str]] = []
    transport: Transport | None = None
    raw: RawClient | None = None
    try:
        keys = generate_keypair()
        ours_server, ours_address = start_server("ours", *keys)
        processes.append(ours_server)
        raw_keys = generate_keypair()
        raw_server, raw_address = start_server("raw", *raw_keys)
        processes.append(raw_server)
        transport = client_transport(ours_address, keys[0])
        raw = RawClient(raw_address, raw_keys[0])

        ours_rt = rate(ours_one_at_a_time(transport, payload), seconds)
        raw_rt = rate(raw.one_at_a_time(payload), seconds)
        print(
            f"2. one-at-a-time round trips/s:        ours {ours_rt:10,.0f}   raw pyzmq {raw_rt:10,.0f}"
            f"   ratio {ours_rt / raw_rt:.2f}   (target >= 5,000/s, ratio >= 0.7)"
        )
        ours_pipe = rate(ours_pipelined(transport, payload, args.window), seconds)
        raw_pipe = rate(raw.pipelined(payload, args.window), seconds)
        print(
            f"3. pipelined msgs/s (window {args.window}):     ours {ours_pipe:10,.0f}   raw pyzmq {raw_pipe:10,.0f}"
            f"   ratio {ours_pipe / raw_pipe:.2f}   (target >= 50,000/s, ratio >= 0.7)"
        )
        stats = transport.statistics()
        print(f"   client statistics: {stats}")
    finally:
        if transport is not None:
            transport.stop()
        if raw is not None:
            raw.close()
        for process in processes:
            process.kill()
            process.wait()
            for stream in (process.stdin, process.stdout):
                if stream is not None:
                    stream.close()


if __name__ == "__main__":
    main()
