"""Measure the write-ahead log beside a bare write + fdatasync measured in the same run.

1. appends/s with batches of 1 entry and of 64 entries of 200 bytes (one fdatasync per append);
2. p50 and p99 latency of one single-entry append, fdatasync included.

Baseline: ``os.write`` + ``os.fdatasync`` of the same bytes (the records an append writes) on a
file in the same directory. The difference is the log's own cost: encoding, CRC, bookkeeping.

Usage: python bench/wal.py [--seconds 2] [--dir DIR]
Bounded by --seconds per measurement (4 measurements); the temporary directory is removed.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from swarmnode.actors.store import WriteAheadLog
from swarmnode.actors.store.wal import _record

ENTRY_BYTES = 200
ENTRY_TERM = 1


def measure(step: Callable[[], None], seconds: float) -> list[float]:
    """Run ``step`` for ``seconds``; return each call's latency in seconds."""
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds
    while True:
        start = time.perf_counter()
        step()
        end = time.perf_counter()
        latencies.append(end - start)
        if end >= deadline:
            return latencies


def bench_wal(directory: Path, batch: int, seconds: float) -> list[float]:
    wal, _ = WriteAheadLog.open(directory)
    data = os.urandom(ENTRY_BYTES)
    next_index = 1

    def step() -> None:
        nonlocal next_index
        wal.append([(i, ENTRY_TERM, data) for i in range(next_index, next_index + batch)])
        next_index += batch

    try:
        return measure(step, seconds)
    finally:
        wal.close()


def bench_baseline(directory: Path, batch: int, seconds: float) -> list[float]:
    data = os.urandom(ENTRY_BYTES)
    # The bytes an append writes (each record says how far its segment is synced).
    body = b"".join(_record(1, 1_000_000 + i, ENTRY_TERM, data, 1 << 20) for i in range(batch))
    fd = os.open(directory / f"baseline-{batch}.bin", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)

    def step() -> None:
        os.write(fd, body)
        os.fdatasync(fd)

    try:
        return measure(step, seconds)
    finally:
        os.close(fd)


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=2.0, help="duration of each measurement (default 2)")
    parser.add_argument("--dir", default=None, help="where to put the temporary directory (default: the system's)")
    args = parser.parse_args()
    seconds = min(args.seconds, 4.5)  # four measurements: stay under 20 s
    root = Path(tempfile.mkdtemp(prefix="wal-bench-", dir=args.dir))
    try:
        print(f"write-ahead log benchmark in {root}, {ENTRY_BYTES}-byte entries, {seconds:g} s per figure")
        print(f"{'':34}{'WriteAheadLog':>16}{'write+fdatasync':>18}{'ratio':>8}")
        single: tuple[list[float], list[float]] | None = None
        for batch in (1, 64):
            base = bench_baseline(root, batch, seconds)
            wal = bench_wal(root / f"wal-{batch}", batch, seconds)
            if batch == 1:
                single = (wal, base)
            wal_rate = len(wal) / sum(wal)
            base_rate = len(base) / sum(base)
            label = f"appends/s, batches of {batch}"
            print(f"{label:34}{wal_rate:16,.0f}{base_rate:18,.0f}{wal_rate / base_rate:8.2f}")
            if batch > 1:
                label = f"entries/s, batches of {batch}"
                print(f"{label:34}{wal_rate * batch:16,.0f}{base_rate * batch:18,.0f}")
        assert single is not None
        wal, base = single
        for name, fraction in (("p50", 0.50), ("p99", 0.99)):
            w, b = percentile(wal, fraction) * 1e6, percentile(base, fraction) * 1e6
            label = f"{name} latency of one append (us)"
            print(f"{label:34}{w:16,.0f}{b:18,.0f}{w / b:8.2f}")
        print(f"(mean single append: {statistics.fmean(wal) * 1e6:,.0f} us over {len(wal)} appends)")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
