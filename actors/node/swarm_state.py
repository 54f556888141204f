"""What a node keeps of its swarm in its state directory: identity, certificate, managers.

Layout (the directory is 0700; every secret is 0600 and written atomically; the certificate's
three files are replaced together, a crash between their renames finished at the next start):

    node.json                  node id, certificate role, cluster id, advertise and listen addresses, managers
    curve.key                  the node's CURVE key pair (bound into its certificate)
    certificates/node.key      the certificate's private key (ECDSA P-256)
    certificates/node.crt      the certificate chain, leaf first
    certificates/trust.pem     the swarm's trusted root(s) (two during a root CA rotation)
    certificates/root-ca.key   a manager's copy of the root CA key it made (founding, rotation)
    store/                     a manager's write-ahead log and snapshots

A manager's data (``store/``, ``root-ca.key``) is removed when the node starts as a worker
(``drop_manager_data``): a demoted manager keeps no copy of the swarm's state and secrets.

A node without ``node.json`` is in no swarm: ``start --role manager`` founds one
(``init_swarm``), any other node must ``join`` first.
"""

from __future__ import annotations

import json
import shutil
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from swarmnode.actors.runtime import CurveKeys
from swarmnode.actors.store.wal import free_bytes, room_to_go_on

from .identity import StateDirError, finish_private_writes, sync_dir, write_private, write_private_files

__all__ = [
    "CERTIFICATE_FILES",
    "KEY_FILE",
    "NODE_FILE",
    "STORE_DIR",
    "ManagerRecord",
    "NodeCertificate",
    "NodeState",
    "drop_manager_data",
    "finish_interrupted_writes",
    "forget_swarm",
    "load_node_state",
    "read_certificate",
    "save_node_state",
    "too_little_room_to_manage",
    "update_node_state",
    "write_certificate",
]

NODE_FILE = "node.json"
KEY_FILE = "curve.key"
CERT_DIR = "certificates"
STORE_DIR = "store"  # the Store's Raft log and snapshots (managers only)
CERTIFICATE_FILES = (f"{CERT_DIR}/node.key", f"{CERT_DIR}/node.crt", f"{CERT_DIR}/trust.pem")  # key, chain, roots
STATE_FORMAT = 1


@dataclass(frozen=True, slots=True)
class ManagerRecord:
    """A manager this node knows how to reach."""

    node_id: str
    addr: str
    curve_key: str

    def to_json(self) -> dict[str, str]:
        return {"node_id": self.node_id, "addr": self.addr, "curve_key": self.curve_key}


@dataclass(frozen=True, slots=True)
class NodeState:
    """The node's swarm identity as kept on disk."""

    node_id: str
    role: str  # the role its certificate grants: manager or worker
    cluster_id: str
    advertise_addr: str
    hostname: str
    keys: CurveKeys
    managers: tuple[ManagerRecord, ...] = ()
    listen: str = ""  # where it listens (HOST:PORT): a start without --listen listens there again

    def with_managers(self, managers: tuple[ManagerRecord, ...]) -> NodeState:
        return replace(self, managers=managers)


@dataclass(frozen=True, slots=True)
class NodeCertificate:
    key_pem: bytes
    chain_pem: bytes
    trust_pem: bytes


def default_hostname() -> str:
    return socket.gethostname()


def load_node_state(state_dir: Path) -> NodeState | None:
    """Return the node's swarm state, or None when the directory holds no swarm."""
    node_file = state_dir / NODE_FILE
    if not node_file.exists():
        return None
    try:
        node = json.loads(node_file.read_text())
        keys = json.loads((state_dir / KEY_FILE).read_text())
        if node.get("format") != STATE_FORMAT:
            raise ValueError(f"state format {node.get('format')!r}, expected {STATE_FORMAT}")
        return NodeState(
            node_id=str(node["node_id"]),
            role=str(node["role"]),
            cluster_id=str(node["cluster_id"]),
            advertise_addr=str(node["advertise_addr"]),
            hostname=str(node.get("hostname") or default_hostname()),
            keys=CurveKeys(public=keys["public"].encode(), secret=keys["secret"].encode()),
            managers=tuple(
                ManagerRecord(str(m["node_id"]), str(m["addr"]), str(m["curve_key"])) for m in node.get("managers", [])
            ),
            listen=str(node.get("listen", "")),
        )
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise StateDirError(
            f"state dir {state_dir} holds a damaged node identity ({type(exc).__name__}: {exc}); "
            "restore it from a backup, or leave the swarm (swarm-node leave --force) and join again"
        ) from None


def save_node_state(state_dir: Path, state: NodeState, *, keys: bool = True) -> None:
    """Write node.json, and curve.key unless ``keys`` is False, atomically (keys first: node.json
    marks a complete state)."""
    if keys:
        pair: dict[str, Any] = {"public": state.keys.public.decode(), "secret": state.keys.secret.decode()}
        write_private(state_dir / KEY_FILE, json.dumps(pair).encode())
    node = {
        "format": STATE_FORMAT,
        "node_id": state.node_id,
        "role": state.role,
        "cluster_id": state.cluster_id,
        "advertise_addr": state.advertise_addr,
        "hostname": state.hostname,
        "managers": [m.to_json() for m in state.managers],
        "listen": state.listen,
    }
    write_private(state_dir / NODE_FILE, json.dumps(node, indent=2).encode())


_UPDATE_LOCK = threading.Lock()  # one read-modify-write of node.json at a time (Worker, CA, process)


def update_node_state(state_dir: Path, change: Callable[[NodeState], NodeState]) -> NodeState | None:
    """Load node.json, apply ``change`` and save it, with no other update in between; None: no swarm."""
    with _UPDATE_LOCK:
        state = load_node_state(state_dir)
        if state is None:
            return None
        new = change(state)
        if new != state:
            save_node_state(state_dir, new, keys=new.keys != state.keys)  # the secret key is not rewritten for nothing
        return new


def write_certificate(state_dir: Path, cert: NodeCertificate) -> None:
    """Replace the node's key, chain and trusted roots: all three, or (a full disk) none."""
    cert_dir = state_dir / CERT_DIR
    cert_dir.mkdir(mode=0o700, exist_ok=True)
    key, chain, trust = (state_dir / name for name in CERTIFICATE_FILES)
    write_private_files({key: cert.key_pem, chain: cert.chain_pem, trust: cert.trust_pem})


def finish_interrupted_writes(state_dir: Path) -> list[str]:
    """Finish the writes of the state dir that a crash cut (at start, the dir locked); return the files replaced.

    The certificate's three files are replaced together: a crash between their renames is
    finished, so that the node does not start with a new key beside its old chain.
    """
    finished: list[str] = []
    try:
        for folder in (state_dir, state_dir / CERT_DIR):
            if folder.is_dir():
                prefix = "" if folder == state_dir else f"{CERT_DIR}/"
                finished.extend(prefix + name for name in finish_private_writes(folder))
    except OSError as exc:
        raise StateDirError(
            f"cannot finish the writes a crash cut in state dir {state_dir} ({exc.strerror}: {exc.filename}); "
            "fix the directory's permissions, or restore it from a backup"
        ) from None
    return finished


def too_little_room_to_manage(state_dir: Path) -> str:
    """Why this node's disk could not hold a manager's Raft log, or "" (a join asks, and each heartbeat)."""
    needed = room_to_go_on(0)
    if free_bytes(state_dir) >= needed:
        return ""
    # No figure of what is free: a worker's heartbeats repeat this, and each change is a write on the leader.
    mib = -(-needed >> 20)
    return f"its state dir's disk has less than the {mib} MiB free a manager's Raft log needs: free space there"


def write_trust(state_dir: Path, trust_pem: bytes) -> None:
    write_private(state_dir / CERT_DIR / "trust.pem", trust_pem)


def read_certificate(state_dir: Path) -> NodeCertificate:
    cert_dir = state_dir / CERT_DIR
    try:
        return NodeCertificate(
            key_pem=(cert_dir / "node.key").read_bytes(),
            chain_pem=(cert_dir / "node.crt").read_bytes(),
            trust_pem=(cert_dir / "trust.pem").read_bytes(),
        )
    except OSError as exc:
        raise StateDirError(
            f"state dir {state_dir} has no usable certificate ({exc.strerror}: {exc.filename}); "
            "restore it from a backup, or leave the swarm (swarm-node leave --force) and join again"
        ) from None


MANAGER_DATA = (STORE_DIR, f"{CERT_DIR}/root-ca.key")


def drop_manager_data(state_dir: Path) -> list[str]:
    """Remove what only a manager keeps (the Store's log and snapshots, a root CA key); return what was there.

    For a node that starts as a worker: a demoted manager must not keep the swarm's state, its
    join-token secrets and root key, nor come back later with a stale Raft log under its id
    (its certificate said worker only once its removal from Raft had committed).
    """
    found = [name for name in MANAGER_DATA if (state_dir / name).exists()]
    for name in found:
        path = state_dir / name
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink()
        sync_dir(path.parent)
    return found


def forget_swarm(state_dir: Path) -> None:
    """Remove everything of the swarm from the state directory (after ``leave``); keep the log."""
    for name in (NODE_FILE, KEY_FILE):
        path = state_dir / name
        if path.exists():
            path.unlink()
    for name in (CERT_DIR, STORE_DIR):
        shutil.rmtree(state_dir / name, ignore_errors=True)
    sync_dir(state_dir)
