"""Managers replicating by Raft, as real processes on loopback: failover, catch-up, quorum, snapshots."""

from __future__ import annotations

import shutil
import signal
import time

import pytest
import zmq

from swarmnode.actors.control import StatusRequest
from swarmnode.actors.control.messages import (
    ClusterStatusReply,
    ClusterStatusRequest,
    NodeInspectRequest,
    NodeListRequest,
)
from swarmnode.actors.messages import Address, Crash, Envelope, ErrorReply, decode_envelope, encode_envelope
from swarmnode.actors.node.swarm_state import NodeState, load_node_state, update_node_state
from swarmnode.actors.raft.recovery import DROPPED_FILE
from swarmnode.cli.local import free_port_pair
from swarmnode.transport import ControlClient, RemoteError, RequestTimeout, TransportError
from tests.support import wait_until
from tests.support.nodes import Managers, NodeProcess, run_cli
from tests.support.writers import MINORITY_REFUSALS, LabelWriter, add_label, labels_on, write_label

FAILOVER_TARGET_S = 2.0


@pytest.mark.parametrize("count", [3, 5])
def test_managers_join_as_voters_and_replicate_writes(nodes, count):
    managers = Managers(nodes, count)
    leader = managers.wait_leader()
    write_label(leader, "hello")
    leader_id = leader.node_id
    for node in managers.all:
        where = node.state_dir.name
        wait_until(lambda n=node: labels_on(n, leader_id).get("hello") == "v", 10, f"the write on {where}")
    for node in managers.all:
        managers.wait_status(node.node_id, "ready", 10)
    rows = {r.node_id: r for r in managers.nodes().values()}
    assert sum(1 for r in rows.values() if r.manager_status == "Leader") == 1
    assert sum(1 for r in rows.values() if r.manager_status == "Reachable") == count - 1


def test_a_write_on_a_follower_is_forwarded_to_the_leader(nodes):
    managers = Managers(nodes, 3)
    leader = managers.wait_leader()
    follower = next(n for n in managers.all if n is not leader)
    write_label(follower, "via-follower")
    assert labels_on(leader, follower.node_id)["via-follower"] == "v"


def test_a_follower_reads_its_own_writes_at_once(nodes):
    """Docker's managers serve reads from the leader; ours serve them from their own Store, so a
    write answered to a client of a follower must be applied there before the answer (else
    `node update` then `node inspect` on that follower could show the old node, and two updates
    in a row could fail on a stale version)."""
    managers = Managers(nodes, 3)
    leader = managers.wait_leader()
    follower = next(n for n in managers.all if n is not leader)
    with ControlClient(str(follower.control_path), timeout_s=5) as client:
        for i in range(100):
            client.request("control", add_label("self", f"k{i}"))
            labels = client.request("control", NodeInspectRequest(node="self")).node["spec"]["labels"]
            assert f"k{i}" in labels, f"write {i} answered, but the follower's read does not show it: {labels}"


def test_a_follower_reads_what_the_leader_acknowledged_a_moment_before(nodes):
    """Reads for an operator are linearizable (read-index): a write answered by the leader is in
    what any manager answers next, though a follower learns the commit only with the next append
    or heartbeat (lazy commit). Without read-index its store could still lack it."""
    managers = Managers(nodes, 3)
    leader = managers.wait_leader()
    follower = next(n for n in managers.all if n is not leader)
    with (
        ControlClient(str(leader.control_path), timeout_s=5) as writer,
        ControlClient(str(follower.control_path), timeout_s=5) as reader,
    ):
        for i in range(50):
            writer.request("control", add_label("self", f"r{i}"))
            labels = reader.request("control", NodeInspectRequest(node=leader.node_id)).node["spec"]["labels"]
            assert f"r{i}" in labels, f"write {i} acknowledged by the leader, but the follower reads {labels}"


def test_kill_9_of_the_leader_elects_a_new_one_within_2_s_and_loses_no_acknowledged_write(nodes):
    managers = Managers(nodes, 3)
    leader = managers.wait_leader()
    survivor = next(n for n in managers.all if n is not leader)
    target = survivor.node_id
    with LabelWriter(lambda: survivor, target) as writer:
        wait_until(lambda: len(writer.acknowledged) >= 20, 20, "writes before the kill")
        leader.kill()
        killed = time.monotonic()
        acked_at_kill = len(writer.acknowledged)
        wait_until(lambda: len(writer.acknowledged) > acked_at_kill + 5, 10, "writes after the failover")
        failover_s = time.monotonic() - killed
    assert failover_s <= FAILOVER_TARGET_S + 1.0, f"writes resumed {failover_s:.2f} s after the leader died"
    labels = labels_on(survivor, target)
    lost = [k for k in writer.acknowledged if k not in labels]
    assert lost == [], f"acknowledged writes lost: {lost[:10]}"
    # The killed manager restarts and catches up.
    leader.start()
    wait_until(
        lambda: set(writer.acknowledged) <= set(labels_on(leader, target)), 15, "the restarted manager to catch up"
    )


def test_a_minority_cannot_commit(nodes):
    managers = Managers(nodes, 3)
    leader = managers.wait_leader()
    others = [n for n in managers.all if n is not leader]
    for node in others:
        node.signal(signal.SIGSTOP)
    try:
        with pytest.raises((RemoteError, RequestTimeout)) as err:
            write_label(leader, "minority", timeout_s=4)
        # The leader cannot reach a quorum: it steps down (check-quorum) or the write times out.
        text = str(err.value)
        assert isinstance(err.value, RequestTimeout) or any(refusal in text for refusal in MINORITY_REFUSALS), text
        # Its node's status says why its heartbeats fail (not "no actor 'dispatcher'").
        session = wait_until(
            lambda: (s := leader.try_status()) is not None and "knows no leader" in s.session_detail and s,
            10,
            "the cut-off manager's status to say it knows no leader",
        )
        assert session.session == "failing" and "this node's Raft member knows no leader" in session.session_detail
    finally:
        for node in others:
            node.signal(signal.SIGCONT)
    wait_until(lambda: managers.leader_node() is not None, 15, "a leader after the heal")
    write_label(managers.wait_leader(), "healed")


def test_a_wiped_manager_rejoins_by_snapshot(nodes):
    managers = Managers(nodes, 3, env={"SWARM_NODE_TEST_SNAPSHOT_EVERY": "20"})
    leader = managers.wait_leader()
    for i in range(60):
        write_label(leader, f"k{i}")
    victim = next(n for n in managers.all if n is not leader)
    victim_id = victim.node_id
    victim.kill()
    assert run_cli("--state-dir", str(leader.state_dir), "node", "demote", victim_id).returncode == 0
    wait_until(lambda: managers.voters() == 2, 15, "the dead manager to leave Raft")
    assert run_cli("--state-dir", str(leader.state_dir), "node", "rm", "--force", victim_id).returncode == 0
    shutil.rmtree(victim.state_dir)  # the disk is lost: the manager comes back empty
    victim.join(managers.manager_addr, managers.token("manager"), env=managers.env)
    wait_until(lambda: managers.voters() == 3, 30, "the wiped manager to rejoin as a voter")
    leader_id = leader.node_id
    wait_until(
        lambda: labels_on(victim, leader_id).get("k59") == "v", 15, "the snapshot's data on the rejoined manager"
    )
    assert any("installed a snapshot" in r["msg"] for r in victim.log_records())


def test_a_restarted_manager_far_behind_catches_up_by_snapshot_and_keeps_going(nodes):
    """Its own log ends long before the leader's snapshot (seen in chaos/kill_leader.py with workers:
    the log could not go on after the snapshot, and RaftMember crashed at every restart)."""
    managers = Managers(nodes, 3, env={"SWARM_NODE_TEST_SNAPSHOT_EVERY": "20"})
    leader = managers.wait_leader()
    leader_id = leader.node_id
    write_label(leader, "first")
    victim = next(n for n in managers.all if n is not leader)
    wait_until(lambda: label_on(victim, leader_id, "first"), 10, "the follower to hold the first write")
    victim.kill()
    # More appends than the leader keeps in flight to it (256, queued by zmq while it is down),
    # and snapshots every 20 entries: what it lacks after those is only in a snapshot.
    for i in range(300):
        write_label(leader, f"b{i}")
    victim.start(env=managers.env)
    wait_until(lambda: label_on(victim, leader_id, "b299"), 30, "the snapshot's data on the follower")
    installed = [r["msg"] for r in victim.log_records() if "installed a snapshot at index" in r["msg"]]
    assert int(installed[-1].split("index ")[1].split()[0]) > 270, installed
    write_label(leader, "after")  # appended after the snapshot
    wait_until(lambda: label_on(victim, leader_id, "after"), 10, "a write after the snapshot")
    victim.kill()
    victim.start(env=managers.env)  # recovers from the snapshot and the log that goes on after it
    wait_until(lambda: label_on(victim, leader_id, "after"), 15, "the follower back after a restart")
    assert not [r["msg"] for r in victim.log_records() if r["level"] == "error"]


def label_on(node: NodeProcess, target: str, key: str) -> bool:
    """Whether ``node`` shows label ``key`` on node ``target``; False while it cannot answer."""
    try:
        return labels_on(node, target, timeout_s=2.0).get(key) == "v"
    except TransportError:
        return False


def test_demoting_refuses_to_lose_quorum(nodes):
    managers = Managers(nodes, 3)
    leader = managers.wait_leader()
    others = [n for n in managers.all if n is not leader]
    ids = [n.node_id for n in others]
    others[0].kill()
    managers.wait_status(ids[0], "down", 10)
    result = run_cli("--state-dir", str(leader.state_dir), "node", "demote", ids[1])
    assert result.returncode == 1
    assert "would lose quorum" in result.stderr


@pytest.mark.parametrize("which", ["follower", "leader"])
def test_a_demoted_manager_leaves_raft_runs_as_a_worker_and_drops_its_data(nodes, which):
    """Its worker certificate comes once its removal committed; promoted again, it rejoins from nothing."""
    managers = Managers(nodes, 3)
    leader = managers.wait_leader()
    victim = leader if which == "leader" else next(n for n in managers.all if n is not leader)
    victim_id = victim.node_id
    inspected = leader.request("control", NodeInspectRequest(node=leader.node_id)).node
    assert inspected["manager_status"] == {"leader": True, "reachability": "reachable", "addr": leader.listen}
    result = run_cli("--state-dir", str(victim.state_dir), "leave")
    assert result.returncode == 1 and "removing this node leaves 2 of the 3 managers" in result.stderr
    result = run_cli("--state-dir", str(leader.state_dir), "node", "demote", victim_id)
    assert result.returncode == 0, result.stderr

    def runs_as_worker() -> bool:
        status = victim.try_status()
        return status is not None and status.role == "worker"

    wait_until(runs_as_worker, 30, "the demoted manager to run as a worker")
    assert not (victim.state_dir / "store").exists()
    assert "manager_status" not in managers.wait_leader().request("control", NodeInspectRequest(node=victim_id)).node
    others = [n for n in managers.all if n is not victim]
    new_leader = managers.wait_leader()
    assert new_leader in others
    members = managers.cluster_status(new_leader).members
    assert sorted((m.node_id, m.suffrage) for m in members) == sorted((n.node_id, "voter") for n in others)
    write_label(new_leader, "after-demote")
    result = run_cli("--state-dir", str(new_leader.state_dir), "node", "promote", victim_id, new_leader.node_id)
    assert result.returncode == 0, result.stderr
    assert f"Node {new_leader.node_id} is already a manager." in result.stdout
    wait_until(lambda: (s := victim.try_status()) is not None and s.role == "manager", 30, "a manager again")
    new_leader_id = new_leader.node_id

    def written_through_it() -> bool:
        """At once: its Store, restarting from nothing, lacks the leader's node (it said "no node")."""
        try:
            victim.request("control", add_label(new_leader_id, "through-promoted"), timeout_s=10)
        except RemoteError as exc:
            assert exc.code == "unavailable", exc  # not caught up yet, and it says so
            return False
        return True

    wait_until(written_through_it, 30, "a write through the promoted manager")
    wait_until(lambda: managers.voters() == 3, 30, "the promoted node to rejoin as a voter")
    wait_until(lambda: labels_on(victim, new_leader.node_id).get("after-demote") == "v", 10, "the write on it")


def test_a_demotion_right_after_a_manager_died_is_refused_on_every_manager(nodes):
    """Reachable is what the leader heard within an election timeout, on a follower too (its own
    heartbeat records say ready for 3 heartbeats more); the swarm keeps its leader."""
    managers = Managers(nodes, 3)
    leader = managers.wait_leader()
    dead, other = [n for n in managers.all if n is not leader]
    other_id, dead_id = other.node_id, dead.node_id
    dead.kill()

    def unreachable_on(node: NodeProcess) -> bool:
        rows = node.request("control", NodeListRequest()).nodes
        return any(r.node_id == dead_id and r.manager_status == "Unreachable" for r in rows)

    wait_until(lambda: unreachable_on(leader), 5, "the leader to see the dead manager unreachable")
    assert unreachable_on(other)  # the leader's view, asked by the follower
    for asked in (leader, other):
        result = run_cli("--state-dir", str(asked.state_dir), "node", "demote", other_id)
        assert result.returncode == 1 and "would lose quorum" in result.stderr, result.stderr
    write_label(leader, "still-writable")
    voters = [m.node_id for m in managers.cluster_status(leader).members if m.suffrage == "voter"]
    assert other_id in voters and len(voters) == 3


def test_a_manager_demoted_and_removed_while_down_is_told_so_when_it_comes_back(nodes):
    """Its own Raft group has no leader for it any more: `status` and `cluster status` say why."""
    managers = Managers(nodes, 3)
    leader = managers.wait_leader()
    victim = next(n for n in managers.all if n is not leader)
    victim_id = victim.node_id
    victim.stop()
    managers.wait_status(victim_id, "down", 10)
    result = run_cli("--state-dir", str(leader.state_dir), "node", "demote", victim_id)
    assert result.returncode == 0, result.stderr
    wait_until(lambda: managers.voters() == 2, 15, "the demoted manager to leave Raft")  # else rm says busy
    shown = run_cli("--state-dir", str(leader.state_dir), "node", "ls").stdout
    (row,) = [line for line in shown.splitlines() if line.startswith(victim_id)]
    assert "manager (demoting)" in row, shown  # its certificate says manager until it renews
    result = run_cli("--state-dir", str(leader.state_dir), "node", "rm", victim_id)
    assert result.returncode == 0, result.stderr
    victim.start()
    victim.wait_session("removed", 10)
    wait_until(
        lambda: stamp(victim, "Raft member stops campaigning", 0),
        5,
        "the removed manager's Raft member to stop campaigning",
    )
    started = time.monotonic()
    shown = run_cli("--state-dir", str(victim.state_dir), "cluster", "status")
    baseline = time.monotonic() - started  # a command that waits on nothing, on this machine now
    assert f"node {victim_id} was removed from the swarm" in shown.stdout, shown.stdout
    assert "Run `swarm-node leave` here to clear its state" in shown.stdout
    assert "Leader:        (none: this node was removed from the swarm)" in shown.stdout, shown.stdout
    started = time.monotonic()
    listed = run_cli("--state-dir", str(victim.state_dir), "node", "ls")  # a read: no leader will confirm it
    assert listed.returncode == 1 and f"node {victim_id} was removed from the swarm" in listed.stderr, listed.stderr
    waited = time.monotonic() - started - baseline
    assert waited < 4, f"the read waited for its deadline ({waited:.1f} s more than a command that waits on nothing)"
    ca = run_cli("--state-dir", str(victim.state_dir), "ca", "status")  # not its frozen Store's view
    assert ca.returncode == 1 and f"node {victim_id} was removed from the swarm" in ca.stderr, ca.stdout + ca.stderr
    write_label(leader, "still-writable")
    left = run_cli("--state-dir", str(victim.state_dir), "leave")  # no --force: the swarm dropped it already
    assert left.returncode == 0, left.stderr
    assert victim.wait_exit() == 0


def test_a_manager_promoted_again_after_a_forced_new_cluster_follows_the_leader(nodes):
    """Its snapshot (the forced cluster's) names it the only voter and the leader a worker: the
    leader's messages must still reach it, or it elects itself beside the leader."""
    swarm = Managers(nodes, 1)
    a = swarm.manager
    a_id = a.node_id
    b, c = swarm.join("b"), swarm.join("c")
    b_id, c_id = b.node_id, c.node_id
    a.stop()
    a.start("--force-new-cluster")
    swarm.wait_leader()
    swarm.all = [a, b, c]
    result = run_cli("--state-dir", str(a.state_dir), "node", "promote", b_id, c_id)
    assert result.returncode == 0, result.stderr
    wait_until(lambda: swarm.voters() == 3, 30, "b and c to become voters")
    result = run_cli("--state-dir", str(a.state_dir), "node", "demote", a_id)
    assert result.returncode == 0, result.stderr
    wait_until(lambda: (s := a.try_status()) is not None and s.role == "worker", 30, "a to run as a worker")
    new_leader = swarm.wait_leader()
    result = run_cli("--state-dir", str(new_leader.state_dir), "node", "promote", a_id)
    assert result.returncode == 0, result.stderr
    wait_until(lambda: swarm.voters() == 3, 30, "a to rejoin as a voter")
    write_label(new_leader, "after-rejoin")
    wait_until(lambda: labels_on(a, new_leader.node_id).get("after-rejoin") == "v", 10, "the write on a")
    for node in (a, b, c):
        status = swarm.cluster_status(node)
        assert status is not None and status.leader == new_leader.node_id, (node.state_dir.name, status)


def test_a_new_leader_shows_every_node_unknown_until_its_first_heartbeat(nodes):
    """As swarmkit's markNodesUnknown: not the dead leader's word that a node is ready."""
    managers = Managers(nodes, 3, heartbeat="2s")  # unknown for 6 s (3 heartbeats) at most
    leader = managers.wait_leader()
    worker = managers.join("w1")
    worker_id = worker.node_id
    managers.wait_status(worker_id, "ready", 10)
    worker.kill()
    leader.kill()
    new_leader = managers.wait_leader()
    other = next(n for n in managers.alive() if n is not new_leader)

    def states() -> dict[str, str]:
        return {r.node_id: r.status for r in new_leader.request("control", NodeListRequest()).nodes}

    wait_until(lambda: states()[worker_id] == "unknown", 5, "the silent worker to be unknown")
    wait_until(lambda: states()[other.node_id] == "ready", 10, "the live manager to be ready again")
    wait_until(lambda: states()[worker_id] == "down", 15, "the silent worker to be down")


def test_managers_are_ready_at_once_when_quorum_returns_not_after_their_backoff(nodes):
    """A manager's node hears of the new leader from its own Raft member and beats to it then,
    not at the end of a backoff a long quorum loss made a period (8 s here): measured in the
    survivor's own log, from its Raft member naming a leader to its heartbeat being answered."""
    managers = Managers(nodes, 3, heartbeat="8s")
    survivor = managers.wait_leader()
    others = [n for n in managers.all if n is not survivor]
    for node in others:
        node.kill()

    def failures() -> int:
        status = survivor.try_status()
        detail = status.session_detail if status is not None and status.session == "failing" else ""
        return int(detail.split(" ", 1)[0]) if detail else 0

    wait_until(lambda: failures() >= 7, 30, "the survivor's heartbeats to back off to the period")
    restarted = time.time()
    for node in others:
        node.start(wait=False)

    answered = wait_until(
        lambda: stamp(survivor, "heartbeats reach manager", restarted, first=True), 30, "the survivor's beats answered"
    )
    leader_known = next(  # its Raft member naming a leader ("raft: leader is unknown" names none)
        (
            r["ts"]
            for r in survivor.log_records()
            if r["ts"] > restarted and r["msg"].startswith("raft: leader is ") and "unknown" not in r["msg"]
        ),
        None,
    )
    assert leader_known is not None and leader_known <= answered
    assert answered - leader_known < 2.0, f"answered {answered - leader_known:.1f} s after a leader was known"


def listed_at_by_the_leader(managers: Managers, *nodes: NodeProcess) -> bool:
    """Whether the leader's `node ls` lists each of ``nodes`` at the address it listens on now;
    False while there is no leader, or it does not answer (a leader changing: asked again)."""
    leader = managers.leader_node()
    try:
        rows = leader.request("control", NodeListRequest()).nodes if leader is not None else ()
    except (RemoteError, TransportError):
        return False
    addresses = {r.node_id: r.addr for r in rows}
    return bool(rows) and all(addresses.get(node.node_id) == node.listen for node in nodes)


def test_nodes_restarted_on_another_address_are_reached_there(nodes):
    """The address follows the node (its heartbeat says it): a manager on a new --listen is a
    reachable voter again, a worker is listed and reached at its new address."""
    managers = Managers(nodes, 3)
    leader = managers.wait_leader()
    manager = next(n for n in managers.all if n is not leader)
    worker = managers.join("w1")
    managers.wait_status(worker.node_id, "ready", 10)
    for node in (manager, worker):
        node.stop()
        node.listen = f"127.0.0.1:{free_port_pair()}"
        node.start()  # --listen names the new address

    wait_until(lambda: listed_at_by_the_leader(managers, manager, worker), 15, "the new addresses in node ls")

    def reachable_voter() -> bool:
        status = managers.cluster_status(managers.wait_leader())
        rows = [m for m in status.members if m.node_id == manager.node_id] if status is not None else []
        return bool(rows) and rows[0].suffrage == "voter" and rows[0].reachable == "reachable"

    wait_until(reachable_voter, 15, "the moved manager to be a reachable voter again")
    current = managers.wait_leader()
    write_label(current, "after-move")
    wait_until(
        lambda: labels_on(manager, current.node_id).get("after-move") == "v", 10, "the write on the moved manager"
    )
    managers.wait_status(worker.node_id, "ready", 10)


@pytest.mark.parametrize("which", ["follower", "leader"])
def test_a_manager_of_two_moved_to_another_address_is_reached_there(nodes, which):
    """With two voters, recording the new address needs the moved manager itself: it tells the
    other where it is (RaftAddress), which connects there until the Store records it."""
    managers = Managers(nodes, 2)
    leader = managers.wait_leader()
    moved = leader if which == "leader" else next(n for n in managers.all if n is not leader)
    other = next(n for n in managers.all if n is not moved)
    moved.stop()
    moved.listen = f"127.0.0.1:{free_port_pair()}"
    moved.start()

    wait_until(lambda: listed_at_by_the_leader(managers, moved), 15, "a leader, and the moved manager's new address")
    current = managers.wait_leader()
    key = f"after-{which}-moved"
    write_label(current, key)
    for node in (moved, other):
        wait_until(lambda n=node: label_on(n, current.node_id, key), 10, f"the write on {node.listen}")


def test_managers_that_all_moved_but_one_find_each_other_through_it(nodes):
    """Two moved ones reach the one that stayed, not each other (each has the other's old
    address): it passes on where each said it is."""
    managers = Managers(nodes, 3)
    managers.wait_leader()
    moved = managers.all[1:]  # the first stays where it was
    for node in managers.all:
        node.stop()
    for node in moved:
        node.listen = f"127.0.0.1:{free_port_pair()}"
    for node in managers.all:
        node.start(wait=False)

    def all_reachable_where_they_are() -> bool:
        leader = managers.leader_node()
        status = managers.cluster_status(leader) if leader is not None else None
        if status is None:
            return False
        rows = {m.node_id: m for m in status.members}
        return all(
            (row := rows.get(node.node_id)) is not None and row.addr == node.listen and row.reachable == "reachable"
            for node in managers.all
            if node is not leader
        )

    wait_until(all_reachable_where_they_are, 20, "every manager reachable at the address it listens on")
    write_label(managers.wait_leader(), "after-all-moved")


def test_a_worker_that_knows_only_a_follower_finds_the_leader_through_it(nodes):
    """Its list of managers can lack the leader (learnt from a leader demoted since: seen after
    demote and promote cycles); a follower runs no dispatcher, but names the leader and managers."""
    managers = Managers(nodes, 3)
    leader = managers.wait_leader()
    worker = managers.join("w1")
    worker_id = worker.node_id
    managers.wait_status(worker_id, "ready", 10)
    worker.stop()
    follower_id = next(n for n in managers.all if n is not leader).node_id

    def only_the_follower(state: NodeState) -> NodeState:
        return state.with_managers(tuple(m for m in state.managers if m.node_id == follower_id))

    update_node_state(worker.state_dir, only_the_follower)
    managers.wait_status(worker_id, "down", 15)
    worker.start()
    managers.wait_status(worker_id, "ready", 10)
    state = load_node_state(worker.state_dir)
    assert state is not None
    assert {m.node_id for m in state.managers} == {n.node_id for n in managers.all}


def test_a_worker_tries_the_next_manager_at_once_when_a_heartbeat_fails(nodes):
    """As swarmkit's agent after a failed session: 0.1 s later, not a heartbeat period (4 s here)."""
    managers = Managers(nodes, 3, heartbeat="4s")
    leader = managers.wait_leader()
    worker = managers.join("w1")
    managers.wait_status(worker.node_id, "ready", 15)
    state = load_node_state(worker.state_dir)
    assert state is not None and len(state.managers) == 3  # the next manager to try is a live one
    leader_id = leader.node_id
    killed_at = time.time()
    leader.kill()
    failed = wait_until(lambda: stamp(worker, f"heartbeat to manager {leader_id} failed", killed_at), 15, "a failure")
    again = wait_until(lambda: stamp(worker, "heartbeats reach manager", killed_at), 15, "a heartbeat answered")
    assert again - failed < 2.0


def test_a_worker_beats_to_another_manager_as_soon_as_its_leader_is_gone(nodes):
    """As a swarmkit agent whose session broke: not at its next beat, up to a period (8 s) later."""
    managers = Managers(nodes, 3, heartbeat="8s")
    leader = managers.wait_leader()
    worker = managers.join("w1")
    managers.wait_status(worker.node_id, "ready", 20)
    leader_id = leader.node_id
    killed_at = time.time()
    leader.kill()
    new_leader = managers.wait_leader()
    worker_id = worker.node_id

    back = wait_until(
        lambda: stamp(new_leader, f"node {worker_id} is ready", killed_at, first=True),
        20,
        "the worker ready on the new leader",
    )
    assert back - killed_at < 5.0, f"ready {back - killed_at:.1f} s after the kill of {leader_id}"


def stamp(node: NodeProcess, text: str, since: float, *, first: bool = False) -> float | None:
    """When ``node`` last (or ``first``) logged ``text`` after ``since`` (epoch s), or None."""
    records = node.log_records()
    return next(
        (r["ts"] for r in (records if first else reversed(records)) if text in r["msg"] and r["ts"] > since), None
    )


def test_cluster_status_shows_members_leader_term_and_lag(nodes):
    managers = Managers(nodes, 3)
    leader = managers.wait_leader()
    result = run_cli("--state-dir", str(leader.state_dir), "cluster", "status")
    assert result.returncode == 0, result.stderr
    assert "Leader:" in result.stdout and leader.node_id in result.stdout
    assert result.stdout.count("voter") == 3
    # Only the leader knows how far each member got: a follower shows the leader's rows.
    follower = next(n for n in managers.all if n is not leader)
    status = managers.cluster_status(follower)
    assert status.node_id == follower.node_id and status.members_seen_by == leader.node_id
    assert all(m.lag >= 0 for m in status.members), status.members
    result = run_cli("--state-dir", str(follower.state_dir), "cluster", "status")
    assert result.returncode == 0, result.stderr
    assert f"Members as the leader ({leader.node_id}) sees them:" in result.stdout
    # A leader that does not answer: the follower's own rows, lags unknown (or, once a new
    # leader is elected, that one's rows: never the dead leader's).
    dead = leader.node_id
    leader.kill()
    result = run_cli("--state-dir", str(follower.state_dir), "cluster", "status")
    assert result.returncode == 0, result.stderr
    assert f"Members as the leader ({dead})" not in result.stdout, result.stdout
    assert "voter" in result.stdout


@pytest.mark.parametrize("actor", ["ca", "control"])
def test_a_crash_of_the_leaders_ca_or_control_api_costs_no_election(nodes, actor):
    """Each runs under a supervisor of its own: Raft is not restarted with it."""
    managers = Managers(nodes, 3)
    leader = managers.wait_leader()
    term = managers.cluster_status(leader).term
    with pytest.raises(RemoteError, match="crashed"):
        leader.request(actor, Crash(reason="test"))
    wait_until(
        lambda: (
            {p.rsplit("/", 1)[-1]: (r.state, r.restarts) for p, r in leader.actors().items()}.get(actor)
            == ("running", 1)
        ),
        10,
        f"{actor} to run again",
    )
    assert {path: row.restarts for path, row in leader.actors().items() if row.restarts} == {
        f"node/{'pki' if actor == 'ca' else 'api'}/{actor}": 1
    }
    status = managers.cluster_status(leader)
    assert (status.leader, status.term) == (leader.node_id, term)
    write_label(leader, f"after-{actor}-crash")


def test_force_new_cluster_recovers_a_lone_survivor_with_its_data_and_the_dropped_come_back_as_workers(nodes):
    managers = Managers(nodes, 3)
    leader = managers.wait_leader()
    write_label(leader, "before")
    survivor = next(n for n in managers.all if n is not leader)
    survivor_id = survivor.node_id
    wait_until(lambda: labels_on(survivor, leader.node_id).get("before") == "v", 10, "the write on the survivor")
    leader_id = leader.node_id
    dropped = [n.node_id for n in managers.all if n is not survivor]
    for node in managers.all:
        if node is not survivor:
            node.kill()
    with pytest.raises((RemoteError, RequestTimeout)):
        write_label(survivor, "no-quorum", timeout_s=3)
    # (The write may fail before the survivor's election timeout: its forward to the dead leader
    # fails as soon as the connection is lost.)

    def no_leader_hint() -> str:
        out = run_cli("--state-dir", str(survivor.state_dir), "cluster", "status").stdout
        # Once it heard nothing from them for HEARD_S: the two it lacks are named.
        return out if "A leader needs 2 of the 3 voters up and reaching each other; this one hears 0 of" in out else ""

    hint = wait_until(no_leader_hint, 10, "the survivor to see no leader")
    assert "--force-new-cluster" in hint and all(d in hint.split("(not ")[1].split(")")[0] for d in dropped), hint
    survivor.stop()
    survivor.start("--force-new-cluster")
    wait_until(lambda: managers.leader_node() is survivor, 10, "the survivor to lead")
    assert labels_on(survivor, leader_id)["before"] == "v"
    write_label(survivor, "after")
    assert any("forced a new cluster" in r["msg"] for r in survivor.log_records())
    # The dropped managers are demoted (desired role worker), never taken back as they were.

    def desired_role(node_id: str) -> str:
        role: str = survivor.request("control", NodeInspectRequest(node=node_id)).node["spec"]["role"]
        return role

    wait_until(lambda: all(desired_role(d) == "worker" for d in dropped), 10, "the dropped managers demoted")
    wait_until(lambda: not (survivor.state_dir / "store" / DROPPED_FILE).exists(), 10, "the record of them removed")
    status = managers.cluster_status(survivor)
    assert [(m.node_id, m.suffrage) for m in status.members] == [(survivor_id, "voter")]
    # Both come back at once: together they hold a majority of the old group. The survivor holds
    # them out (and tells them), so they elect no leader of their own beside it (a split brain):
    # each renews into a worker's certificate and drops its copy of the managers' data.
    back = [n for n in managers.all if n is not survivor]
    for node in back:
        node.start(wait=False)

    def workers_now() -> bool:
        return all(n.try_status() is not None and not (n.state_dir / "store").exists() for n in back)

    wait_until(workers_now, 30, "both dropped managers to be workers")
    assert [n.request("control", StatusRequest()).role for n in back] == ["worker", "worker"]
    assert [(m.node_id, m.suffrage) for m in managers.cluster_status(survivor).members] == [(survivor_id, "voter")]
    write_label(survivor, "after-both-back")
    assert {"after", "after-both-back"} <= set(labels_on(survivor, survivor_id))


def test_cluster_status_answers_while_a_read_waits_for_a_leader(nodes):
    """Without a leader, `node ls` waits (READ_INDEX_TIMEOUT_S) and is refused; `cluster status`,
    asked after it on the same socket, is answered meanwhile rather than behind it."""
    managers = Managers(nodes, 3)
    leader = managers.wait_leader()
    survivor = next(n for n in managers.all if n is not leader)
    for node in managers.all:
        if node is not survivor:
            node.kill()
    context: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
    sock = context.socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    try:
        sock.connect(f"ipc://{survivor.control_path}")
        for request_id, body in ((1, NodeListRequest()), (2, ClusterStatusRequest())):
            sock.send(encode_envelope(Envelope(request_id, 0, Address("", "test"), Address("", "control"), body)))
        assert sock.poll(3000), "no answer to cluster status within 3 s: it waits behind node ls"
        first = decode_envelope(sock.recv())
        assert first.reply_to == 2 and isinstance(first.body, ClusterStatusReply), first
        assert sock.poll(15_000), "node ls was never answered"
        second = decode_envelope(sock.recv())
        assert second.reply_to == 1 and isinstance(second.body, ErrorReply), second
        assert "no leader" in second.body.text, second.body.text
    finally:
        sock.close(0)
        context.term()


def test_a_leader_that_hung_and_came_back_declares_no_node_down_and_leaves_them_ready(nodes):
    """Its Dispatcher heard no heartbeat while its process was stopped: that silence is its own.

    Before, at the resume every node it tracked was down (its own node too), and the writes
    saying so went to the new leader when it had stepped down meanwhile: live nodes could be left
    down or unknown in the Store while they beat.
    """
    managers = Managers(nodes, 3, heartbeat="1s")  # down after 3 s of silence
    old = managers.wait_leader()
    old_id = old.node_id
    ids = [n.node_id for n in managers.all]
    for node_id in ids:
        managers.wait_status(node_id, "ready", 15)
    old.signal(signal.SIGSTOP)
    try:
        others = [n for n in managers.all if n is not old]
        new = wait_until(lambda: managers.leader_node(among=others), 10, "a new leader")
        # The new leader's Dispatcher finds the hung one down: more than a grace time went by.
        wait_until(lambda: rows_of(new).get(old_id) == "down", 15, "the hung leader down on the new one")
        resumed_at = time.time()
    finally:
        old.signal(signal.SIGCONT)
    wait_until(lambda: (s := managers.cluster_status(old)) is not None and s.leader != old_id, 10, "a step-down")
    wait_until(lambda: all(rows_of(new).get(i) == "ready" for i in ids), 15, "every manager ready on the new leader")
    said = [r["msg"] for r in old.log_records() if r["ts"] > resumed_at and r["logger"] == "swarmnode.dispatcher"]
    assert not [m for m in said if " is down" in m], said


def rows_of(manager: NodeProcess) -> dict[str, str]:
    reply = manager.request("control", NodeListRequest(), timeout_s=5.0)
    return {row.node_id: row.status for row in reply.nodes}


@pytest.mark.parametrize("count", [3, 2])
def test_a_manager_that_leaves_with_force_says_what_the_others_still_need(nodes, count):
    """As for one that was not running: it is still a voter, shown unreachable, until demoted and
    removed; of two, the one left holds no majority, and a demotion could not commit."""
    managers = Managers(nodes, count)
    leader = managers.wait_leader()
    leaving = next(n for n in managers.all if n is not leader)
    leaving_id = leaving.node_id
    left = run_cli("--state-dir", str(leaving.state_dir), "leave", "--force")
    assert left.returncode == 0, left.stderr
    if count == 2:
        assert "the managers left (1 up of the 2 voters, this one gone for good) hold no majority" in left.stdout
        assert "--force-new-cluster" in left.stdout
        return
    assert f"`swarm-node node demote {leaving_id}`, then, once `node ls` shows it Down, `node rm {leaving_id}`" in (
        left.stdout
    )
    assert run_cli("--state-dir", str(leader.state_dir), "node", "demote", leaving_id).returncode == 0
    wait_until(lambda: managers.voters() == 2, 15, "the manager that left out of Raft")
