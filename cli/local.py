"""Run swarm-node processes on loopback: what the demo, the chaos scripts, the benchmarks and the
integration tests share to start local clusters."""

from __future__ import annotations

import random
import socket
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

__all__ = ["free_port", "free_port_pair", "swarm_node_command"]

PORT_ATTEMPTS = 100
FIRST_PORT = 10000  # below are well-known and registered services more often
EPHEMERAL_RANGE_FILE = Path("/proc/sys/net/ipv4/ip_local_port_range")
# Where the range cannot be read: Linux's default starts at 32768, others' (BSD, macOS) at 49152
# and end at 65535: all of them are avoided.
UNKNOWN_EPHEMERAL_RANGE = (32768, 65535)
_random = random.SystemRandom()  # not the tests' seeded generator: ports are not part of a test's seed
_handed_out: set[int] = set()  # by this process: a node given a port may not listen on it yet


def swarm_node_command(*args: str) -> list[str]:
    """The ``swarm-node`` command line for a child process, with this interpreter."""
    return [sys.executable, "-c", "from swarmnode.cli.main import main; main()", *args]


def free_port(host: str = "127.0.0.1") -> int:
    """Return a port that was free just now, outside the kernel's ephemeral range."""
    return _free_ports(host, 1)


def free_port_pair(host: str = "127.0.0.1") -> int:
    """Return a port P such that P and P + 1 (a manager's bootstrap port) were both free just now.

    The port is picked outside the kernel's ephemeral range (ip_local_port_range): a port that
    ``bind(0)`` hands out is free at that moment, but any outgoing connection, the cluster's own
    included, may take it or its neighbour before the node listens on it."""
    return _free_ports(host, 2)


def _free_ports(host: str, count: int, choose: Callable[[Sequence[int]], int] = _random.choice) -> int:
    low, high = _ephemeral_range()
    starts = range(FIRST_PORT, 65537 - count)
    candidates = [port for port in starts if all(not low <= p <= high for p in range(port, port + count))]
    candidates = candidates or list(range(1024, 65537 - count))  # an ephemeral range of them all
    for _ in range(PORT_ATTEMPTS):
        port = choose(candidates)
        if any(p in _handed_out for p in range(port, port + count)):
            continue
        if all(_bindable(host, p) for p in range(port, port + count)):
            _handed_out.update(range(port, port + count))
            return port
    raise RuntimeError(f"no {count} free consecutive port(s) on {host} after {PORT_ATTEMPTS} tries")


def _ephemeral_range() -> tuple[int, int]:
    try:
        low, high = (int(word) for word in EPHEMERAL_RANGE_FILE.read_text().split())
    except (OSError, ValueError):
        return UNKNOWN_EPHEMERAL_RANGE
    return low, high


def _bindable(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True
