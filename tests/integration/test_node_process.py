"""A real ``swarm-node start`` process: status, chaos restarts, shutdown, and readable failures."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from swarmnode.actors.messages import Ping, Pong
from swarmnode.cli.local import free_port_pair
from tests.support import wait_until
from tests.support.nodes import run_cli

REPO = Path(__file__).resolve().parents[2]


def kill_actor(node, actor: str, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(REPO / "chaos" / "kill_actor.py"), "--state-dir", str(node.state_dir), actor, *extra],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


MANAGER_TREE = [
    "node",
    "node/transport",
    "node/pki",
    "node/pki/ca",
    "node/api",
    "node/api/control",
    "node/manager",
    "node/manager/raft",
    "node/manager/leader-group",
    "node/manager/leader-group/leader",
    "node/manager/leader-group/leader/dispatcher",
    "node/agent",
    "node/agent/worker",
]


def test_status_shows_the_tree_of_a_manager(nodes):
    node = nodes().start()
    result = run_cli("--state-dir", str(node.state_dir), "status")
    assert result.returncode == 0, result.stderr
    for name in ("node", "transport", "control", "manager", "agent"):
        assert name in result.stdout
    assert "rest_for_one" in result.stdout
    actors = node.actors()
    assert list(actors) == MANAGER_TREE
    assert all(row.state == "running" and row.restarts == 0 for row in actors.values())


def test_a_new_manager_founds_a_swarm_and_prints_the_join_command(nodes):
    node = nodes().start()
    wait_until(lambda: "swarm-node join --token SWMTKN-1-" in node.stdout(), 10, "the join command")
    assert f"Swarm initialized: current node ({node.node_id}) is now a manager." in node.stdout()


def test_status_as_json(nodes):
    node = nodes().start()
    result = run_cli("status", "--state-dir", str(node.state_dir), "-o", "json")  # after the command, too
    assert result.returncode == 0, result.stderr
    body = json.loads(result.stdout)
    assert body["role"] == "manager"
    assert [a["path"] for a in body["actors"]][:2] == ["node", "node/transport"]
    assert body["session"] in ("pending", "active", "failing")
    assert body["session_since"].endswith("Z")  # RFC 3339, as node inspect's times


def test_status_names_the_advertised_address_and_where_the_node_listens(nodes):
    """An operator checking a typo in --advertise-addr sees the address the others are given."""
    port = free_port_pair()
    node = nodes(listen=f"127.0.0.1:{port}").start("--advertise-addr", f"127.0.0.2:{port}")
    result = run_cli("--state-dir", str(node.state_dir), "status")
    assert result.returncode == 0, result.stderr
    assert f"Address:  127.0.0.2:{port}\nListen:   127.0.0.1:{port}\n" in result.stdout, result.stdout
    body = json.loads(run_cli("--state-dir", str(node.state_dir), "-o", "json", "status").stdout)
    assert (body["address"], body["advertise_addr"]) == (f"127.0.0.1:{port}", f"127.0.0.2:{port}")


def test_a_killed_control_actor_is_restarted_alone(nodes):
    """Under a one_for_one supervisor of its own: a bug in a control handler does not restart Raft or the Worker."""
    node = nodes().start()
    result = kill_actor(node, "control", "--times", "2")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "actor control restarted: restarts 0 -> 1" in result.stdout
    assert "actor control restarted: restarts 1 -> 2" in result.stdout
    actors = node.actors()
    assert {path: row.restarts for path, row in actors.items() if row.restarts} == {"node/api/control": 2}
    assert "Crash" in actors["node/api/control"].last_reason


def test_every_actor_status_lists_can_be_crashed_and_comes_back(nodes):
    """chaos/kill_actor.py reaches each by name, supervisors too; the node serves after them all."""
    node = nodes().start()
    names = [path.rsplit("/", 1)[-1] for path in MANAGER_TREE[1:]]
    for name in names:
        result = kill_actor(node, name)
        assert result.returncode == 0, f"{name}: {result.stdout}{result.stderr}"
        assert f"actor {name} restarted" in result.stdout
    assert all(row.state == "running" for row in node.actors().values())
    assert node.request("control", Ping(payload=b"after all")) == Pong(payload=b"after all")


def test_an_actor_restarts_at_once_while_status_is_polled(nodes):
    """Monitoring polls `status`, which asks the root supervisor; the root, restarting what came
    after the crashed actor, stops the control actor. On the control actor's own thread each
    status held that stop up for its whole wait: restarts took 3-5 s, and the node went Down."""
    node = nodes().start()
    stop = threading.Event()

    def poll() -> None:
        while not stop.wait(0.01):  # about 300 statuses a second in all, leaving the 2 cores some room
            node.try_status()

    pollers = [threading.Thread(target=poll, daemon=True) for _ in range(3)]
    for thread in pollers:
        thread.start()
    try:
        times = []
        for _ in range(3):
            result = kill_actor(node, "pki")  # restarts everything after it, the control actor too
            assert result.returncode == 0, result.stdout + result.stderr
            times.append(float(result.stdout.rsplit(" in ", 1)[1].split()[0]))
    finally:
        stop.set()
        for thread in pollers:
            thread.join(10)
    assert max(times) < 1.0, f"restarts took {times} s:\n{node.last_words()}"
    assert "did not stop within" not in node.stderr()


def test_killing_the_transport_restarts_everything_after_it_and_the_node_keeps_serving(nodes):
    node = nodes().start()  # on port 0: the kernel chooses the port, once
    address = node.address
    result = kill_actor(node, "transport")
    assert result.returncode == 0, result.stdout + result.stderr
    assert node.address == address  # peers reach the restarted transport where they did before
    actors = node.actors()
    # rest_for_one at the root: everything started after the transport restarts with it; the
    # actors inside the manager and agent subtrees start afresh (their counts are the subtree's).
    assert {path: row.restarts for path, row in actors.items()} == {
        "node": 0,
        "node/transport": 1,
        "node/pki": 1,
        "node/pki/ca": 0,
        "node/api": 1,
        "node/api/control": 0,
        "node/manager": 1,
        "node/manager/raft": 0,
        "node/manager/leader-group": 0,
        "node/manager/leader-group/leader": 0,
        "node/manager/leader-group/leader/dispatcher": 0,
        "node/agent": 1,
        "node/agent/worker": 0,
    }
    assert node.request("control", Ping(payload=b"still here")) == Pong(payload=b"still here")


def test_actor_send_debug_command(nodes):
    node = nodes().start()
    result = run_cli(
        "--state-dir", str(node.state_dir), "actor", "send", "self", "control", "Ping", '{"payload": "hi"}'
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"kind": "Pong", "body": {"payload": "hi"}}
    unknown = run_cli("--state-dir", str(node.state_dir), "actor", "send", "self", "nobody", "Ping")
    assert unknown.returncode == 1
    assert "nobody" in unknown.stderr and "Traceback" not in unknown.stderr
    bad_kind = run_cli("--state-dir", str(node.state_dir), "actor", "send", "self", "control", "NoSuchKind")
    assert bad_kind.returncode == 2
    assert "unknown message kind 'NoSuchKind'" in bad_kind.stderr
    bad_field = run_cli(
        "--state-dir", str(node.state_dir), "actor", "send", "self", "control", "Ping", '{"payload": 5}'
    )
    assert bad_field.returncode == 2
    assert "Ping.payload: expected bytes, got int 5" in bad_field.stderr


def test_sigterm_stops_children_in_reverse_order_and_exits_zero(nodes):
    node = nodes().start()
    node.signal(signal.SIGTERM)
    assert node.wait_exit() == 0
    messages = [r["msg"] for r in node.log_records()]
    assert "node stopped cleanly" in messages
    assert not node.control_path.exists()
    assert "received SIGTERM: stopping" in node.stderr() and "stopped cleanly" in node.stderr()  # the terminal's


@pytest.mark.parametrize("busy", [0, 1], ids=["cluster-port", "bootstrap-port"])
def test_a_founding_on_a_busy_port_leaves_no_swarm_behind(nodes, busy):
    """Else a later start in that dir ran the half-made swarm, whose join tokens named another's address."""
    port = free_port_pair()
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", port + busy))
        holder.listen()
        node = nodes(listen=f"127.0.0.1:{port}").start(wait=False)
        assert node.wait_exit() == 1
    err = node.stderr()
    assert f"cannot listen on 127.0.0.1:{port + busy}" in err and "no swarm was founded" in err, err
    assert not (node.state_dir / "node.json").exists() and not (node.state_dir / "store").exists()
    assert "Traceback" not in err


def test_busy_port_exits_non_zero_with_a_readable_message(nodes):
    port = free_port_pair()
    node = nodes(listen=f"127.0.0.1:{port}").start()
    node.stop()
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", port))
        holder.listen()
        node.start(wait=False)
        assert node.wait_exit() == 1
    err = node.stderr()
    assert f"cannot listen on 127.0.0.1:{port}: address already in use" in err
    assert "swarmnode.node: cannot start" not in err  # said once, in the process's words (the log file has it)
    assert "Traceback" not in err


def test_unwritable_state_dir_exits_non_zero_with_a_readable_message(short_tmp):
    blocker = short_tmp / "file"
    blocker.write_text("not a directory")
    result = run_cli("start", "--role", "manager", "--listen", "127.0.0.1:0", "--state-dir", str(blocker / "state"))
    assert result.returncode == 1
    assert f"cannot create state dir {blocker / 'state'}" in result.stderr
    assert "Traceback" not in result.stderr


def test_bad_flag_is_refused_with_usage(short_tmp):
    result = run_cli("start", "--role", "king", "--state-dir", str(short_tmp / "s"))
    assert result.returncode == 2
    assert "'king' is not one of 'manager', 'worker'" in result.stderr
    bad_listen = run_cli("start", "--listen", "127.0.0.1:http", "--state-dir", str(short_tmp / "s"))
    assert bad_listen.returncode == 2
    assert "'127.0.0.1:http': the port must be a number from 0 to 65535" in bad_listen.stderr


def test_status_without_a_node_says_so(short_tmp):
    result = run_cli("--state-dir", str(short_tmp / "none"), "status")
    assert result.returncode == 1
    assert "no node is running with state dir" in result.stderr
    assert "Traceback" not in result.stderr


def test_state_dir_of_another_role_is_refused(nodes):
    node = nodes().start()
    node.stop()
    result = run_cli("start", "--role", "worker", "--listen", "127.0.0.1:0", "--state-dir", str(node.state_dir))
    assert result.returncode == 1
    assert "holds a manager node" in result.stderr
    assert "a manager changes roles: `swarm-node node promote` or `node demote`" in result.stderr


def test_a_plain_start_on_an_empty_state_dir_founds_nothing(short_tmp):
    """Founding is explicit (Docker's `swarm init`): a mistyped --state-dir must not make a second swarm."""
    state_dir = short_tmp / "typo"
    result = run_cli("start", "--listen", "127.0.0.1:0", "--state-dir", str(state_dir))
    assert result.returncode == 1
    assert "holds no swarm node: `swarm-node start --role manager` founds a new swarm there" in result.stderr
    assert not state_dir.exists(), "a refused start made its state dir"
    status = run_cli("--state-dir", str(state_dir), "status")
    assert "which holds no swarm node" in status.stderr and "`swarm-node join MANAGER_ADDR" in status.stderr


def test_a_worker_cannot_found_a_swarm(short_tmp):
    result = run_cli("start", "--role", "worker", "--listen", "127.0.0.1:0", "--state-dir", str(short_tmp / "w"))
    assert result.returncode == 1
    assert "a worker cannot found one: join a swarm with `swarm-node join MANAGER_ADDR --token TOKEN`" in result.stderr


def test_a_second_start_on_a_running_nodes_state_dir_is_refused_and_harms_nothing(nodes):
    node = nodes().start()
    status = node.try_status()
    for args in (["start"], ["start", "--force-new-cluster"]):
        result = run_cli(*args, "--listen", "127.0.0.1:0", "--state-dir", str(node.state_dir))
        assert result.returncode == 1, args
        assert f"is in use by a running node (pid {node.proc.pid}): stop it first" in result.stderr, result.stderr
        assert "forced a new cluster" not in result.stderr
    assert node.try_status().node_id == status.node_id
    assert not any("forced a new cluster" in r["msg"] for r in node.log_records())


def test_status_of_a_node_killed_with_kill_9_says_so_at_once(nodes):
    """Its control socket is left behind; a request there would wait its whole timeout (10 s)."""
    node = nodes().start()
    node.kill()
    assert node.control_path.exists()
    started = time.monotonic()
    result = run_cli("--state-dir", str(node.state_dir), "status")
    assert result.returncode == 1
    assert "no node is running with state dir" in result.stderr and "is left from a process" in result.stderr
    assert time.monotonic() - started < 5.0  # the CLI's start-up, not a request's timeout
    node.start()
    assert node.try_status() is not None


def test_new_swarm_options_on_a_node_that_has_one_are_said_to_be_ignored(nodes):
    """Not refused: a service unit that founded the swarm runs the same command line again."""
    node = nodes().start()
    node.stop()
    node.start("--cert-expiry", "1h")
    assert "--cert-expiry set up a new swarm only" in node.stderr() and "ignored" in node.stderr()


def test_restarted_node_keeps_its_identity(nodes):
    node = nodes().start()
    first = node.try_status().node_id
    node.stop()
    node.start()
    assert node.try_status().node_id == first


def test_a_node_killed_between_the_renames_of_its_certificate_starts_with_the_new_one(nodes):
    """The start finishes the renames the marker names, as the process would have (identity.py)."""
    node = nodes().start()
    node.stop()
    certs = node.state_dir / "certificates"
    new = {name: (certs / name).read_bytes() for name in ("node.key", "node.crt", "trust.pem")}
    # Killed after the marker and the key's rename: the chain and the trusted roots wait in their
    # temporary files, the old ones (unusable here: no old chain of this swarm is at hand) in place.
    named = [{"name": name, "sha256": hashlib.sha256(data).hexdigest()} for name, data in new.items()]
    (certs / ".switch").write_text(json.dumps(named))
    for name in ("node.crt", "trust.pem"):
        (certs / name).rename(certs / f"{name}.tmp")
        (certs / name).write_bytes(b"the old one")
    node.start()
    assert node.try_status().node_id
    assert {name: (certs / name).read_bytes() for name in new} == new
    assert sorted(p.name for p in certs.iterdir()) == sorted([*new, "root-ca.key"])
    log = (node.state_dir / "node.log").read_text()
    assert "finished replacing certificates/node.crt, certificates/trust.pem" in log


def test_a_restart_without_listen_listens_where_the_node_did(nodes):
    """As Docker's daemon keeps its swarm listen address: `start` alone brings the node back as it was."""
    node = nodes(listen=f"127.0.0.1:{free_port_pair()}").start()
    address = node.try_status().address
    node.stop()
    node._run(["start", "--state-dir", str(node.state_dir)], wait=True)
    assert node.try_status().address == address == node.listen


@pytest.mark.parametrize("actor", ["transport"])
def test_crashing_faster_than_the_intensity_stops_the_node_with_a_reason(nodes, actor):
    node = nodes().start()
    from swarmnode.actors.messages import Crash
    from swarmnode.transport import RemoteError, RequestTimeout, TransportError

    def exited_or_restarted(times: int) -> bool:
        # Each crash waits for the restart after the last one: until the supervisor has heard
        # of a crash, the dying incarnation may still answer a status (with the old count) and
        # would take the next Crash down with it, unseen.
        status = node.try_status()
        rows = {row.path: row for row in status.actors} if status is not None else {}
        row = rows.get(f"node/{actor}")
        running = row is not None and row.state == "running" and row.restarts == times
        return running or node.proc.poll() is not None

    # The node supervisor allows 5 restarts in 10 s; the sixth crash makes it give up.
    for crashes in range(6):
        wait_until(functools.partial(exited_or_restarted, crashes), 10, f"{actor} to run after {crashes} crash(es)")
        assert node.proc.poll() is None, f"the node gave up after {crashes} crash(es), not 6:\n{node.last_words()}"
        with contextlib.suppress(RemoteError, RequestTimeout, TransportError):
            node.request(actor, Crash(reason="test"), timeout_s=2)
    assert node.wait_exit() == 1
    assert "gave up: more than 5 restart(s) in 10 s" in node.stderr()
