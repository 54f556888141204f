"""Turn "HOST:PORT" text into zmq endpoints, and bind errors into readable text."""

from __future__ import annotations

import errno

from ._errors import TransportError

__all__ = [
    "BOOTSTRAP_MAX_BYTES",
    "DEFAULT_PORT",
    "bind_error",
    "bootstrap_address",
    "join_host_port",
    "split_host_port",
    "tcp_endpoint",
]

DEFAULT_PORT = 2377  # Docker swarm mode's cluster management port
# A joiner must fetch the root CA before it knows any CURVE key, so managers answer that one
# question on a plain port next to the cluster port. Its messages are small and untrusted.
BOOTSTRAP_PORT_OFFSET = 1
BOOTSTRAP_MAX_BYTES = 64 * 1024
_MAX_PORT = 65535


def split_host_port(address: str) -> tuple[str, int]:
    """Return (host, port) of "HOST:PORT", "HOST" or "[V6]:PORT"; the port defaults to 2377."""
    text = address.strip()
    if text.startswith("tcp://"):
        text = text[len("tcp://") :]
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            raise TransportError(f"bad address {address!r}: missing ']' after an IPv6 host")
        host, rest = text[1:end], text[end + 1 :]
        port_text = rest[1:] if rest.startswith(":") else ""
        if rest and not rest.startswith(":"):
            raise TransportError(f"bad address {address!r}: expected ':PORT' after ']'")
    elif text.count(":") == 1:
        host, port_text = text.split(":")
    elif ":" in text:
        host, port_text = text, ""  # a bare IPv6 address
    else:
        host, port_text = text, ""
    if not host:
        raise TransportError(f"bad address {address!r}: the host is missing (use e.g. 0.0.0.0:2377)")
    if not port_text:
        return host, DEFAULT_PORT
    if not port_text.isdigit() or int(port_text) > _MAX_PORT:
        raise TransportError(f"bad address {address!r}: the port must be a number from 0 to 65535")
    return host, int(port_text)


def tcp_endpoint(host: str, port: int) -> str:
    """Return the zmq tcp endpoint for host and port (brackets around IPv6 hosts)."""
    return f"tcp://[{host}]:{port}" if ":" in host else f"tcp://{host}:{port}"


def join_host_port(host: str, port: int) -> str:
    """Return "HOST:PORT" with brackets around an IPv6 host."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def bind_error(where: str, err: int, strerror: str) -> TransportError:
    """Return the TransportError for a failed bind of ``where``, in words an operator knows."""
    reasons = {
        errno.EADDRINUSE: "address already in use",
        errno.EADDRNOTAVAIL: "address not available on this machine",
        errno.EACCES: "permission denied",
        errno.ENAMETOOLONG: "path too long for a unix socket",
        errno.ENOENT: "no such directory",
    }
    error = TransportError(f"cannot listen on {where}: {reasons.get(err, strerror)}")
    error.errno = err
    return error


def bootstrap_address(cluster_address: str) -> str:
    """Return the "HOST:PORT" of the bootstrap port that belongs to a cluster address."""
    host, port = split_host_port(cluster_address)
    return join_host_port(host, port + BOOTSTRAP_PORT_OFFSET)
