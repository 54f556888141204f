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


def run(managers: Managers, times: int) -> int:
    target = managers.manager.node_id
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
            leader.kill()
            killed = time.monotonic()
            resumed = wait_until(
                lambda k=killed: writer.first_acknowledged_after(k), DEADLINE_S, "a write acknowledged after the kill"
            )
            failovers.append(resumed - killed)
            print(f"round {round_}: killed leader {name}; writes resumed after {resumed - killed:.3f} s")
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
    return 1 if lost else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--managers", type=int, default=3)
    parser.add_argument("--times", type=int, default=5)
    args = parser.parse_args()
    if args.managers < 3:
        parser.error(f"--managers {args.managers}: at least 3, so that a quorum outlives the killed leader")
    root = Path(tempfile.mkdtemp(prefix="sn-chaos-"))
    make = NodeFactory(root)
    try:
        return run(Managers(make, args.managers), args.times)
    except AssertionError as exc:  # a wait of tests/support ran out: say what, without a traceback
        raise SystemExit(f"kill_leader: {exc}") from None
    finally:
        make.stop_all()  # also those of a cluster that failed to come up
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
