#!/usr/bin/env python3
"""Crash a named actor of a running node through its control socket and check that it comes back.

The node's supervisor must restart the actor: this script reads the actor's restart count from
``swarm-node status``, sends it a Crash message, then waits until the count has risen and the
actor runs again. It prints what happened and how long the restart took, and exits 1 if the
actor did not come back within the deadline.

    python chaos/kill_actor.py --state-dir /tmp/n1 transport
    python chaos/kill_actor.py --state-dir /tmp/n1 control --times 3
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from swarmnode.actors.control import ActorRow, StatusReply
from swarmnode.actors.messages import Crash
from swarmnode.transport import RemoteError, RequestTimeout

# Run as `python chaos/kill_actor.py`: the node and wait helpers are the tests' (tests/support),
# at the root of the repository, which is not on the path of a script run from its own folder.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.support import wait_until
from tests.support.nodes import NodeProcess


def rows_by_name(reply: StatusReply | None) -> dict[str, ActorRow]:
    """Map each actor's name (the last part of its path) to its status row.

    Empty without a reply: the transport or control actor may be restarting right now.
    """
    return {row.path.rsplit("/", 1)[-1]: row for row in (reply.actors if reply is not None else ())}


def kill_once(node: NodeProcess, name: str, deadline_s: float) -> float:
    before = node.try_status()
    if before is None:
        raise SystemExit(f"kill_actor: no node answers on {node.control_path}")
    rows = rows_by_name(before)
    row = rows.get(name)
    if row is None:
        names = ", ".join(rows)
        raise SystemExit(f"kill_actor: node {before.node_id} has no actor {name!r}; it has {names}")
    restarts_before = row.restarts
    started = time.monotonic()
    try:
        node.request(name, Crash(reason="chaos/kill_actor.py"), timeout_s=2.0)
    except RemoteError as exc:
        if exc.code != "crashed":
            raise SystemExit(f"kill_actor: {name} refused the crash: {exc.text} ({exc.code})") from None
    except RequestTimeout:
        pass  # an actor that carries the control socket (transport) may die before its reply leaves

    def restarted() -> ActorRow | None:
        now = rows_by_name(node.try_status()).get(name)
        return now if now is not None and now.state == "running" and now.restarts > restarts_before else None

    try:
        after = wait_until(restarted, deadline_s, f"actor {name} to run again")
    except AssertionError:
        # The node's own account of those seconds, so that a failure says more than its timeout.
        print(node.last_words(), file=sys.stderr)
        raise SystemExit(f"kill_actor: actor {name} did not come back within {deadline_s:g} s") from None
    elapsed = time.monotonic() - started
    print(f"actor {name} restarted: restarts {restarts_before} -> {after.restarts} in {elapsed:.3f} s")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("actor", help="the actor's name, as `swarm-node status` shows it (e.g. transport)")
    parser.add_argument("--state-dir", type=Path, required=True, help="the node's state directory")
    parser.add_argument("--times", type=int, default=1, help="how many times to kill it (default 1)")
    parser.add_argument("--deadline", type=float, default=10.0, help="seconds to wait for each restart")
    args = parser.parse_args()
    node = NodeProcess(args.state_dir)  # a running node, not started here: only its control socket is used
    times = [kill_once(node, args.actor, args.deadline) for _ in range(args.times)]
    if len(times) > 1:
        print(f"{len(times)} kills, restart time max {max(times):.3f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
