"""A manager whose disk fills: it stays up out of Raft, says why, and goes on once there is room.

Its state dir is a tmpfs of its own (tests/support/disk.py), filled to the last byte by a
ballast file; big writes then take the WAL past what it had preallocated.
"""

from __future__ import annotations

import itertools
import time

import pytest

from swarmnode.actors.control.actor import OUT_OF_SERVICE
from swarmnode.actors.control.messages import (
    ClusterStatusReply,
    ClusterStatusRequest,
    NodeListRequest,
    NodeUpdateRequest,
)
from swarmnode.actors.raft.actor import ProposeCreate
from swarmnode.transport import RemoteError, TransportError
from tests.support import wait_until
from tests.support.disk import fill, small_disk
from tests.support.nodes import Managers, NodeProcess, run_cli
from tests.support.writers import labels_on, write_label

DISK_MB = 24  # the founder's state dir: its WAL preallocates 4 MB at a time, 64 MB at most per segment
BLOB = "x" * 200_000
# With writes going on, its supervisors would give up within NODE_PERIOD_S (10 s) if each write
# crashed its Raft member again: this is long enough to have seen that.
OUT_OF_RAFT_S = 4.0


def status_of(node: NodeProcess) -> ClusterStatusReply:
    reply = node.request("control", ClusterStatusRequest(), timeout_s=5.0)
    assert isinstance(reply, ClusterStatusReply)
    return reply


def disk_full(node: NodeProcess) -> str | None:
    """What ``node`` says of its disk ("": not full), or None while its Raft member crashes or restarts."""
    try:
        return status_of(node).disk_full
    except RemoteError as exc:
        assert exc.code == "unavailable", exc  # its Raft member crashed, or restarts
        return None


def test_a_manager_whose_disk_fills_stays_up_out_of_raft_and_goes_on_once_there_is_room(nodes, short_tmp):
    founder_dir = short_tmp / "manager"
    with small_disk(founder_dir, DISK_MB):
        try:
            managers = Managers(nodes, 3)
            founder = managers.manager
            assert founder.state_dir == founder_dir
            managers.wait_leader()
            ballast = fill(founder_dir)
            ids = itertools.count()

            def big_write() -> bool:
                """A big write through the founder: True once it fails (its WAL met the full disk)."""
                try:
                    founder.request("raft", ProposeCreate(kind="task", id=f"big{next(ids)}", spec={"b": BLOB}))
                except (RemoteError, TransportError):
                    return True
                return False

            wait_until(big_write, 30, "a write through the manager whose disk is full to fail")
            wait_until(lambda: disk_full(founder), 10, "the manager to say its disk is full")
            others = [n for n in managers.all if n is not founder]
            leader = managers.wait_leader()
            assert leader is not founder
            assert status_of(founder).leader == "", "it names a leader it does not follow"
            # The leader's appends reach it all the while: one label moved on at each write (a
            # node object with a label more at each write would grow its Raft entries without end).
            writes = 0
            end = time.monotonic() + OUT_OF_RAFT_S
            while time.monotonic() < end:
                moved = NodeUpdateRequest(
                    node="self",
                    availability="",
                    label_add={f"k{writes + 1}": "v"},
                    label_rm=(f"k{writes}",) if writes else (),
                )
                leader.request("control", moved)
                writes += 1
            with pytest.raises(RemoteError, match="disk is full") as refused:
                write_label(founder, "refused")
            assert "goes on by itself" in str(refused.value), refused.value
            shown = run_cli("--state-dir", str(founder_dir), "cluster", "status")
            assert "(unknown: this manager's disk is full)" in shown.stdout, shown.stdout + shown.stderr
            assert founder.proc is not None and founder.proc.poll() is None, "the node exited"
            founder_id = founder.node_id
            rows = {m.node_id: m.reachable for m in status_of(leader).members}
            assert rows[founder_id] == "unreachable (disk full)", rows  # the leader was told why
            listed = leader.request("control", NodeListRequest(), timeout_s=5.0)
            assert {r.node_id: r.manager_status for r in listed.nodes}[founder_id] == "Unreachable (disk full)"
            assert all(n.proc is not None and n.proc.poll() is None for n in others)

            ballast.unlink()
            leader_id = leader.node_id
            wait_until(lambda: disk_full(founder) == "", 10, "the manager to take part again")
            wait_until(lambda: f"k{writes}" in labels_on(founder, leader_id), 15, "the writes made meanwhile on it")
            assert writes > 10 and f"k{writes - 1}" not in labels_on(founder, leader_id)
            write_label(founder, "after")  # it writes again
            assert labels_on(leader, founder.node_id)["after"] == "v"
        finally:
            nodes.stop_all()  # before the disk goes


def test_a_manager_started_on_a_full_disk_comes_up_and_goes_on_once_there_is_room(nodes, short_tmp):
    """A machine rebooted with its disk full: the node runs and says why it waits (it was refused at start)."""
    state_dir = short_tmp / "lone"
    with small_disk(state_dir, DISK_MB):
        try:
            node = nodes("lone").start()
            write_label(node, "before")
            node.stop()
            ballast = fill(state_dir)
            node.start()
            assert "is full: the node starts all the same" in node.stderr(), node.stderr()
            # It listens on a new port (127.0.0.1:0), which node.json cannot be told:
            said = "could not record in node.json that this node listens on"
            wait_until(lambda: said in node.stderr(), 10, f"the node to say it {said}")
            wait_until(lambda: disk_full(node), 10, "the manager to say its disk is full")
            with pytest.raises(RemoteError, match="disk is full"):
                write_label(node, "refused")
            # A new identity cannot be written there: founding (or joining) is refused, and says why.
            founding = run_cli("start", "--role", "manager", "--state-dir", str(state_dir / "new"))
            assert founding.returncode != 0
            assert "the disk is full; free space there and start again" in founding.stderr, founding.stderr
            # A forced new cluster has a snapshot to write: refused the same way, not an internal error.
            node.stop()
            forced = run_cli("start", "--force-new-cluster", "--state-dir", str(state_dir))
            assert forced.returncode == 1, forced.stderr
            assert "the disk is full; free space there and start again" in forced.stderr, forced.stderr
            node.start()
            wait_until(lambda: disk_full(node), 10, "the manager to say its disk is full")

            ballast.unlink()
            wait_until(lambda: disk_full(node) == "", 10, "the manager to take part again")
            write_label(node, "after")
            assert {"before", "after"} <= labels_on(node, "self").keys()
        finally:
            nodes.stop_all()  # before the disk goes


def test_a_follower_started_on_a_full_disk_is_out_of_raft_before_any_write(nodes, short_tmp):
    """It took part (a voter the leader counted, reachable) until the first entry met its disk and
    crashed its Raft member; a write through it meanwhile was committed and reported failed."""
    follower_dir = short_tmp / "m1"  # the first manager to join (tests/support/nodes.py)
    with small_disk(follower_dir, DISK_MB):
        try:
            managers = Managers(nodes, 3)
            (follower,) = [n for n in managers.all if n.state_dir == follower_dir]
            if managers.wait_leader() is follower:  # a follower: no new term awaits it (a write)
                follower.stop()
                managers.wait_leader()
                follower.start()
            follower_id = follower.node_id
            follower.stop()  # no election: the leader stays, at its term
            ballast = fill(follower_dir, leave=64 << 10)  # writable, but less than its Raft log needs
            follower.start()
            # No write yet, nor a term to record: only its start can have told it.
            wait_until(lambda: disk_full(follower), 10, "the manager to say at once that its disk is full")
            leader = managers.wait_leader()
            wait_until(
                lambda: {m.node_id: m.reachable for m in status_of(leader).members}[follower_id] == OUT_OF_SERVICE,
                10,
                "the leader to see it out of Raft",
            )
            write_label(leader, "meanwhile")
            assert not [r for r in follower.log_records() if "crashed: WalDiskFull" in r["msg"]]
            ballast.unlink()
            wait_until(lambda: disk_full(follower) == "", 10, "the manager to take part again")
            wait_until(lambda: "meanwhile" in labels_on(follower, leader.node_id), 15, "the write made meanwhile")
        finally:
            nodes.stop_all()  # before the disk goes
