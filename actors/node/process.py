"""Run one node in the foreground: state dir, identity, log, supervision tree, signals."""

from __future__ import annotations

import logging
import signal
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from swarmnode.actors.runtime import NodeContext
from swarmnode.actors.supervision import StartFailed

from .admission import KeyAdmission
from .identity import StateDirError, load_or_create_identity, prepare_state_dir
from .logs import configure_logging
from .tree import start_node_tree

__all__ = ["NodeConfig", "run_node"]

log = logging.getLogger("swarmnode.node")

SHUTDOWN_TIMEOUT_S = 30.0
EXIT_OK = 0
EXIT_FAILED = 1


@dataclass(frozen=True, slots=True)
class NodeConfig:
    role: str
    listen: str
    state_dir: Path
    verbose: bool = False


def _say(text: str) -> None:
    print(f"swarm-node: {text}", file=sys.stderr, flush=True)


def run_node(config: NodeConfig) -> int:
    """Run the node until SIGTERM or SIGINT; return the process exit code."""
    try:
        state_dir = prepare_state_dir(config.state_dir)
        identity = load_or_create_identity(state_dir, config.role)
    except StateDirError as exc:
        _say(str(exc))
        return EXIT_FAILED
    log_path = configure_logging(state_dir, verbose=config.verbose)
    context = NodeContext(
        node_id=identity.node_id,
        role=identity.role,
        state_dir=state_dir,
        listen=config.listen,
        keys=identity.keys,
        started_at=time.time(),
    )
    done = threading.Event()
    failure: list[str] = []

    def give_up(reason: str) -> None:
        failure.append(reason)
        done.set()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        log.info("received %s; stopping", signal.Signals(signum).name)
        done.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    log.info("starting %s node %s", identity.role, identity.node_id)
    try:
        root = start_node_tree(context, KeyAdmission(), give_up)
    except StartFailed as exc:
        log.error("cannot start: %s", exc)
        _say(f"cannot start: {exc.reason}")
        return EXIT_FAILED
    _say(
        f"{identity.role} node {identity.node_id} listening on {context.transport.address}; "
        f"control socket {context.control_path}; log {log_path}"
    )
    while not done.wait(1.0):
        pass  # the timeout lets signal handlers run promptly on every Python version
    root.stop(block=True, timeout=SHUTDOWN_TIMEOUT_S)
    if failure:
        log.error("node stopped: %s", failure[0])
        _say(f"stopped: {failure[0]}")
        return EXIT_FAILED
    log.info("node stopped cleanly")
    return EXIT_OK
