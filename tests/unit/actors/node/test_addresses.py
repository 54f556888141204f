"""The address a node advertises: a wildcard listen address becomes one the swarm can dial."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from swarmnode.actors.node.addresses import AdvertiseAddressError, advertise_address, port_taken
from swarmnode.actors.node.identity import StateDirError
from swarmnode.actors.node.process import _check_port_free, _moved_advertise_address
from swarmnode.actors.node.swarm_state import ManagerRecord, NodeState
from swarmnode.actors.runtime import CurveKeys
from tests.support.ci import skip_unless_ci

# What a lookup of a host name's address answers in these tests: not any address of this machine.
ELSEWHERE = "203.0.113.9"


@pytest.fixture
def host_name_elsewhere(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the host name resolve to ELSEWHERE, so that a rule that took its address fails.

    Here it resolves to 127.0.0.1, the very address the route rule finds on loopback; on Debian
    it resolves to 127.0.1.1, which no other node reaches.
    """
    monkeypatch.setattr(socket, "gethostbyname", lambda name: ELSEWHERE)


def _has_ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as probe:
            probe.connect(("::1", 2377))
    except OSError:
        return False
    return True


def _in_namespaces(code: str, tmp_path: Path, hosts: str = "") -> str:
    """Run Python ``code`` in a network namespace of its own (loopback only, no route out); return its output.

    With ``hosts``, that text is /etc/hosts in a mount namespace of its own. The namespaces end
    with the process: nothing is left to remove.
    """
    if os.geteuid() != 0 or not shutil.which("unshare") or not shutil.which("ip"):
        skip_unless_ci("needs root, unshare and ip (iproute2) to make namespaces", "CI runs as root with iproute2")
    setup = "ip link set lo up"
    flags = ["--net"]
    if hosts:
        (tmp_path / "hosts").write_text(hosts)
        setup = f"mount --bind {tmp_path / 'hosts'} /etc/hosts && {setup}"
        flags.append("--mount")
    script = f'{setup} && exec "$0" -c "$1"'
    result = subprocess.run(
        ["unshare", *flags, "sh", "-c", script, sys.executable, code],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def _default_route_source() -> str:
    """Return the source address `ip route get` reports towards a documentation address, or skip."""
    if not shutil.which("ip"):
        skip_unless_ci("needs ip (iproute2)", "CI installs iproute2")
    result = subprocess.run(["ip", "-j", "route", "get", "192.0.2.1"], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        pytest.skip(f"no IPv4 default route on this machine: {result.stderr.strip()}")
    source: str = json.loads(result.stdout)[0]["prefsrc"]
    return source


@pytest.mark.parametrize("address", ["192.0.2.7:2377", "node1.example:4000", "[2001:db8::1]:2377"])
def test_an_address_that_names_a_host_is_advertised_as_it_is(address: str) -> None:
    assert advertise_address(address, towards="127.0.0.1:2377") == address


@pytest.mark.usefixtures("host_name_elsewhere")
@pytest.mark.parametrize("wildcard", ["0.0.0.0:4000", ":4000", "[::]:4000", ":::4000"])
def test_a_wildcard_becomes_the_local_address_of_the_route_to_the_manager(wildcard: str) -> None:
    # The loopback route's source address is 127.0.0.1; the listen port is kept. A node on ::
    # takes IPv4 too (zmq maps it), and the manager is dialled over IPv4.
    assert advertise_address(wildcard, towards="127.0.0.1:2377") == "127.0.0.1:4000"


@pytest.mark.usefixtures("host_name_elsewhere")
@pytest.mark.skipif(not _has_ipv6_loopback(), reason="no IPv6 loopback on this machine")
@pytest.mark.parametrize("manager", ["[::1]:2377", "::1"])
def test_a_node_on_the_ipv6_wildcard_gives_a_bracketed_ipv6_address_towards_an_ipv6_manager(manager: str) -> None:
    assert advertise_address("[::]:4000", towards=manager) == "[::1]:4000"


def test_a_node_on_the_ipv4_wildcard_cannot_advertise_itself_to_a_manager_dialled_over_ipv6() -> None:
    # It takes no IPv6 connection, so its IPv6 route address would be a dead end.
    with pytest.raises(AdvertiseAddressError) as caught:
        advertise_address("0.0.0.0:4000", towards="[::1]:2377")
    text = str(caught.value)
    assert "0.0.0.0:4000" in text and "[::1]:2377" in text and "--advertise-addr HOST:4000" in text


def test_a_manager_name_with_ipv6_and_ipv4_addresses_is_aimed_at_over_ipv4_as_the_transport_dials_it(
    tmp_path: Path,
) -> None:
    code = (
        "import socket\n"
        "from swarmnode.actors.node.addresses import advertise_address\n"
        "print(socket.getaddrinfo('manager.test', 2377, type=socket.SOCK_DGRAM)[0][4][0])\n"
        "for wildcard in ('0.0.0.0:4000', '[::]:4000'):\n"
        "    print(advertise_address(wildcard, towards='manager.test:2377'))\n"
    )
    first, *advertised = _in_namespaces(code, tmp_path, hosts="::1 manager.test\n127.0.0.1 manager.test\n").split()
    assert first == "::1"  # the resolver's first answer is IPv6: a family-blind lookup would take it
    assert advertised == ["127.0.0.1:4000", "127.0.0.1:4000"]


@pytest.mark.usefixtures("host_name_elsewhere")
@pytest.mark.parametrize("wildcard", ["0.0.0.0:4000", "[::]:4000"])
def test_without_a_manager_a_wildcard_becomes_the_local_address_of_the_default_route(wildcard: str) -> None:
    # Founding a swarm has no manager to aim at. A node on :: prefers IPv4 too.
    assert advertise_address(wildcard) == f"{_default_route_source()}:4000"


def test_without_a_default_route_a_founder_on_a_wildcard_is_asked_for_an_advertise_address(tmp_path: Path) -> None:
    code = (
        "from swarmnode.actors.node.addresses import AdvertiseAddressError, advertise_address\n"
        "try:\n"
        "    print(advertise_address('[::]:4000'))\n"
        "except AdvertiseAddressError as exc:\n"
        "    print(exc)\n"
    )
    text = _in_namespaces(code, tmp_path)
    assert "no default route" in text and "--advertise-addr HOST:4000" in text, text
    assert "IPv4: Network is unreachable" in text and "IPv6" in text, text


def test_no_route_to_the_manager_names_both_addresses_and_the_option_to_pass() -> None:
    # Linux refuses a datagram connect to the broadcast address without SO_BROADCAST.
    with pytest.raises(AdvertiseAddressError) as caught:
        advertise_address("0.0.0.0:4000", towards="255.255.255.255:2377")
    text = str(caught.value)
    assert "0.0.0.0:4000" in text and "route to 255.255.255.255:2377" in text and "--advertise-addr" in text


@pytest.mark.parametrize(
    ("advertised", "moved"),
    [
        ("127.0.0.1:2377", "127.0.0.1:2477"),  # derived: follows
        ("10.1.2.3:2377", "10.1.2.3:2477"),  # explicit host, same port
        ("10.1.2.3:4000", "10.1.2.3:4000"),  # explicit port: kept
    ],
)
def test_a_node_restarted_on_another_listen_address_advertises_it(advertised: str, moved: str) -> None:
    """Restarted on 127.0.0.1:2477 after 127.0.0.1:2377."""
    state = NodeState("n", "worker", "c", advertised, "h", CurveKeys(b"p" * 40, b"s" * 40), listen="127.0.0.1:2377")
    assert _moved_advertise_address(state, "127.0.0.1:2477") == moved


def test_a_manager_on_the_last_port_is_refused_with_a_reason() -> None:
    with pytest.raises(StateDirError, match="65536 is no TCP port; no swarm was founded"):
        _check_port_free("127.0.0.1:65535", "no swarm was founded", ports=2)


def test_a_manager_that_cannot_be_routed_to_does_not_stop_a_moved_node() -> None:
    """A name that does not resolve now, or another address family (here: no DNS asked): the default route stands in."""
    managers = (ManagerRecord("m", "[2001:db8::5]:2377", "K" * 40),)  # 0.0.0.0 routes IPv4 only
    state = NodeState(
        "n", "worker", "c", "10.9.9.9:2377", "h", CurveKeys(b"p" * 40, b"s" * 40), managers, listen="0.0.0.0:2377"
    )
    assert _moved_advertise_address(state, "0.0.0.0:2400") == "10.9.9.9:2400"


def test_a_taken_port_and_the_bootstrap_port_above_it_are_named() -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        assert port_taken(f"127.0.0.1:{port}") == f"cannot listen on 127.0.0.1:{port}: Address already in use"
        assert port_taken(f"127.0.0.1:{port - 1}", bootstrap=True) == (
            f"cannot listen on 127.0.0.1:{port} (the bootstrap port, 127.0.0.1:{port - 1} + 1): Address already in use"
        )
    assert port_taken("127.0.0.1:0", bootstrap=True) == ""  # port 0: nothing to probe, the kernel picks
    assert "65536 is no TCP port" in port_taken("127.0.0.1:65535", bootstrap=True)
