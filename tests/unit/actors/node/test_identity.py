"""State directory checks, random ids, and the swarm state kept in the directory."""

from __future__ import annotations

import errno
import json
import os
import re
import stat

import pytest

from swarmnode.actors.node import identity as identity_module
from swarmnode.actors.node.identity import (
    LOCK_FILE,
    NODE_ID_CHARS,
    StateDirError,
    lock_holder,
    lock_state_dir,
    new_node_id,
    prepare_state_dir,
)
from swarmnode.actors.node.swarm_state import (
    ManagerRecord,
    NodeCertificate,
    NodeState,
    drop_manager_data,
    finish_interrupted_writes,
    forget_swarm,
    load_node_state,
    read_certificate,
    save_node_state,
    update_node_state,
    write_certificate,
)
from swarmnode.actors.runtime import CurveKeys
from swarmnode.transport import generate_keypair


def state() -> NodeState:
    public, secret = generate_keypair()
    return NodeState(
        node_id=new_node_id(),
        role="worker",
        cluster_id=new_node_id(),
        advertise_addr="127.0.0.1:2377",
        hostname="h1",
        keys=CurveKeys(public, secret),
        managers=(ManagerRecord("m1", "127.0.0.1:2377", public.decode()),),
    )


def test_node_ids_are_random_base36_of_fixed_length():
    ids = {new_node_id() for _ in range(200)}
    assert len(ids) == 200
    assert all(len(i) == NODE_ID_CHARS and i.isalnum() and i.lower() == i for i in ids)


def test_state_dir_is_created_private(tmp_path):
    path = prepare_state_dir(tmp_path / "a" / "b")
    assert stat.S_IMODE(path.stat().st_mode) == 0o700


def test_a_file_in_the_way_is_a_clear_error(tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(StateDirError, match=r"exists and is not a directory|cannot create state dir"):
        prepare_state_dir(tmp_path / "f")
    with pytest.raises(StateDirError, match="cannot create state dir"):
        prepare_state_dir(tmp_path / "f" / "sub")


def test_a_state_dir_on_a_full_disk_says_so_and_what_to_do(tmp_path):
    (tmp_path / f".write-test-{os.getpid()}").symlink_to("/dev/full")  # every write: ENOSPC
    with pytest.raises(StateDirError, match="not writable: the disk is full; free space there and start again"):
        prepare_state_dir(tmp_path)
    assert list(tmp_path.iterdir()) == [], "the probe was left behind"


def test_an_empty_state_dir_holds_no_swarm(tmp_path):
    assert load_node_state(tmp_path) is None


def test_swarm_state_round_trips_in_private_files(tmp_path):
    made = state()
    save_node_state(tmp_path, made)
    assert load_node_state(tmp_path) == made
    for name in ("node.json", "curve.key"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o600


def test_certificates_are_written_private_and_read_back(tmp_path):
    cert = NodeCertificate(key_pem=b"key", chain_pem=b"chain", trust_pem=b"trust")
    write_certificate(tmp_path, cert)
    assert read_certificate(tmp_path) == cert
    assert stat.S_IMODE((tmp_path / "certificates" / "node.key").stat().st_mode) == 0o600


def filling_disk(room: int):
    """os.write on a disk with ``room`` bytes left: it writes what fits, then fails with ENOSPC."""
    left = [room]

    def write(fd: int, data: memoryview) -> int:
        if left[0] <= 0:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        n = os.write(fd, data[: left[0]])
        left[0] -= n
        return n

    return write


def test_a_certificate_that_does_not_fit_replaces_nothing_and_leaves_no_temporary_file(tmp_path, monkeypatch):
    """Not a key beside the old chain, nor a file cut short: a node that then restarts keeps its identity."""
    old = NodeCertificate(key_pem=b"k" * 100, chain_pem=b"c" * 100, trust_pem=b"t" * 100)
    write_certificate(tmp_path, old)
    new = NodeCertificate(key_pem=b"K" * 100, chain_pem=b"C" * 100, trust_pem=b"T" * 100)
    for room in (50, 150, 250, 310):  # cut in the key, in the chain, in the trusted roots, in the marker naming them
        monkeypatch.setattr(identity_module, "_os_write", filling_disk(room))
        with pytest.raises(OSError, match="No space left"):
            write_certificate(tmp_path, new)
        assert read_certificate(tmp_path) == old, f"cut after {room} bytes"
        assert sorted(p.name for p in (tmp_path / "certificates").iterdir()) == ["node.crt", "node.key", "trust.pem"]
    monkeypatch.setattr(identity_module, "_os_write", filling_disk(10_000))
    write_certificate(tmp_path, new)
    assert read_certificate(tmp_path) == new


class Crash(BaseException):
    """The process dies here: nothing after it runs (no except clause catches a BaseException of ours)."""


def crashing_at_rename(k: int):
    """os.replace that renames k - 1 times and then dies, as a process killed between two renames."""
    renamed = [0]
    real = os.replace

    def replace(src, dst):
        if renamed[0] == k - 1:
            raise Crash(f"killed before rename {k}: {src} -> {dst}")
        renamed[0] += 1
        real(src, dst)

    return replace


@pytest.mark.parametrize("k", [1, 2, 3, 4])
def test_a_crash_between_the_renames_of_a_certificate_is_finished_at_the_next_start(tmp_path, monkeypatch, k):
    """Rename 1 is of the marker naming the files, then key, chain, trusted roots: never a mix after a start.

    A new chain beside the old trusted roots (a root rotation) would not verify: the node would not start.
    """
    old = NodeCertificate(key_pem=b"k" * 100, chain_pem=b"c" * 100, trust_pem=b"t" * 100)
    new = NodeCertificate(key_pem=b"K" * 100, chain_pem=b"C" * 100, trust_pem=b"T" * 100)
    write_certificate(tmp_path, old)
    with monkeypatch.context() as patch:
        patch.setattr(os, "replace", crashing_at_rename(k))
        with pytest.raises(Crash):
            write_certificate(tmp_path, new)
    finished = finish_interrupted_writes(tmp_path)
    if k == 1:  # the marker never named them: the old certificate stands
        assert (read_certificate(tmp_path), finished) == (old, [])
    else:
        left = ["certificates/node.key", "certificates/node.crt", "certificates/trust.pem"][k - 2 :]
        assert (read_certificate(tmp_path), finished) == (new, left)
    assert sorted(p.name for p in (tmp_path / "certificates").iterdir()) == ["node.crt", "node.key", "trust.pem"]
    assert finish_interrupted_writes(tmp_path) == [], "finished once"


def test_a_marker_left_by_an_error_rolls_no_later_write_cut_short_into_place(tmp_path, monkeypatch):
    """An I/O error on a rename after the marker: the node runs on, a later trust.pem write is cut by a kill."""
    old = NodeCertificate(key_pem=b"k" * 100, chain_pem=b"c" * 100, trust_pem=b"t" * 100)
    new = NodeCertificate(key_pem=b"K" * 100, chain_pem=b"C" * 100, trust_pem=b"T" * 100)
    write_certificate(tmp_path, old)
    real = os.replace

    def failing_on_the_chain(src, dst):
        if str(dst).endswith("node.crt"):
            raise OSError(errno.EIO, os.strerror(errno.EIO))
        real(src, dst)

    with monkeypatch.context() as patch:
        patch.setattr(os, "replace", failing_on_the_chain)
        with pytest.raises(OSError, match="Input/output error"):
            write_certificate(tmp_path, new)
    # A later write of trusted roots, killed 10 bytes into its temporary file (no cleanup runs):
    (tmp_path / "certificates" / "trust.pem.tmp").write_bytes(b"R" * 10)
    finished = finish_interrupted_writes(tmp_path)
    assert finished == ["certificates/node.crt"] and read_certificate(tmp_path).trust_pem == b"t" * 100
    assert read_certificate(tmp_path).chain_pem == b"C" * 100


def test_what_a_crash_left_before_the_renames_is_removed_at_the_next_start(tmp_path, monkeypatch):
    old = NodeCertificate(key_pem=b"k" * 100, chain_pem=b"c" * 100, trust_pem=b"t" * 100)
    write_certificate(tmp_path, old)
    save_node_state(tmp_path, state())
    (tmp_path / "node.json.tmp").write_bytes(b"{")  # a single file's write cut before its rename
    (tmp_path / "certificates" / "node.key.tmp").write_bytes(b"K")  # a certificate's, cut before the marker
    assert finish_interrupted_writes(tmp_path) == []
    assert read_certificate(tmp_path) == old and load_node_state(tmp_path) is not None
    assert not list(tmp_path.rglob("*.tmp"))


def test_one_write_of_the_state_dir_at_a_time(tmp_path, monkeypatch):
    """The CA (a renewal) and the Worker (trusted roots) both write trust.pem, through one temporary file."""
    held = []

    def write(fd, data):
        taken = identity_module._WRITE_LOCK.acquire(blocking=False)
        if taken:  # not held by the write: give it back, so that the test fails rather than hangs the next
            identity_module._WRITE_LOCK.release()
        held.append(taken)
        return os.write(fd, data)

    monkeypatch.setattr(identity_module, "_os_write", write)
    write_certificate(tmp_path, NodeCertificate(key_pem=b"K", chain_pem=b"C", trust_pem=b"T"))
    assert held and not any(held), "another write could have begun meanwhile"


def test_a_change_of_the_node_state_does_not_rewrite_its_secret_key(tmp_path, monkeypatch):
    made = state()
    save_node_state(tmp_path, made)
    key_file = tmp_path / "curve.key"
    before = key_file.stat().st_ino
    changed = update_node_state(tmp_path, lambda s: s.with_managers(()))
    assert changed is not None and load_node_state(tmp_path) == changed
    assert key_file.stat().st_ino == before, "curve.key was written again"


def test_a_damaged_state_is_a_clear_error(tmp_path):
    save_node_state(tmp_path, state())
    (tmp_path / "node.json").write_text(json.dumps({"format": 1, "role": "worker"}))
    with pytest.raises(StateDirError, match="holds a damaged node identity"):
        load_node_state(tmp_path)


def test_a_missing_certificate_is_a_clear_error(tmp_path):
    with pytest.raises(StateDirError, match="has no usable certificate"):
        read_certificate(tmp_path)


def test_leaving_forgets_the_swarm_but_keeps_the_log(tmp_path):
    save_node_state(tmp_path, state())
    write_certificate(tmp_path, NodeCertificate(b"k", b"c", b"t"))
    (tmp_path / "node.log").write_text("kept")
    forget_swarm(tmp_path)
    assert load_node_state(tmp_path) is None
    assert not (tmp_path / "certificates").exists()
    assert (tmp_path / "node.log").read_text() == "kept"


def test_a_worker_drops_the_data_only_a_manager_keeps(tmp_path):
    """A demoted manager keeps neither the Store (state, join-token secrets) nor a root CA key."""
    (tmp_path / "store").mkdir()
    (tmp_path / "store" / "wal-0001.log").write_bytes(b"entries")
    (tmp_path / "certificates").mkdir()
    for name in ("root-ca.key", "node.key", "node.crt", "trust.pem"):
        (tmp_path / "certificates" / name).write_bytes(b"x")
    assert drop_manager_data(tmp_path) == ["store", "certificates/root-ca.key"]
    assert not (tmp_path / "store").exists()
    assert sorted(p.name for p in (tmp_path / "certificates").iterdir()) == ["node.crt", "node.key", "trust.pem"]
    assert drop_manager_data(tmp_path) == []  # a worker's own start: nothing to drop


def test_one_process_holds_a_state_dir_and_names_its_pid(tmp_path):
    assert lock_holder(tmp_path) is None
    fd = lock_state_dir(tmp_path)
    try:
        assert lock_holder(tmp_path) == str(os.getpid())
        with pytest.raises(StateDirError, match=rf"is in use by a running node \(pid {os.getpid()}\): stop it first"):
            lock_state_dir(tmp_path)  # another open file description: as a second process's
    finally:
        os.close(fd)
    assert lock_holder(tmp_path) is None  # released with the descriptor (by the kernel, at any exit)
    os.close(lock_state_dir(tmp_path))


def test_a_lock_that_cannot_be_taken_is_named(tmp_path):
    (tmp_path / LOCK_FILE).mkdir()
    with pytest.raises(StateDirError, match=re.escape(f"cannot open {tmp_path / LOCK_FILE}: Is a directory")):
        lock_state_dir(tmp_path)
