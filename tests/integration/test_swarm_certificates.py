"""Certificates over time: renewal without dropping work, root CA rotation, and an external CFSSL signer."""

from __future__ import annotations

import json

from swarmnode.actors.ca.pki import ca_digest
from tests.support import wait_until
from tests.support.cfssl import cfssl_server
from tests.support.disk import fill
from tests.support.nodes import Swarm, run_cli

EXPIRY_S = 8.0


def test_every_node_renews_its_certificate_and_stays_ready(nodes):
    swarm = Swarm(nodes, env={"SWARM_NODE_TEST_CERT_EXPIRY_S": str(EXPIRY_S)})
    workers = [swarm.join(f"w{i}") for i in range(2)]
    ids = [swarm.manager.node_id, *(w.node_id for w in workers)]
    for node_id in ids:
        swarm.wait_status(node_id, "ready", 10)
    first = {node_id: row.cert_expiry for node_id, row in swarm.nodes().items()}
    seen: dict[str, set[float]] = {node_id: {first[node_id]} for node_id in ids}
    not_ready: list[str] = []

    def renewed_twice() -> bool:
        for node_id, row in swarm.nodes().items():
            seen[node_id].add(row.cert_expiry)
            if row.status != "ready":
                not_ready.append(f"{node_id} {row.status}")
        return all(len(expiries) >= 3 for expiries in seen.values())

    # Renewal at 50-80% of 8 s: two renewals of every node within about 13 s.
    wait_until(renewed_twice, 4 * EXPIRY_S, "every node to renew twice")
    assert not_ready == [], f"nodes dropped out while renewing: {not_ready}"
    for worker in workers:
        assert any("renewed the certificate of this node" in r["msg"] for r in worker.log_records())
    # The connections stayed up: the workers' CURVE keys did not change, and no node restarted.
    assert all(row.restarts == 0 for row in workers[0].actors().values())


def test_a_rotation_waiting_for_a_down_node_names_it_and_ca_status_only_looks(nodes):
    swarm = Swarm(nodes)
    worker = swarm.join("w1")
    worker_id = worker.node_id
    swarm.wait_status(worker_id, "ready", 10)
    worker.stop()
    swarm.wait_status(worker_id, "down", 10)
    state_dir = str(swarm.manager.state_dir)
    started = run_cli("--state-dir", state_dir, "ca", "rotate", "--detach")
    assert started.returncode == 0, started.stderr
    wait_until(  # the manager renews on its own; the down worker cannot
        lambda: "under way: 1/2" in run_cli("--state-dir", state_dir, "ca", "status").stdout,
        15,
        "the manager on the new root",
    )
    result = run_cli("--state-dir", state_dir, "ca", "rotate", "--timeout", "1")  # joins the one under way
    assert result.returncode == 1
    assert f"the rotation is still under way after 1 s: 1/2 nodes on the new root; waiting for {worker_id}" in (
        result.stderr
    )
    assert f"waiting for nodes that are down: {worker_id} (" in result.stdout
    assert "a node renews when it comes back" in result.stdout
    as_json = run_cli("--state-dir", state_dir, "-o", "json", "ca", "rotate", "--timeout", "1")
    body = json.loads(as_json.stdout)
    assert as_json.returncode == 1 and body["state"] == "rotating"
    assert [(p["node_id"], p["state"]) for p in body["pending"]] == [(worker_id, "down")]
    assert (
        json.loads(run_cli("--state-dir", state_dir, "-o", "json", "ca", "status").stdout)["root_digest"]
        == body["root_digest"]
    )
    assert "rotating: 1/2 nodes" in as_json.stderr  # the progress, for the operator
    digest = result.stdout.split("A rotation is under way (new root CA digest ")[1].split(")")[0]
    status = run_cli("--state-dir", state_dir, "ca", "status")
    assert f"Root CA digest: {digest}" in status.stdout  # looked, started nothing
    assert f"Root CA rotation under way: 1/2 nodes on the new root; waiting for {worker_id}" in status.stdout
    assert run_cli("--state-dir", state_dir, "node", "rm", worker_id).returncode == 0
    wait_until(
        lambda: "No rotation under way: 1/1 nodes" in run_cli("--state-dir", state_dir, "ca", "status").stdout,
        10,
        "the rotation to finish without the removed node",
    )
    bad = run_cli("--state-dir", state_dir, "ca", "rotate", "--timeout", "-5")
    assert bad.returncode == 2 and "-5" in bad.stderr


def test_root_ca_rotation_moves_every_node_to_the_new_root(nodes):
    swarm = Swarm(nodes)
    workers = [swarm.join(f"w{i}") for i in range(2)]
    for w in workers:
        swarm.wait_status(w.node_id, "ready", 10)
    old_token = swarm.token()
    result = run_cli("--state-dir", str(swarm.manager.state_dir), "ca", "rotate", "--timeout", "60", timeout=90)
    assert result.returncode == 0, result.stderr
    assert "Root CA rotation done: 3/3 nodes on the new root" in result.stdout
    new_digest = result.stdout.split("New root CA digest: ")[1].split()[0]
    (manager,) = json.loads(run_cli("--state-dir", str(swarm.manager.state_dir), "node", "inspect", "self").stdout)
    assert manager["status"]["issuer"] == new_digest
    for worker in [swarm.manager, *workers]:
        wait_until(
            lambda w=worker: ca_digest((w.state_dir / "certificates" / "trust.pem").read_bytes()) == new_digest,
            10,
            f"{worker.state_dir.name} to trust the new root only",
        )
        trust = (worker.state_dir / "certificates" / "trust.pem").read_bytes()
        assert trust.count(b"BEGIN CERTIFICATE") >= 1
    for row in swarm.nodes().values():
        assert row.status == "ready"
    # The token names the new root now; the old one names a root no longer trusted.
    assert swarm.token() != old_token
    assert swarm.join("w-after").node_id
    # A node that restarts after the rotation comes back with its new certificate.
    workers[0].stop()
    workers[0].start()
    swarm.wait_status(workers[0].node_id, "ready", 10)


def test_a_rotation_waits_for_a_worker_that_cannot_save_its_new_certificate(nodes):
    """Counted once its certificate was signed, a worker whose disk was full held an old-root
    certificate when the rotation dropped the old root, and after a restart could not start."""
    swarm = Swarm(nodes)
    with swarm.worker_on_small_disk("w1", 8) as worker:
        worker_id = worker.node_id
        ballast = fill(worker.state_dir, leave=4096)  # a page: the start's write test passes, a certificate does not
        state_dir = str(swarm.manager.state_dir)
        started = run_cli("--state-dir", state_dir, "ca", "rotate", "--detach")
        assert started.returncode == 0, started.stderr
        wait_until(lambda: "could not save the new certificate" in worker.stderr(), 20, "the worker's failed save")
        waiting = f"under way: 1/2 nodes on the new root; waiting for {worker_id}"
        wait_until(  # the manager moves (its heartbeat says so); the worker, its certificate not saved, does not
            lambda: waiting in run_cli("--state-dir", state_dir, "ca", "status").stdout,
            10,
            "the manager alone moved",
        )
        worker.stop()
        worker.start()  # its disk still full: it starts with the certificate and trust on its disk
        swarm.wait_status(worker_id, "ready", 10)
        ballast.unlink()
        wait_until(
            lambda: "No rotation under way: 2/2" in run_cli("--state-dir", state_dir, "ca", "status").stdout,
            40,
            "the rotation to finish once the worker saved its certificate",
        )
        worker.stop()
        worker.start()  # on the new root alone now
        swarm.wait_status(worker_id, "ready", 10)


def test_an_external_cfssl_signs_every_certificate_and_its_outage_only_stops_joins(nodes):
    with cfssl_server("externalcluster") as cfssl:
        swarm = Swarm(
            nodes,
            extra=(
                "--external-ca",
                f"protocol=cfssl,url={cfssl.url}",
                "--external-ca-cert",
                str(cfssl.root_path),
            ),
        )
        worker = swarm.join("w1")
        swarm.wait_status(worker.node_id, "ready", 10)
        for node_ref in ("self", worker.node_id):
            (body,) = json.loads(
                run_cli("--state-dir", str(swarm.manager.state_dir), "node", "inspect", node_ref).stdout
            )
            assert body["status"]["issuer"] == cfssl.root.digest
        cfssl.stop()
        result = run_cli(
            "join",
            swarm.manager_addr,
            "--token",
            swarm.token(),
            "--listen",
            "127.0.0.1:0",
            "--state-dir",
            str(swarm.manager.state_dir.parent / "late"),
        )
        assert result.returncode == 1
        assert f"external CA at {cfssl.url} is unreachable" in result.stderr
        # Existing nodes keep working: a worker that crashes and restarts during the outage
        # needs no CA to come back, and is marked down, then ready again.
        worker_id = worker.node_id
        worker.kill()
        swarm.wait_status(worker_id, "down", 10)
        worker.start()
        swarm.wait_status(worker_id, "ready", 10)
