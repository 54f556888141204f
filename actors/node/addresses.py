"""Choose the address a node advertises to the swarm.

A node may listen on a wildcard (``0.0.0.0:2377``, the default), but other nodes cannot dial
a wildcard: the swarm must learn a real address of this machine. Founding and joining a swarm
both ask this module, so that they pick it by one rule.
"""

from __future__ import annotations

import socket

__all__ = ["AdvertiseAddressError", "advertise_address"]

_WILDCARD_HOSTS = frozenset({"0.0.0.0", "::", ""})


class AdvertiseAddressError(ValueError):
    """No reachable address could be found for this node; the text says what to pass instead."""


def advertise_address(address: str, *, towards: str = "") -> str:
    """Return ``address`` (HOST:PORT) with a wildcard host replaced by one other nodes can reach.

    Docker's rule: a joining node advertises the local address of its route to the manager it
    joins (``towards``), since that manager, and the swarm behind it, reach it that way. Without
    a manager to aim at (founding), the address the host name resolves to stands in.
    """
    host, _, port = address.rpartition(":")
    if host.strip("[]") not in _WILDCARD_HOSTS:
        return address
    local = _local_address_towards(towards) if towards else _host_name_address(port)
    return f"[{local}]:{port}" if ":" in local else f"{local}:{port}"


def _local_address_towards(remote: str) -> str:
    """Return this machine's source address on the route to ``remote`` (HOST:PORT)."""
    host, _, port = remote.rpartition(":")
    try:
        family, kind, proto, _, where = socket.getaddrinfo(host.strip("[]"), int(port), type=socket.SOCK_DGRAM)[0]
        with socket.socket(family, kind, proto) as probe:
            probe.connect(where)  # a datagram connect sends nothing: the kernel only picks the route
            local: str = probe.getsockname()[0]
    except (OSError, ValueError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise AdvertiseAddressError(
            f"cannot find a local address on the route to {remote} ({reason}); "
            "pass --advertise-addr HOST:PORT with an address the swarm reaches this node at"
        ) from None
    return local.partition("%")[0]  # an IPv6 scope (fe80::1%eth0) means nothing to another node


def _host_name_address(port: str) -> str:
    """Return the address this machine's host name resolves to."""
    name = socket.gethostname()
    try:
        return socket.gethostbyname(name)
    except OSError as exc:
        raise AdvertiseAddressError(
            f"cannot advertise a wildcard listen address: the host name {name!r} does not resolve "
            f"({exc.strerror or exc}); pass --advertise-addr HOST:{port}"
        ) from None
