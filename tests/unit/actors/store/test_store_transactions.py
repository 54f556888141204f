"""The log form of Store transactions: a faithful round trip, and strict refusal of anything else."""

from __future__ import annotations

from typing import Any

import msgpack
import pytest

from swarmnode.actors.store import (
    Create,
    Delete,
    StoreError,
    Transaction,
    TransactionFormatError,
    Update,
    decode_transaction,
    encode_transaction,
)

TXN = Transaction(
    ops=(
        Create("service", "web", {"image": "nginx", "ports": (80, 443), "raw": b"\x00"}, {"state": "new"}),
        Update("task", "t1", spec=None, status={"state": "running"}, expected_version=4),
        Update("node", "n1", spec={"labels": {}}),
        Delete("network", "ingress", expected_version=2),
    ),
    now=1700000000.25,
    txn_id="proposal-1",
)


def body() -> dict[str, Any]:
    raw: dict[str, Any] = msgpack.unpackb(encode_transaction(TXN))
    return raw


def test_round_trip_equals_the_original() -> None:
    assert decode_transaction(encode_transaction(TXN)) == TXN


def test_integer_time_is_stored_as_a_float() -> None:
    txn = Transaction(ops=(Delete("task", "x"),), now=5, txn_id="")
    assert txn.now == 5.0 and type(txn.now) is float
    assert decode_transaction(encode_transaction(txn)) == txn


def test_integers_beyond_64_bits_cannot_be_encoded() -> None:
    txn = Transaction(ops=(Create("task", "x", {"n": 2**70}),), now=1.0, txn_id="big")
    with pytest.raises(StoreError, match="transaction 'big' cannot be encoded"):
        encode_transaction(txn)


def with_op(**changes: Any) -> bytes:
    b = body()
    b["ops"][0].update(changes)
    return msgpack.packb(b)


@pytest.mark.parametrize(
    ("data", "text"),
    [
        (lambda: b"\xc1", "not a msgpack transaction"),
        (lambda: msgpack.packb([1]), "transaction must be a map, not list"),
        (lambda: msgpack.packb({**body(), "extra": 1}), "transaction fields: unknown 'extra'"),
        (lambda: msgpack.packb({k: v for k, v in body().items() if k != "now"}), "transaction fields: missing now"),
        (lambda: msgpack.packb({**body(), "format": 9}), "transaction format 9 is not supported"),
        (lambda: msgpack.packb({**body(), "ops": {}}), "ops must be an array"),
        (lambda: msgpack.packb({**body(), "ops": []}), "at least one op"),
        (lambda: msgpack.packb({**body(), "ops": [1]}), "op 0 must be a map"),
        (lambda: with_op(op="merge"), "op 0: unknown op 'merge'"),
        (lambda: with_op(kind="pod"), "unknown object kind 'pod'"),
        (lambda: with_op(id=7), "id must be a non-empty string"),
        (lambda: with_op(spec=[1]), "spec of service web must be a map"),
        (lambda: with_op(expected_version=1), r"op 0 \(create\) fields: unknown 'expected_version'"),
        (lambda: msgpack.packb({**body(), "now": "noon"}), "finite number"),
        (lambda: msgpack.packb({**body(), "txn_id": None}), "txn_id must be a string"),
    ],
)
def test_decode_refuses_what_is_not_a_transaction(data: Any, text: str) -> None:
    with pytest.raises(TransactionFormatError, match=text):
        decode_transaction(data())


def test_decode_refuses_oversized_data() -> None:
    with pytest.raises(TransactionFormatError, match="over the limit of 10 bytes"):
        decode_transaction(encode_transaction(TXN), max_bytes=10)
