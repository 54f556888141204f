"""Kill a process that writes the write-ahead log, and check that nothing it acknowledged is lost.

A writer process appends random batches and prints each acknowledged index; the test kills it
with SIGKILL at a seeded random moment, reopens the log and checks that every acknowledged entry
is there, intact and contiguous. A second test tears the log at random offsets instead.
"""

from __future__ import annotations

import os
import random
import select
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from swarmnode.actors.store import WriteAheadLog

pytestmark = pytest.mark.integration

WRITER = Path(__file__).with_name("wal_writer.py")
ACK_TIMEOUT_S = 10.0
ROUNDS = 3
SEEDS = [11, 23, 37, 41]


def payload(index: int) -> bytes:
    return index.to_bytes(8, "little") * (1 + index % 13)  # as wal_writer.py writes it


def read_acks(process: subprocess.Popen[bytes], count: int, why: str) -> list[int]:
    """Return the first ``count`` indexes the writer acknowledges; fail when they do not come in time."""
    assert process.stdout is not None
    fd = process.stdout.fileno()
    acks: list[int] = []
    buffer = b""
    deadline = time.monotonic() + ACK_TIMEOUT_S
    while len(acks) < count:
        left = deadline - time.monotonic()
        if left <= 0 or process.poll() is not None:
            raise AssertionError(
                f"{why}: the writer acknowledged {len(acks)} of {count} batches (exit {process.poll()})"
            )
        ready, _, _ = select.select([fd], [], [], left)
        if ready:
            chunk = os.read(fd, 4096)
            buffer += chunk
            *lines, buffer = buffer.split(b"\n")
            acks.extend(int(line) for line in lines)
    return acks


def check_log(directory: Path, acknowledged: int, why: str) -> int:
    """Check the log holds 1..n with the right bytes, n >= ``acknowledged``; return n."""
    wal, recovered = WriteAheadLog.open(directory)
    wal.close()
    indexes = [index for index, _, _ in recovered.entries]
    assert indexes == list(range(1, len(indexes) + 1)), f"{why}: indexes are not contiguous from 1"
    assert len(indexes) >= acknowledged, f"{why}: acknowledged {acknowledged} but recovered only {len(indexes)}"
    for index, _, data in recovered.entries:
        assert data == payload(index), f"{why}: entry {index} holds the wrong bytes"
    return len(indexes)


@pytest.mark.parametrize("seed", SEEDS)
def test_every_acknowledged_entry_survives_sigkill(tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    directory = tmp_path / "wal"
    acknowledged = 0
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    for round_number in range(ROUNDS):
        why = f"seed {seed}, round {round_number}"
        segment_max_bytes = rng.choice([2048, 16384, 1 << 20])
        process = subprocess.Popen(
            [sys.executable, str(WRITER), str(directory), str(rng.randrange(2**32)), str(segment_max_bytes)],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=env,
        )
        try:
            acks = read_acks(process, rng.randint(1, 60), why)
        finally:
            process.kill()  # SIGKILL, mid-append more often than not
            process.wait(ACK_TIMEOUT_S)
            assert process.stdout is not None
            process.stdout.close()
        assert process.returncode == -signal.SIGKILL, why
        acknowledged = max(acknowledged, acks[-1])
        check_log(directory, acknowledged, why)


@pytest.mark.parametrize("seed", SEEDS)
def test_a_log_torn_at_a_random_offset_keeps_every_whole_record(tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    source = tmp_path / "source"
    wal, _ = WriteAheadLog.open(source, segment_max_bytes=1 << 20)
    index = 1
    for _ in range(30):
        batch = [(i, 1, payload(i)) for i in range(index, index + rng.randint(1, 8))]
        wal.append(batch)
        index = batch[-1][0] + 1
    (segment,) = wal.segment_paths
    wal.close()
    whole = segment.read_bytes()
    record_ends = []
    offset = 0
    while offset < len(whole):
        offset += 8 + int.from_bytes(whole[offset : offset + 4], "little")
        record_ends.append(offset)
    for attempt in range(40):
        cut_at = rng.randrange(len(whole) + 1)
        why = f"seed {seed}, attempt {attempt}, torn at byte {cut_at} of {len(whole)}"
        torn = tmp_path / f"torn-{attempt}"
        shutil.copytree(source, torn)
        (torn / segment.name).write_bytes(whole[:cut_at])
        wal, recovered = WriteAheadLog.open(torn)
        wal.close()
        # Every record that lies whole before the tear survives, and nothing else.
        whole_records = sum(1 for end in record_ends if end <= cut_at)
        survivors = [i for i, _, _ in recovered.entries]
        assert survivors == list(range(1, whole_records + 1)), why
        assert all(data == payload(i) for i, _, data in recovered.entries), why
        kept = max((end for end in record_ends if end <= cut_at), default=0)
        # Zeros that end the torn bytes cannot be told from preallocated space: they are not counted.
        torn_bytes = len(whole[kept:cut_at].rstrip(b"\0"))
        assert (recovered.cut_bytes, (torn / segment.name).stat().st_size) == (torn_bytes, kept), why
