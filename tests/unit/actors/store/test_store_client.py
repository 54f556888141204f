"""The Store's client functions: what a caller is told when the RaftMember is not there."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from swarmnode.actors.runtime import NodeContext, Refused
from swarmnode.actors.runtime.context import CurveKeys
from swarmnode.actors.store.client import (
    CRASH_TOLD_S,
    STORE_ACTOR,
    STORE_CRASH_KEY,
    raft_status,
    read_store,
)
from swarmnode.actors.supervision import SupervisedActor


def manager(tmp_path: Path) -> NodeContext:
    return NodeContext(
        node_id="n1", role="manager", state_dir=tmp_path, listen="127.0.0.1:0", keys=CurveKeys(b"p" * 40, b"s" * 40)
    )


def test_a_store_that_crashed_lately_says_why(tmp_path: Path) -> None:
    context = manager(tmp_path)
    reason = "WalWriteError: disk full while writing wal-1.log: nothing was acknowledged; free space and retry"
    context.set_shared(STORE_CRASH_KEY, (time.monotonic() - 3, reason))
    with pytest.raises(Refused, match=r"not running: it crashed 3 s ago \(WalWriteError: disk full") as caught:
        read_store(context, lambda core: core.last_index)
    assert caught.value.code == "unavailable"


def test_an_old_crash_is_not_named(tmp_path: Path) -> None:
    context = manager(tmp_path)
    context.set_shared(STORE_CRASH_KEY, (time.monotonic() - CRASH_TOLD_S - 1, "WalWriteError: disk full"))
    with pytest.raises(Refused, match=r"not running \(it may be restarting\); try again$"):
        read_store(context, lambda core: core.last_index)


class CrashingStore(SupervisedActor):
    """A RaftMember that crashes on whatever it is asked (its disk filled, say)."""

    def on_receive(self, message: object) -> object:
        raise OSError(28, "No space left on device")


def test_a_store_that_crashes_while_asked_fails_the_ask_without_crashing_the_asker(tmp_path: Path) -> None:
    """The asker (the control actor) would crash too, and an operator's `cluster status` say so."""
    context = manager(tmp_path)
    for ask in (lambda: read_store(context, lambda core: core.last_index), lambda: raft_status(context)):
        ref = CrashingStore.start()
        context.registry.register(STORE_ACTOR, ref)
        try:
            with pytest.raises(
                Refused, match=r"crashed before answering \(OSError: \[Errno 28\] No space left on device\); try again"
            ) as caught:
                ask()
            assert caught.value.code == "unavailable"
        finally:
            ref.stop()
