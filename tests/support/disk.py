"""A small filesystem of its own (tmpfs) for a node's state dir, to fill up in tests.

Needs root and the right to mount (an unprivileged container lacks it: the mount is tried).
Without it a test is skipped, except under CI, where it fails: CI must run the full-disk tests.
The mount is removed at the end, even when the test failed; its processes must be stopped first.
"""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NoReturn

from .ci import skip_unless_ci

COMMAND_TIMEOUT_S = 10.0
BALLAST = "ballast"


@contextmanager
def small_disk(path: Path, size_mb: int) -> Iterator[Path]:
    """Mount a tmpfs of ``size_mb`` MB at ``path`` (made, and left empty) for the block."""
    path.mkdir(parents=True, exist_ok=True)
    mount = ["mount", "-t", "tmpfs", "-o", f"size={size_mb}m,mode=0700", "tmpfs", str(path)]
    try:
        done = subprocess.run(mount, capture_output=True, text=True, timeout=COMMAND_TIMEOUT_S, check=False)
    except FileNotFoundError:
        skip_unless_ci("no mount command", "CI runs as root on a machine that can mount a tmpfs")
    if done.returncode != 0:
        skip_unless_ci(f"cannot mount a tmpfs: {done.stderr.strip()}", "CI runs as root and must mount one")
    try:
        yield path
    finally:
        umount = ["umount", "-l", str(path)]
        done = subprocess.run(umount, capture_output=True, text=True, timeout=COMMAND_TIMEOUT_S, check=False)
        if done.returncode != 0:  # said, not raised: an error here would hide the test's own
            print(f"tests/support/disk.py: could not unmount {path}: {done.stderr.strip()}", file=sys.stderr)


def no_room(*_: object) -> NoReturn:
    """A write (or an allocation) on a full disk: stands in for os.write or os.posix_fallocate."""
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def fill(path: Path, leave: int = 0) -> Path:
    """Fill the filesystem of ``path`` with a ballast file there, but ``leave`` bytes; return it."""
    ballast = path / BALLAST
    fd = os.open(ballast, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        chunk = b"\0" * (1 << 20)
        while True:
            try:
                os.write(fd, chunk)
            except OSError as exc:
                if exc.errno != errno.ENOSPC:
                    raise
                if len(chunk) == 1:
                    if leave:
                        os.truncate(ballast, max(0, ballast.stat().st_size - leave))
                    return ballast
                chunk = chunk[: len(chunk) // 2]  # down to the last byte
    finally:
        os.close(fd)
