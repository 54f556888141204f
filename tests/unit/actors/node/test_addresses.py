"""The address a node advertises: a wildcard listen address becomes one the swarm can dial."""

from __future__ import annotations

import socket

import pytest

from swarmnode.actors.node.addresses import AdvertiseAddressError, advertise_address


def _has_ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as probe:
            probe.connect(("::1", 2377))
    except OSError:
        return False
    return True


@pytest.mark.parametrize("address", ["192.0.2.7:2377", "node1.example:4000", "[2001:db8::1]:2377"])
def test_an_address_that_names_a_host_is_advertised_as_it_is(address: str) -> None:
    assert advertise_address(address, towards="127.0.0.1:2377") == address


@pytest.mark.parametrize("wildcard", ["0.0.0.0:4000", ":4000", "[::]:4000"])
def test_a_wildcard_becomes_the_local_address_of_the_route_to_the_manager(wildcard: str) -> None:
    # The loopback route's source address is 127.0.0.1; the listen port is kept.
    assert advertise_address(wildcard, towards="127.0.0.1:2377") == "127.0.0.1:4000"


@pytest.mark.skipif(not _has_ipv6_loopback(), reason="no IPv6 loopback on this machine")
def test_an_ipv6_route_gives_a_bracketed_ipv6_address() -> None:
    assert advertise_address("0.0.0.0:4000", towards="[::1]:2377") == "[::1]:4000"


def test_without_a_manager_a_wildcard_becomes_the_host_names_address() -> None:
    # Founding a swarm has no manager to aim at.
    host = socket.gethostbyname(socket.gethostname())
    assert advertise_address("0.0.0.0:4000") == f"{host}:4000"


def test_no_route_to_the_manager_names_the_manager_and_the_option_to_pass() -> None:
    # Linux refuses a datagram connect to the broadcast address without SO_BROADCAST.
    with pytest.raises(AdvertiseAddressError) as caught:
        advertise_address("0.0.0.0:4000", towards="255.255.255.255:2377")
    text = str(caught.value)
    assert "route to 255.255.255.255:2377" in text and "--advertise-addr" in text
