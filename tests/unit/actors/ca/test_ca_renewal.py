"""A node's own certificate renewal when the new certificate cannot be saved (a full disk)."""

from __future__ import annotations

import logging
import os
import time
from dataclasses import replace
from pathlib import Path

import pytest

from swarmnode.actors.ca import actor as ca_actor
from swarmnode.actors.ca.actor import CertAuthority, RenewNow
from swarmnode.actors.node import identity as identity_module
from swarmnode.actors.node.founding import FoundingOptions, found_swarm
from swarmnode.actors.node.swarm_state import load_node_state, read_certificate, save_node_state
from swarmnode.actors.runtime import STOP_NODE_KEY, NodeContext
from tests.support.disk import no_room


def timers_of(ca: CertAuthority, monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, float, object]]:
    """The timers ``ca`` starts from now on (key, delay, message), recorded instead of started."""
    started: list[tuple[str, float, object]] = []
    monkeypatch.setattr(ca.timers, "start", lambda key, delay_s, message: started.append((key, delay_s, message)))
    return started


def test_a_renewal_that_cannot_be_saved_keeps_the_old_certificate_and_is_tried_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """It crashed the CA at each try; with renewals asked at each heartbeat the node gave up."""
    caplog.set_level(logging.INFO, "swarmnode.ca")
    state = found_swarm(tmp_path, FoundingOptions(advertise_addr="127.0.0.1:2377", hostname="h1"))
    context = NodeContext(state.node_id, "manager", tmp_path, "127.0.0.1:0", state.keys, cluster_id=state.cluster_id)
    ca = CertAuthority(None, context)
    ca.on_start()
    old = read_certificate(tmp_path)
    # What the managers would sign: the node's own chain again is enough to be saved (or not).
    signed: list[bytes] = []

    def sign(csr: bytes, via: str = "") -> tuple[bytes, bytes]:
        signed.append(csr)
        return old.chain_pem, old.trust_pem

    monkeypatch.setattr(ca, "_renew_here_or_remotely", sign)
    started = timers_of(ca, monkeypatch)
    monkeypatch.setattr(identity_module, "_os_write", no_room)
    try:
        ca._renew_own("a root CA rotation")
        assert read_certificate(tmp_path) == old and ca.cert == old, "a certificate that is not on disk was adopted"
        assert [(key, delay) for key, delay, _ in started] == [("renew", ca_actor.RENEW_RETRY_S)]
        assert len(signed) == 1
        assert isinstance(started[0][2], RenewNow) and started[0][2].reason == "a root CA rotation"
        assert "could not save the new certificate" in caplog.text and "No space left on device" in caplog.text
        assert sorted(p.name for p in (tmp_path / "certificates").iterdir()) == sorted(
            ["node.key", "node.crt", "trust.pem", "root-ca.key"]
        ), "a temporary file was left"
        ca.on_receive(RenewNow("the managers asked", asked_at=time.monotonic()))  # at each heartbeat
        assert len(signed) == 1, "a renewal signed again while one is tried again soon"
        for _ in range(8):
            ca.on_receive(started[-1][2])  # the retries, the disk still full: signed afresh (the role wanted then)
        delays = [delay for key, delay, _ in started if key == "renew"]
        assert delays == [10.0, 20.0, 40.0, 80.0, 160.0, 300.0, 300.0, 300.0, 300.0], "not less and less often"
        assert [r.levelname for r in caplog.records if "could not save" in r.getMessage()].count("WARNING") == 1
        monkeypatch.setattr(identity_module, "_os_write", os.write)  # room again
        ca.on_receive(started[-1][2])
        assert ca.save_failures == 0 and read_certificate(tmp_path).chain_pem == old.chain_pem
        assert "saved a renewed certificate of this node at last" in caplog.text
    finally:
        ca.timers.close()


def test_a_role_the_certificate_gives_that_cannot_be_saved_is_tried_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The certificate says manager, node.json could not be told: the node stayed a worker for good."""
    state = found_swarm(tmp_path, FoundingOptions(advertise_addr="127.0.0.1:2377", hostname="h1"))
    save_node_state(tmp_path, replace(state, role="worker"))  # a worker promoted: its new certificate says manager
    worker = NodeContext(state.node_id, "worker", tmp_path, "127.0.0.1:0", state.keys, cluster_id=state.cluster_id)
    restarts: list[tuple[str, str]] = []
    worker.set_shared(STOP_NODE_KEY, lambda why, how: restarts.append((why, how)))
    ca = CertAuthority(None, worker)
    ca.on_start()  # the founding certificate says manager
    started = timers_of(ca, monkeypatch)
    monkeypatch.setattr(identity_module, "_os_write", no_room)
    try:
        ca._follow_role()  # raised OSError: a CA crash, and its restart never looked again
        assert restarts == [] and [(k, d) for k, d, _ in started] == [("role", ca_actor.RENEW_RETRY_S)]
        assert "saving that in" in caplog.text and "No space left on device" in caplog.text
        monkeypatch.setattr(identity_module, "_os_write", os.write)  # room again
        ca.on_receive(started[0][2])
        assert restarts == [("role changed to manager", "restart")]
        state_now = load_node_state(tmp_path)
        assert state_now is not None and state_now.role == "manager"
    finally:
        ca.timers.close()


def test_a_certificate_saved_without_its_role_is_followed_at_the_next_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Saved, then node.json not (a full disk, a crash): no heartbeat asks for a renewal, and the
    node ran as the role node.json says until the next scheduled renewal, weeks later."""
    state = found_swarm(tmp_path, FoundingOptions(advertise_addr="127.0.0.1:2377", hostname="h1"))
    save_node_state(tmp_path, replace(state, role="worker"))
    worker = NodeContext(state.node_id, "worker", tmp_path, "127.0.0.1:0", state.keys, cluster_id=state.cluster_id)
    restarts: list[tuple[str, str]] = []
    worker.set_shared(STOP_NODE_KEY, lambda why, how: restarts.append((why, how)))
    ca = CertAuthority(None, worker)
    started = timers_of(ca, monkeypatch)
    try:
        ca.on_start()  # the certificate says manager
        follow = [message for key, _, message in started if key == "role"]
        assert len(follow) == 1, started
        ca.on_receive(follow[0])
        assert restarts == [("role changed to manager", "restart")]
        manager = NodeContext(
            state.node_id, "manager", tmp_path, "127.0.0.1:0", state.keys, cluster_id=state.cluster_id
        )
        again = CertAuthority(None, manager)
        monkeypatch.setattr(
            again.timers, "start", lambda key, delay_s, message: started.append((key, delay_s, message))
        )
        started.clear()
        again.on_start()  # the roles agree now
        assert [key for key, _, _ in started] == ["renew"]
        again.timers.close()
    finally:
        ca.timers.close()
