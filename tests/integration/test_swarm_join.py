"""A real swarm on loopback: init, join, node ls, heartbeats, restarts, removal, leaving."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from swarmnode.actors.control.messages import NodeInspectRequest
from swarmnode.cli.local import free_port_pair
from tests.support import wait_until
from tests.support.disk import fill, small_disk
from tests.support.netns import LAB_PORT, NetLab, in_hosts, network_lab
from tests.support.nodes import Swarm, run_cli

HEARTBEAT_S = 1.0


@pytest.fixture
def swarm(nodes):
    return Swarm(nodes, heartbeat=f"{HEARTBEAT_S:g}s")


def node_ls(swarm: Swarm) -> list[dict]:
    result = run_cli("--state-dir", str(swarm.manager.state_dir), "--output", "json", "node", "ls")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_one_manager_and_three_workers_show_up_ready_in_node_ls(swarm):
    workers = [swarm.join(f"w{i}") for i in range(3)]
    ids = {w.node_id for w in workers}
    for node_id in ids:
        swarm.wait_status(node_id, "ready", 10)
    rows = {r["node_id"]: r for r in node_ls(swarm)}
    assert len(rows) == 4
    manager = rows[swarm.manager.node_id]
    assert (manager["role"], manager["manager_status"], manager["is_self"]) == ("manager", "Leader", True)
    for node_id in ids:
        row = rows[node_id]
        assert (row["role"], row["status"], row["availability"], row["manager_status"]) == (
            "worker",
            "ready",
            "active",
            "",
        )
        # 90 days, Docker's default certificate expiry.
        expiry = datetime.strptime(row["cert_expiry"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
        assert abs(expiry.timestamp() - (time.time() + 90 * 86400)) < 3600
    table = run_cli("--state-dir", str(swarm.manager.state_dir), "node", "ls").stdout
    assert "CERT EXPIRY" in table and f"{swarm.manager.node_id} *" in table


def test_a_killed_worker_is_down_within_three_heartbeats_and_ready_after_restart(swarm):
    worker = swarm.join("w1")
    node_id = worker.node_id
    swarm.wait_status(node_id, "ready", 10)
    worker.kill()
    killed = time.monotonic()
    swarm.wait_status(node_id, "down", 3 * HEARTBEAT_S + 2)
    elapsed = time.monotonic() - killed
    # Down when silent for more than 3 periods since the last beat, checked 4 times a period.
    assert elapsed <= 3.25 * HEARTBEAT_S + 0.5, f"down after {elapsed:.2f} s"
    worker.start()
    swarm.wait_status(node_id, "ready", 10)


def test_a_restarted_manager_keeps_the_swarm(swarm):
    worker = swarm.join("w1")
    node_id = worker.node_id
    swarm.wait_status(node_id, "ready", 10)
    manager_id = swarm.manager.node_id
    swarm.manager.kill()
    # The worker says what it sees meanwhile (`swarm-node status`), and since when.
    failing = worker.wait_session("failing", 5)
    assert f"the last, to manager {manager_id}:" in failing.session_detail
    swarm.manager.start()
    assert set(swarm.nodes()) == {swarm.manager.node_id, node_id}
    swarm.wait_status(node_id, "ready", 10)
    worker.wait_session("active", 5)


def test_node_inspect_update_and_ids_by_prefix(swarm):
    worker = swarm.join("w1")
    node_id = worker.node_id
    state_dir = str(swarm.manager.state_dir)
    result = run_cli("--state-dir", state_dir, "node", "update", node_id[:6], "--label-add", "zone=a")
    assert result.returncode == 0, result.stderr
    result = run_cli("--state-dir", state_dir, "node", "update", node_id, "--availability", "drain")
    assert result.returncode == 0, result.stderr
    (body,) = json.loads(run_cli("--state-dir", state_dir, "node", "inspect", node_id).stdout)
    assert body["spec"] == {"availability": "drain", "labels": {"zone": "a"}, "role": "worker"}
    assert body["status"]["certificate"].startswith("-----BEGIN CERTIFICATE-----")
    assert body["created_at"] <= body["updated_at"] and body["updated_at"].endswith("Z")  # RFC 3339, as Docker's
    missing = run_cli("--state-dir", state_dir, "node", "inspect", "nosuchnode")
    assert missing.returncode == 1 and "no node 'nosuchnode' in this swarm" in missing.stderr
    some = run_cli("--state-dir", state_dir, "node", "inspect", node_id, "nosuchnode")  # as Docker: found ones shown
    assert some.returncode == 1 and "no node 'nosuchnode' in this swarm" in some.stderr
    assert [n["id"] for n in json.loads(some.stdout)] == [node_id]


def test_every_command_answers_json_when_asked(swarm):
    """-o json is one JSON document on stdout for every command, as for ls and inspect."""
    worker = swarm.join("w1")
    node_id = worker.node_id
    swarm.wait_status(node_id, "ready", 10)

    def as_json(*args: str) -> tuple[object, str]:
        result = run_cli("--state-dir", str(swarm.manager.state_dir), "-o", "json", *args)
        return json.loads(result.stdout), result.stderr

    assert as_json("node", "update", node_id, "--label-add", "zone=a")[0] == {"node_id": node_id}
    assert as_json("node", "demote", node_id)[0] == [{"node_id": node_id, "role": "worker", "changed": False}]
    token, _ = as_json("join-token", "-q", "worker")  # -o json before --quiet, as for node ls
    assert (
        isinstance(token, dict) and token["command"] == f"swarm-node join --token {swarm.token()} {swarm.manager_addr}"
    )
    status, _ = as_json("cluster", "status")
    assert isinstance(status, dict)
    assert [m["state"] for m in status["members"]] == ["leader"], status  # the table's word, not "replicate"
    assert status["removed"] == ""
    removed, error = as_json("node", "rm", "--force", node_id, "nosuchnode")
    assert removed == [{"node_id": node_id}] and "no node 'nosuchnode' in this swarm" in error
    worker.wait_session("removed", 10)
    left = run_cli("--state-dir", str(worker.state_dir), "-o", "json", "leave")
    assert json.loads(left.stdout) == {"left": True, "node_id": node_id, "was_running": True}, left.stderr


def test_a_worker_cannot_manage_the_swarm(swarm):
    worker = swarm.join("w1")
    result = run_cli("--state-dir", str(worker.state_dir), "node", "ls")
    assert result.returncode == 1
    assert "this node is not a swarm manager" in result.stderr


def test_a_removed_node_is_refused_from_then_on(swarm):
    worker = swarm.join("w1")
    node_id = worker.node_id
    swarm.wait_status(node_id, "ready", 10)
    state_dir = str(swarm.manager.state_dir)
    ready = run_cli("--state-dir", state_dir, "node", "rm", node_id)
    assert ready.returncode == 1 and "is ready and cannot be removed" in ready.stderr
    assert "then wait until `node ls` shows it Down (3 heartbeats, 3 s)" in ready.stderr
    removed = run_cli("--state-dir", state_dir, "node", "rm", "--force", node_id)
    assert removed.returncode == 0, removed.stderr
    assert node_id not in swarm.nodes()
    wait_until(
        lambda: any(f"node {node_id} was removed from the swarm" in r["msg"] for r in swarm.manager.log_records()),
        10,
        "the manager to refuse the removed node",
    )
    assert node_id not in swarm.nodes(), "a removed node's heartbeats must not bring it back"
    # The removed node itself is told, and says what to do (swarmkit: "node ... was removed from swarm").
    status = worker.wait_session("removed", 10)
    assert f"node {node_id} was removed from the swarm" in status.session_detail
    assert "Run `swarm-node leave` here to clear its state" in status.session_detail
    shown = run_cli("--state-dir", str(worker.state_dir), "status")
    assert "Swarm:    removed since" in shown.stdout, shown.stdout
    errors = [r["msg"] for r in worker.log_records() if r["level"] == "error"]
    assert len(errors) == 1 and "was removed from the swarm" in errors[0], errors


def test_a_node_removed_while_down_is_told_so_when_it_comes_back(swarm):
    """Its key is refused by now; a refused handshake would tell it nothing, so it is admitted to be told."""
    worker = swarm.join("w1")
    node_id = worker.node_id
    swarm.wait_status(node_id, "ready", 10)
    worker.wait_session("active", 5)
    worker.stop()
    swarm.wait_status(node_id, "down", 3 * HEARTBEAT_S + 3)
    removed = run_cli("--state-dir", str(swarm.manager.state_dir), "node", "rm", node_id)
    assert removed.returncode == 0, removed.stderr
    worker.start()
    worker.wait_session("removed", 10)
    assert node_id not in swarm.nodes()
    result = run_cli("--state-dir", str(worker.state_dir), "leave")
    assert result.returncode == 0, result.stderr
    assert worker.wait_exit() == 0


def test_a_join_whose_port_is_taken_is_refused_before_the_manager_is_asked(swarm, short_tmp):
    """Else the manager registered it (with a manager token, in Raft too) at an address it never served."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        addr = f"127.0.0.1:{taken.getsockname()[1]}"
        state_dir = str(short_tmp / "joiner")
        result = run_cli(
            "join", swarm.manager_addr, "--token", swarm.token("manager"), "--listen", addr, "--state-dir", state_dir
        )
    assert result.returncode == 1
    assert f"cannot listen on {addr}: Address already in use; nothing was sent to the manager" in result.stderr
    assert len(node_ls(swarm)) == 1


def test_a_node_whose_bootstrap_port_is_taken_joins_and_is_promoted_only_as_a_worker(swarm, short_tmp):
    """A manager also listens on its port + 1: a join with a manager token is refused (only the
    manager knows which role a token gives), and so is a promotion, until the port is free."""
    port = free_port_pair()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", port + 1))
        taken.listen()
        state_dir = short_tmp / "joiner"
        result = run_cli(
            *("join", swarm.manager_addr, "--token", swarm.token("manager")),
            *("--listen", f"127.0.0.1:{port}", "--state-dir", str(state_dir)),
        )
        assert result.returncode == 1
        assert (
            f"cannot listen on 127.0.0.1:{port + 1} (the bootstrap port, 127.0.0.1:{port} + 1): Address already in use"
            "; nothing was registered" in result.stderr
        ), result.stderr
        assert len(node_ls(swarm)) == 1 and not (state_dir / "node.json").exists()
        worker = swarm.make("worker", role="worker", listen=f"127.0.0.1:{port}")
        worker.join(swarm.manager_addr, swarm.token())
        worker_id = worker.node_id
        swarm.wait_status(worker_id, "ready", 10)
        # Promoted, it would restart as a manager and exit on that port: refused before anything changes.
        promote = ("--state-dir", str(swarm.manager.state_dir), "node", "promote", worker_id)
        refused = run_cli(*promote)
        assert refused.returncode == 1, refused.stdout
        assert f"node {worker_id} cannot run as a manager: on its machine, cannot listen on 127.0.0.1:{port + 1}" in (
            refused.stderr
        )
    # Free again: its next heartbeat says so, and the promotion goes through.
    wait_until(lambda: run_cli(*promote).returncode == 0, 3 * HEARTBEAT_S + 5, "the promotion once port + 1 is free")
    wait_until(
        lambda: getattr(worker.try_status(), "role", "") == "manager", 15, "the promoted worker to run as a manager"
    )


def test_a_worker_leaves_and_may_join_again(swarm):
    worker = swarm.join("w1")
    first_id = worker.node_id
    result = run_cli("--state-dir", str(worker.state_dir), "leave")
    assert result.returncode == 0, result.stderr
    assert worker.wait_exit() == 0
    assert not (worker.state_dir / "node.json").exists()
    swarm.wait_status(first_id, "down", 3 * HEARTBEAT_S + 2)
    worker.join(swarm.manager_addr, swarm.token())
    assert worker.node_id != first_id


def test_a_node_that_is_not_running_leaves_with_force(swarm):
    """Its swarm state is forgotten without starting it (which would bind its ports first)."""
    worker = swarm.join("w1")
    node_id = worker.node_id
    swarm.wait_status(node_id, "ready", 10)
    worker.kill()  # its control socket is left behind
    plain = run_cli("--state-dir", str(worker.state_dir), "leave")
    assert plain.returncode == 1 and "no node is running" in plain.stderr
    left = run_cli("--state-dir", str(worker.state_dir), "leave", "--force")
    assert left.returncode == 0, left.stderr
    assert f"on a manager, `swarm-node node rm {node_id}`" in left.stdout
    assert not (worker.state_dir / "node.json").exists() and not (worker.state_dir / "control.sock").exists()
    swarm.wait_status(node_id, "down", 3 * HEARTBEAT_S + 3)
    assert run_cli("--state-dir", str(swarm.manager.state_dir), "node", "rm", node_id).returncode == 0
    worker.join(swarm.manager_addr, swarm.token())  # joins again, as a new node
    assert worker.node_id != node_id


def test_the_last_manager_leaves_only_with_force(swarm):
    result = run_cli("--state-dir", str(swarm.manager.state_dir), "leave")
    assert result.returncode == 1
    assert "removing the last manager erases all current state of the swarm" in result.stderr


def test_joining_twice_is_refused(swarm):
    worker = swarm.join("w1")
    worker.stop()
    again = run_cli(
        "join",
        swarm.manager_addr,
        "--token",
        swarm.token(),
        "--listen",
        worker.listen,
        "--state-dir",
        str(worker.state_dir),
    )
    assert again.returncode == 1
    assert "this node is already part of a swarm" in again.stderr


@pytest.fixture
def lab() -> Iterator[NetLab]:
    with network_lab("test_swarm_join_wildcard", 2) as lab:
        yield lab


def test_a_node_that_listens_on_a_wildcard_advertises_its_address_on_the_route_to_the_manager(lab, nodes):
    # The manager and the worker are hosts of their own on one bridge (``lab`` comes before
    # ``nodes``: it is removed after the nodes are stopped). The worker's host name resolves to
    # loopback there, as on this machine: only its route to the manager gives its bridge address.
    manager_host, worker_host = lab.hosts
    swarm = Swarm(in_hosts(nodes, [manager_host]), heartbeat=f"{HEARTBEAT_S:g}s")
    worker = nodes("w1", role="worker", listen=f"0.0.0.0:{LAB_PORT}", netns=worker_host.netns)
    worker.join(swarm.manager_addr, swarm.token())
    assert swarm.nodes()[worker.node_id].addr == f"{worker_host.ip}:{LAB_PORT}"


def test_a_join_the_state_dir_has_no_room_for_is_refused_before_anything_is_sent(swarm, short_tmp):
    """It registered a node the joiner could not save (a ghost, Down until `node rm`) and said
    "internal error"; a manager joined on a disk too small for its Raft log waited for room for good."""
    state_dir = short_tmp / "small"
    before = set(swarm.nodes())
    join = ["join", swarm.manager_addr, "--listen", f"127.0.0.1:{free_port_pair()}", "--state-dir", str(state_dir)]
    with small_disk(state_dir, 4):  # each join below fails: no node process is left on it
        ballast = fill(state_dir, leave=512 << 10)
        refused = run_cli(*join, "--token", swarm.token())
        assert refused.returncode == 1, refused.stderr
        assert "KiB free; a node needs 1 MiB there to join" in refused.stderr, refused.stderr
        assert "Nothing was sent to the manager" in refused.stderr and set(swarm.nodes()) == before
        ballast.unlink()
        fill(state_dir, leave=2 << 20)  # room for a worker, not for a manager's Raft log
        as_manager = run_cli(*join, "--token", swarm.token("manager"))
        assert as_manager.returncode == 1, as_manager.stderr
        assert "has less than the 9 MiB free a manager's Raft log needs" in as_manager.stderr, as_manager.stderr
        assert not (state_dir / "node.json").exists() and set(swarm.nodes()) == before


def test_a_worker_whose_disk_cannot_hold_a_raft_log_is_promoted_once_it_has_room(swarm):
    """Promoted, it would wait out of Raft for room it may never have: refused until its heartbeats say it has."""
    with swarm.worker_on_small_disk("small", 24) as worker:
        worker_id = worker.node_id
        ballast = fill(worker.state_dir, leave=4 << 20)

        def says() -> str:
            inspected = swarm.manager.request("control", NodeInspectRequest(node=worker_id)).node
            return str(inspected["status"].get("cannot_manage", ""))

        wait_until(lambda: "Raft log needs" in says(), 3 * HEARTBEAT_S + 5, "its heartbeats to say it lacks room")
        promote = ("--state-dir", str(swarm.manager.state_dir), "node", "promote", worker_id)
        refused = run_cli(*promote)
        assert refused.returncode == 1, refused.stdout
        assert "less than the 9 MiB free a manager's Raft log needs: free space there" in refused.stderr
        ballast.unlink()
        wait_until(lambda: run_cli(*promote).returncode == 0, 3 * HEARTBEAT_S + 5, "the promotion with room")
        wait_until(lambda: getattr(worker.try_status(), "role", "") == "manager", 15, "it to run as a manager")
