"""Hosts in network namespaces on one bridge, and network partitions cut with nftables, for tests.

Each host is a network namespace of its own with one veth into a bridge. The bridge lives in a
namespace of the lab's own, as a switch would, so that a partition happens where a real one does:
an nftables table on that bridge drops every frame that crosses between the two sides, in both
directions, ARP included. The processes are left alone (SIGSTOP would stop them too).

Everything is named after the lab, the test run's pid and a serial number, and removed at the end
even when the test failed. A run killed outright (SIGKILL) cannot do that: the next lab of the same
name removes the namespaces of its name whose run's pid is gone, with the nodes still inside them.
Nothing outside the lab's namespaces is touched: the addresses (10.213.0.0/24) and the nftables
table exist only inside them.

Needs root, ``ip`` (iproute2), ``nft`` (nftables) and the right to make namespaces (an unprivileged
container lacks it: the first lab tries one); .ci/run installs the tools. Without them a test is
skipped, except under CI, where it fails: CI must run the partition tests.
"""

from __future__ import annotations

import functools
import itertools
import os
import re
import shutil
import signal
import subprocess
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import Any

from .ci import skip_unless_ci
from .nodes import NodeProcess

SUBNET_PREFIX = "10.213.0."  # a /24 that exists only inside the lab's namespaces
COMMAND_TIMEOUT_S = 10.0
BRIDGE = "br0"
LAB_PORT = 4500  # each host is a namespace of its own: the same port is free in every one
_SERIAL = itertools.count()  # two labs of one test run never share a name


@dataclass(frozen=True)
class Host:
    """One host: its namespace, its address on the bridge's subnet, and its veth's end on the bridge."""

    netns: str
    ip: str
    port: str


def _run(*command: str, stdin: str | None = None) -> str:
    result = subprocess.run(
        command, input=stdin, capture_output=True, text=True, timeout=COMMAND_TIMEOUT_S, check=False
    )
    if result.returncode != 0:
        shown = " ".join(command) + (f" <<< {stdin!r}" if stdin else "")
        raise RuntimeError(f"`{shown}` failed with {result.returncode}: {result.stderr.strip()}")
    return result.stdout


def _lab_base(name: str) -> str:
    """The start of every namespace name of a new lab ``name``: it, this run's pid and a serial number."""
    return f"{name}_{os.getpid()}_{next(_SERIAL)}"


def _lab_names(name: str) -> re.Pattern[str]:
    """Match every namespace a lab ``name`` makes (its switch, its hosts, the probe), capturing the run's pid."""
    return re.compile(rf"{re.escape(name)}_(?P<pid>\d+)_\d+_(?:sw|h\d+|probe)")


def _netns_names() -> list[str]:
    return [line.split()[0] for line in _run("ip", "netns", "list").splitlines() if line.strip()]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, under another user
    return True


def _remove_netns(netns: str) -> None:
    """End every process in ``netns``, then delete it (its veths and nftables tables go with it)."""
    # Only processes a lab's test started run in its namespaces; normally their fixture stopped them.
    for pid in _run("ip", "netns", "pids", netns).split():
        with suppress(ProcessLookupError):
            os.kill(int(pid), signal.SIGKILL)
    _run("ip", "netns", "del", netns)


def _remove_stale(name: str) -> None:
    """Remove the namespaces of lab ``name`` left by a run that was killed, and end what runs in them.

    Only names of this lab's pattern whose run's pid is gone: a lab of a run still going (this one,
    another test run) is left alone.
    """
    pattern = _lab_names(name)
    errors: list[str] = []
    for netns in _netns_names():
        found = pattern.fullmatch(netns)
        if found is None or _alive(int(found["pid"])):
            continue
        try:
            _remove_netns(netns)
        except (RuntimeError, subprocess.TimeoutExpired) as exc:
            if netns in _netns_names():  # else another run removed it first
                errors.append(str(exc))
    if errors:
        raise RuntimeError(f"namespaces a killed run of lab {name} left could not be removed: " + "; ".join(errors))


class NetLab:
    """``count`` hosts on one bridge, and at most one partition at a time between them."""

    def __init__(self, name: str, count: int) -> None:
        self.name = name
        base = _lab_base(name)
        self.table = base  # the nftables table (bridge family) that holds a cut, in the switch's namespace
        self.switch = f"{base}_sw"
        self.hosts = [Host(f"{base}_h{i}", f"{SUBNET_PREFIX}{i + 1}", f"h{i}") for i in range(count)]
        self.made: list[str] = []  # the namespaces made so far, for close()
        self.cut_off: tuple[str, ...] = ()

    def build(self) -> None:
        _remove_stale(self.name)
        self._add_netns(self.switch)
        _run("ip", "-n", self.switch, "link", "add", BRIDGE, "type", "bridge")
        _run("ip", "-n", self.switch, "link", "set", BRIDGE, "up")
        for host in self.hosts:
            self._add_netns(host.netns)
            _run("ip", "-n", host.netns, "link", "set", "lo", "up")
            # Both ends are made inside the lab's namespaces: nothing appears in this one, even briefly.
            veth = ("eth0", "netns", host.netns, "type", "veth", "peer", "name", host.port, "netns", self.switch)
            _run("ip", "link", "add", *veth)
            _run("ip", "-n", host.netns, "addr", "add", f"{host.ip}/24", "dev", "eth0")
            _run("ip", "-n", host.netns, "link", "set", "eth0", "up")
            _run("ip", "-n", self.switch, "link", "set", host.port, "master", BRIDGE, "up")

    def _add_netns(self, netns: str) -> None:
        _run("ip", "netns", "add", netns)
        self.made.append(netns)

    def host(self, netns: str) -> Host:
        for host in self.hosts:
            if host.netns == netns:
                return host
        raise ValueError(f"no host of lab {self.table} runs in namespace {netns!r}")

    def cut(self, *side: str) -> None:
        """Drop every frame between the hosts in the namespaces ``side`` and all the others, until heal()."""
        if self.cut_off:
            raise RuntimeError(f"lab {self.table} is already cut between {self.cut_off} and the rest: heal() first")
        ports = "{ " + ", ".join(f'"{self.host(netns).port}"' for netns in side) + " }"
        rules = f"""
            table bridge {self.table} {{
                chain partition {{
                    type filter hook forward priority 0; policy accept;
                    iifname {ports} oifname != {ports} drop
                    iifname != {ports} oifname {ports} drop
                }}
            }}
        """
        _run("ip", "netns", "exec", self.switch, "nft", "-f", "-", stdin=rules)
        self.cut_off = side

    def heal(self) -> None:
        """Delete the cut's table: the hosts reach one another again."""
        if self.cut_off:
            _run("ip", "netns", "exec", self.switch, "nft", "delete", "table", "bridge", self.table)
            self.cut_off = ()

    def close(self) -> None:
        """Remove the cut, end what still runs in the lab's namespaces, and delete them (and their veths).

        Every step is tried even after one failed or was interrupted (a SIGTERM that the tests'
        conftest turned into KeyboardInterrupt): then the interruption, else the failures, is raised.
        """
        steps: list[tuple[str, Callable[[], None]]] = [(f"the cut ({self.table})", self.heal)]
        steps += [(netns, functools.partial(_remove_netns, netns)) for netns in reversed(self.made)]
        errors: list[str] = []
        interrupt: BaseException | None = None
        for what, step in steps:
            try:
                step()
            except BaseException as exc:
                errors.append(f"{what}: {str(exc) or repr(exc)}")
                if interrupt is None and not isinstance(exc, Exception):
                    interrupt = exc
        self.made = []
        if interrupt is not None:
            interrupt.add_note(f"lab {self.table} was removed after the interruption; errors: " + "; ".join(errors))
            raise interrupt
        if errors:
            raise RuntimeError(f"lab {self.table} was not fully removed: " + "; ".join(errors))


def in_hosts(make: Callable[..., NodeProcess], hosts: Iterable[Host]) -> Callable[..., NodeProcess]:
    """Wrap the node maker ``make`` so that its n-th node runs in the n-th of ``hosts``.

    Each listens on its host's address and LAB_PORT, whatever address its caller picked (Swarm and
    Managers pick free loopback ports, which mean nothing inside a namespace).
    """
    remaining = iter(hosts)

    def make_in_host(name: str, **kwargs: Any) -> NodeProcess:
        host = next(remaining, None)
        if host is None:
            raise AssertionError(f"no lab host left for node {name!r}: make the lab with a host for each node")
        return make(name, **{**kwargs, "listen": f"{host.ip}:{LAB_PORT}", "netns": host.netns})

    return make_in_host


@functools.cache
def _netns_refusal(name: str) -> str:
    """Why this process cannot make a network namespace, or '' when it can: make one of lab ``name`` and delete it.

    Once per lab name and run. Root is not enough: in an unprivileged container ``ip netns add``
    fails with EPERM.
    """
    probe = f"{_lab_base(name)}_probe"  # of the lab's pattern: a killed run's probe is removed as stale
    try:
        _run("ip", "netns", "add", probe)
    except (RuntimeError, subprocess.TimeoutExpired) as exc:
        return str(exc)
    _run("ip", "netns", "del", probe)
    return ""


def require_lab_tools(name: str) -> None:
    """Skip the test when it cannot build lab ``name`` here; under CI, fail instead."""
    missing = [
        what
        for ok, what in (
            (os.geteuid() == 0, "it does not run as root"),
            (shutil.which("ip") is not None, "`ip` is not installed (Debian/Ubuntu: apt-get install -y iproute2)"),
            (shutil.which("nft") is not None, "`nft` is not installed (Debian/Ubuntu: apt-get install -y nftables)"),
        )
        if not ok
    ]
    if not missing and (refusal := _netns_refusal(name)):
        missing.append(f"it may not make network namespaces here (an unprivileged container?): {refusal}")
    if missing:
        skip_unless_ci(
            "network namespace tests need root, ip, nft and the right to make namespaces, but " + "; ".join(missing),
            "CI must run the partition tests (.ci/run installs ip and nft and runs as root)",
        )


@contextmanager
def network_lab(name: str, count: int) -> Iterator[NetLab]:
    """Build a lab of ``count`` hosts named after ``name``; remove all of it afterwards."""
    require_lab_tools(name)
    lab = NetLab(name, count)
    try:
        lab.build()
        yield lab
    finally:
        lab.close()
