"""A node's private state directory, its random ids, and how secrets are written into it.

The directory is created with mode 0700 and every secret in it with 0600, because it holds
the node's keys and its control socket (anyone who can reach the socket controls the node).
What the node keeps there of its swarm is in swarm_state.py.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import os
import secrets
import string
import threading
from collections.abc import Iterable
from pathlib import Path

__all__ = [
    "LOCK_FILE",
    "StateDirError",
    "StateDirFull",
    "finish_private_writes",
    "lock_holder",
    "lock_state_dir",
    "new_node_id",
    "prepare_state_dir",
    "sync_dir",
    "write_private",
    "write_private_files",
]

SWITCH_FILE = ".switch"  # names the files being replaced together (write_private_files)
TMP_SUFFIX = ".tmp"
_WRITE_LOCK = threading.Lock()

LOCK_FILE = "lock"  # held (flock) by the one node process that uses the state dir; it names its pid

# Every write of the state dir's files goes through this name, so that tests can make the disk fill up.
_os_write = os.write

NODE_ID_CHARS = 25
_ALPHABET = string.digits + string.ascii_lowercase


class StateDirError(Exception):
    """The state directory cannot be used; the text says why and what to do."""


class StateDirFull(StateDirError):
    """The state directory's disk is full: a node that has its identity there may start all the same."""

    def __init__(self, path: Path) -> None:
        super().__init__(f"state dir {path} is not writable: the disk is full; free space there and start again")
        self.path = path


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
        with contextlib.suppress(OSError):
            probe.unlink()
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            os.chmod(path, 0o700)
            raise StateDirFull(path) from None
        raise StateDirError(
            f"state dir {path} is not writable: {exc.strerror}; fix its permissions or choose another --state-dir"
        ) from None
    os.chmod(path, 0o700)
    return path


def lock_state_dir(path: Path) -> int:
    """Take the state dir for this process, or refuse: one node process per state dir.

    A second `start` (or `join`, or `--force-new-cluster`) on the state dir of a running node
    would rewrite its files under it. The lock is an flock on ``LOCK_FILE``, released by the
    kernel when the process exits, however it exits (etcd and Docker lock their data the same
    way). Return the descriptor, which the process keeps open (not inherited by children).
    """
    lock = path / LOCK_FILE
    try:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:
        raise StateDirError(f"cannot open {lock}: {exc.strerror}; fix its permissions or remove it") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    except BlockingIOError:
        holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
        os.close(fd)
        raise StateDirError(
            f"state dir {path} is in use by a running node (pid {holder}): stop it first "
            "(`swarm-node status` talks to it), or choose another --state-dir"
        ) from None
    except OSError as exc:
        os.close(fd)
        raise StateDirError(
            f"cannot lock {lock}: {exc.strerror} (a state dir must be on a file system with flock)"
        ) from None
    return fd


def lock_holder(path: Path) -> str | None:
    """The pid (as the lock file says it) of the node process that holds state dir ``path``, else None.

    It looks in /proc/locks rather than trying the lock: a probe that held the lock even for a
    moment could make a node starting then refuse its own state dir as in use. Raise OSError
    when it cannot tell (no /proc/locks).
    """
    lock = path / LOCK_FILE
    try:
        st = os.stat(lock)
    except FileNotFoundError:
        return None
    with open("/proc/locks") as locks:
        held = locks.read()
    inode = f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}"
    if not any(f" {inode} " in line and " FLOCK " in line for line in held.splitlines()):
        return None
    try:
        return lock.read_text().strip() or "?"
    except OSError:
        return "?"


def write_private(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically with mode 0600 (temporary file, fsync, rename)."""
    write_private_files({path: data})


def write_private_files(files: dict[Path, bytes]) -> None:
    """Write each file atomically with mode 0600, all in one directory; none is replaced unless
    all of them were written (a full disk half-way leaves the old ones, and no temporary file).

    Each is written whole to a temporary file and fsynced first. Several files are then named
    in a marker (SWITCH_FILE, itself written whole): from there on they are replaced together,
    a crash between the renames being finished at the next start (``finish_private_writes``),
    never a new key left beside an old chain. Then they are renamed in order and the directory
    fsynced. One write at a time in this process: the CA and the Worker both write trust.pem.
    """
    folder = next(iter(files)).parent
    assert all(path.parent == folder for path in files), "one directory: one fsync makes the renames durable"
    with _WRITE_LOCK:
        staged = _stage(files)
        together = len(staged) > 1
        if together:
            # Each named with the digest of its new content: a marker left by an error after it
            # (the process ran on) cannot roll a later write's cut temporary file into place.
            named = [{"name": path.name, "sha256": hashlib.sha256(files[path]).hexdigest()} for _, path in staged]
            try:
                (marker,) = _stage({folder / SWITCH_FILE: json.dumps(named).encode()})
            except BaseException:
                _unlink_all(tmp for tmp, _ in staged)
                raise
            os.replace(*marker)
            sync_dir(folder)  # the point of no return: from here the new files are the node's
        for tmp, path in staged:
            os.replace(tmp, path)
        sync_dir(folder)
        if together:
            (folder / SWITCH_FILE).unlink()
            sync_dir(folder)  # gone for good before another write stages its files


def finish_private_writes(folder: Path) -> list[str]:
    """Finish what a crash cut in ``folder`` (at start, the state dir locked); return the files it replaced.

    Files being replaced together (a marker names them) whose renames a crash cut are renamed
    now: their new contents were all on disk before the first rename, as their digests in the
    marker check. Temporary files of a write that had not reached its renames are removed: the
    old files stand.
    """
    marker = folder / SWITCH_FILE
    try:
        named = json.loads(marker.read_bytes())
    except FileNotFoundError:
        named = None
    except ValueError:  # renamed into place whole, so not a cut one; unreadable, it names nothing
        named = []
    finished = []
    for entry in named if isinstance(named, list) else []:
        name, digest = (entry.get("name"), entry.get("sha256")) if isinstance(entry, dict) else (None, None)
        if not isinstance(name, str) or not name or "/" in name:
            continue
        tmp = folder / (name + TMP_SUFFIX)
        if tmp.exists() and hashlib.sha256(tmp.read_bytes()).hexdigest() == digest:
            os.replace(tmp, folder / name)
            finished.append(name)
    leftovers = list(folder.glob("*" + TMP_SUFFIX))
    _unlink_all(leftovers)
    if named is not None or leftovers:
        sync_dir(folder)  # the renames, before the marker that asked for them goes
        marker.unlink(missing_ok=True)
        sync_dir(folder)
    return finished


def _stage(files: dict[Path, bytes]) -> list[tuple[Path, Path]]:
    """Write each file whole beside its path and fsync it; return (temporary, path) pairs, or none on failure."""
    staged: list[tuple[Path, Path]] = []
    try:
        for path, data in files.items():
            tmp = path.with_name(path.name + TMP_SUFFIX)
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            staged.append((tmp, path))
            try:
                view = memoryview(data)
                while view:  # a write may take part of it (a disk filling up): the rest, or its error
                    view = view[_os_write(fd, view) :]
                os.fsync(fd)
            finally:
                os.close(fd)
    except BaseException:
        _unlink_all(tmp for tmp, _ in staged)
        raise
    return staged


def _unlink_all(paths: Iterable[Path]) -> None:
    for path in paths:
        path.unlink(missing_ok=True)


def sync_dir(folder: Path) -> None:
    """fsync a directory: the names created, renamed or removed in it are then on disk."""
    dir_fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
