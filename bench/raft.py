"""Measure Raft among 3 managers on loopback, beside the floor measured in the same run.

Prints, in one run:
1. committed writes/s with 1 client and with 64 concurrent clients (each write: one new task
   object through the leader's RaftMember: proposal, replication to both followers with their
   fsyncs, commit, apply, answer);
   beside them, 64 Pings in flight to the leader's control actor on the same socket (the
   request path without Raft), measured in the same run;
2. p50/p99 commit latency with 1 client, as the client sees it (with its own round trip to the
   leader's control socket) and inside the leader (from the proposal reaching RaftMember to its
   apply: replication to the followers, their fsyncs, commit; the path the floor is the least
   of);
3. the CPU time each manager process spends per committed write (user + system, from
   /proc/PID/stat, only while the writes run): less noisy than the times on this VM, and what
   to compare when a change is meant to save work;
4. the floor beside them (the issue's "one fdatasync + one transport round trip"): one fdatasync
   of a small write into preallocated space in the leader's directory (the cheapest durable
   write, as the WAL makes them), plus one round trip over the cluster transport between two
   processes (CurveZMQ over TCP: the hop a commit makes from the leader to a follower); and the
   same floor with a round trip to the leader over its control socket (a Ping, local ipc without
   CURVE) instead. All parts are sampled in rounds that alternate with the 1-client writes (this
   machine's speed drifts within a run).

Targets (issue 4): >= 5,000 writes/s with 64 clients; p50 with 1 client <= 3 x the floor.

Usage: python bench/raft.py [--seconds 3]
Three manager processes on 127.0.0.1 in a temporary directory (tests/support's Managers, with the
CLI's default settings); everything is stopped and removed at the end, whatever happens.
"""

from __future__ import annotations

import argparse
import itertools
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import msgpack
import zmq

from swarmnode.actors.messages import Address, Envelope, Ping, Pong, encode_envelope
from swarmnode.actors.raft.actor import ProposeCreate, ProposeCreateReply
from swarmnode.transport import ControlClient, Transport

# Run as `python bench/raft.py`: the cluster helpers are the tests' (tests/support), at the root
# of the repository, which is not on the path of a script run from its own folder.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.support.nodes import Managers, NodeFactory, NodeProcess
from tests.support.pong import pong_process

DEADLINE_S = 60.0
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
CLIENTS = 64
PEER = Address("peer", "ponger")
ROUND_S = 0.25
FLOOR_SAMPLES = 40


class CpuMeter:
    """CPU seconds (user + system) that processes spend while ``measuring`` blocks run."""

    def __init__(self, pids: list[int]) -> None:
        self.pids = pids
        self.spent = [0.0] * len(pids)

    @staticmethod
    def _cpu(pid: int) -> float:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime

    @contextmanager
    def measuring(self) -> Iterator[None]:
        before = [self._cpu(pid) for pid in self.pids]
        try:
            yield
        finally:
            for i, pid in enumerate(self.pids):
                self.spent[i] += self._cpu(pid) - before[i]


def one_client(
    control: Path, directory: Path, peer: Transport, seconds: float, cpu: CpuMeter
) -> tuple[float, list[float], list[float], list[float], list[float], list[float]]:
    """Sequential writes, interleaved with the floors' parts so that all of them see the same machine.

    These VMs change speed from one second to the next (thread wake-ups by 3x), so the run is cut
    into rounds of ROUND_S: in each, writes one at a time, then round trips (a Ping to the
    leader's control actor over the same socket), then transport round trips between two
    processes (CurveZMQ over TCP, as from the leader to a follower), then fdatasyncs of small
    writes into preallocated space in the leader's directory. Return writes/s and each sample (s)
    of the four, and the leader's own time for each write (proposal to apply).
    """
    writes: list[float] = []
    commits: list[float] = []
    pings: list[float] = []
    hops: list[float] = []
    fsyncs: list[float] = []
    ids = itertools.count()
    path = directory / "floor.bin"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    os.posix_fallocate(fd, 0, 4 << 20)
    offset = 0
    try:
        with ControlClient(str(control), timeout_s=10) as client:
            end = time.perf_counter() + seconds
            while time.perf_counter() < end:
                round_end = time.perf_counter() + ROUND_S
                with cpu.measuring():
                    while time.perf_counter() < round_end:
                        started = time.perf_counter()
                        reply = client.request("raft", ProposeCreate(kind="task", id=f"s{next(ids)}", spec={"n": 1}))
                        writes.append(time.perf_counter() - started)
                        assert isinstance(reply, ProposeCreateReply)
                        commits.append(reply.commit_us / 1e6)
                for _ in range(FLOOR_SAMPLES):
                    started = time.perf_counter()
                    client.request("control", Ping(payload=b"x"))
                    pings.append(time.perf_counter() - started)
                for _ in range(FLOOR_SAMPLES):
                    started = time.perf_counter()
                    peer.request(PEER, Ping(payload=b"x"), src_actor="bench", timeout_s=10).result(10)
                    hops.append(time.perf_counter() - started)
                for _ in range(FLOOR_SAMPLES):
                    started = time.perf_counter()
                    os.pwrite(fd, b"x" * 200, offset)
                    os.fdatasync(fd)
                    offset += 200
                    fsyncs.append(time.perf_counter() - started)
    finally:
        os.close(fd)
        path.unlink()
    return len(writes) / sum(writes), writes, pings, hops, fsyncs, commits


def many_clients(path: Path, seconds: float, clients: int, *, writes: bool = True) -> float:
    """``clients`` requests in flight at all times (one DEALER, pipelined); return answers/s.

    With ``writes`` each request is a write through Raft; without, a Ping to the leader's
    control actor over the same socket: the request path alone, the baseline of the same run.
    """
    ctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
    sock = ctx.socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.connect(f"ipc://{path}")
    ids = itertools.count(1)
    done = 0
    actor, answer = ("raft", ProposeCreateReply.KIND) if writes else ("control", Pong.KIND)

    def send() -> None:
        n = next(ids)
        body = ProposeCreate(kind="task", id=f"p{n}", spec={"n": n}) if writes else Ping(payload=b"x")
        sock.send(encode_envelope(Envelope(n, 0, Address("", "bench"), Address("", actor), body)))

    try:
        for _ in range(clients):
            send()
        started = time.perf_counter()
        end = started + seconds
        while time.perf_counter() < end:
            if not sock.poll(10_000):
                raise RuntimeError("no answer within 10 s")
            # A load generator stays light: the reply's kind is all it needs (no validating decode),
            # so that it takes as little as it can of the CPU the three managers share with it.
            reply = msgpack.unpackb(sock.recv(), raw=False)
            if reply["kind"] != answer:
                raise RuntimeError(f"request failed: {reply['kind']} {reply['body']}")
            done += 1
            send()
        elapsed = time.perf_counter() - started
    finally:
        sock.close(0)
        ctx.term()
    return done / elapsed


def print_logs(nodes: list[NodeProcess]) -> None:
    """Print the last lines each manager wrote, before they are removed with its directory."""
    for node in nodes:
        for stream, text in (("stdout", node.stdout()), ("stderr", node.stderr())):
            if text.strip():
                print(f"--- {node.state_dir.name} {stream} (last lines)", file=sys.stderr)
                print("\n".join(text.splitlines()[-15:]), file=sys.stderr)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=3.0)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="sn-bench-raft-"))
    make = NodeFactory(root)
    stack = ExitStack()  # the transport peer
    try:
        try:
            # heartbeat=None: every manager runs with the CLI's default settings.
            leader_node = Managers(make, 3, heartbeat=None).wait_leader(DEADLINE_S)
        except BaseException:
            print_logs(make.made)
            raise
        leader = leader_node.state_dir
        managers = [leader_node, *(n for n in make.made if n is not leader_node)]
        pids = [n.proc.pid for n in managers if n.proc is not None]
        control = leader / "control.sock"
        peer = stack.enter_context(pong_process(PEER.node)).client
        cpu_1, cpu_64 = CpuMeter(pids), CpuMeter(pids)
        rate_1, latencies, pings, hops, fsyncs, commits = one_client(control, leader, peer, args.seconds, cpu_1)
        with cpu_64.measuring():
            rate_64 = many_clients(control, args.seconds, CLIENTS)
        pings_64 = many_clients(control, args.seconds, CLIENTS, writes=False)
    except AssertionError as exc:  # a wait of tests/support ran out: say what, without a traceback
        raise SystemExit(f"raft bench: {exc}") from None
    finally:
        try:
            stack.close()
        finally:
            make.stop_all()  # also those of a cluster that failed to come up
            shutil.rmtree(root, ignore_errors=True)
    p50, p99 = percentile(latencies, 0.5), percentile(latencies, 0.99)
    in_leader_p50, in_leader_p99 = percentile(commits, 0.5), percentile(commits, 0.99)
    fsync_s = statistics.median(fsyncs)
    rtt_s = statistics.median(pings)
    hop_s = statistics.median(hops)
    floor = fsync_s + rtt_s
    floor_hop = fsync_s + hop_s
    print(f"raft bench: 3 managers on loopback, {args.seconds:g} s per figure, {os.cpu_count()} cores")
    print(
        f"1. committed writes/s, 1 client:   {rate_1:8.0f}"
        f"   beside {1 / rtt_s:,.0f} Pings/s one at a time on the same socket: ratio {rate_1 * rtt_s:.2f}"
    )
    print(
        f"   committed writes/s, {CLIENTS} clients: {rate_64:8.0f}   (target >= 5,000)"
        f"   beside {pings_64:,.0f} Pings/s, {CLIENTS} in flight on the same socket: ratio {rate_64 / pings_64:.2f}"
    )
    print(
        f"2. commit latency, 1 client: p50 {p50 * 1e3:6.2f} ms  p99 {p99 * 1e3:6.2f} ms"
        f"   floor {floor_hop * 1e3:5.2f} ms (fdatasync {fsync_s * 1e3:.2f} + transport round trip {hop_s * 1e3:.2f})"
        f"   p50/floor {p50 / floor_hop:.2f} (target <= 3)"
    )
    print(
        f"   the same with a control-socket round trip (ipc, no CURVE) instead:"
        f" floor {floor * 1e3:5.2f} ms (fdatasync {fsync_s * 1e3:.2f} + {rtt_s * 1e3:.2f})"
        f"   p50/floor {p50 / floor:.2f}"
    )
    print(
        f"   inside the leader (proposal to apply, without the client's hops): p50 {in_leader_p50 * 1e3:6.2f} ms"
        f"  p99 {in_leader_p99 * 1e3:6.2f} ms   p50/floor {in_leader_p50 / floor_hop:.2f}"
    )
    print(
        f"3. CPU per committed write, 1 client:   {cpu_line(cpu_1, len(latencies))}\n"
        f"   CPU per committed write, {CLIENTS} clients: {cpu_line(cpu_64, rate_64 * args.seconds)}"
    )
    return 0


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


def cpu_line(cpu: CpuMeter, writes: float) -> str:
    leader, *followers = (spent / max(writes, 1) * 1e3 for spent in cpu.spent)
    return f"leader {leader:.3f} ms, followers " + " / ".join(f"{f:.3f}" for f in followers) + " ms"


if __name__ == "__main__":
    sys.exit(main())
