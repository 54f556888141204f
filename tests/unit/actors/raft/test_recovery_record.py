"""The record of the managers a forced new cluster dropped: trusted only once the recovery finished."""

from __future__ import annotations

import pytest

from swarmnode.actors.node.identity import StateDirError
from swarmnode.actors.raft import recovery
from swarmnode.actors.raft.actor import initial_snapshot, load_latest_snapshot, raft_dir
from swarmnode.actors.raft.recovery import DROPPED_FILE, read_dropped, write_dropped
from swarmnode.actors.store.core import StoreCore
from swarmnode.actors.store.wal import write_snapshot


def test_the_record_names_the_dropped_managers_once_the_forced_term_is_on_disk(tmp_path):
    write_dropped(tmp_path, ["m2", "m3"], term=7)
    assert read_dropped(tmp_path, term=7) == {"m2", "m3"}
    assert read_dropped(tmp_path, term=9) == {"m2", "m3"}  # terms only grow after it
    write_dropped(tmp_path, [])
    assert not (tmp_path / DROPPED_FILE).exists()
    assert read_dropped(tmp_path, term=9) == set()


def test_a_record_of_a_recovery_that_did_not_finish_is_ignored_and_removed(tmp_path):
    write_dropped(tmp_path, ["m2"], term=7)
    assert read_dropped(tmp_path, term=6) == set()  # the hard state of the new term was never written
    assert not (tmp_path / DROPPED_FILE).exists()


def test_an_unreadable_record_is_ignored(tmp_path):
    (tmp_path / DROPPED_FILE).write_bytes(b"{not json")
    assert read_dropped(tmp_path, term=1) == set()
    (tmp_path / DROPPED_FILE).write_bytes(b'{"dropped": ["m2"]}')  # no term
    assert read_dropped(tmp_path, term=1) == set()


def test_a_forced_new_cluster_without_room_writes_nothing(tmp_path, monkeypatch):
    """A snapshot naming this manager the only voter, written without its new term's hard state,
    would have a plain start campaign alone beside the old group (split brain)."""
    directory = raft_dir(tmp_path)
    directory.mkdir(parents=True)
    write_snapshot(directory, 1, initial_snapshot(StoreCore(), "m1"))
    before = sorted(p.name for p in directory.iterdir())
    monkeypatch.setattr(recovery, "has_room", lambda directory, nbytes: False)
    with pytest.raises(StateDirError, match="cannot force a new cluster: not enough room"):
        recovery.force_new_cluster(tmp_path, "m1", 1 << 20)
    assert sorted(p.name for p in directory.iterdir() if p.name != "wal.lock") == before  # (the log's open made it)
    assert load_latest_snapshot(directory) is not None and not (directory / DROPPED_FILE).exists()
