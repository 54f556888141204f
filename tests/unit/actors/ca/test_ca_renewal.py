"""A node's own certificate renewal when the new certificate cannot be saved (a full disk)."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from swarmnode.actors.ca import actor as ca_actor
from swarmnode.actors.ca.actor import CertAuthority, RenewNow
from swarmnode.actors.node import identity as identity_module
from swarmnode.actors.node.founding import FoundingOptions, found_swarm
from swarmnode.actors.node.swarm_state import read_certificate
from swarmnode.actors.runtime import NodeContext


def test_a_renewal_that_cannot_be_saved_keeps_the_old_certificate_and_is_tried_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """It crashed the CA at each try; with renewals asked at each heartbeat the node gave up."""
    state = found_swarm(tmp_path, FoundingOptions(advertise_addr="127.0.0.1:2377", hostname="h1"))
    context = NodeContext(state.node_id, "manager", tmp_path, "127.0.0.1:0", state.keys, cluster_id=state.cluster_id)
    ca = CertAuthority(None, context)
    ca.on_start()
    old = read_certificate(tmp_path)
    # What the managers would sign: the node's own chain again is enough to be saved (or not).
    monkeypatch.setattr(ca, "_renew_here_or_remotely", lambda csr, via="": (old.chain_pem, old.trust_pem))
    started: list[tuple[str, float, object]] = []
    monkeypatch.setattr(ca.timers, "start", lambda key, delay_s, message: started.append((key, delay_s, message)))

    def full(fd: int, data: object) -> int:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(identity_module, "_os_write", full)
    try:
        ca._renew_own("a root CA rotation")
        assert read_certificate(tmp_path) == old and ca.cert == old, "a certificate that is not on disk was adopted"
        assert [(key, delay) for key, delay, _ in started] == [("renew", ca_actor.RENEW_RETRY_S)]
        assert isinstance(started[0][2], RenewNow) and started[0][2].reason == "a root CA rotation"
        assert "could not save the new certificate" in caplog.text and "No space left on device" in caplog.text
        assert sorted(p.name for p in (tmp_path / "certificates").iterdir()) == sorted(
            ["node.key", "node.crt", "trust.pem", "root-ca.key"]
        ), "a temporary file was left"
    finally:
        ca.timers.close()
