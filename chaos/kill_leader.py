#!/usr/bin/env python3
"""Kill the Raft leader of a local cluster again and again, and count what was lost (must be 0).

It founds a cluster of --managers managers on 127.0.0.1 in a temporary directory, keeps writing
(node labels) through a follower, and --times times: kills the leader with SIGKILL, measures the
failover (from the kill to the next acknowledged write), restarts the killed manager and waits
until it has caught up. At the end it checks every acknowledged write on every manager, prints
each failover time and the count of lost acknowledged writes, removes everything it started,
and exits 1 if any write was lost. With --workers N, N workers join too, and each round also
prints when the new leader saw every worker's heartbeat again (its Dispatcher's "node ... is
ready"; the nodes show unknown until then).

    python chaos/kill_leader.py --managers 3 --times 5
    python chaos/kill_leader.py --times 3 --workers 2 --heartbeat 5s   # the CLI's default period
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

from swarmnode.transport import TransportError

# Run as `python chaos/kill_leader.py`: the cluster and wait helpers are the tests' (tests/support),
# at the root of the repository, which is not on the path of a script run from its own folder.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.support import wait_until
from tests.support.nodes import Managers, NodeFactory, NodeProcess
from tests.support.writers import LabelWriter, labels_on

DEADLINE_S = 30.0


def a_follower(managers: Managers, leader: NodeProcess) -> NodeProcess:
    return next(node for node in managers.alive() if node is not leader)


def missing_on(node: NodeProcess, target: str, acknowledged: list[str]) -> list[str]:
    """The acknowledged writes that ``node`` does not show; all of them when it cannot answer."""
    try:
        labels = labels_on(node, target, timeout_s=2.0)
    except TransportError:
        labels = {}  # restarting, or no leader to read through yet
    return [key for key in acknowledged if key not in labels]


def workers_back(managers: Managers, worker_ids: list[str], killed_epoch: float) -> float:
    """Seconds from the kill until the new leader logged every worker ready again."""

    def last_ready() -> float | None:
        leader = managers.leader_node()
        if leader is None:
            return None
        records = leader.log_records()
        stamps = []
        for worker_id in worker_ids:
            text = f"node {worker_id} is ready"
            stamp = next((r["ts"] for r in records if r["msg"] == text and r["ts"] > killed_epoch), None)
            if stamp is None:
                return None
            stamps.append(stamp)
        return max(stamps)

    return float(wait_until(last_ready, DEADLINE_S, "every worker ready on the new leader")) - killed_epoch


def run(managers: Managers, times: int, workers: int) -> int:
    target = managers.manager.node_id
    worker_ids = [managers.join(f"w{i}").node_id for i in range(workers)]
    for worker_id in worker_ids:
        managers.wait_status(worker_id, "ready", DEADLINE_S)
    back: list[float] = []
    failovers: list[float] = []
    # The writer writes through the follower named here, so that no write waits on the leader
    # being killed (which would add a request timeout to the failover time).
    via = [a_follower(managers, managers.wait_leader(DEADLINE_S))]
    with LabelWriter(lambda: via[0], target) as writer:
        wait_until(lambda: len(writer.acknowledged) >= 10, DEADLINE_S, "the first 10 acknowledged writes")
        for round_ in range(1, times + 1):
            leader = managers.wait_leader(DEADLINE_S)
            name = leader.state_dir.name
            via[0] = a_follower(managers, leader)
            # The write in flight may still go through the node named before; of two more
            # acknowledged writes at least one, and every write after them, went through via[0].
            acked = len(writer.acknowledged)
            wait_until(lambda n=acked: len(writer.acknowledged) >= n + 2, DEADLINE_S, "writes through a follower")
            killed_epoch = time.time()
            leader.kill()
            killed = time.monotonic()
            resumed = wait_until(
                lambda k=killed: writer.first_acknowledged_after(k), DEADLINE_S, "a write acknowledged after the kill"
            )
            failovers.append(resumed - killed)
            line = f"round {round_}: killed leader {name}; writes resumed after {resumed - killed:.3f} s"
            if worker_ids:
                back.append(workers_back(managers, worker_ids, killed_epoch))
                line += f"; {len(worker_ids)} workers ready again after {back[-1]:.1f} s"
            print(line)
            leader.start()
            wait_until(
                lambda n=leader: not missing_on(n, target, writer.acknowledged[:-5]), DEADLINE_S, f"{name} to catch up"
            )
    acknowledged = writer.acknowledged
    lost = 0
    for node in managers.all:
        # A manager restarted last may still be catching up: give it the deadline, then count.
        try:
            wait_until(lambda n=node: not missing_on(n, target, acknowledged), DEADLINE_S, "every write")
            missing = []
        except AssertionError:
            missing = missing_on(node, target, acknowledged)
            print(f"{node.state_dir.name} lacks {len(missing)} acknowledged write(s): {missing[:10]}")
        lost = max(lost, len(missing))
    print(
        f"{len(failovers)} failovers: "
        + ", ".join(f"{f:.3f}" for f in failovers)
        + f" s (max {max(failovers):.3f} s); {len(acknowledged)} acknowledged writes, lost: {lost}"
    )
    if back:
        print("workers ready again after: " + ", ".join(f"{b:.1f}" for b in back) + " s")
    return 1 if lost else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--managers", type=int, default=3)
    parser.add_argument("--times", type=int, default=5)
    parser.add_argument("--workers", type=int, default=0, help="workers to join (default 0)")
    parser.add_argument(
        "--heartbeat", default="1s", help="the dispatcher's heartbeat period (default 1s; the CLI's default is 5s)"
    )
    args = parser.parse_args()
    if args.managers < 3:
        parser.error(f"--managers {args.managers}: at least 3, so that a quorum outlives the killed leader")
    root = Path(tempfile.mkdtemp(prefix="sn-chaos-"))
    make = NodeFactory(root)
    try:
        return run(Managers(make, args.managers, heartbeat=args.heartbeat), args.times, args.workers)
    except AssertionError as exc:  # a wait of tests/support ran out: say what, without a traceback
        raise SystemExit(f"kill_leader: {exc}") from None
    finally:
        make.stop_all()  # also those of a cluster that failed to come up
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
