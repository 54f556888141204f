"""Recover a lone surviving manager after quorum loss (``swarm-node start --force-new-cluster``).

As Docker's ``--force-new-cluster``: the manager keeps its data (everything committed that it
holds) and becomes the only voter of a new Raft group; the other managers are dropped from the
group (their node objects stay, down, until the operator demotes and removes them). Done on the
files before the node's actors start: a new snapshot of the committed Store with this manager
as the one voter, and a log that continues after it in a new term.
"""

from __future__ import annotations

from pathlib import Path

from swarmnode.actors.store.core import StoreCore
from swarmnode.actors.store.transactions import decode_transaction
from swarmnode.actors.store.wal import HardState, WriteAheadLog, write_snapshot

from .actor import decode_entry, encode_snapshot, load_latest_snapshot, raft_dir
from .messages import ENTRY_NORMAL, ConfState, RaftSnapshot, SnapshotMeta

__all__ = ["force_new_cluster"]


def force_new_cluster(state_dir: Path, node_id: str, segment_bytes: int) -> tuple[int, int]:
    """Make this manager the only voter, keeping its committed Store; return (index, new term)."""
    directory = raft_dir(state_dir)
    latest = load_latest_snapshot(directory)
    store = StoreCore()
    term = 0
    if latest is not None:
        snapshot, store = latest
        term = snapshot.meta.term
    wal, recovered = WriteAheadLog.open(directory, segment_max_bytes=segment_bytes)
    try:
        commit = recovered.hard_state.commit if recovered.hard_state else store.last_index
        term = max(term, recovered.hard_state.term if recovered.hard_state else 0)
        index = store.last_index
        for i, t, data in recovered.entries:
            if i > commit:
                break  # uncommitted entries may never have reached a quorum: they are dropped
            entry = decode_entry(i, t, data)
            if i > store.last_index and entry.kind == ENTRY_NORMAL and entry.data:
                store.apply(i, decode_transaction(entry.data))
            index = max(index, i)
            term = max(term, t)
        new_term = term + 1
        meta = SnapshotMeta(index=index, term=term, conf=ConfState(voters=(node_id,), learners=()))
        write_snapshot(directory, index, encode_snapshot(RaftSnapshot(meta=meta, data=store.snapshot())))
        wal.truncate_suffix(index + 1)
        wal.append([], hard_state=HardState(term=new_term, vote=node_id, commit=index))
    finally:
        wal.close()
    return index, new_term
