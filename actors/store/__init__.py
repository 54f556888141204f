"""The replicated Store: in-memory tables changed by transactions, and the write-ahead log."""

from .core import (
    SNAPSHOT_FORMAT,
    Action,
    ApplyResult,
    Event,
    IndexOrderError,
    SnapshotFormatError,
    StoreCore,
    StoredObject,
    Watchers,
)
from .transactions import (
    KINDS,
    MAX_TRANSACTION_BYTES,
    Create,
    Delete,
    Op,
    StoreError,
    Transaction,
    TransactionFormatError,
    Update,
    decode_transaction,
    encode_transaction,
)

__all__ = [
    "KINDS",
    "MAX_TRANSACTION_BYTES",
    "SNAPSHOT_FORMAT",
    "Action",
    "ApplyResult",
    "Create",
    "Delete",
    "Event",
    "IndexOrderError",
    "Op",
    "SnapshotFormatError",
    "StoreCore",
    "StoreError",
    "StoredObject",
    "Transaction",
    "TransactionFormatError",
    "Update",
    "Watchers",
    "decode_transaction",
    "encode_transaction",
]
