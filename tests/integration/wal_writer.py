"""Append to a write-ahead log in random batches and print each acknowledged index, until killed.

Usage: python wal_writer.py DIRECTORY SEED SEGMENT_MAX_BYTES

Each line on stdout is the last index of a batch whose ``append`` returned: the log promised it
is on disk. Entry ``i`` always holds :func:`payload` ``(i)``, so the test can check the bytes.
The writer stops by itself after ``MAX_RUN_S`` in case nobody kills it.
"""

from __future__ import annotations

import random
import sys
import time

from swarmnode.actors.store import HardState, WriteAheadLog

MAX_RUN_S = 20.0


def payload(index: int) -> bytes:
    return index.to_bytes(8, "little") * (1 + index % 13)


def main() -> None:
    directory, seed, segment_max_bytes = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    rng = random.Random(seed)
    wal, recovered = WriteAheadLog.open(directory, segment_max_bytes=segment_max_bytes)
    next_index = recovered.next_index or 1
    term = (recovered.hard_state.term if recovered.hard_state else 0) + 1
    deadline = time.monotonic() + MAX_RUN_S
    while time.monotonic() < deadline:
        batch = [(i, term, payload(i)) for i in range(next_index, next_index + rng.randint(1, 40))]
        hard_state = HardState(term, "n1", next_index - 1) if rng.random() < 0.3 else None
        wal.append(batch, hard_state)
        next_index = batch[-1][0] + 1
        sys.stdout.write(f"{batch[-1][0]}\n")
        sys.stdout.flush()
    wal.close()


if __name__ == "__main__":
    main()
