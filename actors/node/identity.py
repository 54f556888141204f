"""A node's private state directory and its identity: node id, role and CURVE key pair.

The directory is created with mode 0700 and every secret in it with 0600, because it holds
the node's keys and its control socket (anyone who can reach the socket controls the node).
"""

from __future__ import annotations

import errno
import json
import os
import secrets
import string
from dataclasses import dataclass
from pathlib import Path

from swarmnode.actors.runtime import CurveKeys

__all__ = ["NodeIdentity", "StateDirError", "load_or_create_identity", "new_node_id", "prepare_state_dir"]

NODE_FILE = "node.json"
KEY_FILE = "curve.key"
NODE_ID_CHARS = 25
_ALPHABET = string.digits + string.ascii_lowercase


class StateDirError(Exception):
    """The state directory cannot be used; the text says why and what to do."""


@dataclass(frozen=True, slots=True)
class NodeIdentity:
    node_id: str
    role: str
    keys: CurveKeys


def new_node_id() -> str:
    """Return a random 25-character base-36 id (128 bits, as swarmkit's node ids)."""
    n = secrets.randbits(128)
    out = []
    for _ in range(NODE_ID_CHARS):
        n, r = divmod(n, 36)
        out.append(_ALPHABET[r])
    return "".join(out)


def prepare_state_dir(path: Path) -> Path:
    """Create ``path`` (mode 0700) if needed and check that this process can write in it."""
    path = path.expanduser()
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
    except FileExistsError:
        raise StateDirError(f"state dir {path} exists and is not a directory; choose another --state-dir") from None
    except OSError as exc:
        raise StateDirError(f"cannot create state dir {path}: {exc.strerror}; choose another --state-dir") from None
    if not path.is_dir():
        raise StateDirError(f"state dir {path} is not a directory; choose another --state-dir")
    probe = path / f".write-test-{os.getpid()}"
    try:
        with open(probe, "wb") as f:
            f.write(b"x")
            f.flush()
            os.fsync(f.fileno())
        probe.unlink()
    except OSError as exc:
        reason = "the disk is full" if exc.errno == errno.ENOSPC else exc.strerror
        raise StateDirError(
            f"state dir {path} is not writable: {reason}; fix its permissions or choose another --state-dir"
        ) from None
    os.chmod(path, 0o700)
    return path


def write_private(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically with mode 0600 (temporary file, fsync, rename)."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def load_or_create_identity(state_dir: Path, role: str) -> NodeIdentity:
    """Return the identity stored in ``state_dir``, creating it on first start."""
    from swarmnode.transport import generate_keypair

    node_file = state_dir / NODE_FILE
    key_file = state_dir / KEY_FILE
    if not node_file.exists():
        public, secret = generate_keypair()
        write_private(key_file, json.dumps({"public": public.decode(), "secret": secret.decode()}).encode())
        write_private(node_file, json.dumps({"node_id": new_node_id(), "role": role}).encode())
    try:
        node = json.loads(node_file.read_text())
        keys = json.loads(key_file.read_text())
        identity = NodeIdentity(
            node_id=str(node["node_id"]),
            role=str(node["role"]),
            keys=CurveKeys(public=keys["public"].encode(), secret=keys["secret"].encode()),
        )
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise StateDirError(
            f"state dir {state_dir} holds a damaged node identity ({type(exc).__name__}: {exc}); "
            "restore it from a backup or start a new node with an empty --state-dir"
        ) from None
    if identity.role != role:
        raise StateDirError(
            f"state dir {state_dir} holds a {identity.role} node ({identity.node_id}); "
            f"start it with --role {identity.role}, or use another --state-dir for a new {role}"
        )
    return identity
