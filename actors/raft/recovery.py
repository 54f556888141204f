"""Recover a lone surviving manager after quorum loss (``swarm-node start --force-new-cluster``).

As Docker's ``--force-new-cluster``: the manager keeps its data (everything committed that it
holds) and becomes the only voter of a new Raft group; the other managers are dropped from the
group. Done on the files before the node's actors start: a new snapshot of the committed Store
with this manager as the one voter, and a log that continues after it in a new term.

The dropped managers are demoted, so that the new group never takes them back as they were
(with a log of the old group's, perhaps holding entries the new one replaced): the recovery
writes their ids to ``DROPPED_FILE``, RaftMember keeps them out of the membership and, once it
leads, commits their desired role as worker, then removes the file. A dropped manager that comes
back renews into a worker's certificate and drops its Raft data; `node promote` brings it back
as a new learner, and `node rm` removes it. Their node objects stay until then, as in Docker.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from swarmnode.actors.node.identity import StateDirError, write_private
from swarmnode.actors.store.core import StoreCore
from swarmnode.actors.store.objects import nodes_of
from swarmnode.actors.store.transactions import decode_transaction
from swarmnode.actors.store.wal import (
    HardState,
    WriteAheadLog,
    free_bytes,
    has_room,
    room_to_go_on,
    write_snapshot,
)

from .actor import decode_entry, encode_snapshot, load_latest_snapshot, raft_dir
from .messages import ENTRY_NORMAL, ConfState, RaftSnapshot, SnapshotMeta

__all__ = ["DROPPED_FILE", "force_new_cluster", "read_dropped", "write_dropped"]

log = logging.getLogger("swarmnode.raft")

DROPPED_FILE = "forced-new-cluster.json"  # in the raft directory: the managers left to demote


def write_dropped(directory: Path, dropped: list[str], term: int = 0) -> None:
    """Record (atomically) the managers a forced new cluster of ``term`` dropped; none removes the record."""
    path = directory / DROPPED_FILE
    if dropped:
        write_private(path, json.dumps({"dropped": dropped, "term": term}).encode())
    elif path.exists():
        path.unlink()


def read_dropped(directory: Path, term: int) -> set[str]:
    """The managers a forced new cluster dropped and has not demoted yet.

    The record is written first; ``term`` is the hard state's term: one below the record's means
    the forced recovery did not finish (a crash, a full disk), and the record is stale: a plain
    start of the old group must not demote its managers. A record that cannot be read is
    reported and ignored (the operator can run the recovery again).
    """
    path = directory / DROPPED_FILE
    try:
        record = json.loads(path.read_bytes())
        dropped, forced_term = {str(n) for n in record["dropped"]}, int(record["term"])
    except FileNotFoundError:
        return set()
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.warning("ignored %s, which cannot be read (%s): run --force-new-cluster again if it is needed", path, exc)
        return set()
    if term < forced_term:
        log.warning("ignored %s: the forced new cluster of term %d did not finish", path, forced_term)
        path.unlink()
        return set()
    return dropped


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
        managers = (n for n in nodes_of(store) if "manager" in (n.role, n.cert_role))
        meta = SnapshotMeta(index=index, term=term, conf=ConfState(voters=(node_id,), learners=()))
        encoded = encode_snapshot(RaftSnapshot(meta=meta, data=store.snapshot()))
        needed = room_to_go_on(len(encoded))
        if not has_room(directory, needed):
            # Nothing written yet: a snapshot naming this manager the only voter, without the
            # hard state of its new term, would make a plain start campaign alone (split brain).
            raise StateDirError(
                f"cannot force a new cluster: not enough room in {directory}: "
                f"{free_bytes(directory) * 10 // 2**20 / 10:.1f} MiB free, and a new snapshot and log need "
                f"{-(-needed * 10 // 2**20) / 10:.1f} MiB; free space there and start it again with --force-new-cluster"
            )
        # First, naming the new term: the hard state written last says whether the rest was done.
        write_dropped(directory, sorted(n.node_id for n in managers if n.node_id != node_id), new_term)
        write_snapshot(directory, index, encoded)
        wal.restart_at(index + 1)  # the snapshot holds it all; the log may even end before it
        wal.append([], hard_state=HardState(term=new_term, vote=node_id, commit=index))
    finally:
        wal.close()
    return index, new_term
