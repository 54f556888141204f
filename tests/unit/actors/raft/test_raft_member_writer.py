"""RaftMember's log writer (a leader's background writes), on a real WAL in a temporary directory.

The actor is built but not started: these tests call its writer methods on the test's thread,
which plays the actor's thread; the writer thread is real.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from swarmnode.actors.raft import HardState as RaftHardState
from swarmnode.actors.raft.actor import RaftMember
from swarmnode.actors.raft.messages import ENTRY_NORMAL, RaftEntry, Ready
from swarmnode.actors.runtime import NodeContext
from swarmnode.actors.runtime.context import CurveKeys
from swarmnode.actors.store import WalWriteError, WriteAheadLog
from swarmnode.actors.store import wal as wal_module


def ready(first: int, last: int, commit: int) -> Ready:
    return Ready(
        soft_state=None,
        hard_state=RaftHardState(term=2, vote="n1", commit=commit),
        entries=tuple(RaftEntry(index=i, term=2, kind=ENTRY_NORMAL, data=b"x%d" % i) for i in range(first, last + 1)),
        snapshot=None,
        committed=(),
        messages=(),
        read_states=(),
        must_sync=True,
    )


@pytest.fixture
def member(tmp_path: Path) -> Iterator[tuple[RaftMember, WriteAheadLog]]:
    context = NodeContext(
        node_id="n1", role="manager", state_dir=tmp_path, listen="127.0.0.1:0", keys=CurveKeys(b"p" * 40, b"s" * 40)
    )
    made = RaftMember(None, context)
    wal, _ = WriteAheadLog.open(tmp_path / "wal")
    made.wal = wal
    try:
        yield made, wal
    finally:
        made._close(RuntimeError("test over"))


def failing_once(code: int) -> Callable[[int, object], int]:
    calls = [0]

    def write(fd: int, data: object) -> int:
        calls[0] += 1
        if calls[0] == 1:
            raise OSError(code, os.strerror(code))
        return os.write(fd, data)  # type: ignore[arg-type]

    return write


def test_background_writes_reach_the_disk_in_order(member: tuple[RaftMember, WriteAheadLog]) -> None:
    raft, wal = member
    for first in (1, 4, 7):
        raft._write_in_background(ready(first, first + 2, first - 1), wal)
    raft._wait_for_writes()
    assert wal.last_index == 9
    wal.close()
    again, recovered = WriteAheadLog.open(wal.directory)
    again.close()
    assert [index for index, _, _ in recovered.entries] == list(range(1, 10))


def test_a_failed_background_write_stops_the_ones_behind_it_and_is_raised(
    member: tuple[RaftMember, WriteAheadLog], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A write after a failed one must not make the failed entries look durable (it would mark them stable)."""
    raft, wal = member
    raft._write_in_background(ready(1, 2, 0), wal)
    raft._wait_for_writes()
    monkeypatch.setattr(wal_module, "_os_write", failing_once(errno.ENOSPC))  # a full disk, freed at once
    raft._write_in_background(ready(3, 4, 2), wal)  # fails
    raft._write_in_background(ready(3, 6, 2), wal)  # would succeed: must not run
    raft._write_in_background(ready(7, 7, 2), wal)
    with pytest.raises(WalWriteError, match="disk full"):
        raft._wait_for_writes()
    with pytest.raises(WalWriteError):
        raft._wait_for_writes()  # final: every later wait raises it too
    assert wal.last_index == 2
