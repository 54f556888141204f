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

from swarmnode.actors.control import StatusReply, StatusRequest
from swarmnode.actors.messages import Crash
from swarmnode.transport import ControlClient, RemoteError, RequestTimeout, TransportError

POLL_S = 0.02


def status(path: Path, timeout_s: float) -> StatusReply | None:
    try:
        with ControlClient(str(path), timeout_s=timeout_s) as client:
            reply = client.request("control", StatusRequest())
    except (RemoteError, RequestTimeout, TransportError):
        return None  # the transport or control actor may be restarting right now
    assert isinstance(reply, StatusReply)
    return reply


def actor_row(reply: StatusReply, name: str) -> tuple[str, int] | None:
    for row in reply.actors:
        if row.path.rsplit("/", 1)[-1] == name:
            return row.state, row.restarts
    return None


def kill_once(path: Path, name: str, deadline_s: float) -> float:
    before = status(path, timeout_s=5.0)
    if before is None:
        raise SystemExit(f"kill_actor: no node answers on {path}")
    row = actor_row(before, name)
    if row is None:
        names = ", ".join(r.path.rsplit("/", 1)[-1] for r in before.actors)
        raise SystemExit(f"kill_actor: node {before.node_id} has no actor {name!r}; it has {names}")
    restarts_before = row[1]
    started = time.monotonic()
    try:
        with ControlClient(str(path), timeout_s=2.0) as client:
            client.request(name, Crash(reason="chaos/kill_actor.py"))
    except RemoteError as exc:
        if exc.code != "crashed":
            raise SystemExit(f"kill_actor: {name} refused the crash: {exc.text} ({exc.code})") from None
    except RequestTimeout:
        pass  # an actor that carries the control socket (transport) may die before its reply leaves
    while time.monotonic() - started < deadline_s:
        now = status(path, timeout_s=1.0)
        row = actor_row(now, name) if now else None
        if row and row[0] == "running" and row[1] > restarts_before:
            elapsed = time.monotonic() - started
            print(f"actor {name} restarted: restarts {restarts_before} -> {row[1]} in {elapsed:.3f} s")
            return elapsed
        time.sleep(POLL_S)  # poll interval while waiting for the restart, bounded by the deadline
    raise SystemExit(f"kill_actor: actor {name} did not come back within {deadline_s:g} s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("actor", help="the actor's name, as `swarm-node status` shows it (e.g. transport)")
    parser.add_argument("--state-dir", type=Path, required=True, help="the node's state directory")
    parser.add_argument("--times", type=int, default=1, help="how many times to kill it (default 1)")
    parser.add_argument("--deadline", type=float, default=10.0, help="seconds to wait for each restart")
    args = parser.parse_args()
    path = args.state_dir / "control.sock"
    times = [kill_once(path, args.actor, args.deadline) for _ in range(args.times)]
    if len(times) > 1:
        print(f"{len(times)} kills, restart time max {max(times):.3f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
