"""The bootstrap port: plain TCP next to the cluster port, for a joiner's one unauthenticated request."""

from __future__ import annotations

import socket

import pytest

from swarmnode.actors.messages import Ping, Pong
from swarmnode.cli.local import free_port_pair
from swarmnode.transport import (
    BOOTSTRAP_ROLE,
    ControlClient,
    RequestTimeout,
    TransportError,
    bootstrap_address,
)
from swarmnode.transport._endpoints import BOOTSTRAP_MAX_BYTES, split_host_port


def test_bootstrap_port_is_the_cluster_port_plus_one(cluster):
    node = cluster.node("m", bootstrap=True)
    _, port = split_host_port(node.transport.address)
    assert node.transport.bootstrap_address == f"127.0.0.1:{port + 1}"
    assert bootstrap_address(node.transport.address) == node.transport.bootstrap_address


def test_a_node_without_bootstrap_has_no_such_port(cluster):
    node = cluster.node("w")
    assert node.transport.bootstrap_address == ""


def test_bootstrap_requests_arrive_with_the_bootstrap_role(cluster):
    node = cluster.node("m", bootstrap=True)
    with ControlClient.bootstrap(node.transport.bootstrap_address, timeout_s=5) as client:
        assert client.request("echo", Ping(payload=b"hello")) == Pong(payload=b"hello")
    (inbound,) = node.received()
    assert inbound.peer.role == BOOTSTRAP_ROLE
    assert inbound.peer.node_id == ""


def test_oversize_bootstrap_messages_are_cut_off(cluster):
    node = cluster.node("m", bootstrap=True)
    with (
        ControlClient.bootstrap(node.transport.bootstrap_address, timeout_s=1) as client,
        pytest.raises((RequestTimeout, TransportError)),
    ):
        client.request("echo", Ping(payload=b"x" * (BOOTSTRAP_MAX_BYTES + 1)))
    assert node.received() == []
    with ControlClient.bootstrap(node.transport.bootstrap_address, timeout_s=5) as client:
        assert client.request("echo", Ping(payload=b"ok")) == Pong(payload=b"ok")


def port_with_free_port_below() -> socket.socket:
    """Return a listening socket on a port P such that P - 1 was free a moment ago."""
    holder = socket.socket()
    holder.bind(("127.0.0.1", free_port_pair() + 1))
    holder.listen()
    return holder


def test_a_busy_bootstrap_port_is_named_when_the_cluster_port_is_fixed(cluster):
    with port_with_free_port_below() as holder:
        busy = holder.getsockname()[1]
        with pytest.raises(TransportError, match=f"cannot listen on 127.0.0.1:{busy} \\(the bootstrap port"):
            cluster.node("m", listen=f"127.0.0.1:{busy - 1}", bootstrap=True)
