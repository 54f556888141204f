"""The control socket: a 0600 unix socket, "local" identity, and the ControlClient of the CLI."""

from __future__ import annotations

import os
import socket
import stat
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import click
import pytest

from swarmnode.actors.messages import Ping, Pong
from swarmnode.cli.common import Settings
from swarmnode.cli.common import request as cli_request
from swarmnode.transport import ConnectionLost, ControlClient, Identity, RemoteError, RequestTimeout, TransportError
from tests.support import wait_until

if TYPE_CHECKING:
    from tests.unit.transport.conftest import Cluster, Node

LONG_S = 5.0


@pytest.fixture
def control_path(tmp_path: Path) -> str:
    return str(tmp_path / "control.sock")


@pytest.fixture
def node(cluster: Cluster, control_path: str) -> Node:
    return cluster.node("n1", control_path=control_path)


def test_the_control_socket_is_readable_by_its_owner_only(node: Node, control_path: str) -> None:
    mode = os.stat(control_path).st_mode
    assert stat.S_ISSOCK(mode)
    assert stat.S_IMODE(mode) == 0o600


def test_a_control_request_is_answered_with_the_local_identity(node: Node, control_path: str) -> None:
    with ControlClient(control_path, timeout_s=LONG_S) as client:
        assert client.request("echo", Ping(b"cli")) == Pong(b"cli")
    (inbound,) = node.received()
    assert inbound.peer == Identity(node_id="n1", role="local")


def test_a_control_stream_yields_the_parts(node: Node, control_path: str) -> None:
    with ControlClient(control_path, timeout_s=LONG_S) as client:
        assert list(client.stream("three-parts", Ping())) == [Pong(b"\x00"), Pong(b"\x01"), Pong(b"\x02")]


def test_control_errors_become_remote_error_and_silence_a_timeout(node: Node, control_path: str) -> None:
    with ControlClient(control_path, timeout_s=LONG_S) as client:
        with pytest.raises(RemoteError) as caught:
            client.request("nobody", Ping())
        assert caught.value.code == "unknown-actor"
        with pytest.raises(RequestTimeout, match=r"no reply from silent on .* to Ping within 0.2 s"):
            client.request("silent", Ping(), timeout_s=0.2)
        with pytest.raises(RemoteError, match="forbidden"):
            list(client.stream("part-then-error", Ping()))
        # The answer to the timed-out request never arrives; a new request still works.
        assert client.request("echo", Ping(b"again")) == Pong(b"again")


def test_the_socket_file_is_removed_on_stop(node: Node, control_path: str) -> None:
    node.transport.stop()
    assert not os.path.exists(control_path)


def test_a_client_for_a_missing_socket_says_so(tmp_path: Path) -> None:
    with pytest.raises(TransportError, match=r"no control socket at .*: is the node running"):
        ControlClient(str(tmp_path / "absent.sock"))


def test_a_stale_socket_file_of_a_dead_node_is_replaced(cluster: Cluster, control_path: str) -> None:
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(control_path)
    stale.close()  # the file stays, nobody listens: what a killed node leaves behind
    cluster.node("n1", control_path=control_path)
    with ControlClient(control_path, timeout_s=LONG_S) as client:
        assert client.request("echo", Ping()) == Pong()


def test_the_socket_of_a_running_node_is_not_stolen(node: Node, cluster: Cluster, control_path: str) -> None:
    with pytest.raises(TransportError, match="another node is listening there"):
        cluster.node("n2", control_path=control_path)
    with ControlClient(control_path, timeout_s=LONG_S) as client:
        assert client.request("echo", Ping()) == Pong()


def test_a_path_that_is_not_a_socket_is_left_alone(cluster: Cluster, tmp_path: Path) -> None:
    path = tmp_path / "precious.txt"
    path.write_text("keep me")
    with pytest.raises(TransportError, match="exists and is not a socket"):
        cluster.node("n1", control_path=str(path))
    assert path.read_text() == "keep me"


def test_a_control_path_in_a_missing_directory_is_reported(cluster: Cluster, tmp_path: Path) -> None:
    path = tmp_path / "no" / "such" / "dir" / "control.sock"
    with pytest.raises(TransportError, match=f"cannot listen on {path}"):
        cluster.node("n1", control_path=str(path))


def test_a_closed_client_refuses_to_send(node: Node, control_path: str) -> None:
    client = ControlClient(control_path)
    client.close()
    client.close()
    with pytest.raises(TransportError, match="closed"):
        client.request("echo", Ping())


@contextmanager
def stopped_once_asked(node: Node) -> Iterator[None]:
    """Stop ``node``'s transport once a request to its "silent" actor reached it (as a kill would)."""

    def stop_once_asked() -> None:
        wait_until(lambda: any(i.envelope.dst.actor == "silent" for i in node.received()), LONG_S, "the ask")
        node.transport.stop()

    stopper = threading.Thread(target=stop_once_asked)
    stopper.start()
    try:
        yield
    finally:
        stopper.join()


def test_a_node_that_stops_while_a_request_waits_is_told_at_once(node: Node, control_path: str) -> None:
    """A node killed while it handled a write: not "did not answer within 25 s" after all of them."""
    with ControlClient(control_path, timeout_s=LONG_S) as client, stopped_once_asked(node):
        started = time.monotonic()
        with pytest.raises(ConnectionLost, match=r"closed before silent answered Ping"):
            client.request("silent", Ping())
        assert time.monotonic() - started < LONG_S / 2


def test_the_cli_says_a_node_that_stopped_before_answering_may_have_done_it(node: Node, tmp_path: Path) -> None:
    """No process holds the state dir's lock: it stopped (killed, or crashed), and `start` runs it again."""
    with stopped_once_asked(node), pytest.raises(click.ClickException) as failed:
        cli_request(Settings(tmp_path, "text"), "silent", Ping(), timeout_s=LONG_S)
    assert failed.value.message == (
        f"the node of state dir {tmp_path} stopped (it was killed, or it crashed) before it answered: what was "
        "asked may or may not be done; check before you retry (`swarm-node start` runs it again)"
    )


def test_a_connection_lost_before_a_request_is_not_that_requests(cluster: Cluster, control_path: str) -> None:
    """A client kept across a node's restart (a test's, a bench's): the old connection's close is old news."""
    first = cluster.node("n1", control_path=control_path)
    with ControlClient(control_path, timeout_s=LONG_S) as client:
        assert client.request("echo", Ping(b"1")) == Pong(b"1")
        first.transport.stop()
        cluster.node("n2", control_path=control_path)
        assert client.request("echo", Ping(b"2")) == Pong(b"2")
        with pytest.raises(RequestTimeout):
            client.request("silent", Ping(), timeout_s=0.5)
