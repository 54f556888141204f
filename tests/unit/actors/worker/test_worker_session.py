"""The Worker's session as `swarm-node status` shows it: pending, active, failing, removed (sticky)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from swarmnode.actors.node.swarm_state import ManagerRecord
from swarmnode.actors.runtime import SESSION_KEY, CurveKeys, NodeContext, Session
from swarmnode.actors.worker.actor import Worker
from swarmnode.transport import RemoteError, TransportError

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
