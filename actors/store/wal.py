"""The write-ahead log: Raft entries and hard state, durable before they are acknowledged.

Layout and rules:

* A directory of segment files ``wal-<16 hex digits>.log``; the digits are the index of the
  first entry written to the segment, and segments are read in that order. A segment is a
  sequence of records: 4-byte little-endian payload length, 4-byte little-endian CRC-32 of the
  payload (``zlib.crc32``), payload. A payload is the msgpack array
  ``[type, index, term, data, synced_to]``: ``ENTRY`` (a log entry), ``HARD_STATE`` (index and
  term 0; data is msgpack ``{term, vote, commit}``) or ``TRUNCATE`` (index ``i``; entries from
  ``i`` on written before it are void). ``synced_to`` is how far the segment was known durable
  (fdatasync returned) when the record was written; records of an older version have no
  ``synced_to`` (an array of 4).
* The log is append-only: :meth:`WriteAheadLog.truncate_suffix` writes a ``TRUNCATE`` record
  rather than cutting files, so that no crash can leave the log half cut or lose the hard state
  that followed the cut. Later hard state records replace earlier ones. A new segment starts
  with the current hard state, so the newest hard state is always in the last segment.
* One :meth:`~WriteAheadLog.append` is one ``write`` and one ``fdatasync`` (group commit); the
  directory is fsynced when a segment is created or removed. Nothing returns before it is
  durable, and a failed write is cut back off before the error is raised. The one exception is
  an append with ``sync=False`` (a hard state that only moves Raft's commit index): it is
  written but not fsynced, so it can only ever be the lost or torn tail of a crash; before a
  segment stops being the last one, it is fsynced (a damaged tail of an earlier segment is
  corruption).
* The last segment is preallocated (``posix_fallocate``) in steps of :data:`PREALLOCATE_BYTES`
  ahead of its data, so that an append overwrites allocated space instead of growing the file:
  its ``fdatasync`` then has no file size to journal (measured 0.20-0.24 ms against 0.30-0.33 ms
  with three writers on one disk; docs/figures.md). The zeros after the data are no record (a
  record's length is never 0) and are not a torn tail. A segment is cut back to its data
  (durably) before the next one is created, and at close, so only the last segment of a log that
  is open or was killed has such zeros.
* A new segment begins when the current one would grow past ``segment_max_bytes``, and only
  with an index above the current segment's name (after a truncation that reaches back, the
  current segment grows until the log passes its name again), so names always sort in log order.
* Recovery reads every segment. A damaged end of the last segment (an incomplete record, a
  CRC that does not match) is a write that a crash interrupted, which nobody was told had
  succeeded: it is cut off and reported in :attr:`Recovered.cut_bytes` (zeros that end it cannot
  be told from preallocated space and are not counted); a tail of zeros alone is preallocated
  space and is kept. A write that spans pages may also reach the disk in part, a later page
  without an earlier one (power loss, pages written back out of order): damage that shows an
  unwritten sector (zeros) and is followed only by valid records whose ``synced_to`` does not
  reach it was never known durable, and is cut off as a torn tail too. Damage anywhere else (in
  an earlier segment, garbage or a flipped bit, damage followed by a record written after the
  damaged bytes were synced, a valid record with impossible contents, a gap between indexes) is
  corruption and raises :class:`WalCorruption`. (The last record, and a last append's sectors
  that read as zeros, cannot be told from a torn write: damage there is cut, not reported.)
  The format is one-way: a version before ``synced_to`` refuses these records.

Snapshots are separate files ``snapshot-<16 hex digits>.snap``, written beside the log by
:func:`write_snapshot` (temporary file, fsync, rename, fsync of the directory).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import re
import struct
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgpack

__all__ = [
    "ENTRY",
    "HARD_STATE",
    "MAX_RECORD_BYTES",
    "PREALLOCATE_BYTES",
    "SEGMENT_MAX_BYTES",
    "SNAPSHOTS_KEPT",
    "TRUNCATE",
    "Entry",
    "HardState",
    "Recovered",
    "WalCorruption",
    "WalDiskFull",
    "WalError",
    "WalWriteError",
    "WriteAheadLog",
    "free_bytes",
    "has_room",
    "read_latest_snapshot",
    "room_to_go_on",
    "write_snapshot",
]

ENTRY = 1
HARD_STATE = 2
TRUNCATE = 3
SEGMENT_MAX_BYTES = 64 * 1024 * 1024
PREALLOCATE_BYTES = 4 * 1024 * 1024
MAX_RECORD_BYTES = 64 * 1024 * 1024
SNAPSHOTS_KEPT = 2
SNAPSHOT_FILE_FORMAT = 1

_HEADER = struct.Struct("<II")
_SEGMENT_NAME = re.compile(r"wal-([0-9a-f]{16})\.log")
_SNAPSHOT_NAME = re.compile(r"snapshot-([0-9a-f]{16})\.snap")
_LOCK_NAME = "wal.lock"
_FULL = (errno.ENOSPC, errno.EDQUOT)  # the disk, or this user's quota of it, is full
_MAX_INDEX = 2**63 - 1
_SECTOR = 512  # the smallest unit a disk writes whole (or not at all)
# How every payload begins: a msgpack array of 5 (or 4, from an older version), then the record type.
_PAYLOAD_START = re.compile(rb"[\x94\x95][\x01-\x03]")
_WHAT_TO_DO = (
    "The node cannot start safely from this log: restore the state directory from a backup "
    "(a manager in a swarm can instead leave the swarm, clear its state and rejoin)."
)

# Every write and preallocation of log bytes goes through these names, so that tests can make the
# disk fill up.
_os_write = os.write
_os_fallocate = os.posix_fallocate

Entry = tuple[int, int, bytes]


class WalError(Exception):
    """The write-ahead log cannot do what was asked; the text says why and what to do."""


class WalCorruption(WalError):
    """Acknowledged data on disk is damaged; the text names the file, the byte and the damage."""


class WalWriteError(WalError):
    """A write did not reach the disk; nothing of it was acknowledged."""


class WalDiskFull(WalWriteError):
    """A write met a full disk and was cut back off: the files are whole, and writing may go on
    once there is room (:func:`has_room`). ``path``: the file it was writing."""

    def __init__(self, text: str, path: str | os.PathLike[str] = "") -> None:
        super().__init__(text)
        self.path = str(path)


@dataclass(frozen=True, slots=True)
class HardState:
    """What Raft must remember across restarts: its term, its vote in that term, its commit index."""

    term: int
    vote: str
    commit: int


@dataclass(frozen=True, slots=True)
class Recovered:
    """What :meth:`WriteAheadLog.open` found on disk.

    ``entries`` are the live entries, contiguous, in index order. ``next_index`` is the index the
    next append must have (None when the log holds nothing that constrains it). ``cut_bytes``
    bytes of torn tail were removed from ``cut_file``; the caller logs it.
    """

    entries: list[Entry]
    hard_state: HardState | None
    next_index: int | None
    cut_bytes: int
    cut_file: Path | None


def _zeros_from(data: bytes, offset: int) -> bool:
    """Whether ``data`` holds only zero bytes from ``offset`` on: preallocated space, no write."""
    return data.count(0, offset) == len(data) - offset


@dataclass(slots=True)
class _Segment:
    first_index: int  # from the name
    path: Path
    max_entry: int | None  # the highest entry index written in it, live or void


@dataclass(frozen=True, slots=True)
class _Record:
    offset: int
    type: int
    index: int
    term: int
    data: bytes
    synced_to: int | None  # None in a record of an older version


class _Sequence:
    """The live entries' bounds and what the next entry must be; recovery and appends share it."""

    def __init__(self) -> None:
        self.first: int | None = None
        self.last: int | None = None
        self.expected: int | None = None

    def entry_error(self, index: int) -> str | None:
        if self.expected is not None and index != self.expected:
            return f"entry {index} where entry {self.expected} was expected (entries are missing or out of order)"
        return None

    def add(self, index: int) -> None:
        if self.first is None:
            self.first = index
        self.last = index
        self.expected = index + 1

    def truncate_error(self, from_index: int) -> str | None:
        if self.last is not None and from_index > self.last + 1:
            return f"truncation from entry {from_index}, beyond the last entry {self.last}"
        return None

    def truncate(self, from_index: int) -> None:
        if self.first is not None and self.last is not None and from_index <= self.last:
            if from_index <= self.first:
                self.first = self.last = None
            else:
                self.last = from_index - 1
        self.expected = from_index


# ------------------------------------------------------------------------------------ records


def _check_index(what: str, index: object) -> None:
    if type(index) is not int or not 1 <= index <= _MAX_INDEX:
        raise ValueError(f"{what} index must be a positive integer, got {index!r}")


def _record(type: int, index: int, term: int, data: bytes, synced_to: int) -> bytes:
    payload = msgpack.packb([type, index, term, data, synced_to], use_bin_type=True)
    return _HEADER.pack(len(payload), zlib.crc32(payload)) + payload


def _entry_records(entries: Sequence[Entry], packer: msgpack.Packer, synced_to: int) -> list[bytes]:
    """Return the headers and payloads of ``entries``, for one join: appends spend their CPU here."""
    parts: list[bytes] = []
    pack, header, crc32 = packer.pack, _HEADER.pack, zlib.crc32
    for index, term, data in entries:
        payload = pack([ENTRY, index, term, data, synced_to])
        parts.append(header(len(payload), crc32(payload)))
        parts.append(payload)
    return parts


def _hard_state_record(hs: HardState, synced_to: int) -> bytes:
    data = msgpack.packb({"term": hs.term, "vote": hs.vote, "commit": hs.commit}, use_bin_type=True)
    return _record(HARD_STATE, 0, 0, data, synced_to)


def _frame_problem(data: bytes, offset: int) -> tuple[str | None, int]:
    """Return what is wrong with the record frame at ``offset`` (None when its CRC holds) and its length."""
    left = len(data) - offset
    if left < _HEADER.size:
        return f"an incomplete record header ({left} bytes)", 0
    length, crc = _HEADER.unpack_from(data, offset)
    if length == 0:
        return "an empty record (zero bytes, as a preallocated or unwritten tail leaves)", 0
    if length > MAX_RECORD_BYTES:
        return f"a record length of {length} bytes, over the limit of {MAX_RECORD_BYTES}", 0
    if length > left - _HEADER.size:
        return f"a record of {length} bytes that runs past the end of the file ({left - _HEADER.size} left)", 0
    start = offset + _HEADER.size
    if zlib.crc32(memoryview(data)[start : start + length]) != crc:
        return "a record whose CRC does not match its bytes", length
    return None, length


def _decode_payload(payload: bytes) -> tuple[int, int, int, bytes, int | None] | str:
    """Return ``(type, index, term, data, synced_to)``, or what is wrong with a payload that passed its CRC."""
    try:
        raw = msgpack.unpackb(payload, raw=False, use_list=True)
    except Exception as exc:  # msgpack raises several unrelated types for bad bytes
        return f"a record that is not msgpack ({type(exc).__name__})"
    if type(raw) is not list or len(raw) not in (4, 5):
        return "a record that is not [type, index, term, data, synced_to]"
    kind, index, term, data = raw[:4]
    synced_to = raw[4] if len(raw) == 5 else None
    if synced_to is not None and (type(synced_to) is not int or not 0 <= synced_to <= _MAX_INDEX):
        return f"a record whose synced_to is {synced_to!r}"
    if kind not in (ENTRY, HARD_STATE, TRUNCATE) or type(kind) is not int:
        return f"a record of unknown type {kind!r}"
    if type(index) is not int or type(term) is not int or type(data) is not bytes:
        return "a record whose index, term or data has the wrong type"
    if not 0 <= term <= _MAX_INDEX or not 0 <= index <= _MAX_INDEX:
        return f"a record with index {index} and term {term} out of range"
    if (kind == HARD_STATE) != (index == 0):
        return f"a record of type {kind} with index {index}"
    return kind, index, term, data, synced_to


def _decode_hard_state(data: bytes) -> HardState | None:
    try:
        raw = msgpack.unpackb(data, raw=False)
    except Exception:  # msgpack raises several unrelated types for bad bytes
        return None
    if type(raw) is not dict or set(raw) != {"term", "vote", "commit"}:
        return None
    term, vote, commit = raw["term"], raw["vote"], raw["commit"]
    if not _valid_hard_state(term, vote, commit):
        return None
    return HardState(term=term, vote=vote, commit=commit)


def _valid_hard_state(term: object, vote: object, commit: object) -> bool:
    return (
        type(term) is int
        and type(vote) is str
        and type(commit) is int
        and 0 <= term <= _MAX_INDEX
        and 0 <= commit <= _MAX_INDEX
    )


def _valid_record_after(data: bytes, start: int) -> int | None:
    """Return the offset of the first valid record that begins after ``start``, if there is one.

    A torn write leaves no valid record after the damage; a valid record after it means the
    damage hit data that was acknowledged. Candidates are found by the first byte every payload
    has, so the scan reads the data once instead of checking a CRC at every offset.
    """
    find_from = start + 1 + _HEADER.size
    while True:
        found = _PAYLOAD_START.search(data, find_from)
        if found is None:
            return None
        payload_at = found.start()
        find_from = payload_at + 1
        offset = payload_at - _HEADER.size
        problem, length = _frame_problem(data, offset)
        if problem is None and not isinstance(_decode_payload(data[payload_at : payload_at + length]), str):
            return offset


def _unwritten_sector(data: bytes, damage_at: int, later: int) -> bool:
    """Whether the damage up to ``later`` shows a disk sector that was never written.

    Unwritten sectors of the preallocated (or cut) space read as zeros: a whole 512-byte
    sector of zeros between the damage and the next valid record, or zeros from the damage to
    the end of its sector (the write began inside a sector that never reached the disk).
    Garbage or a flipped bit is not that: damage of that kind is corruption wherever it is.
    """
    end_of_first = min(-(-(damage_at + 1) // _SECTOR) * _SECTOR, later)
    if not any(data[damage_at:end_of_first]):
        return True
    sector = end_of_first
    while sector + _SECTOR <= later:
        if not any(data[sector : sector + _SECTOR]):
            return True
        sector += _SECTOR
    return False


def _never_synced_before(data: bytes, start: int, damage_at: int) -> bool:
    """Whether every valid record from ``start`` on was written before ``damage_at`` was known durable.

    Then the damage lies in bytes that no fdatasync had covered when the last record was
    written: the tail of one interrupted write (or of unsynced ones), whatever of it reached the
    disk. A record whose ``synced_to`` is past the damage (or unknown) was written after the
    damaged bytes were durable, so they were acknowledged.
    """
    offset = start
    while offset < len(data):
        problem, length = _frame_problem(data, offset)
        if problem is not None:
            later = _valid_record_after(data, offset)
            if later is None:
                return True
            offset = later
            continue
        decoded = _decode_payload(data[offset + _HEADER.size : offset + _HEADER.size + length])
        if isinstance(decoded, str) or decoded[4] is None or decoded[4] > damage_at:
            return False
        offset += _HEADER.size + length
    return True


def _damage(path: Path, offset: int, what: str) -> WalCorruption:
    return WalCorruption(f"write-ahead log {path} is damaged at byte {offset}: {what}. {_WHAT_TO_DO}")


def _read_segment(path: Path, data: bytes, is_last: bool) -> tuple[list[_Record], int]:
    """Return the records of one segment and the offset where its valid bytes end."""
    records: list[_Record] = []
    offset = 0
    while offset < len(data):
        problem, length = _frame_problem(data, offset)
        if problem is not None:
            if not is_last:
                raise _damage(path, offset, f"{problem}, in a segment that is not the last one")
            later = _valid_record_after(data, offset)
            if later is not None and not (
                _unwritten_sector(data, offset, later) and _never_synced_before(data, later, offset)
            ):
                raise _damage(path, offset, f"{problem}, followed by a valid record at byte {later}")
            return records, offset  # a torn tail (a torn write may leave later pages of itself behind)
        start = offset + _HEADER.size
        decoded = _decode_payload(data[start : start + length])
        if isinstance(decoded, str):
            raise _damage(path, offset, decoded)
        records.append(_Record(offset, *decoded))
        offset = start + length
    return records, offset


# ---------------------------------------------------------------------------------- the log


class WriteAheadLog:
    """An open write-ahead log directory; make one with :meth:`open`."""

    def __init__(
        self,
        directory: Path,
        *,
        segment_max_bytes: int,
        lock_fd: int,
        segments: list[_Segment],
        sequence: _Sequence,
        hard_state: HardState | None,
        active_end: int = 0,
    ) -> None:
        self._directory = directory
        self._segment_max_bytes = segment_max_bytes
        self._lock_fd: int | None = lock_fd
        self._segments = segments
        self._sequence = sequence
        self._hard_state = hard_state
        self._fd: int | None = None
        self._size = 0  # where the active segment's data ends: the next write goes there
        # How much of the active segment is durable (each record says it). What lies past it (an
        # append with sync=False) is fsynced before the segment stops being the last one, where a
        # damaged tail is corruption, not a torn write; _open_active syncs what a process before
        # this one left.
        self._synced_size = 0
        self._allocated = 0  # the active segment's length on disk, data and preallocated zeros
        self._can_preallocate = True  # False on a filesystem that cannot: appends grow the file
        self._broken: str | None = None
        self._packer = msgpack.Packer(use_bin_type=True)  # reused: building one costs more than packing
        self._pending_prefix = b""  # the hard state that opens a new segment, written with its first record
        if segments:
            self._open_active(segments[-1].path, active_end)

    @classmethod
    def open(
        cls, directory: str | os.PathLike[str], *, segment_max_bytes: int = SEGMENT_MAX_BYTES
    ) -> tuple[WriteAheadLog, Recovered]:
        """Open (or create) the log in ``directory``, recover what it holds, and cut a torn tail."""
        if segment_max_bytes < 1:
            raise ValueError(f"segment_max_bytes must be positive, got {segment_max_bytes}")
        path = Path(directory)
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        lock_fd = _lock(path)
        try:
            return cls._recover(path, segment_max_bytes, lock_fd)
        except BaseException:
            os.close(lock_fd)
            raise

    @classmethod
    def _recover(cls, directory: Path, segment_max_bytes: int, lock_fd: int) -> tuple[WriteAheadLog, Recovered]:
        names = sorted((int(m[1], 16), name) for name in os.listdir(directory) if (m := _SEGMENT_NAME.fullmatch(name)))
        segments: list[_Segment] = []
        sequence = _Sequence()
        entries: list[Entry] = []
        hard_state: HardState | None = None
        cut_bytes, cut_file, active_end = 0, None, 0
        for number, (first_index, name) in enumerate(names):
            path = directory / name
            data = path.read_bytes()
            is_last = number == len(names) - 1
            records, end = _read_segment(path, data, is_last)
            if end < len(data) and not _zeros_from(data, end):
                cut_bytes, cut_file = len(data.rstrip(b"\0")) - end, path  # zeros after it: preallocated
            active_end = end
            segment = _Segment(first_index, path, None)
            for record in records:
                if record.type == ENTRY:
                    if (problem := sequence.entry_error(record.index)) is not None:
                        raise _damage(path, record.offset, problem)
                    sequence.add(record.index)
                    entries.append((record.index, record.term, record.data))
                    segment.max_entry = max(segment.max_entry or 0, record.index)
                elif record.type == HARD_STATE:
                    hard_state = _decode_hard_state(record.data)
                    if hard_state is None:
                        raise _damage(path, record.offset, "a hard state record that is not {term, vote, commit}")
                else:
                    if (problem := sequence.truncate_error(record.index)) is not None:
                        raise _damage(path, record.offset, problem)
                    sequence.truncate(record.index)
                    if entries and record.index <= entries[-1][0]:
                        del entries[max(0, record.index - entries[0][0]) :]
            segments.append(segment)
        if cut_file is not None:
            _cut(cut_file, active_end)  # only once the whole log checked out
        wal = cls(
            directory,
            segment_max_bytes=segment_max_bytes,
            lock_fd=lock_fd,
            segments=segments,
            sequence=sequence,
            hard_state=hard_state,
            active_end=active_end,
        )
        return wal, Recovered(entries, hard_state, sequence.expected, cut_bytes, cut_file)

    # ------------------------------------------------------------------------------ reading

    @property
    def directory(self) -> Path:
        return self._directory

    @property
    def last_index(self) -> int | None:
        """The index of the last live entry, or None when there is none."""
        return self._sequence.last

    @property
    def next_index(self) -> int | None:
        """The index the next appended entry must have, or None when any index may start the log."""
        return self._sequence.expected

    @property
    def hard_state(self) -> HardState | None:
        return self._hard_state

    @property
    def segment_paths(self) -> tuple[Path, ...]:
        """The segment files, in log order."""
        return tuple(s.path for s in self._segments)

    # ------------------------------------------------------------------------------ writing

    def append(self, entries: Sequence[Entry], hard_state: HardState | None = None, *, sync: bool = True) -> None:
        """Write ``entries`` (``(index, term, data)``, contiguous) and ``hard_state``; return once durable.

        With ``sync=False`` the write is not fsynced: a crash may lose it (or leave a torn tail that
        recovery cuts off), and the next synced append makes it durable with its own. Raft uses
        it for a hard state that only moves the commit index (etcd's MustSync).
        """
        self._check_writable()
        self._check_entries(entries)
        if hard_state is not None and not _valid_hard_state(hard_state.term, hard_state.vote, hard_state.commit):
            raise ValueError(f"hard state must hold a term >= 0, a vote string and a commit >= 0, got {hard_state!r}")
        if not entries and hard_state is None:
            return
        synced_to = self._synced_size
        body = self._records(entries, hard_state, synced_to)
        if entries:
            self._rotate_if_needed(entries[0][0], len(body))
        elif self._fd is None:
            self._new_segment(self._sequence.expected or 1)
        if self._synced_size != synced_to:  # a new segment began: nothing of it is durable yet
            body = self._records(entries, hard_state, self._synced_size)
        self._write(body, sync)
        if entries:
            self._sequence.add(entries[0][0])
            self._sequence.add(entries[-1][0])  # _check_entries made them contiguous
            active = self._segments[-1]
            active.max_entry = max(active.max_entry or 0, entries[-1][0])
        if hard_state is not None:
            self._hard_state = hard_state

    def _records(self, entries: Sequence[Entry], hard_state: HardState | None, synced_to: int) -> bytes:
        parts = _entry_records(entries, self._packer, synced_to)
        if hard_state is not None:
            parts.append(_hard_state_record(hard_state, synced_to))
        return b"".join(parts)

    def truncate_suffix(self, from_index: int) -> None:
        """Drop the entries from ``from_index`` on; the next append continues at ``from_index``.

        On a log with no live entries, this sets the index the log continues at (after Raft
        installs a snapshot). Durable before it returns.
        """
        self._check_writable()
        _check_index("truncation", from_index)
        if (problem := self._sequence.truncate_error(from_index)) is not None:
            raise ValueError(problem)
        nothing_to_drop = self._sequence.last is None or from_index == self._sequence.last + 1
        if nothing_to_drop and self._sequence.expected == from_index:
            return
        if self._fd is None:
            self._new_segment(from_index)
        self._write(_record(TRUNCATE, from_index, 0, b"", self._synced_size))
        self._sequence.truncate(from_index)

    def restart_at(self, index: int) -> None:
        """Void every live entry; the next append must be ``index``. Durable before it returns.

        For Raft's install of a snapshot at ``index - 1``: the log it replaces may end well
        before the snapshot (a follower that was down while the others compacted theirs), which
        :meth:`truncate_suffix` cannot continue from. Written as a ``TRUNCATE`` at the first
        live entry (nothing left) and one at ``index`` (where a log with nothing left goes on),
        in one write: a crash keeps both or the first, or neither, and a log left behind its
        snapshot is restarted again at the next open (RaftMember does).
        """
        self._check_writable()
        _check_index("restart", index)
        sequence = self._sequence
        if sequence.last is None and sequence.expected == index:
            return
        if self._fd is None:
            self._new_segment(index)
        synced_to = self._synced_size
        first = b"" if sequence.first is None else _record(TRUNCATE, sequence.first, 0, b"", synced_to)
        self._write(first + _record(TRUNCATE, index, 0, b"", synced_to))
        if sequence.first is not None:
            sequence.truncate(sequence.first)
        sequence.truncate(index)

    def compact(self, upto_index: int) -> int:
        """Delete the oldest segments whose entries are all at or below ``upto_index``; return how many.

        The last segment is kept whatever it holds: it has the newest hard state and takes appends.
        """
        self._check_writable()
        removed = 0
        while len(self._segments) > 1:
            oldest = self._segments[0]
            if oldest.max_entry is not None and oldest.max_entry > upto_index:
                break
            oldest.path.unlink()
            del self._segments[0]
            removed += 1
        if removed:
            _fsync_directory(self._directory)
        return removed

    def close(self) -> None:
        """Close the files and release the directory (what was written unsynced is synced first).

        The preallocated zeros are cut off: a closed log's files end where their data ends.
        """
        if self._fd is not None:
            # Best effort: the next open cuts a torn tail, and keeps trailing zeros as they are.
            with contextlib.suppress(WalError):
                self._seal_active()
            os.close(self._fd)
            self._fd = None
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def __enter__(self) -> WriteAheadLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------------------ details

    def _check_writable(self) -> None:
        if self._lock_fd is None:
            raise WalError(f"the write-ahead log in {self._directory} is closed")
        if self._broken is not None:
            raise WalWriteError(self._broken)

    def _check_entries(self, entries: Sequence[Entry]) -> None:
        expected = self._sequence.expected
        for position, entry in enumerate(entries):
            if type(entry) is not tuple or len(entry) != 3:
                raise ValueError(f"entry {position} must be (index, term, data), got {type(entry).__name__}")
            index, term, data = entry
            if type(index) is not int or not 1 <= index <= _MAX_INDEX:
                raise ValueError(f"entry {position}: index must be a positive integer, got {index!r}")
            if type(term) is not int or not 0 <= term <= _MAX_INDEX:
                raise ValueError(f"entry {position}: term must be an integer >= 0, got {term!r}")
            if type(data) is not bytes or len(data) > MAX_RECORD_BYTES - 64:
                raise ValueError(f"entry {index}: data must be bytes of at most {MAX_RECORD_BYTES - 64} bytes")
            if expected is not None and index != expected:
                raise ValueError(f"entry {index} appended where entry {expected} must come next")
            expected = index + 1

    def _rotate_if_needed(self, first_index: int, body_bytes: int) -> None:
        if not self._segments or self._fd is None:
            self._new_segment(first_index)
            return
        active = self._segments[-1]
        if first_index <= active.first_index:
            return  # a new name must sort after the current one: keep growing this segment
        has_entries = active.max_entry is not None
        if not has_entries or self._size + body_bytes > self._segment_max_bytes:
            self._new_segment(first_index)

    def _new_segment(self, first_index: int) -> None:
        """Start the segment for ``first_index``, beginning with the current hard state."""
        path = self._directory / f"wal-{first_index:016x}.log"
        if self._fd is not None:
            self._seal_active()
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except OSError as exc:
            raise _write_error(path, exc) from None
        try:
            _fsync_directory(self._directory)
        except OSError as exc:
            os.close(fd)
            path.unlink(missing_ok=True)
            raise _write_error(path, exc) from None
        if self._fd is not None:
            os.close(self._fd)
        self._fd, self._size, self._allocated, self._synced_size = fd, 0, 0, 0
        self._segments.append(_Segment(first_index, path, None))
        if self._hard_state is not None:
            # Written with the first append, in the same write: it needs no fsync of its own.
            self._pending_prefix = _hard_state_record(self._hard_state, 0)

    def _seal_active(self) -> None:
        """Make the active segment end durably where its data ends, before a newer one is created.

        A segment that is not the last one must end with a whole record: its unsynced bytes are
        fsynced and its preallocated zeros cut off.
        """
        assert self._fd is not None
        path = self._segments[-1].path
        cut = False
        try:
            # The file's own length, not _allocated: a failed fallocate may have grown it partly.
            if os.fstat(self._fd).st_size > self._size:
                os.ftruncate(self._fd, self._size)
                self._allocated = self._size
                cut = True
        except OSError as exc:
            raise _write_error(path, exc) from None
        if cut or self._synced_size < self._size:
            try:
                os.fdatasync(self._fd)
            except OSError as exc:
                # After a failed fsync the kernel may have dropped the pages: retrying could lie.
                self._broken = (
                    f"syncing {path} failed ({exc.strerror}); restart the node so that it recovers "
                    "from what the disk holds"
                )
                raise WalWriteError(self._broken) from exc
        self._synced_size = self._size

    def _preallocate(self, needed: int) -> None:
        """Allocate the active segment to at least ``needed`` bytes, a step of PREALLOCATE_BYTES at a time."""
        assert self._fd is not None
        if not self._can_preallocate:
            return
        # Up to the segment's maximum; past it (one batch bigger than that, or a segment that grows
        # on after a truncation reached back), still a step at a time.
        limit = self._segment_max_bytes if needed <= self._segment_max_bytes else needed + PREALLOCATE_BYTES
        target = max(needed, min(self._allocated + PREALLOCATE_BYTES, limit))
        try:
            _os_fallocate(self._fd, self._allocated, target - self._allocated)
        except OSError as exc:
            if exc.errno in (errno.EOPNOTSUPP, errno.EINVAL):
                self._can_preallocate = False  # appends grow the file instead
                return
            raise _write_error(self._segments[-1].path, exc) from None
        self._allocated = target

    def _write(self, body: bytes, sync: bool = True) -> None:
        """Append ``body`` to the active segment and fdatasync; on failure, cut it back off."""
        assert self._fd is not None
        data = self._pending_prefix + body
        start = self._size
        if start + len(data) > self._allocated:
            self._preallocate(start + len(data))  # before any byte is written: a failure leaves nothing
        path = self._segments[-1].path
        try:
            view = memoryview(data)
            written = 0
            while written < len(data):
                written += _os_write(self._fd, view[written:])
            if sync:
                os.fdatasync(self._fd)
                self._synced_size = start + len(data)
        except OSError as exc:
            self._undo(path, start, exc)
        self._pending_prefix = b""
        self._size = start + len(data)

    def _undo(self, path: Path, start: int, exc: OSError) -> None:
        assert self._fd is not None
        try:
            os.ftruncate(self._fd, start)
            os.fdatasync(self._fd)
            os.lseek(self._fd, start, os.SEEK_SET)
            self._allocated = min(self._allocated, start)
        except OSError as again:
            self._broken = (
                f"writing {path} failed ({exc.strerror}) and cutting the partial write back off failed too "
                f"({again.strerror}); restart the node so that it recovers from what the disk holds"
            )
            raise WalWriteError(self._broken) from exc
        if exc.errno not in _FULL:
            # After a failed fsync the kernel may have dropped the pages: retrying could lie.
            self._broken = (
                f"writing {path} failed ({exc.strerror}); nothing of that write was acknowledged. "
                "Restart the node once the disk is healthy"
            )
            raise WalWriteError(self._broken) from exc
        raise WalDiskFull(
            f"disk full while writing {path}: nothing of this write was acknowledged; free space and retry", path
        ) from exc

    def _open_active(self, path: Path, data_end: int) -> None:
        self._fd = os.open(path, os.O_WRONLY)
        try:
            # What the process before wrote may not be durable (an append with sync=False): it is
            # made so, and the records written from now on say so.
            os.fdatasync(self._fd)
        except OSError as exc:
            os.close(self._fd)
            self._fd = None
            raise _write_error(path, exc) from None
        self._synced_size = data_end
        self._allocated = os.fstat(self._fd).st_size
        self._size = os.lseek(self._fd, data_end, os.SEEK_SET)


def _write_error(path: Path, exc: OSError) -> WalWriteError:
    if exc.errno in _FULL:
        return WalDiskFull(f"disk full while writing {path}: nothing was acknowledged; free space and retry", path)
    return WalWriteError(f"cannot write {path}: {exc.strerror}; nothing was acknowledged")


def _lock(directory: Path) -> int:
    """Hold the directory for this process: two writers would interleave their records."""
    fd = os.open(directory / _LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise WalError(
            f"the write-ahead log in {directory} is open in another process; stop the other node "
            "that uses this state directory"
        ) from None
    return fd


def _cut(path: Path, size: int) -> None:
    fd = os.open(path, os.O_WRONLY)
    try:
        os.ftruncate(fd, size)
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# ------------------------------------------------------------------------------- snapshots


def has_room(directory: str | os.PathLike[str], nbytes: int) -> bool:
    """Whether ``nbytes`` are free in ``directory``'s filesystem for this process to write now.

    As ``statvfs`` says (the blocks reserved for root left out): it looks without writing, so
    that looking every second takes no room from the other writers of a disk almost full. A
    quota it does not see: a write that meets one fails again, as a full disk does.
    """
    return free_bytes(directory) >= nbytes


def free_bytes(directory: str | os.PathLike[str]) -> int:
    """The bytes free in ``directory``'s filesystem for this process (``statvfs``, root's reserve left out)."""
    stat = os.statvfs(directory)
    return stat.f_bavail * stat.f_frsize


def room_to_go_on(snapshot_bytes: int) -> int:
    """The bytes that must be free for a log that met a full disk to go on: two preallocation
    steps, and a snapshot of ``snapshot_bytes`` (the Store now: the old one is removed only after
    the new one is written, and the log is compacted only then)."""
    return 2 * PREALLOCATE_BYTES + snapshot_bytes + 4096  # 4096: the file's header, frame and Raft metadata


def write_snapshot(directory: str | os.PathLike[str], index: int, data: bytes) -> Path:
    """Write the snapshot at ``index`` durably, keep the newest :data:`SNAPSHOTS_KEPT`; return its path."""
    if type(index) is not int or not 1 <= index <= _MAX_INDEX:
        raise ValueError(f"snapshot index must be a positive integer, got {index!r}")
    folder = Path(directory)
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    for name in os.listdir(folder):
        if name.startswith("snapshot-") and name.endswith(".snap.tmp"):
            (folder / name).unlink(missing_ok=True)  # left by a crash during an earlier write
    final = folder / f"snapshot-{index:016x}.snap"
    temporary = final.with_name(final.name + ".tmp")
    payload = msgpack.packb([SNAPSHOT_FILE_FORMAT, index, data], use_bin_type=True)
    content = _HEADER.pack(len(payload), zlib.crc32(payload)) + payload
    try:
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            view = memoryview(content)
            written = 0
            while written < len(content):
                written += _os_write(fd, view[written:])
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temporary, final)
        _fsync_directory(folder)
    except OSError as exc:
        temporary.unlink(missing_ok=True)
        raise _write_error(final, exc) from None
    old = sorted(_snapshot_files(folder))[:-SNAPSHOTS_KEPT]
    for _, path in old:
        path.unlink(missing_ok=True)
    if old:
        _fsync_directory(folder)
    return final


def read_latest_snapshot(directory: str | os.PathLike[str]) -> tuple[int, bytes] | None:
    """Return ``(index, data)`` of the newest snapshot, or None when there is none.

    A damaged newest snapshot raises :class:`WalCorruption` rather than falling back to an older
    one: the log entries between the two may have been compacted away already.
    """
    folder = Path(directory)
    if not folder.is_dir():
        return None
    files = sorted(_snapshot_files(folder))
    if not files:
        return None
    index, path = files[-1]
    content = path.read_bytes()
    problem, length = _frame_problem(content, 0)
    if problem is None and _HEADER.size + length != len(content):
        problem = f"{len(content) - _HEADER.size - length} bytes after the snapshot record"
    if problem is not None:
        raise _damage(path, 0, problem)
    try:
        raw: Any = msgpack.unpackb(content[_HEADER.size :], raw=False)
    except Exception:  # msgpack raises several unrelated types for bad bytes
        raw = None
    if (
        type(raw) is not list
        or len(raw) != 3
        or raw[0] != SNAPSHOT_FILE_FORMAT
        or raw[1] != index
        or type(raw[2]) is not bytes
    ):
        raise _damage(path, _HEADER.size, f"not a format {SNAPSHOT_FILE_FORMAT} snapshot of index {index}")
    return index, raw[2]


def _snapshot_files(folder: Path) -> list[tuple[int, Path]]:
    return [(int(m[1], 16), folder / name) for name in os.listdir(folder) if (m := _SNAPSHOT_NAME.fullmatch(name))]
