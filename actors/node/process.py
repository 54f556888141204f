"""Run one node in the foreground: state dir, swarm identity, log, supervision tree, signals.

On an empty state directory a manager founds a swarm (``swarm init``), a joiner joins one;
otherwise the node comes back as what its state directory says it is.
"""

from __future__ import annotations

import errno
import logging
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import FrameType
from typing import Any

import pykka

from swarmnode.actors.ca.cfssl import ExternalCA, ExternalCAError
from swarmnode.actors.raft.actor import membership_of, raft_dir
from swarmnode.actors.runtime import MANAGERS_KEY, STOP_NODE_KEY, NodeContext, NodeSettings
from swarmnode.actors.store.client import DISK_FULL_KEY, DiskFull
from swarmnode.actors.store.wal import free_bytes, has_room, room_to_go_on
from swarmnode.actors.supervision import StartFailed
from swarmnode.transport import TransportError, join_host_port, split_host_port

from .addresses import DEFAULT_LISTEN, advertise_address, port_taken
from .founding import DEFAULT_CERT_EXPIRY_S, DEFAULT_HEARTBEAT_S, FoundingOptions, found_swarm
from .identity import StateDirError, StateDirFull, lock_state_dir, prepare_state_dir
from .join import JoinError, JoinOptions, join_swarm
from .logs import SAID, configure_logging
from .swarm_state import (
    NODE_FILE,
    NodeState,
    drop_manager_data,
    finish_interrupted_writes,
    forget_swarm,
    load_node_state,
    update_node_state,
)
from .tree import start_node_tree

__all__ = ["NodeConfig", "run_node"]

log = logging.getLogger("swarmnode.node")

SHUTDOWN_TIMEOUT_S = 30.0
EXIT_OK = 0
EXIT_FAILED = 1


@dataclass(frozen=True, slots=True)
class NodeConfig:
    listen: str  # "": where the state dir says the node listened, else DEFAULT_LISTEN
    state_dir: Path
    role: str | None = None  # None: what the state dir says; manager founds a swarm on an empty one
    advertise_addr: str = ""
    verbose: bool = False
    join: JoinOptions | None = None
    cert_expiry_s: float = DEFAULT_CERT_EXPIRY_S
    heartbeat_period_s: float = DEFAULT_HEARTBEAT_S
    external_ca: ExternalCA | None = None
    external_ca_cert: bytes | None = None
    settings: NodeSettings = field(default_factory=NodeSettings)
    force_new_cluster: bool = False


def _say(text: str) -> None:
    print(f"swarm-node: {text}", file=sys.stderr, flush=True)


def _swarm_state(config: NodeConfig, state_dir: Path) -> tuple[NodeState, str]:
    """Return the node's state, founding or joining a swarm first if needed, and what happened."""
    state = load_node_state(state_dir)
    if config.join is not None:
        if state is not None:
            raise StateDirError(
                f"this node is already part of a swarm (state dir {state_dir}); "
                "use `swarm-node leave` to leave it and join another one"
            )
        listen = config.listen or DEFAULT_LISTEN
        _check_port_free(listen, "nothing was sent to the manager")
        # The token alone says whether this node joins as a manager, and only the manager can
        # read it: it is told why this node could not be one, and refuses a manager token then.
        result = join_swarm(state_dir, replace(config.join, cannot_manage=port_taken(listen, bootstrap=True)))
        return result.state, f"This node joined a swarm as a {result.state.role}."
    if state is None:
        if config.role == "worker":
            raise StateDirError(
                f"state dir {state_dir} holds no swarm, and a worker cannot found one: "
                "join a swarm with `swarm-node join MANAGER_ADDR --token TOKEN`, or found one with "
                "`swarm-node start --role manager`"
            )
        if config.role is None:  # its node.json went since run_node looked (a `leave` that just ended)
            raise StateDirError(_holds_no_node(state_dir))
        _check_port_free(config.listen or DEFAULT_LISTEN, "no swarm was founded", ports=2)
        options = FoundingOptions(
            advertise_addr=advertise_address(config.advertise_addr or config.listen or DEFAULT_LISTEN),
            hostname=socket.gethostname(),
            cert_expiry_s=config.cert_expiry_s,
            heartbeat_period_s=config.heartbeat_period_s,
            external_ca=config.external_ca,
            external_ca_cert=config.external_ca_cert,
            segment_bytes=config.settings.store_segment_bytes,
        )
        return found_swarm(state_dir, options), "founded"
    if config.force_new_cluster:
        if state.role != "manager":
            raise StateDirError(f"--force-new-cluster needs a manager; state dir {state_dir} holds a {state.role}")
        from swarmnode.actors.raft.recovery import force_new_cluster
        from swarmnode.actors.store.wal import WalDiskFull

        try:
            index, term = force_new_cluster(state_dir, state.node_id, config.settings.store_segment_bytes)
        except (WalDiskFull, OSError) as exc:  # the disk filled since its check for room
            if not isinstance(exc, WalDiskFull) and exc.errno not in (errno.ENOSPC, errno.EDQUOT):
                raise
            raise StateDirError(
                f"cannot force a new cluster: the disk of state dir {state_dir} is full; free space there and "
                "start it again with --force-new-cluster"
            ) from None
        log.warning(
            "forced a new cluster: this manager is the only voter, at index %d, term %d", index, term, extra=SAID
        )
        _say(
            f"forced a new cluster: this manager is now the only voter (data kept up to index {index}); the "
            "managers it dropped come back as workers once started where they can reach it (`node rm` the ones "
            "that will not come back, `node promote` to add managers)"
        )
    if config.role is not None and config.role != state.role:
        raise StateDirError(
            f"state dir {state_dir} holds a {state.role} node ({state.node_id}); start it without --role "
            f"or with --role {state.role} (a manager changes roles: `swarm-node node promote` or `node demote`)"
        )
    return state, ""


def _context(config: NodeConfig, state: NodeState, state_dir: Path) -> NodeContext:
    context = NodeContext(
        node_id=state.node_id,
        role=state.role,
        state_dir=state_dir,
        listen=state.listen,
        keys=state.keys,
        cluster_id=state.cluster_id,
        advertise_addr=state.advertise_addr,
        hostname=state.hostname,
        settings=config.settings,
        started_at=time.time(),
    )
    context.set_shared(MANAGERS_KEY, state.managers)
    if state.role == "manager":
        # Admit the managers this node knows from the moment its transport listens, before
        # RaftMember reads its Store: a peer whose handshake is refused must reopen its socket.
        context.set_membership(membership_of(None, state.managers))
    return context


def run_node(config: NodeConfig) -> int:
    """Run the node until SIGTERM, SIGINT or ``leave``; return the process exit code."""
    try:
        if config.join is None and config.role is None and not (config.state_dir.expanduser() / NODE_FILE).exists():
            raise StateDirError(_holds_no_node(config.state_dir.expanduser()))  # before a typo'd dir is made
        full = False
        try:
            state_dir = prepare_state_dir(config.state_dir)
        except StateDirFull as exc:
            if config.join is not None:
                raise StateDirError(
                    f"state dir {exc.path} is not writable: the disk is full; free space there and join again"
                ) from None
            if config.force_new_cluster or not (exc.path / NODE_FILE).exists():
                raise  # a founding has a new identity to write, a forced new cluster a snapshot
            state_dir, full = exc.path, True
        lock_state_dir(state_dir)  # held until the process exits
    except StateDirError as exc:
        _say(str(exc))
        return EXIT_FAILED
    log_path = configure_logging(state_dir, verbose=config.verbose)
    try:
        finished = finish_interrupted_writes(state_dir)
        if finished:
            log.warning("finished replacing %s, which a crash had cut between renames", ", ".join(finished))
        state, happened = _swarm_state(config, state_dir)
        if not happened and config.advertise_addr:  # kept from now on, as the one of a join or founding
            state = replace(state, advertise_addr=_resolved(config.advertise_addr, state))
        elif not happened and config.listen and config.listen != state.listen:
            state = replace(state, advertise_addr=_moved_advertise_address(state, config.listen))
        # Kept in node.json once the transport listens (_start_tree): a start without --listen listens there again.
        state = replace(state, listen=config.listen or state.listen or _listen_of_old_state(state))
    except (StateDirError, JoinError, ExternalCAError, ValueError) as exc:
        log.error("cannot start: %s", exc, extra=SAID)
        _say(str(exc))
        return EXIT_FAILED
    context = _context(config, state, state_dir)
    store = raft_dir(state_dir)
    little = state.role == "manager" and store.is_dir() and not has_room(store, room_to_go_on(0))
    if state.role == "manager" and (full or little):
        # Out of Raft from its start, as after a write that met the full disk: a follower would
        # otherwise take part (vote, acknowledge nothing) until the first entry met the disk.
        what = f"the disk of state dir {state_dir} had too little room when the node started"
        context.set_shared(DISK_FULL_KEY, DiskFull(what, str(store), at=time.monotonic()))
    if full or little:
        room = "is full"
        if not full:
            free, needed = free_bytes(state_dir) * 10 // 2**20 / 10, -(-room_to_go_on(0) >> 20)
            room = f"has {free:.1f} MiB free, less than the {needed} MiB its Raft log needs"
        _say(
            f"the disk of state dir {state_dir} {room}: the node starts all the same, and what it cannot write "
            "waits for room (a manager takes no part in the swarm's Raft group until then)"
        )
    return _serve(context, state, happened, log_path)


def _holds_no_node(state_dir: Path) -> str:
    # Founding is said explicitly (Docker's `swarm init`): a mistyped --state-dir, or one whose
    # node left its swarm, must not found a second swarm by a plain `start`.
    return (
        f"state dir {state_dir} holds no swarm node: `swarm-node start --role manager` founds a new swarm "
        "there; `swarm-node join MANAGER_ADDR --token TOKEN` joins an existing one"
    )


def _check_port_free(listen: str, nothing_done: str, *, ports: int = 1) -> None:
    """Refuse a join or a founding whose port is taken before anything is done.

    A join would register this node (and, with a manager token, add it to Raft) at an address
    it then cannot listen on; a founding would leave a swarm behind whose address is another's
    (its join tokens would name it). A manager also listens on the port above (bootstrap):
    ``ports=2``. ``nothing_done`` says what was not done, for the error.
    """
    for taken in range(ports):
        why = port_taken(listen, bootstrap=bool(taken))
        if why:
            raise StateDirError(f"{why}; {nothing_done} (choose another --listen)")


def _port_hint(failure: BaseException, role: str) -> str:
    """What to do when the node's port is taken (say, a worker promoted while its port + 1 was).

    The supervisors wrap what failed (StartFailed from StartFailed from the transport's error,
    which carries the errno of its bind).
    """
    cause: BaseException | None = failure
    while cause is not None and getattr(cause, "errno", None) != errno.EADDRINUSE:
        cause = cause.__cause__
    if cause is None:
        return ""
    if role == "manager":
        return "; start it with another --listen (a manager listens on its port and the one above, the bootstrap port)"
    return "; start it with another --listen"


def _moved_advertise_address(state: NodeState, listen: str) -> str:
    """Where a node restarted on a new ``--listen`` (and no ``--advertise-addr``) is reached now.

    An advertised address derived from the old listen address follows the new one, as at
    founding or joining; one given explicitly keeps its host, and takes the new port if it had
    the old one. The managers learn it from the node's next heartbeat.
    """
    try:
        derived = bool(state.listen) and state.advertise_addr == _resolved(state.listen, state)
    except ValueError:
        derived = False
    if derived:
        return _resolved(listen, state)
    try:
        host, port = split_host_port(state.advertise_addr)
        old_port = split_host_port(state.listen)[1] if state.listen else None
    except TransportError:
        return _resolved(listen, state)
    return join_host_port(host, split_host_port(listen)[1]) if port == old_port else state.advertise_addr


def _resolved(address: str, state: NodeState) -> str:
    """``address`` with a wildcard host resolved along the route to a manager of this node's list
    (as at a join), or along the default route when there is none or it cannot be routed to."""
    towards = next((m.addr for m in state.managers if m.node_id != state.node_id and m.addr), "")
    if towards:
        try:
            return advertise_address(address, towards=towards)
        except ValueError:  # a name that does not resolve now, another address family: not a reason to stop
            pass
    return advertise_address(address)


def _listen_of_old_state(state: NodeState) -> str:
    """Where a node whose node.json predates the listen address listens: its advertised port."""
    try:
        return join_host_port("0.0.0.0", split_host_port(state.advertise_addr)[1])
    except (TransportError, ValueError):
        return DEFAULT_LISTEN


def _start_tree(context: NodeContext, state: NodeState, give_up: Callable[[str], None]) -> pykka.ActorRef[Any]:
    log.info("starting %s node %s of cluster %s", context.role, state.node_id, state.cluster_id)
    if context.role == "worker":
        try:
            if dropped := drop_manager_data(context.state_dir):
                log.warning("removed the manager data of this worker (a demoted manager): %s", ", ".join(dropped))
        except OSError as exc:  # say, a manager's thread that did not stop still holds it: next start
            log.warning("could not remove the manager data of this worker yet: %s", exc)
    root = start_node_tree(context, give_up)
    if context.listened:  # the port the kernel chose for a port 0 too: a start without --listen reuses it
        try:
            update_node_state(
                context.state_dir, lambda st: replace(st, listen=context.listened, advertise_addr=state.advertise_addr)
            )
        except OSError as exc:  # a full disk: the node runs all the same
            log.warning(
                "could not record in node.json that this node listens on %s (%s): it keeps the old address, "
                "which a plain start listens on; start it with --listen %s until a start has room to record it",
                context.listened,
                exc.strerror,
                context.listened,
            )
    return root


def _serve(context: NodeContext, state: NodeState, happened: str, log_path: Path) -> int:
    """Run the supervision tree until a signal, a leave, or the root giving up.

    A role change (the node's new certificate says manager, or worker) restarts the tree in the
    same process with the node's new role.
    """
    done = threading.Event()
    failure: list[str] = []
    actions: list[str] = []

    def give_up(reason: str) -> None:
        failure.append(reason)
        done.set()

    def stop_node(reason: str, action: str) -> None:
        log.info("stopping: %s", reason)
        actions.append(action)
        done.set()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        log.info("received %s; stopping", signal.Signals(signum).name)
        _say(f"received {signal.Signals(signum).name}: stopping")  # a terminal that pressed Ctrl-C sees it
        done.set()

    context.set_shared(STOP_NODE_KEY, stop_node)
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    while True:
        try:
            root = _start_tree(context, state, give_up)
        except StartFailed as exc:
            log.error("cannot start: %s", exc, extra=SAID)
            _say(f"cannot start: {exc.reason}{_port_hint(exc, context.role)}")
            return EXIT_FAILED
        _say(
            f"{context.role} node {state.node_id} listening on {context.listened}; "
            f"control socket {context.control_path}; log {log_path}"
        )
        if happened == "founded":
            _announce_swarm(context)
        elif happened:
            _say(happened)
        happened = ""
        while not done.wait(1.0):
            pass  # the timeout lets signal handlers run promptly on every Python version
        root.stop(block=True, timeout=SHUTDOWN_TIMEOUT_S)
        if actions[-1:] != ["restart"] or failure:
            break
        done.clear()
        actions.clear()
        reloaded = load_node_state(context.state_dir)
        if reloaded is None:
            break
        context.role = reloaded.role
        _say(f"this node is now a {reloaded.role}; restarting its actors")
    if "leave" in actions:
        forget_swarm(context.state_dir)
        log.info("left the swarm; the state dir holds no swarm any more")
    if failure:
        log.error("node stopped: %s", failure[0], extra=SAID)
        _say(f"stopped: {failure[0]}")
        return EXIT_FAILED
    log.info("node stopped cleanly")
    _say("stopped cleanly")
    return EXIT_OK


def _announce_swarm(context: NodeContext) -> None:
    """Print what ``docker swarm init`` prints: how to add workers and managers."""
    from swarmnode.actors.ca.core import join_tokens
    from swarmnode.actors.store.client import read_store
    from swarmnode.actors.store.objects import cluster_of

    cluster = read_store(context, cluster_of)
    assert cluster is not None
    token = join_tokens(cluster)["worker"]
    print(
        f"Swarm initialized: current node ({context.node_id}) is now a manager.\n\n"
        "To add a worker to this swarm, run the following command:\n\n"
        f"    swarm-node join --token {token} {context.cluster_addr}\n\n"
        "To add a manager to this swarm, run 'swarm-node join-token manager' and follow the instructions.\n",
        flush=True,
    )
