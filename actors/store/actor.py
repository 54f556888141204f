"""The Store actor: the manager's in-memory Store, made durable by the write-ahead log.

Until Raft lands, one manager commits alone: a proposal is appended to the log and fsynced,
then applied to the in-memory Store, and only then acknowledged, so an acknowledged write
survives any crash. Subscribers get the resulting events in commit order. Reads run on this
actor's thread (``Read``), so they always see one committed state.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pykka

from swarmnode.actors.runtime import Member, Membership, NodeActor, NodeContext
from swarmnode.actors.supervision import Link

from .core import ApplyResult, Event, StoreCore, Watchers
from .objects import CLUSTER_ID, ClusterView, NodeView
from .transactions import Op, Transaction, decode_transaction, encode_transaction
from .wal import WriteAheadLog, read_latest_snapshot, write_snapshot

__all__ = ["Propose", "Read", "StoreActor", "StoreEvents", "Subscribe", "Unsubscribe", "store_dir"]

log = logging.getLogger("swarmnode.store")

SNAPSHOT_EVERY_ENTRIES = 10_000
WAL_TERM = 0  # one manager commits alone; Raft brings terms


def store_dir(state_dir: Path) -> Path:
    return state_dir / "store"


@dataclass(frozen=True, slots=True)
class Propose:
    """Commit these ops as one transaction; the reply is the ApplyResult (ok or refused)."""

    ops: tuple[Op, ...]


@dataclass(frozen=True, slots=True)
class Read:
    """Run ``fn`` on the committed Store and reply with its result."""

    fn: Callable[[StoreCore], Any]


@dataclass(frozen=True, slots=True)
class _ReadOutcome:
    value: Any
    error: Exception | None

    def unwrap(self) -> Any:
        if self.error is not None:
            raise self.error
        return self.value


@dataclass(frozen=True, slots=True)
class Subscribe:
    subscriber_id: str
    ref: pykka.ActorRef[Any]
    kinds: tuple[str, ...] | None = None


@dataclass(frozen=True, slots=True)
class Unsubscribe:
    subscriber_id: str


@dataclass(frozen=True, slots=True)
class StoreEvents:
    """Told to a subscriber: committed changes, in order."""

    events: tuple[Event, ...]


def open_store(directory: Path, segment_bytes: int) -> tuple[StoreCore, WriteAheadLog]:
    """Recover the Store from its newest snapshot and the log after it."""
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    snapshot = read_latest_snapshot(directory)
    core = StoreCore.restore(snapshot[1]) if snapshot is not None else StoreCore()
    wal, recovered = WriteAheadLog.open(directory, segment_max_bytes=segment_bytes)
    if recovered.cut_bytes:
        log.warning("store: cut %d bytes of torn tail from the write-ahead log in %s", recovered.cut_bytes, directory)
    for index, _term, data in recovered.entries:
        if index <= core.last_index:
            continue
        core.apply(index, decode_transaction(data))
    return core, wal


def append_transaction(wal: WriteAheadLog, core: StoreCore, ops: tuple[Op, ...], now: float) -> ApplyResult:
    """Make ``ops`` durable as the next entry, then apply them; return the result."""
    txn = Transaction(ops=ops, now=now, txn_id=uuid.uuid4().hex)
    index = core.last_index + 1
    wal.append([(index, WAL_TERM, encode_transaction(txn))])
    return core.apply(index, txn)


def membership_of(core: StoreCore) -> Membership:
    """Build the admission table of a manager from the node and cluster objects."""
    by_key: dict[bytes, Member] = {}
    for obj in core.list("node"):
        node = NodeView.of(obj)
        if node.curve_key and node.cert_role:
            by_key[node.curve_key.encode()] = Member(node.node_id, node.cert_role, node.cert_expiry)
    cluster_obj = core.get("cluster", CLUSTER_ID)
    revoked = ClusterView.of(cluster_obj).revoked if cluster_obj is not None else {}
    return Membership(
        by_key=by_key,
        revoked={n: k.encode() for n, k in revoked.items()},
        anonymous_allowed=True,
    )


class StoreActor(NodeActor):
    """Own the manager's Store and its log; commit, apply, notify."""

    def __init__(self, link: Link | None, context: NodeContext, clock: Callable[[], float] = time.time) -> None:
        super().__init__(link)
        self.context = context
        self.clock = clock
        self.core = StoreCore()
        self.wal: WriteAheadLog | None = None
        self.watchers = Watchers()
        self.subscribers: dict[str, pykka.ActorRef[Any]] = {}
        self._since_snapshot = 0

    def on_start(self) -> None:
        directory = store_dir(self.context.state_dir)
        self.core, self.wal = open_store(directory, self.context.settings.store_segment_bytes)
        log.info("store: recovered up to index %d", self.core.last_index)
        self.context.set_membership(membership_of(self.core))

    def on_stop(self) -> None:
        self._close()

    def on_crash(self, exc: BaseException) -> None:
        self._close()

    def _close(self) -> None:
        if self.wal is not None:
            self.wal.close()
            self.wal = None

    def on_receive(self, message: Any) -> Any:
        if isinstance(message, Propose):
            return self._propose(message.ops)
        if isinstance(message, Read):
            # A bug in a reader's function is the reader's crash, not the Store's.
            try:
                return _ReadOutcome(value=message.fn(self.core), error=None)
            except Exception as exc:
                return _ReadOutcome(value=None, error=exc)
        if isinstance(message, Subscribe):
            self.watchers.register(message.subscriber_id, message.kinds)
            self.subscribers[message.subscriber_id] = message.ref
            return self.core.last_index
        if isinstance(message, Unsubscribe):
            self.watchers.unregister(message.subscriber_id)
            self.subscribers.pop(message.subscriber_id, None)
            return None
        return super().on_receive(message)

    def _propose(self, ops: tuple[Op, ...]) -> ApplyResult:
        assert self.wal is not None
        result = append_transaction(self.wal, self.core, ops, self.clock())
        if result.events:
            self._publish(result.events)
        self._since_snapshot += 1
        if self._since_snapshot >= SNAPSHOT_EVERY_ENTRIES:
            self._snapshot()
        return result

    def _publish(self, events: tuple[Event, ...] | list[Event]) -> None:
        if any(e.object.kind in ("node", "cluster") for e in events):
            self.context.set_membership(membership_of(self.core))
        for subscriber_id, routed in self.watchers.route(events).items():
            ref = self.subscribers.get(subscriber_id)
            if ref is None:
                continue
            try:
                ref.tell(StoreEvents(tuple(routed)))
            except pykka.ActorDeadError:
                self.watchers.unregister(subscriber_id)
                del self.subscribers[subscriber_id]

    def _snapshot(self) -> None:
        assert self.wal is not None
        directory = store_dir(self.context.state_dir)
        write_snapshot(directory, self.core.last_index, self.core.snapshot())
        self.wal.compact(self.core.last_index)
        self._since_snapshot = 0
        log.info("store: snapshot at index %d", self.core.last_index)
