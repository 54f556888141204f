"""Fixtures for tests that start real node processes."""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
from collections.abc import Callable, Generator, Iterator
from pathlib import Path

import pytest
import zmq

from tests.support.nodes import NodeFactory, NodeProcess

_PREVIOUS_SIGTERM = pytest.StashKey[object]()


def pytest_configure(config: pytest.Config) -> None:
    """Turn SIGTERM (a CI time limit, ``timeout``) into an interrupt, so fixtures still stop their nodes.

    The nodes run in sessions of their own: a test run killed by SIGTERM without this would
    leave them running. A second SIGTERM is ignored, so that the teardown it started finishes.
    """

    def interrupt(signum: int, frame: object) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        raise KeyboardInterrupt(f"signal {signum}")

    try:
        config.stash[_PREVIOUS_SIGTERM] = signal.signal(signal.SIGTERM, interrupt)
    except ValueError:
        return  # not the main thread (pytest run from a thread): leave signals alone


def pytest_unconfigure(config: pytest.Config) -> None:
    previous = config.stash.get(_PREVIOUS_SIGTERM, None)
    if previous is not None:
        signal.signal(signal.SIGTERM, previous)  # type: ignore[arg-type]


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Add the last words of every node a failed test started to its report.

    A wait that times out says only what it waited for; the nodes' logs say where the time went.
    That matters most for a failure seen once, on a CI machine.
    """
    report = yield
    make = getattr(item, "funcargs", {}).get("nodes")
    if report.failed and isinstance(make, NodeFactory) and make.made:
        try:
            words = "\n".join(node.last_words() for node in make.made)
        except Exception as exc:  # never lose the failure itself, nor the tests after it
            words = f"(the nodes' logs could not be read: {exc!r})"
        report.sections.append(("nodes' last words", words))
    return report


@pytest.fixture
def short_tmp() -> Iterator[Path]:
    """A short private directory: a unix socket path must stay under 108 bytes."""
    path = Path(tempfile.mkdtemp(prefix="sn-"))
    yield path
    if os.environ.get("SWARM_NODE_KEEP_TEST_DIRS"):
        print(f"kept {path}")  # for debugging a failure: the nodes' logs and state
        return
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def nodes(short_tmp: Path) -> Iterator[Callable[..., NodeProcess]]:
    """Make NodeProcess objects that are stopped at the end of the test, even when it fails."""
    make = NodeFactory(short_tmp)
    yield make
    make.stop_all()


@pytest.fixture
def zctx() -> Iterator[zmq.Context]:
    """A ZeroMQ context for raw sockets that talk to nodes; closed, with its sockets, at the end."""
    ctx = zmq.Context()
    yield ctx
    ctx.destroy(linger=0)
