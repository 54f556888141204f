"""The Worker's session as `swarm-node status` shows it: pending, active, failing, removed (sticky)."""

from __future__ import annotations

import logging
import os
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import pykka
import pytest

from swarmnode.actors.ca.messages import ManagerInfo
from swarmnode.actors.ca.pki import ca_digest
from swarmnode.actors.dispatcher.messages import HeartbeatReply
from swarmnode.actors.node import identity as identity_module
from swarmnode.actors.node.founding import FoundingOptions, found_swarm
from swarmnode.actors.node.swarm_state import (
    ManagerRecord,
    NodeState,
    load_node_state,
    read_certificate,
    save_node_state,
)
from swarmnode.actors.raft.actor import Subscribe
from swarmnode.actors.runtime import CERTIFICATE_KEY, SESSION_KEY, CurveKeys, NodeContext, Session
from swarmnode.actors.store.client import DISK_FULL_KEY, STORE_ACTOR, DiskFull, disk_full
from swarmnode.actors.worker import actor as worker_module
from swarmnode.actors.worker.actor import Worker
from swarmnode.transport import RemoteError, TransportError
from tests.support.disk import no_room

MANAGER = ManagerRecord("m1", "127.0.0.1:2377", "M" * 40)
REMOVED = RemoteError("removed", "node w1 was removed from the swarm")


def session(worker: Worker) -> Session:
    value = worker.context.get_shared(SESSION_KEY)
    assert isinstance(value, Session)
    return value


@pytest.fixture
def worker(tmp_path: Path) -> Worker:
    context = NodeContext("w1", "worker", tmp_path, "127.0.0.1:0", CurveKeys(b"p" * 40, b"s" * 40))
    made = Worker(None, context)
    made._session("pending", "no heartbeat answered yet")
    return made


def test_failures_count_on_and_keep_the_time_they_began(worker: Worker) -> None:
    worker._failed(MANAGER, TransportError("the connection to the node was lost"))
    first = session(worker)
    worker._failed(MANAGER, TransportError("the connection to the node was lost"))
    second = session(worker)
    assert (first.state, second.state) == ("failing", "failing")
    assert second.since == first.since
    assert second.detail.startswith("2 heartbeat(s) failed in a row; the last, to manager m1:")


def test_removed_is_said_once_and_stays_through_later_failures(
    worker: Worker, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="swarmnode.worker"):
        worker._removed(MANAGER, REMOVED)
        told = session(worker)
        worker._failed(MANAGER, TransportError("timed out"))  # a manager restarting, say
        worker._removed(MANAGER, REMOVED)
    assert session(worker) == told and told.state == "removed"
    assert "Run `swarm-node leave` here to clear its state" in told.detail
    assert [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR] == [told.detail]


class Recorder(pykka.ThreadingActor):
    def __init__(self, got: list[object]) -> None:
        super().__init__()
        self.got = got

    def on_receive(self, message: object) -> None:
        self.got.append(message)


def test_a_managers_worker_subscribes_again_to_a_restarted_raft_member(tmp_path: Path) -> None:
    """The RaftMember restarts under another supervisor than the Worker: a new one knows no subscribers."""
    context = NodeContext("m1", "manager", tmp_path, "127.0.0.1:0", CurveKeys(b"p" * 40, b"s" * 40))
    worker = Worker(None, context)
    first: list[object] = []
    second: list[object] = []
    refs = [Recorder.start(first), Recorder.start(second)]
    try:
        context.registry.register(STORE_ACTOR, refs[0])
        worker._follow_leadership()
        worker._follow_leadership()  # the same member: not again
        context.registry.register(STORE_ACTOR, refs[1])  # restarted
        worker._follow_leadership()
    finally:
        for ref in refs:
            ref.stop()  # after what was told before it
    assert [type(m) for m in first] == [Subscribe] and [type(m) for m in second] == [Subscribe]


def test_what_port_plus_one_says_changes_only_when_two_probes_agree(
    worker: Worker, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each change is a write on the leader; a port of the ephemeral range may be held a moment."""
    taken = "cannot listen on 127.0.0.1:5001 (the bootstrap port, 127.0.0.1:5000 + 1): Address already in use"
    probes = iter([taken, "", taken, "", "", OSError(24, "Too many open files"), taken, taken])

    def probe(listen: str, *, bootstrap: bool) -> str:
        assert (listen, bootstrap) == ("127.0.0.1:5000", True)
        answer = next(probes)
        if isinstance(answer, OSError):
            raise answer
        return answer

    monkeypatch.setattr(worker_module, "port_taken", probe)
    worker.context.set_transport(SimpleNamespace(address="127.0.0.1:5000"))  # type: ignore[arg-type]
    said = [worker._cannot_manage() for _ in range(8)]
    assert said == [taken, taken, taken, taken, "", "", "", taken]


def test_a_manager_says_nothing_of_port_plus_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    context = NodeContext("m1", "manager", tmp_path, "127.0.0.1:0", CurveKeys(b"p" * 40, b"s" * 40))
    context.set_transport(SimpleNamespace(address="127.0.0.1:5000"))  # type: ignore[arg-type]
    monkeypatch.setattr(worker_module, "port_taken", lambda listen, *, bootstrap: "cannot listen on 127.0.0.1:5001")
    assert Worker(None, context)._cannot_manage() == ""  # it listens there already


def test_managers_that_cannot_be_saved_are_kept_in_memory_and_said_not_a_crash(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A full disk made the Worker crash at each new list of managers, until the node gave up."""

    keys = CurveKeys(b"p" * 40, b"s" * 40)
    saved = NodeState("w1", "worker", "c1", "127.0.0.1:2177", "h1", keys, (MANAGER,))
    save_node_state(tmp_path, saved)
    context = NodeContext("w1", "worker", tmp_path, "127.0.0.1:0", keys)
    connected: list[str] = []
    context.set_transport(SimpleNamespace(connect=lambda node_id, addr, key: connected.append(node_id)))  # type: ignore[arg-type]
    worker = Worker(None, context)
    monkeypatch.setattr(identity_module, "_os_write", no_room)
    two = (MANAGER, ManagerRecord("m2", "127.0.0.1:2477", "N" * 40))
    with caplog.at_level(logging.WARNING, logger="swarmnode.worker"):
        worker._remember_managers(two, [ManagerInfo(m.node_id, m.addr, m.curve_key) for m in two])
    assert context.get_shared(worker_module.MANAGERS_KEY) == two and connected == ["m1", "m2"]
    assert "could not save the managers of the swarm" in caplog.text and "No space left on device" in caplog.text
    assert load_node_state(tmp_path) == saved, "a half-written node.json"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["curve.key", "node.json"], "a temporary file was left"
    worker._save_again()  # the next heartbeat answered: the disk is still full
    assert caplog.text.count("could not save the managers") == 1, "said again at each heartbeat"
    monkeypatch.setattr(identity_module, "_os_write", os.write)  # room again
    with caplog.at_level(logging.INFO, logger="swarmnode.worker"):
        worker._save_again()
    reloaded = load_node_state(tmp_path)
    assert reloaded is not None and reloaded.managers == two, "never saved once there was room"
    assert "saved the managers of the swarm" in caplog.text and worker.unsaved == {}


def test_a_manager_whose_disk_is_full_says_so_in_its_agents_no_leader(tmp_path: Path) -> None:

    context = NodeContext("m1", "manager", tmp_path, "127.0.0.1:0", CurveKeys(b"p" * 40, b"s" * 40))
    assert disk_full(context) == ""
    record = DiskFull("disk full while writing wal-1.log", "/x/store", room=9 << 20)
    context.set_shared(DISK_FULL_KEY, record)
    said = disk_full(context)
    assert said == "disk full while writing wal-1.log; it waits for 9 MiB free in /x/store"
    text = str(worker_module.NoLeader("m1", own_store=True, disk_full=said))
    assert "takes no part in the swarm while its disk is full (disk full while writing" in text
    assert "election" not in text, "an election is not what keeps it without a leader"
    context.set_shared(DISK_FULL_KEY, replace(record, waiting=False))  # it went on
    assert disk_full(context) == ""


def test_trusted_roots_without_the_one_of_its_own_certificate_are_not_saved(tmp_path: Path) -> None:
    """Its renewal unsaved (a full disk), a node that saved them could not start again: its
    certificate on disk would be of a root its trust on disk no longer holds."""

    own = found_swarm(tmp_path / "own", FoundingOptions(advertise_addr="127.0.0.1:2377", hostname="h1"))
    found_swarm(tmp_path / "other", FoundingOptions(advertise_addr="127.0.0.1:2477", hostname="h2"))  # another root
    own_trust = read_certificate(tmp_path / "own").trust_pem
    other_root = read_certificate(tmp_path / "other").trust_pem
    context = NodeContext(own.node_id, "worker", tmp_path / "own", "127.0.0.1:0", own.keys, cluster_id=own.cluster_id)
    context.set_transport(SimpleNamespace(connect=lambda node_id, addr, key: None))  # type: ignore[arg-type]
    context.set_shared(CERTIFICATE_KEY, SimpleNamespace(issuer_digest=ca_digest(own_trust)))
    worker = Worker(None, context)
    worker._follow(HeartbeatReply(period_s=1.0, managers=(), trust_pem=other_root, renew=False), "m1")
    assert read_certificate(tmp_path / "own").trust_pem == own_trust, "a trust its certificate does not chain to"
    both = own_trust + other_root  # during a rotation: the old root and the new
    worker._follow(HeartbeatReply(period_s=1.0, managers=(), trust_pem=both, renew=False), "m1")
    assert read_certificate(tmp_path / "own").trust_pem == both
