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

from swarmnode.actors.control import ActorRow, StatusReply, StatusRequest
from swarmnode.actors.messages import Crash
from swarmnode.transport import RemoteError, RequestTimeout, TransportError

# Run as `python chaos/kill_actor.py`: the node and wait helpers are the tests' (tests/support),
# at the root of the repository, which is not on the path of a script run from its own folder.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.support import wait_until
from tests.support.nodes import NodeProcess

# A crashing actor answers "crashed" at once, unless it carries the control socket (transport):
# then no answer comes, and waiting long for one would count as restart time.
CRASH_REPLY_WAIT_S = 0.5
# Each status asked while the actor restarts waits this long: one asked while the transport
# rebinds the control socket may get no answer, and is asked again.
POLL_WAIT_S = 0.25


def status(node: NodeProcess) -> StatusReply | None:
    try:
        reply = node.request("control", StatusRequest(), timeout_s=POLL_WAIT_S)
    except (RemoteError, TransportError):  # a control actor restarting answers "unavailable"
        return None
    assert isinstance(reply, StatusReply)
    return reply


def rows_by_path(reply: StatusReply | None) -> dict[str, ActorRow]:
    """Map each actor's path (node/manager/raft) to its status row.

    Empty without a reply: the transport or control actor may be restarting right now.
    """
    return {row.path: row for row in (reply.actors if reply is not None else ())}


def restarts_along(rows: dict[str, ActorRow], path: str) -> tuple[int, ...]:
    """The restart counts of the actor at ``path`` and of each supervisor above it, root first.

    A supervisor that gives up is restarted by its parent with new children, whose counts start
    at 0 again: the actor restarted if any count along its path rose.
    """
    return tuple(rows[p].restarts if p in rows else -1 for p in ancestors(path))


def kill_once(node: NodeProcess, name: str, deadline_s: float) -> float:
    before = status(node) or node.try_status()
    if before is None:
        raise SystemExit(f"kill_actor: no node answers on {node.control_path}")
    rows = rows_by_path(before)
    path = next((p for p in rows if p.rsplit("/", 1)[-1] == name), None)
    if path is None:
        names = ", ".join(p.rsplit("/", 1)[-1] for p in rows)
        raise SystemExit(f"kill_actor: node {before.node_id} has no actor {name!r}; it has {names}")
    counts_before = restarts_along(rows, path)
    started = time.monotonic()
    try:
        node.request(name, Crash(reason="chaos/kill_actor.py"), timeout_s=CRASH_REPLY_WAIT_S)
    except RemoteError as exc:
        if exc.code != "crashed":
            raise SystemExit(f"kill_actor: {name} refused the crash: {exc.text} ({exc.code})") from None
    except RequestTimeout:
        pass  # an actor that carries the control socket (transport) may die before its reply leaves

    def restarted() -> tuple[ActorRow, tuple[int, ...]] | None:
        rows = rows_by_path(status(node))
        now = rows.get(path)
        if now is None or now.state != "running":
            if not pid_alive(before.pid):
                raise SystemExit(f"kill_actor: the node exited (pid {before.pid}):\n{node.last_words()}")
            return None
        counts = restarts_along(rows, path)
        return (now, counts) if any(c > was for c, was in zip(counts, counts_before, strict=True)) else None

    try:
        after, counts = wait_until(restarted, deadline_s, f"actor {name} to run again")
    except AssertionError:
        # The node's own account of those seconds, so that a failure says more than its timeout.
        print(node.last_words(), file=sys.stderr)
        raise SystemExit(f"kill_actor: actor {name} did not come back within {deadline_s:g} s") from None
    elapsed = time.monotonic() - started
    above = [p for p, was, now in zip(ancestors(path)[:-1], counts_before, counts, strict=False) if now > was]
    how = f" (with its supervisor {above[-1]})" if above else ""
    print(f"actor {name} restarted: restarts {counts_before[-1]} -> {after.restarts}{how} in {elapsed:.3f} s")
    return elapsed


def ancestors(path: str) -> list[str]:
    """``path`` and the supervisors above it, root first (as restarts_along counts them)."""
    parts = path.split("/")
    return ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` runs (a zombie, exited but not reaped by its parent yet, does not)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False
    return state != "Z"


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
