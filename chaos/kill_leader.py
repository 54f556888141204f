#!/usr/bin/env python3
"""Kill the Raft leader of a local cluster again and again, and count what was lost (must be 0).

It founds a cluster of --managers managers on 127.0.0.1 in a temporary directory, keeps writing
(node labels) through a follower, and --times times: kills the leader with SIGKILL, measures the
failover (from the kill to the next acknowledged write), restarts the killed manager and waits
until it has caught up. At the end it checks every acknowledged write on every manager, prints
each failover time and the count of lost acknowledged writes, removes everything it started,
and exits 1 if any write was lost.

    python chaos/kill_leader.py --managers 3 --times 5
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from swarmnode.actors.control.messages import (
    ClusterStatusRequest,
    JoinTokenRequest,
    NodeInspectRequest,
    NodeUpdateRequest,
    StatusRequest,
)
from swarmnode.cli.local import free_port_pair
from swarmnode.cli.local import swarm_node_command as cli
from swarmnode.transport import ControlClient, RemoteError, RequestTimeout, TransportError

DEADLINE_S = 30.0
POLL_S = 0.02


def ask(state: Path, body: Any, timeout_s: float = 2.0) -> Any:
    try:
        with ControlClient(str(state / "control.sock"), timeout_s=timeout_s) as client:
            return client.request("control", body)
    except (RemoteError, RequestTimeout, TransportError):
        return None


def wait_for(what: str, condition: Any, deadline_s: float = DEADLINE_S) -> Any:
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        value = condition()
        if value:
            return value
        time.sleep(POLL_S)  # poll interval of a chaos script, bounded by the deadline
    raise SystemExit(f"kill_leader: gave up waiting for {what} after {deadline_s:g} s")


class Cluster:
    def __init__(self, root: Path, count: int) -> None:
        self.root = root
        self.procs: dict[Path, subprocess.Popen[bytes]] = {}
        self.states = [root / f"m{i}" for i in range(count)]
        self.listen = {state: f"127.0.0.1:{free_port_pair()}" for state in self.states}
        try:
            self.launch(self.states[0], "start", "--dispatcher-heartbeat", "1s")
            founder = self.states[0]
            token = wait_for("the founder", lambda: ask(founder, JoinTokenRequest(role="manager", rotate=False)))
            for state in self.states[1:]:
                self.launch(state, "join", self.listen[founder], "--token", token.token)
            wait_for(f"{count} voters", lambda: self.voters() == count, 60)
        except BaseException:
            self.stop_all()  # a cluster that did not come up leaves nothing running
            raise

    def launch(self, state: Path, command: str, *args: str) -> None:
        head = [command, *args[:1]] if command == "join" else [command]
        rest = list(args[1:]) if command == "join" else list(args)
        with (self.root / f"{state.name}.log").open("ab") as log:
            proc = subprocess.Popen(
                cli(*head, "--listen", self.listen[state], "--state-dir", str(state), *rest),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.procs[state] = proc
        wait_for(f"{state.name} to answer", lambda: ask(state, StatusRequest()))

    def status(self, state: Path) -> Any:
        return ask(state, ClusterStatusRequest())

    def leader(self) -> Path | None:
        for state in self.states:
            if state in self.procs and self.procs[state].poll() is not None:
                continue  # a killed manager's socket file stays behind; asking it only times out
            status = self.status(state)
            if status is not None and status.leader and status.leader == status.node_id:
                return state
        return None

    def voters(self) -> int:
        leader = self.leader()
        status = self.status(leader) if leader else None
        return sum(1 for m in status.members if m.suffrage == "voter") if status else 0

    def kill(self, state: Path) -> None:
        proc = self.procs[state]
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)

    def stop_all(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=30)


class Writer(threading.Thread):
    """Write labels on one node through whichever follower answers; remember the acknowledged ones."""

    def __init__(self, cluster: Cluster, target: str) -> None:
        super().__init__(daemon=True)
        self.cluster, self.target = cluster, target
        self.acknowledged: list[tuple[str, float]] = []
        self.halt = threading.Event()

    def run(self) -> None:
        i = 0
        while not self.halt.is_set():
            leader = self.cluster.leader()
            for state in self.cluster.states:
                if state == leader or self.cluster.procs[state].poll() is not None:
                    continue
                body = NodeUpdateRequest(node=self.target, availability="", label_add={f"k{i}": "v"}, label_rm=())
                if ask(state, body, timeout_s=3) is not None:
                    self.acknowledged.append((f"k{i}", time.monotonic()))
                i += 1
                break


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--managers", type=int, default=3)
    parser.add_argument("--times", type=int, default=5)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="sn-chaos-"))
    try:
        cluster = Cluster(root, args.managers)
    except BaseException:
        shutil.rmtree(root, ignore_errors=True)
        raise
    failovers: list[float] = []
    try:
        target = wait_for("status", lambda: ask(cluster.states[0], StatusRequest())).node_id
        writer = Writer(cluster, target)
        writer.start()
        wait_for("first writes", lambda: len(writer.acknowledged) >= 10)
        for round_ in range(1, args.times + 1):
            leader = wait_for("a leader", cluster.leader)
            cluster.kill(leader)
            killed = time.monotonic()
            wait_for("a write after the kill", lambda k=killed: any(t > k for _, t in writer.acknowledged))
            failover = next(t for _, t in writer.acknowledged if t > killed) - killed
            failovers.append(failover)
            print(f"round {round_}: killed leader {leader.name}; writes resumed after {failover:.3f} s")
            cluster.launch(leader, "start")
            wait_for(f"{leader.name} to catch up", lambda s=leader: caught_up(s, target, writer))
        writer.halt.set()
        writer.join(15)
        acknowledged = [k for k, _ in writer.acknowledged]
        lost = 0
        for state in cluster.states:
            # A manager restarted last may still be catching up: give it the deadline, then count.
            end = time.monotonic() + DEADLINE_S
            missing = acknowledged
            while missing and time.monotonic() < end:
                labels = labels_of(state, target) or {}
                missing = [k for k in acknowledged if k not in labels]
                time.sleep(POLL_S)  # poll interval of a chaos script, bounded by the deadline
            if missing:
                print(f"{state.name} lacks {len(missing)} acknowledged write(s): {missing[:10]}")
            lost = max(lost, len(missing))
        print(
            f"{len(failovers)} failovers: "
            + ", ".join(f"{f:.3f}" for f in failovers)
            + f" s (max {max(failovers):.3f} s); {len(acknowledged)} acknowledged writes, lost: {lost}"
        )
        return 1 if lost else 0
    finally:
        cluster.stop_all()
        shutil.rmtree(root, ignore_errors=True)


def labels_of(state: Path, target: str) -> dict[str, str] | None:
    reply = ask(state, NodeInspectRequest(node=target))
    return reply.node["spec"]["labels"] if reply is not None else None


def caught_up(state: Path, target: str, writer: Writer) -> bool:
    labels = labels_of(state, target)
    return labels is not None and all(k in labels for k, _ in list(writer.acknowledged)[:-5])


if __name__ == "__main__":
    sys.exit(main())
