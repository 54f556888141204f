"""The replicated Store's state machine: tables of objects, changed only by log entries.

Rules, as the Store keeps them:

* Objects live in one table per kind (``cluster``, ``network``, ``node``, ``service``, ``task``),
  in memory; a read never touches the disk and ``get`` is one dict lookup.
* Only :meth:`StoreCore.apply` changes them, with a transaction at a Raft log index. Every
  manager applies the same entries in the same order and gets the same state, so nothing in an
  apply may depend on this machine: timestamps come from the transaction (the proposer's
  clock), never from a local clock.
* A transaction is all-or-nothing. An op that cannot apply (a create of an existing id, an
  update or delete of a missing one, or a version check that fails) refuses the whole
  transaction: nothing changes and the result says why. A stale write is refused, never merged.
* An object's version is the index of the entry that last wrote it. Indexes increase strictly;
  an index at or below the last one applied is a bug in the caller (a replayed or reordered
  entry) and raises :class:`IndexOrderError`. A refused transaction still consumes its index.
* Each applied transaction returns its watch events, one per op and in op order;
  :class:`Watchers` routes them to subscribers, preserving that order.

Objects handed out by reads are shared with the Store and must not be mutated: build a new map
for an :class:`Update` instead.
"""

from __future__ import annotations

import builtins
import dataclasses
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeVar

import msgpack

from swarmnode.actors.messages import CodecError
from swarmnode.actors.messages._base import _check_plain_value, _describe

from .transactions import KINDS, MAX_ID_CHARS, Create, Delete, StoreError, Transaction, Update, check_kind

T = TypeVar("T")

__all__ = [
    "SNAPSHOT_FORMAT",
    "Action",
    "ApplyResult",
    "Event",
    "IndexOrderError",
    "SnapshotFormatError",
    "StoreCore",
    "StoredObject",
    "Watchers",
]

SNAPSHOT_FORMAT = 1
_SNAPSHOT_FIELDS = frozenset(("format", "last_index", "objects"))
_MAX_INDEX = 2**63 - 1

Action = Literal["create", "update", "delete"]


class IndexOrderError(RuntimeError):
    """An entry applied at an index not above the last one: a bug in the caller, not user error."""


class SnapshotFormatError(StoreError):
    """Bytes that are not a Store snapshot this node can read."""


@dataclass(frozen=True, slots=True)
class StoredObject:
    """One object as the Store holds it; ``version`` is the index of the entry that last wrote it."""

    kind: str
    id: str
    spec: dict[str, Any]
    status: dict[str, Any]
    version: int
    created_at: float
    updated_at: float


@dataclass(frozen=True, slots=True)
class Event:
    """A change made at ``index``; ``object`` is the new object (for a delete, the one removed).

    ``previous`` is the object before the change: None for a create, the old object for an
    update, and the removed object (the same as ``object``) for a delete.
    """

    index: int
    action: Action
    object: StoredObject
    previous: StoredObject | None


@dataclass(frozen=True, slots=True)
class ApplyResult:
    """What applying the transaction ``txn_id`` at ``index`` did: its events, or why it was refused."""

    index: int
    txn_id: str
    ok: bool
    error: str | None
    events: tuple[Event, ...]


class _Refused(Exception):
    """An op that cannot apply; internal to :meth:`StoreCore.apply`."""


class StoreCore:
    """The in-memory tables and the rules that change them (see the module docstring)."""

    def __init__(self) -> None:
        self._tables: dict[str, dict[str, StoredObject]] = {kind: {} for kind in KINDS}
        self._last_index = 0

    @property
    def last_index(self) -> int:
        """The index of the last entry applied (0 before any)."""
        return self._last_index

    def get(self, kind: str, id: str) -> StoredObject | None:
        """Return the object ``kind``/``id``, or None when there is none."""
        return self._table(kind).get(id)

    def count(self, kind: str) -> int:
        """Return how many objects of ``kind`` the Store holds."""
        return len(self._table(kind))

    def apply(self, index: int, txn: Transaction) -> ApplyResult:
        """Apply ``txn`` as the entry at ``index``: every op, or none of them."""
        if type(index) is not int or not self._last_index < index <= _MAX_INDEX:
            raise IndexOrderError(
                f"store entry at index {index!r} after index {self._last_index}: indexes must increase "
                "strictly (a replayed or reordered log entry)"
            )
        self._last_index = index
        staged: dict[tuple[str, str], StoredObject | None] = {}
        events: list[Event] = []
        try:
            for op in txn.ops:
                key = (op.kind, op.id)
                current = staged[key] if key in staged else self._tables[op.kind].get(op.id)
                new = self._apply_op(index, txn.now, op, current)
                staged[key] = new
                if new is None:
                    assert current is not None  # _apply_op refuses a delete of a missing object
                    events.append(Event(index, "delete", current, current))
                else:
                    events.append(Event(index, "create" if current is None else "update", new, current))
        except _Refused as refusal:
            return ApplyResult(index=index, txn_id=txn.txn_id, ok=False, error=str(refusal), events=())
        for (kind, id), obj in staged.items():
            if obj is None:
                self._tables[kind].pop(id, None)  # it may have been created by this same transaction
            else:
                self._tables[kind][id] = obj
        return ApplyResult(index=index, txn_id=txn.txn_id, ok=True, error=None, events=tuple(events))

    @staticmethod
    def _apply_op(
        index: int, now: float, op: Create | Update | Delete, current: StoredObject | None
    ) -> StoredObject | None:
        """Return the object after ``op`` (None once deleted); raise _Refused when it cannot apply."""
        if isinstance(op, Create):
            if current is not None:
                raise _Refused(
                    f"create of {op.kind} {op.id}: it already exists (version {current.version}); "
                    "choose another id, or update it"
                )
            return StoredObject(op.kind, op.id, op.spec, op.status, index, now, now)
        name = "update" if isinstance(op, Update) else "delete"
        if current is None:
            raise _Refused(
                f"{name} of {op.kind} {op.id}: it does not exist (never created, or deleted by another change)"
            )
        if op.expected_version is not None and op.expected_version != current.version:
            raise _Refused(
                f"{name} of {op.kind} {op.id}: expected version {op.expected_version}, found {current.version} "
                "(written by another change; read it again and retry)"
            )
        if isinstance(op, Delete):
            return None
        return dataclasses.replace(
            current,
            spec=current.spec if op.spec is None else op.spec,
            status=current.status if op.status is None else op.status,
            version=index,
            updated_at=now,
        )

    # ------------------------------------------------------------------------------ snapshots

    def snapshot(self) -> bytes:
        """Return every object and the last index as bytes that :meth:`restore` reads.

        Objects are written sorted by kind and id, so equal Stores give equal bytes.
        """
        objects = [
            [o.kind, o.id, o.spec, o.status, o.version, o.created_at, o.updated_at]
            for kind in sorted(self._tables)
            for o in sorted(self._tables[kind].values(), key=lambda o: o.id)
        ]
        body = {"format": SNAPSHOT_FORMAT, "last_index": self._last_index, "objects": objects}
        return msgpack.packb(body, use_bin_type=True)

    @classmethod
    def restore(cls, data: bytes) -> StoreCore:
        """Return the Store saved in ``data``; raise :class:`SnapshotFormatError` saying what is wrong."""
        try:
            raw = msgpack.unpackb(data, raw=False, strict_map_key=True, use_list=True)
        except Exception as exc:  # msgpack raises several unrelated types for bad bytes
            raise SnapshotFormatError(f"not a store snapshot ({type(exc).__name__}: {exc})") from None
        if type(raw) is not dict or set(raw) != _SNAPSHOT_FIELDS:
            fields = sorted(map(str, raw)) if type(raw) is dict else type(raw).__name__
            raise SnapshotFormatError(
                f"not a store snapshot: expected a map of {sorted(_SNAPSHOT_FIELDS)}, got {fields}"
            )
        if type(raw["format"]) is not int or raw["format"] != SNAPSHOT_FORMAT:
            raise SnapshotFormatError(
                f"store snapshot format {_describe(raw['format'])} is not supported (this node reads format "
                f"{SNAPSHOT_FORMAT}); restore it with the swarm-node version that wrote it"
            )
        last_index = raw["last_index"]
        if type(last_index) is not int or not 0 <= last_index <= _MAX_INDEX:
            raise SnapshotFormatError(f"snapshot last_index must be an integer >= 0, got {_describe(last_index)}")
        if type(raw["objects"]) is not list:
            raise SnapshotFormatError(f"snapshot objects must be an array, not {type(raw['objects']).__name__}")
        core = cls()
        core._last_index = last_index
        for i, item in enumerate(raw["objects"]):
            obj = _restore_object(i, item, last_index)
            table = core._tables[obj.kind]
            if obj.id in table:
                raise SnapshotFormatError(f"snapshot object {i}: {obj.kind} {obj.id} appears twice")
            table[obj.id] = obj
        return core

    # ------------------------------------------------------------------------------ listing

    def _table(self, kind: str) -> dict[str, StoredObject]:
        try:
            return self._tables[kind]
        except (KeyError, TypeError):
            check_kind(kind)  # raises with the allowed kinds
            raise

    def list(self, kind: str, predicate: Callable[[StoredObject], bool] | None = None) -> builtins.list[StoredObject]:
        """Return the objects of ``kind`` for which ``predicate`` holds (all without one), sorted by id."""
        table = self._table(kind)
        objects = table.values() if predicate is None else (o for o in table.values() if predicate(o))
        return sorted(objects, key=lambda o: o.id)


def _restore_object(i: int, item: Any, last_index: int) -> StoredObject:
    where = f"snapshot object {i}"
    if type(item) is not list or len(item) != 7:
        raise SnapshotFormatError(f"{where} must be [kind, id, spec, status, version, created_at, updated_at]")
    kind, id, spec, status, version, created_at, updated_at = item
    try:
        check_kind(kind)
    except StoreError as exc:
        raise SnapshotFormatError(f"{where}: {exc}") from None
    if type(id) is not str or not id or len(id) > MAX_ID_CHARS:
        raise SnapshotFormatError(f"{where}: id must be a non-empty string, got {_describe(id)}")
    where = f"{where} ({kind} {id})"
    for name, value in (("spec", spec), ("status", status)):
        if type(value) is not dict:
            raise SnapshotFormatError(f"{where}: {name} must be a map, not {type(value).__name__}")
        try:
            _check_plain_value(value, f"{where} {name}")
        except CodecError as exc:
            raise SnapshotFormatError(str(exc)) from None
    if type(version) is not int or not 1 <= version <= last_index:
        raise SnapshotFormatError(f"{where}: version must be an index from 1 to {last_index}, got {_describe(version)}")
    for name, value in (("created_at", created_at), ("updated_at", updated_at)):
        if type(value) is not float or not math.isfinite(value):
            raise SnapshotFormatError(f"{where}: {name} must be a finite float, got {_describe(value)}")
    return StoredObject(kind, id, spec, status, version, created_at, updated_at)


class Watchers(Generic[T]):
    """Who watches which kinds, and which events each of them gets, in apply order.

    Each subscriber may come with a ``target`` (for RaftMember, the actor to tell).
    """

    def __init__(self) -> None:
        self._kinds: dict[str, frozenset[str]] = {}
        self._targets: dict[str, T] = {}

    @property
    def subscribers(self) -> tuple[str, ...]:
        """Every subscriber, in registration order."""
        return tuple(self._kinds)

    def register(self, subscriber_id: str, kinds: Iterable[str] | None = None, target: T | None = None) -> None:
        """Send ``subscriber_id`` the events of ``kinds`` (every kind when None)."""
        if subscriber_id in self._kinds:
            raise StoreError(f"watcher {subscriber_id!r} is already registered; unregister it first")
        wanted = frozenset(KINDS) if kinds is None else frozenset(check_kind(k) for k in kinds)
        self._kinds[subscriber_id] = wanted
        if target is not None:
            self._targets[subscriber_id] = target

    def unregister(self, subscriber_id: str) -> None:
        """Stop sending events to ``subscriber_id``; nothing happens when it is not registered."""
        self._kinds.pop(subscriber_id, None)
        self._targets.pop(subscriber_id, None)

    def target(self, subscriber_id: str) -> T | None:
        """The target ``subscriber_id`` registered with, if any."""
        return self._targets.get(subscriber_id)

    def targets(self) -> builtins.list[T]:
        """Every registered target, in registration order."""
        return list(self._targets.values())

    def route(self, events: Iterable[Event]) -> dict[str, builtins.list[Event]]:
        """Return, for each subscriber with at least one event, its events in the order given."""
        events = tuple(events)
        routed: dict[str, list[Event]] = {}
        for subscriber, kinds in self._kinds.items():
            mine = [e for e in events if e.object.kind in kinds]
            if mine:
                routed[subscriber] = mine
        return routed
