"""The write-ahead log: durable appends, recovery that cuts a torn tail and refuses corruption."""

from __future__ import annotations

import errno
import os
import shutil
import struct
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path

import msgpack
import pytest

from swarmnode.actors.store import (
    HardState,
    Recovered,
    WalCorruption,
    WalDiskFull,
    WalError,
    WalWriteError,
    WriteAheadLog,
    read_latest_snapshot,
    write_snapshot,
)
from swarmnode.actors.store import wal as wal_module
from swarmnode.actors.store.wal import PREALLOCATE_BYTES

HEADER = struct.Struct("<II")


def entries(first: int, last: int, term: int = 1, size: int = 20) -> list[tuple[int, int, bytes]]:
    return [(i, term, f"entry {i} term {term} ".encode().ljust(size, b".")) for i in range(first, last + 1)]


def reopen(directory: Path, **kwargs: int) -> Recovered:
    wal, recovered = WriteAheadLog.open(directory, **kwargs)
    wal.close()
    return recovered


def record_offsets(path: Path) -> list[tuple[int, int]]:
    """Return (offset, total length) of every record in a segment, up to a zero length (no record)."""
    data = path.read_bytes()
    out, offset = [], 0
    while offset + HEADER.size <= len(data):
        length, _ = HEADER.unpack_from(data, offset)
        if length == 0:
            break
        out.append((offset, HEADER.size + length))
        offset += HEADER.size + length
    return out


def raw_record(payload: bytes) -> bytes:
    return HEADER.pack(len(payload), zlib.crc32(payload)) + payload


@pytest.fixture
def log(tmp_path: Path) -> Iterator[WriteAheadLog]:
    wal, _ = WriteAheadLog.open(tmp_path / "wal")
    yield wal
    wal.close()


def segment(wal: WriteAheadLog, number: int = -1) -> Path:
    return wal.segment_paths[number]


# ------------------------------------------------------------------------------- appending


def test_an_empty_directory_recovers_nothing(tmp_path: Path) -> None:
    assert reopen(tmp_path / "new") == Recovered([], None, None, 0, None)
    assert (tmp_path / "new").is_dir()


def test_appended_entries_and_the_last_hard_state_come_back(log: WriteAheadLog) -> None:
    log.append(entries(1, 3), HardState(term=1, vote="n1", commit=0))
    log.append(entries(4, 4))
    log.append([], HardState(term=1, vote="n1", commit=4))
    log.close()
    recovered = reopen(log.directory)
    assert recovered.entries == entries(1, 4)
    assert recovered.hard_state == HardState(term=1, vote="n1", commit=4)
    assert recovered.next_index == 5 and recovered.cut_bytes == 0


def test_the_log_may_start_at_any_index(log: WriteAheadLog) -> None:
    log.append(entries(1000, 1001))
    assert log.last_index == 1001 and log.next_index == 1002
    log.close()
    assert reopen(log.directory).entries == entries(1000, 1001)


def test_one_append_is_one_fdatasync(log: WriteAheadLog, monkeypatch: pytest.MonkeyPatch) -> None:
    log.append(entries(1, 1))  # creates the segment
    calls: list[int] = []
    real = os.fdatasync
    monkeypatch.setattr(wal_module.os, "fdatasync", lambda fd: (calls.append(fd), real(fd))[1])
    log.append(entries(2, 65), HardState(2, "", 1))
    assert len(calls) == 1


@pytest.mark.parametrize(
    ("batch", "text"),
    [
        (entries(3, 3), "entry 3 appended where entry 2 must come next"),
        ([*entries(2, 2), *entries(4, 4)], "entry 4 appended where entry 3 must come next"),
        ([(2, -1, b"")], "term must be an integer >= 0"),
        ([(2, 1, "text")], "data must be bytes"),
        ([[2, 1, b""]], "must be .index, term, data."),
        ([(0, 1, b"")], "index must be a positive integer"),
    ],
)
def test_append_refuses_entries_that_do_not_follow(log: WriteAheadLog, batch: list[object], text: str) -> None:
    log.append(entries(1, 1))
    with pytest.raises(ValueError, match=text):
        log.append(batch)  # type: ignore[arg-type]
    log.close()
    assert reopen(log.directory).entries == entries(1, 1)


def test_a_second_process_cannot_open_the_same_log(log: WriteAheadLog) -> None:
    with pytest.raises(WalError, match="is open in another process"):
        WriteAheadLog.open(log.directory)


def test_a_closed_log_refuses_writes(log: WriteAheadLog) -> None:
    log.close()
    with pytest.raises(WalError, match="is closed"):
        log.append(entries(1, 1))


# ---------------------------------------------------------------------------------- segments


def test_segments_rotate_named_by_their_first_index(tmp_path: Path) -> None:
    wal, _ = WriteAheadLog.open(tmp_path, segment_max_bytes=200)
    wal.append([], HardState(3, "n2", 0))
    for i in range(1, 21):
        wal.append(entries(i, i))
    names = [p.name for p in wal.segment_paths]
    assert names[0] == "wal-0000000000000001.log"
    assert names == sorted(names) and len(names) > 3
    assert all(p.stat().st_size <= 200 for p in wal.segment_paths)
    # Every segment opens with the hard state, so dropping old segments never loses it.
    for path in wal.segment_paths:
        first = path.read_bytes()[HEADER.size :]
        assert msgpack.unpackb(first[: HEADER.unpack_from(path.read_bytes())[0]])[0] == wal_module.HARD_STATE
    wal.close()
    recovered = reopen(tmp_path, segment_max_bytes=200)
    assert recovered.entries == entries(1, 20) and recovered.hard_state == HardState(3, "n2", 0)


def test_appends_overwrite_preallocated_space_and_a_closed_log_ends_at_its_data(tmp_path: Path) -> None:
    wal, _ = WriteAheadLog.open(tmp_path)
    wal.append(entries(1, 1))
    allocated = segment(wal).stat().st_size
    assert allocated == PREALLOCATE_BYTES
    for index in range(2, 50):
        wal.append(entries(index, index), HardState(1, "n", index - 1))
    assert segment(wal).stat().st_size == allocated  # no append grew the file
    wal.close()
    offset, length = record_offsets(segment(wal))[-1]
    assert segment(wal).stat().st_size == offset + length


def test_a_log_left_preallocated_by_a_crash_recovers_whole(tmp_path: Path) -> None:
    wal, _ = WriteAheadLog.open(tmp_path / "live")
    wal.append(entries(1, 9), HardState(1, "n", 4))
    shutil.copytree(tmp_path / "live", tmp_path / "crashed")  # what the disk holds at a kill -9
    wal.close()
    (copied,) = (tmp_path / "crashed").glob("wal-*.log")
    assert copied.stat().st_size == PREALLOCATE_BYTES
    wal, recovered = WriteAheadLog.open(tmp_path / "crashed")
    assert (recovered.entries, recovered.hard_state, recovered.cut_bytes) == (entries(1, 9), HardState(1, "n", 4), 0)
    wal.append(entries(10, 10))
    wal.close()
    assert reopen(tmp_path / "crashed").entries == entries(1, 10)


def test_a_segment_that_stops_being_the_last_ends_at_its_data(tmp_path: Path) -> None:
    wal, _ = WriteAheadLog.open(tmp_path, segment_max_bytes=2000)
    for index in range(1, 200):
        wal.append(entries(index, index))
    paths = wal.segment_paths
    assert len(paths) > 3
    for path in paths[:-1]:  # read while the log is open: recovery takes zeros there for corruption
        offset, length = record_offsets(path)[-1]
        assert path.stat().st_size == offset + length, path
    wal.close()
    assert reopen(tmp_path).entries == entries(1, 199)


def test_a_batch_bigger_than_a_segment_is_written_whole(tmp_path: Path) -> None:
    wal, _ = WriteAheadLog.open(tmp_path, segment_max_bytes=100)
    wal.append(entries(1, 10))
    wal.append(entries(11, 20))
    assert len(wal.segment_paths) == 2
    wal.close()
    assert reopen(tmp_path).entries == entries(1, 20)


def test_an_empty_last_segment_left_by_a_crash_is_fine(tmp_path: Path) -> None:
    wal, _ = WriteAheadLog.open(tmp_path, segment_max_bytes=200)
    wal.append(entries(1, 5))
    wal.append(entries(6, 6))  # starts a second segment
    wal.close()
    _, second = sorted(tmp_path.glob("wal-*.log"))
    os.truncate(second, 0)  # created, fsynced, then the crash before its first write reached the disk
    wal, recovered = WriteAheadLog.open(tmp_path)
    assert recovered.entries == entries(1, 5) and recovered.cut_bytes == 0
    wal.append(entries(6, 7))
    wal.close()
    assert reopen(tmp_path).entries == entries(1, 7)


# -------------------------------------------------------------------------------- truncation


def test_truncate_suffix_within_the_last_segment(log: WriteAheadLog) -> None:
    log.append(entries(1, 10), HardState(1, "a", 3))
    log.truncate_suffix(6)
    assert log.last_index == 5 and log.next_index == 6
    log.append(entries(6, 8, term=2), HardState(2, "b", 5))
    log.close()
    recovered = reopen(log.directory)
    assert recovered.entries == entries(1, 5) + entries(6, 8, term=2)
    assert recovered.hard_state == HardState(2, "b", 5)


def test_truncate_suffix_across_a_segment_boundary(tmp_path: Path) -> None:
    wal, _ = WriteAheadLog.open(tmp_path, segment_max_bytes=300)
    for first in range(1, 31, 3):
        wal.append(entries(first, first + 2), HardState(1, "a", first))
    assert len(wal.segment_paths) >= 3
    wal.truncate_suffix(5)  # reaches back two segments
    wal.close()
    wal, recovered = WriteAheadLog.open(tmp_path, segment_max_bytes=300)
    assert recovered.entries == entries(1, 4)
    assert recovered.next_index == 5
    assert recovered.hard_state == HardState(1, "a", 28)  # the truncation kept the hard state
    wal.append(entries(5, 40, term=2))
    names = [p.name for p in wal.segment_paths]
    assert names == sorted(names)
    wal.close()
    assert reopen(tmp_path).entries == entries(1, 4) + entries(5, 40, term=2)


def test_truncate_suffix_checks_its_index(log: WriteAheadLog) -> None:
    log.append(entries(1, 3))
    with pytest.raises(ValueError, match="truncation from entry 5, beyond the last entry 3"):
        log.truncate_suffix(5)
    with pytest.raises(ValueError, match="positive integer"):
        log.truncate_suffix(0)
    size = segment(log).stat().st_size
    log.truncate_suffix(4)  # nothing to drop: nothing written
    assert segment(log).stat().st_size == size


def test_an_emptied_log_continues_where_truncation_says(log: WriteAheadLog) -> None:
    # Raft installing a snapshot at 99 past the end of its log: drop everything, go on at 100.
    log.append(entries(1, 3))
    log.truncate_suffix(1)
    assert log.last_index is None and log.next_index == 1
    log.truncate_suffix(100)
    log.append(entries(100, 101))
    log.close()
    recovered = reopen(log.directory)
    assert recovered.entries == entries(100, 101) and recovered.next_index == 102


def test_restart_at_goes_on_after_a_snapshot_past_the_end_of_the_log(log: WriteAheadLog) -> None:
    # A follower down while the others compacted: its log ends at 10, the leader's snapshot is at 50.
    log.append(entries(1, 10), HardState(2, "a", 8))
    with pytest.raises(ValueError, match="beyond the last entry 10"):
        log.truncate_suffix(51)
    log.restart_at(51)
    assert log.last_index is None and log.next_index == 51
    log.append(entries(51, 52, term=3))
    log.close()
    recovered = reopen(log.directory)
    assert recovered.entries == entries(51, 52, term=3) and recovered.next_index == 53
    assert recovered.hard_state == HardState(2, "a", 8)


def test_restart_at_where_the_log_goes_on_already_writes_nothing(log: WriteAheadLog) -> None:
    log.restart_at(7)  # an empty log: one record
    size = segment(log).stat().st_size
    log.restart_at(7)
    assert segment(log).stat().st_size == size
    with pytest.raises(ValueError, match="positive integer"):
        log.restart_at(0)
    log.close()
    assert reopen(log.directory).next_index == 7


def test_truncation_on_an_empty_log_is_durable(log: WriteAheadLog) -> None:
    log.truncate_suffix(50)
    log.close()
    assert reopen(log.directory).next_index == 50


# -------------------------------------------------------------------------------- compaction


def test_compact_deletes_whole_segments_at_or_below_the_index(tmp_path: Path) -> None:
    wal, _ = WriteAheadLog.open(tmp_path, segment_max_bytes=150)
    wal.append([], HardState(4, "x", 0))
    for i in range(1, 31):
        wal.append(entries(i, i))
    before = wal.segment_paths
    removed = wal.compact(10)
    assert removed > 0 and wal.segment_paths == before[removed:]
    wal.close()
    recovered = reopen(tmp_path)
    first = recovered.entries[0][0]
    assert 2 <= first <= 11
    assert recovered.entries == entries(first, 30) and recovered.hard_state == HardState(4, "x", 0)


def test_compact_keeps_the_last_segment(tmp_path: Path) -> None:
    wal, _ = WriteAheadLog.open(tmp_path, segment_max_bytes=150)
    for i in range(1, 11):
        wal.append(entries(i, i), HardState(1, "", i))
    wal.compact(1000)
    assert len(wal.segment_paths) == 1
    wal.append(entries(11, 11))
    wal.close()
    recovered = reopen(tmp_path)
    assert recovered.entries[-1] == entries(11, 11)[0] and recovered.hard_state == HardState(1, "", 10)


# ------------------------------------------------------------------------------- torn tails


@pytest.fixture
def ten(tmp_path: Path) -> Path:
    """A log of entries 1..10, the last record an entry; returns its only segment."""
    wal, _ = WriteAheadLog.open(tmp_path, segment_max_bytes=1 << 20)
    wal.append(entries(1, 9), HardState(1, "n", 8))
    wal.append(entries(10, 10, size=40))
    path = segment(wal)
    wal.close()
    return path


def test_a_torn_last_record_is_cut_at_every_byte(ten: Path) -> None:
    whole = ten.read_bytes()
    offset, length = record_offsets(ten)[-1]
    assert offset + length == len(whole)
    for kept in range(length):  # 0 .. length-1 bytes of the last record reached the disk
        ten.write_bytes(whole[: offset + kept])
        recovered = reopen(ten.parent)
        assert recovered.entries == entries(1, 9), kept
        # Zeros that end the torn bytes cannot be told from preallocated space: they are not counted.
        torn = len(whole[offset : offset + kept].rstrip(b"\0"))
        assert (recovered.cut_bytes, recovered.cut_file) == ((torn, ten) if kept else (0, None)), kept
        assert ten.stat().st_size == offset, kept


def test_a_last_record_with_any_byte_wrong_is_cut(ten: Path) -> None:
    whole = ten.read_bytes()
    offset, length = record_offsets(ten)[-1]
    for at in range(offset, offset + length):
        damaged = bytearray(whole)
        damaged[at] ^= 0x41
        ten.write_bytes(bytes(damaged))
        recovered = reopen(ten.parent)
        assert recovered.entries == entries(1, 9), at
        assert recovered.cut_bytes == length, at


def test_zero_bytes_after_the_last_record_are_preallocated_space_not_a_torn_write(ten: Path) -> None:
    size = ten.stat().st_size
    with ten.open("ab") as f:
        f.write(bytes(4096))  # a preallocated tail, as a killed process leaves it
    wal, recovered = WriteAheadLog.open(ten.parent)
    assert recovered.entries == entries(1, 9) + entries(10, 10, size=40) and recovered.cut_bytes == 0
    assert ten.stat().st_size == size + 4096  # kept: appends overwrite it
    wal.append(entries(11, 12))
    wal.close()
    assert reopen(ten.parent).entries == entries(1, 9) + entries(10, 10, size=40) + entries(11, 12)
    assert ten.stat().st_size == record_offsets(ten)[-1][0] + record_offsets(ten)[-1][1]  # closed: no zeros


def test_appends_after_a_cut_continue_the_log(ten: Path) -> None:
    ten.write_bytes(ten.read_bytes()[:-3])
    wal, recovered = WriteAheadLog.open(ten.parent)
    assert recovered.next_index == 10
    wal.append(entries(10, 11))
    wal.close()
    assert reopen(ten.parent).entries == entries(1, 11)


PAGE = 4096


@pytest.fixture
def two_appends(tmp_path: Path) -> tuple[Path, int, int]:
    """A log of one small synced append (entries 1-9) and one of several pages (entries 10-109).

    Returns its segment and the byte range [start, end) of the second append.
    """
    wal, _ = WriteAheadLog.open(tmp_path, segment_max_bytes=1 << 20)
    wal.append(entries(1, 9), HardState(1, "n", 8))
    path = segment(wal)
    start = record_offsets(path)[-1][0] + record_offsets(path)[-1][1]
    wal.append(entries(10, 109, size=200))
    wal.close()
    offsets = record_offsets(path)
    end = offsets[-1][0] + offsets[-1][1]
    assert end - start > 3 * PAGE
    return path, start, end


def test_a_write_torn_across_pages_is_cut_even_when_its_later_pages_reached_the_disk(
    two_appends: tuple[Path, int, int],
) -> None:
    """Power lost while the last append was being written back: its second page never reached the
    disk, its later pages did. Nothing of that append was acknowledged (its fdatasync never
    returned): the log keeps its whole records before the hole and cuts the rest."""
    path, start, end = two_appends
    whole = path.read_bytes()
    hole = (start // PAGE + 2) * PAGE  # a page boundary inside the second append
    assert start < hole and hole + PAGE < end
    path.write_bytes(whole[:hole] + bytes(PAGE) + whole[hole + PAGE :])
    recovered = reopen(path.parent)
    kept = [r for r in record_offsets(path) if r[0] + r[1] <= hole]  # whole records before the hole
    second = len(kept) - 10  # the first append: 9 entries and a hard state
    assert second > 0
    assert recovered.entries == entries(1, 9) + entries(10, 9 + second, size=200)
    assert recovered.cut_file == path and recovered.cut_bytes > 0
    assert path.stat().st_size == kept[-1][0] + kept[-1][1]


def test_a_torn_first_append_of_a_new_segment_is_cut(tmp_path: Path) -> None:
    """The append that opens a segment says nothing of the new file was durable yet, though the
    segment before it was: a hole in it is a torn write too."""
    wal, _ = WriteAheadLog.open(tmp_path, segment_max_bytes=20_000)
    wal.append(entries(1, 40, size=200), HardState(1, "n", 39))  # durable up to byte ~9,000 of its segment
    wal.append(entries(41, 100, size=200))  # over the segment size: a new segment
    path = segment(wal)
    wal.close()
    assert path.name == f"wal-{41:016x}.log" and path.stat().st_size > 3 * PAGE
    whole = path.read_bytes()
    path.write_bytes(whole[:PAGE] + bytes(PAGE) + whole[2 * PAGE :])  # below where the old segment was durable
    recovered = reopen(tmp_path)
    assert recovered.entries[:40] == entries(1, 40, size=200) and recovered.cut_file == path
    assert 41 <= recovered.entries[-1][0] < 100


def test_a_hole_in_an_append_synced_before_a_later_one_is_corruption(two_appends: tuple[Path, int, int]) -> None:
    """The same hole in the first append: the second append's records say the first was durable
    before they were written, so the hole is damage to acknowledged data."""
    path, _, _ = two_appends
    whole = bytearray(path.read_bytes())
    first = record_offsets(path)[2]  # an entry of the first append
    whole[first[0] : first[0] + first[1]] = bytes(first[1])
    path.write_bytes(bytes(whole))
    with pytest.raises(WalCorruption, match="followed by a valid record"):
        reopen(path.parent)


def test_a_flipped_bit_in_the_last_synced_append_is_corruption(tmp_path: Path) -> None:
    """Damage that is no unwritten sector (a flipped bit, not zeros) is corruption even in the last
    append, whose records cannot say it was durable: its fdatasync returned, its vote was cast."""
    wal, _ = WriteAheadLog.open(tmp_path)
    wal.append(entries(1, 9), HardState(5, "me", 8))
    path = segment(wal)
    wal.close()
    damaged = bytearray(path.read_bytes())
    second = record_offsets(path)[1]
    damaged[second[0] + 12] ^= 0x41
    path.write_bytes(bytes(damaged))
    with pytest.raises(WalCorruption, match="followed by a valid record"):
        reopen(tmp_path)


def test_records_of_the_older_format_are_read_and_their_damage_is_corruption(tmp_path: Path) -> None:
    """Records without synced_to (a log of an older version) come back; damage before one of them
    cannot be shown to be a torn write, so it stays corruption."""
    path = tmp_path / f"wal-{1:016x}.log"
    old = [raw_record(msgpack.packb([1, i, 1, b"old entry %d" % i])) for i in range(1, 6)]
    path.write_bytes(b"".join(old))
    assert [index for index, _, _ in reopen(tmp_path).entries] == [1, 2, 3, 4, 5]
    damaged = bytearray(path.read_bytes())
    damaged[len(old[0]) + 9] ^= 0x41  # in the payload of entry 2
    path.write_bytes(bytes(damaged))
    with pytest.raises(WalCorruption, match="followed by a valid record"):
        reopen(tmp_path)


def test_a_reopened_log_says_its_recovered_records_are_durable(two_appends: tuple[Path, int, int]) -> None:
    """What a process before wrote is fsynced at open: damage in it, then a record appended
    after the reopening, is corruption."""
    path, _, _ = two_appends
    wal, _ = WriteAheadLog.open(path.parent)
    wal.append(entries(110, 110))
    wal.close()
    whole = bytearray(path.read_bytes())
    inside = record_offsets(path)[-3]  # an entry of the second append, before the reopening
    whole[inside[0] + 9] ^= 0x41
    path.write_bytes(bytes(whole))
    with pytest.raises(WalCorruption, match="followed by a valid record"):
        reopen(path.parent)


# ------------------------------------------------------------------------------- corruption


def test_a_damaged_record_followed_by_valid_ones_is_corruption(ten: Path) -> None:
    whole = ten.read_bytes()
    offset, length = record_offsets(ten)[4]  # entry 4, acknowledged long ago
    for at in range(offset, offset + length):
        damaged = bytearray(whole)
        damaged[at] ^= 0x41
        ten.write_bytes(bytes(damaged))
        with pytest.raises(WalCorruption) as caught:
            reopen(ten.parent)
        text = str(caught.value)
        assert f"write-ahead log {ten} is damaged at byte {offset}" in text, at
        assert "followed by a valid record at byte" in text
        assert "cannot start safely" in text and "restore the state directory from a backup" in text
        assert ten.read_bytes() == bytes(damaged), "recovery must not change a corrupt log"


def test_damage_in_an_earlier_segment_is_corruption(tmp_path: Path) -> None:
    wal, _ = WriteAheadLog.open(tmp_path, segment_max_bytes=200)
    for i in range(1, 21):
        wal.append(entries(i, i))
    first = segment(wal, 0)
    wal.close()
    first.write_bytes(first.read_bytes()[:-5])  # its own tail, but not the log's tail
    with pytest.raises(WalCorruption, match="in a segment that is not the last one"):
        reopen(tmp_path)


def test_a_missing_segment_is_a_gap(tmp_path: Path) -> None:
    wal, _ = WriteAheadLog.open(tmp_path, segment_max_bytes=200)
    for i in range(1, 21):
        wal.append(entries(i, i))
    middle = segment(wal, 1)
    wal.close()
    middle.unlink()
    with pytest.raises(WalCorruption, match=r"entry \d+ where entry \d+ was expected .entries are missing"):
        reopen(tmp_path)


@pytest.mark.parametrize(
    ("payload", "text"),
    [
        (msgpack.packb([9, 11, 1, b""]), "record of unknown type 9"),
        (msgpack.packb([1, 11, 1]), "not .type, index, term, data."),
        (msgpack.packb([1, 11, 1, "text"]), "wrong type"),
        (msgpack.packb([2, 0, 0, b"\x01"]), "hard state record that is not"),
        (msgpack.packb([1, 12, 1, b""]), "entry 12 where entry 11 was expected"),
        (msgpack.packb([3, 13, 0, b""]), "truncation from entry 13, beyond the last entry 10"),
        (b"\x94\xc1\x01\x01\x01", "not msgpack"),
    ],
)
def test_a_valid_frame_with_impossible_contents_is_corruption(ten: Path, payload: bytes, text: str) -> None:
    size = ten.stat().st_size
    with ten.open("ab") as f:
        f.write(raw_record(payload))  # even as the very last record: its CRC says it was written so
    with pytest.raises(WalCorruption, match=text) as caught:
        reopen(ten.parent)
    assert f"at byte {size}" in str(caught.value)


# ------------------------------------------------------------------------------- a full disk


def failing_write(error: int, after_bytes: int) -> Callable[[int, memoryview], int]:
    def write(fd: int, data: memoryview) -> int:
        if len(data) > after_bytes:
            os.write(fd, data[:after_bytes])  # a partial write first, as a filling disk does
            raise OSError(error, os.strerror(error))
        return os.write(fd, data)

    return write


def test_disk_full_cuts_the_partial_write_and_the_log_goes_on(
    log: WriteAheadLog, monkeypatch: pytest.MonkeyPatch
) -> None:
    log.append(entries(1, 3))
    before = segment(log).read_bytes()
    monkeypatch.setattr(wal_module, "_os_write", failing_write(errno.ENOSPC, 50))
    with pytest.raises(WalDiskFull, match=f"disk full while writing {segment(log)}"):  # a WalWriteError
        log.append(entries(4, 10))
    after = segment(log).read_bytes()  # the partial write is cut off, and with it only preallocated zeros
    assert after == before[: len(after)] and not any(before[len(after) :]) and log.last_index == 3
    monkeypatch.setattr(wal_module, "_os_write", os.write)  # space was freed
    log.append(entries(4, 5))
    log.close()
    assert reopen(log.directory).entries == entries(1, 5)


def test_disk_full_while_preallocating_writes_nothing_and_the_log_goes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    big = 1 << 20
    wal, _ = WriteAheadLog.open(tmp_path)
    wal.append(entries(1, 3, size=big))  # 3 MiB of the first 4 MiB preallocated
    before = segment(wal).read_bytes()

    def full(fd: int, offset: int, length: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(wal_module, "_os_fallocate", full)
    with pytest.raises(WalDiskFull, match="disk full"):
        wal.append(entries(4, 5, size=big))  # past the preallocated 4 MiB
    assert segment(wal).read_bytes() == before and wal.last_index == 3
    monkeypatch.setattr(wal_module, "_os_fallocate", os.posix_fallocate)  # space was freed
    wal.append(entries(4, 5, size=big))
    wal.close()
    assert reopen(tmp_path).entries == entries(1, 5, size=big)


def test_room_is_what_the_filesystem_says_is_free_and_looking_writes_nothing(tmp_path: Path) -> None:
    stat = os.statvfs(tmp_path)
    free = stat.f_bavail * stat.f_frsize
    assert wal_module.has_room(tmp_path, 4096) is True
    assert wal_module.has_room(tmp_path, free + (1 << 30)) is False
    assert list(tmp_path.iterdir()) == []


def test_a_log_that_met_a_full_disk_goes_on_with_room_for_two_steps_and_a_snapshot(tmp_path: Path) -> None:
    data = b"s" * 7000
    written = write_snapshot(tmp_path, 9, data)
    room = wal_module.room_to_go_on(len(data))
    assert 2 * PREALLOCATE_BYTES + written.stat().st_size <= room <= 2 * PREALLOCATE_BYTES + len(data) + 5000


def test_a_filesystem_that_cannot_preallocate_grows_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def unsupported(fd: int, offset: int, length: int) -> None:
        raise OSError(errno.EOPNOTSUPP, os.strerror(errno.EOPNOTSUPP))

    monkeypatch.setattr(wal_module, "_os_fallocate", unsupported)
    wal, _ = WriteAheadLog.open(tmp_path)
    wal.append(entries(1, 3))
    offset, length = record_offsets(segment(wal))[-1]
    assert segment(wal).stat().st_size == offset + length
    wal.close()
    assert reopen(tmp_path).entries == entries(1, 3)


def test_disk_full_in_a_new_segment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    wal, _ = WriteAheadLog.open(tmp_path, segment_max_bytes=100)
    wal.append(entries(1, 4), HardState(1, "", 1))
    monkeypatch.setattr(wal_module, "_os_write", failing_write(errno.ENOSPC, 10))
    with pytest.raises(WalWriteError, match="disk full"):
        wal.append(entries(5, 6))
    monkeypatch.setattr(wal_module, "_os_write", os.write)
    wal.append(entries(5, 6))
    wal.close()
    recovered = reopen(tmp_path)
    assert recovered.entries == entries(1, 6) and recovered.hard_state == HardState(1, "", 1)


def test_a_failed_sync_when_a_segment_ends_breaks_the_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    wal, _ = WriteAheadLog.open(tmp_path, segment_max_bytes=100)
    wal.append(entries(1, 4))
    wal.append([], HardState(1, "", 4), sync=False)  # unsynced: the segment must be synced before it ends

    def failing_sync(fd: int) -> None:
        raise OSError(errno.EIO, os.strerror(errno.EIO))

    monkeypatch.setattr(wal_module.os, "fdatasync", failing_sync)
    with pytest.raises(WalWriteError, match="restart the node"):
        wal.append(entries(5, 6))  # starts a new segment
    monkeypatch.undo()
    with pytest.raises(WalWriteError, match="restart the node"):  # no retry: the pages may be gone
        wal.append(entries(5, 6))
    wal.close()


def test_a_segment_grown_past_its_maximum_is_still_preallocated_a_step_at_a_time(tmp_path: Path) -> None:
    big = 1 << 20
    wal, _ = WriteAheadLog.open(tmp_path, segment_max_bytes=2 * big)
    wal.append(entries(1, 3, size=big))  # one batch past the maximum: written whole in one segment
    assert segment(wal).stat().st_size == PREALLOCATE_BYTES  # room left after it, not its exact length
    wal.close()


def test_an_io_error_breaks_the_log_until_restart(log: WriteAheadLog, monkeypatch: pytest.MonkeyPatch) -> None:
    log.append(entries(1, 3))
    monkeypatch.setattr(wal_module, "_os_write", failing_write(errno.EIO, 5))
    with pytest.raises(WalWriteError, match="Restart the node"):
        log.append(entries(4, 4))
    monkeypatch.setattr(wal_module, "_os_write", os.write)
    with pytest.raises(WalWriteError, match="Restart the node"):
        log.append(entries(4, 4))
    log.close()
    assert reopen(log.directory).entries == entries(1, 3)


# -------------------------------------------------------------------------------- snapshots


def test_snapshots_round_trip_and_the_newest_two_stay(tmp_path: Path) -> None:
    assert read_latest_snapshot(tmp_path / "none") is None
    assert read_latest_snapshot(tmp_path) is None
    (tmp_path / "snapshot-0000000000000001.snap.tmp").write_bytes(b"half")  # an earlier crash
    for index in (5, 10, 15):
        path = write_snapshot(tmp_path, index, f"state at {index}".encode())
        assert path.name == f"snapshot-{index:016x}.snap"
    assert read_latest_snapshot(tmp_path) == (15, b"state at 15")
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "snapshot-000000000000000a.snap",
        "snapshot-000000000000000f.snap",
    ]


@pytest.mark.parametrize(
    "damage",
    [
        lambda b: b[:-1],
        lambda b: b + b"x",
        lambda b: b[:10] + bytes([b[10] ^ 1]) + b[11:],
        lambda b: raw_record(msgpack.packb([1, 99, b"other index"])),
    ],
)
def test_a_damaged_snapshot_is_corruption(tmp_path: Path, damage: Callable[[bytes], bytes]) -> None:
    write_snapshot(tmp_path, 7, b"older")
    path = write_snapshot(tmp_path, 8, b"state")
    path.write_bytes(damage(path.read_bytes()))
    with pytest.raises(WalCorruption, match=f"{path} is damaged"):
        read_latest_snapshot(tmp_path)


def test_a_snapshot_that_does_not_fit_leaves_nothing_behind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_snapshot(tmp_path, 1, b"old")
    monkeypatch.setattr(wal_module, "_os_write", failing_write(errno.ENOSPC, 3))
    with pytest.raises(WalWriteError, match="disk full while writing"):
        write_snapshot(tmp_path, 2, b"new state")
    assert [p.name for p in tmp_path.iterdir()] == ["snapshot-0000000000000001.snap"]
    assert read_latest_snapshot(tmp_path) == (1, b"old")


@pytest.mark.parametrize("hard_state", [HardState(-1, "", 0), HardState(1, None, 0), HardState(1, "", 1.5)])  # type: ignore[arg-type]
def test_append_refuses_an_invalid_hard_state(log: WriteAheadLog, hard_state: HardState) -> None:
    with pytest.raises(ValueError, match="hard state must hold a term >= 0"):
        log.append([], hard_state)
    log.append([], HardState(1, "", 0))
    assert log.hard_state == HardState(1, "", 0)


@pytest.mark.parametrize("preallocated", [True, False], ids=["preallocated", "no-fallocate"])
def test_an_unsynced_hard_state_is_synced_before_its_segment_stops_being_the_last(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, preallocated: bool
) -> None:
    """A damaged tail is a torn write only in the last segment: nothing unsynced may stay behind in another.

    Also where nothing past the data is cut off (a filesystem without fallocate): there the cut's
    own fsync does not do it.
    """
    if not preallocated:

        def no_fallocate(fd: int, offset: int, length: int) -> None:
            raise OSError(errno.EOPNOTSUPP, "not supported")

        monkeypatch.setattr(wal_module, "_os_fallocate", no_fallocate)
    synced: list[str] = []
    real = os.fdatasync

    def recording(fd: int) -> None:
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        real(fd)

    wal, _ = WriteAheadLog.open(tmp_path, segment_max_bytes=200)
    try:
        wal.append(entries(1, 3))
        first = wal.segment_paths[-1]
        monkeypatch.setattr(os, "fdatasync", recording)
        wal.append([], HardState(term=1, vote="n1", commit=3), sync=False)
        assert synced == []  # a commit index alone: written, not synced
        wal.append(entries(4, 9))  # grows past 200 bytes: a new segment begins
        assert len(wal.segment_paths) == 2
        assert synced[0] == str(first)  # the old segment first, before the new one takes writes
    finally:
        wal.close()
    recovered = reopen(tmp_path, segment_max_bytes=200)
    assert recovered.hard_state == HardState(term=1, vote="n1", commit=3) and recovered.next_index == 10


def test_closing_syncs_what_was_written_without_a_sync(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    synced: list[int] = []
    real = os.fdatasync
    wal, _ = WriteAheadLog.open(tmp_path)
    wal.append(entries(1, 2))
    wal.append([], HardState(term=1, vote="", commit=2), sync=False)
    monkeypatch.setattr(os, "fdatasync", lambda fd: (synced.append(fd), real(fd)))
    wal.close()
    assert len(synced) == 1
