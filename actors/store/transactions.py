"""Store transactions: the ops a proposer puts in one Raft entry, and their msgpack form.

A transaction is what the leader proposes and every manager applies at the same log index, so
it must carry everything the apply needs: the ops, the proposer's clock reading (``now``, the
timestamp every replica writes) and an id the proposer uses to find its result.

Values are checked and normalised when an op is built (tuples become lists, maps are copied),
so that the op a leader applies locally equals the op a follower decodes from the log: two
replicas must never differ because one saw a tuple and the other a list.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from typing import Any

import msgpack

from swarmnode.actors.messages import CodecError

# The one checker of "plain msgpack values" in the project; it lives with the message codec.
from swarmnode.actors.messages._base import _check_plain_value, _describe

__all__ = [
    "KINDS",
    "MAX_ID_CHARS",
    "MAX_TRANSACTION_BYTES",
    "TRANSACTION_FORMAT",
    "Create",
    "Delete",
    "Op",
    "StoreError",
    "Transaction",
    "TransactionFormatError",
    "Update",
    "check_kind",
    "decode_transaction",
    "encode_transaction",
    "new_txn_id",
]

KINDS = ("cluster", "network", "node", "service", "task")
MAX_ID_CHARS = 256
MAX_TRANSACTION_BYTES = 16 * 1024 * 1024
TRANSACTION_FORMAT = 1
_MAX_VERSION = 2**63 - 1


class StoreError(ValueError):
    """A request the Store cannot take as given; the text says what was wrong and what to do."""


class TransactionFormatError(StoreError):
    """Bytes that are not a valid encoded transaction."""


def check_kind(kind: object) -> str:
    """Return ``kind`` when it names a table; raise :class:`StoreError` naming the allowed kinds."""
    if type(kind) is not str or kind not in KINDS:
        raise StoreError(f"unknown object kind {_describe(kind)}: the store holds {', '.join(KINDS)}")
    return kind


def _check_id(value: object, kind: str) -> str:
    if type(value) is not str or not value or len(value) > MAX_ID_CHARS:
        raise StoreError(
            f"{kind} id must be a non-empty string of at most {MAX_ID_CHARS} characters, got {_describe(value)}"
        )
    return value


def _check_map(value: object, where: str) -> dict[str, Any]:
    """Return a checked copy of a str-keyed map of plain msgpack values."""
    if type(value) is not dict:
        raise StoreError(f"{where} must be a map, not {type(value).__name__}")
    try:
        checked: dict[str, Any] = _check_plain_value(value, where)
    except CodecError as exc:
        raise StoreError(str(exc)) from None
    return checked


def _check_expected_version(value: object, where: str) -> int | None:
    if value is None:
        return None
    if type(value) is not int or not 1 <= value <= _MAX_VERSION:
        raise StoreError(f"{where}: expected_version must be a positive integer or None, got {_describe(value)}")
    return value


@dataclass(frozen=True, slots=True)
class Create:
    """Create the object ``kind``/``id``; refused when it exists."""

    kind: str
    id: str
    spec: dict[str, Any]
    status: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_kind(self.kind)
        _check_id(self.id, self.kind)
        object.__setattr__(self, "spec", _check_map(self.spec, f"spec of {self.kind} {self.id}"))
        object.__setattr__(self, "status", _check_map(self.status, f"status of {self.kind} {self.id}"))


@dataclass(frozen=True, slots=True)
class Update:
    """Replace the spec and/or status of ``kind``/``id`` (None keeps it).

    With ``expected_version`` set, the update is refused unless the object is still at that
    version: the caller read it, and nobody wrote it since.
    """

    kind: str
    id: str
    spec: dict[str, Any] | None = None
    status: dict[str, Any] | None = None
    expected_version: int | None = None

    def __post_init__(self) -> None:
        check_kind(self.kind)
        _check_id(self.id, self.kind)
        if self.spec is not None:
            object.__setattr__(self, "spec", _check_map(self.spec, f"spec of {self.kind} {self.id}"))
        if self.status is not None:
            object.__setattr__(self, "status", _check_map(self.status, f"status of {self.kind} {self.id}"))
        _check_expected_version(self.expected_version, f"update of {self.kind} {self.id}")


@dataclass(frozen=True, slots=True)
class Delete:
    """Delete ``kind``/``id``; with ``expected_version``, only if nobody wrote it since."""

    kind: str
    id: str
    expected_version: int | None = None

    def __post_init__(self) -> None:
        check_kind(self.kind)
        _check_id(self.id, self.kind)
        _check_expected_version(self.expected_version, f"delete of {self.kind} {self.id}")


Op = Create | Update | Delete


@dataclass(frozen=True, slots=True)
class Transaction:
    """Ops applied all together or not at all, stamped with the proposer's clock."""

    ops: tuple[Op, ...]
    now: float
    txn_id: str

    def __post_init__(self) -> None:
        ops = tuple(self.ops)
        if not ops:
            raise StoreError("a transaction needs at least one op")
        for i, op in enumerate(ops):
            if not isinstance(op, Create | Update | Delete):
                raise StoreError(f"op {i} of the transaction is a {type(op).__name__}, not Create, Update or Delete")
        object.__setattr__(self, "ops", ops)
        if type(self.now) not in (int, float) or not math.isfinite(self.now):
            raise StoreError(f"transaction time must be a finite number of seconds, got {_describe(self.now)}")
        object.__setattr__(self, "now", float(self.now))
        if type(self.txn_id) is not str or len(self.txn_id) > MAX_ID_CHARS:
            raise StoreError(
                f"txn_id must be a string of at most {MAX_ID_CHARS} characters, got {_describe(self.txn_id)}"
            )


# ---------------------------------------------------------------------------------- the log form

_TXN_FIELDS = frozenset(("format", "txn_id", "now", "ops"))
_OP_FIELDS = {
    "create": frozenset(("op", "kind", "id", "spec", "status")),
    "update": frozenset(("op", "kind", "id", "spec", "status", "expected_version")),
    "delete": frozenset(("op", "kind", "id", "expected_version")),
}


def new_txn_id(rng: random.Random) -> str:
    """A new transaction id: 128 random bits in hex, from ``rng``.

    A proposer passes its own generator: uuid4() would read os.urandom on every proposal, a
    system call that hands the GIL to another thread in the middle of the commit path.
    """
    return f"{rng.getrandbits(128):032x}"


def encode_transaction(txn: Transaction) -> bytes:
    """Return the bytes of ``txn`` for a log entry."""
    ops: list[dict[str, Any]] = []
    for op in txn.ops:
        if isinstance(op, Create):
            ops.append({"op": "create", "kind": op.kind, "id": op.id, "spec": op.spec, "status": op.status})
        elif isinstance(op, Update):
            ops.append(
                {
                    "op": "update",
                    "kind": op.kind,
                    "id": op.id,
                    "spec": op.spec,
                    "status": op.status,
                    "expected_version": op.expected_version,
                }
            )
        else:
            ops.append({"op": "delete", "kind": op.kind, "id": op.id, "expected_version": op.expected_version})
    body = {"format": TRANSACTION_FORMAT, "txn_id": txn.txn_id, "now": txn.now, "ops": ops}
    try:
        return msgpack.packb(body, use_bin_type=True)
    except (OverflowError, ValueError, TypeError) as exc:  # an integer beyond 64 bits, mostly
        raise StoreError(f"transaction {txn.txn_id!r} cannot be encoded: {exc}") from None


def decode_transaction(data: bytes, max_bytes: int = MAX_TRANSACTION_BYTES) -> Transaction:
    """Return the transaction in ``data``; raise :class:`TransactionFormatError` saying what is wrong."""
    if len(data) > max_bytes:
        raise TransactionFormatError(f"transaction of {len(data)} bytes is over the limit of {max_bytes} bytes")
    try:
        raw = msgpack.unpackb(data, raw=False, strict_map_key=True, use_list=True)
    except Exception as exc:  # msgpack raises several unrelated types for bad bytes
        raise TransactionFormatError(f"not a msgpack transaction ({type(exc).__name__}: {exc})") from None
    _expect_fields(raw, _TXN_FIELDS, "transaction")
    if raw["format"] != TRANSACTION_FORMAT or type(raw["format"]) is not int:
        raise TransactionFormatError(
            f"transaction format {_describe(raw['format'])} is not supported (this node reads format "
            f"{TRANSACTION_FORMAT}); upgrade this node to the version of the leader"
        )
    ops_raw = raw["ops"]
    if type(ops_raw) is not list:
        raise TransactionFormatError(f"transaction ops must be an array, not {type(ops_raw).__name__}")
    try:
        ops = tuple(_decode_op(i, op) for i, op in enumerate(ops_raw))
        return Transaction(ops=ops, now=raw["now"], txn_id=raw["txn_id"])
    except TransactionFormatError:
        raise
    except StoreError as exc:
        raise TransactionFormatError(f"invalid transaction: {exc}") from None


def _decode_op(i: int, raw: Any) -> Op:
    if type(raw) is not dict:
        raise TransactionFormatError(f"op {i} must be a map, not {type(raw).__name__}")
    name = raw.get("op")
    if type(name) is not str or name not in _OP_FIELDS:
        raise TransactionFormatError(f"op {i}: unknown op {_describe(name)} (expected create, update or delete)")
    _expect_fields(raw, _OP_FIELDS[name], f"op {i} ({name})")
    if name == "create":
        return Create(kind=raw["kind"], id=raw["id"], spec=raw["spec"], status=raw["status"])
    if name == "update":
        return Update(
            kind=raw["kind"],
            id=raw["id"],
            spec=raw["spec"],
            status=raw["status"],
            expected_version=raw["expected_version"],
        )
    return Delete(kind=raw["kind"], id=raw["id"], expected_version=raw["expected_version"])


def _expect_fields(raw: Any, fields: frozenset[str], where: str) -> None:
    if type(raw) is not dict:
        raise TransactionFormatError(f"{where} must be a map, not {type(raw).__name__}")
    keys = set(raw)
    if keys != fields:
        parts = []
        missing = sorted(fields - keys)
        unknown = sorted(str(k) for k in keys - fields)
        if missing:
            parts.append("missing " + ", ".join(missing))
        if unknown:
            parts.append("unknown " + ", ".join(map(repr, unknown)))
        raise TransactionFormatError(f"{where} fields: " + "; ".join(parts))
