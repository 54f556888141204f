"""Measure joining: N workers joining one manager in parallel, beside one worker joining alone.

Prints, in one run:
1. seconds until all N workers are ready in the manager's node list (real processes on
   loopback, started at once), beside the seconds one worker takes alone (the baseline: a join
   is process start-up + bootstrap + CSR + signature + first heartbeat);
2. certificates signed per second by the manager during the parallel join (from the manager's
   log: first to last "issued a ... certificate"), beside the in-process signing rate of
   sign_node_certificate measured in the same run.

Usage: python bench/join.py [--workers 20] [--heartbeat 1s]
Everything runs on 127.0.0.1 in a temporary directory that is removed at the end, and every
process it starts is killed at the end, whatever happens.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from swarmnode.actors.ca import create_root_ca, make_csr, new_node_key, sign_node_certificate
from swarmnode.cli.local import free_port_pair
from swarmnode.cli.local import swarm_node_command as cli
from swarmnode.transport import generate_keypair

READY_TIMEOUT_S = 180.0
POLL_S = 0.05


class Processes:
    """Every process the bench starts, killed at the end."""

    def __init__(self) -> None:
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, args: list[str], log: Path) -> subprocess.Popen[bytes]:
        with log.open("ab") as out:
            proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        self.procs.append(proc)
        return proc

    def kill_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
        for proc in self.procs:
            proc.wait(timeout=30)
        self.procs.clear()


def node_ls(state: Path) -> list[dict[str, object]]:
    result = subprocess.run(
        cli("--state-dir", str(state), "-o", "json", "node", "ls"), capture_output=True, check=False
    )
    return json.loads(result.stdout) if result.returncode == 0 else []


def wait_ready(state: Path, count: int, deadline: float) -> float:
    while time.monotonic() < deadline:
        rows = node_ls(state)
        if sum(1 for r in rows if r["status"] == "ready") >= count:
            return time.monotonic()
        time.sleep(POLL_S)  # poll interval of a benchmark's readiness check, bounded by the deadline
    raise RuntimeError(f"not all {count} nodes ready within {READY_TIMEOUT_S:g} s")


def join_round(tmp: Path, workers: int, heartbeat: str, procs: Processes) -> tuple[float, float | None]:
    """Start a manager, then ``workers`` joiners at once; return (seconds to all ready, certs/s)."""
    port = free_port_pair()
    manager = tmp / f"m{workers}"
    procs.start(
        cli(
            "start",
            "--role",
            "manager",
            "--listen",
            f"127.0.0.1:{port}",
            "--state-dir",
            str(manager),
            "--dispatcher-heartbeat",
            heartbeat,
        ),
        tmp / f"m{workers}.log",
    )
    wait_ready(manager, 1, time.monotonic() + READY_TIMEOUT_S)
    token = subprocess.run(
        cli("--state-dir", str(manager), "join-token", "worker", "-q"), capture_output=True, text=True, check=True
    ).stdout.strip()
    started = time.monotonic()
    for i in range(workers):
        state = tmp / f"w{workers}-{i}"
        args = ["join", f"127.0.0.1:{port}", "--token", token, "--listen", "127.0.0.1:0", "--state-dir", str(state)]
        procs.start(cli(*args), tmp / f"w{workers}-{i}.log")
    done = wait_ready(manager, workers + 1, started + READY_TIMEOUT_S)
    issued = [
        json.loads(line)["ts"]
        for line in (manager / "node.log").read_text().splitlines()
        if "issued a worker certificate" in line
    ]
    procs.kill_all()
    rate = (len(issued) - 1) / (issued[-1] - issued[0]) if len(issued) > 1 and issued[-1] > issued[0] else None
    return done - started, rate


def signing_rate(seconds: float = 2.0) -> float:
    now = datetime.now(UTC)
    root = create_root_ca("benchcluster", now)
    csr = make_csr(new_node_key())
    public, _ = generate_keypair()
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        sign_node_certificate(
            root, csr, node_id="n", role="worker", cluster_id="benchcluster", curve_public_key=public, now=now
        )
        count += 1
    return count / (time.perf_counter() - start)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=20)
    parser.add_argument("--heartbeat", default="1s", help="the swarm's heartbeat period (default 1s)")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="sn-bench-join-"))
    procs = Processes()
    try:
        alone_s, _ = join_round(tmp, 1, args.heartbeat, procs)
        parallel_s, certs_per_s = join_round(tmp, args.workers, args.heartbeat, procs)
        sign_per_s = signing_rate()
    finally:
        procs.kill_all()
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"join bench: {args.workers} workers in parallel, heartbeat {args.heartbeat}, {os.cpu_count()} cores")
    print(
        f"1. seconds until all ready:  {args.workers} in parallel {parallel_s:6.2f} s   "
        f"one alone {alone_s:5.2f} s   ratio {parallel_s / alone_s:.2f} (per worker {parallel_s / args.workers:.2f} s)"
    )
    signed = f"{certs_per_s:8.1f}/s" if certs_per_s else "     n/a"
    print(
        f"2. certificates signed:      during the join {signed}   in-process signing {sign_per_s:8.1f}/s"
        "   (the join rate is bounded by joiners starting up, not by signing)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
