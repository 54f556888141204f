"""Run swarm-node processes on loopback: what the demo, the chaos scripts, the benchmarks and the
integration tests share to start local clusters."""

from __future__ import annotations

import socket
import sys

__all__ = ["free_port_pair", "swarm_node_command"]

PORT_ATTEMPTS = 100


def swarm_node_command(*args: str) -> list[str]:
    """The ``swarm-node`` command line for a child process, with this interpreter."""
    return [sys.executable, "-c", "from swarmnode.cli.main import main; main()", *args]


def free_port_pair(host: str = "127.0.0.1") -> int:
    """Return a port P such that P and P + 1 (a manager's bootstrap port) were both free just now."""
    for _ in range(PORT_ATTEMPTS):
        with socket.socket() as first:
            first.bind((host, 0))
            port: int = first.getsockname()[1]
            if port >= 65535:
                continue
            with socket.socket() as second:
                try:
                    second.bind((host, port + 1))
                except OSError:
                    continue
                return port
    raise RuntimeError(f"no pair of free ports on {host} after {PORT_ATTEMPTS} tries")
