"""Choose the address a node advertises to the swarm.

A node may listen on a wildcard (``0.0.0.0:2377``, the default), but other nodes cannot dial
a wildcard: the swarm must learn a real address of this machine. Founding and joining a swarm
both ask this module, so that they pick it by one rule: the local address of a route.

- Joining, the route to the manager joined: that manager, and the swarm behind it, reach this
  node that way. (Docker's manager learns the same address: the source of the joiner's connection.)
- Founding, with no manager to aim at, the default route: the route to a documentation address
  (192.0.2.1, or 2001:db8::1), which a datagram connect looks up without sending anything. With
  no such route the node asks for ``--advertise-addr``. (``docker swarm init`` takes the machine's
  only address instead, and refuses when it has several.)

The host name's address stands in for neither: Debian maps the host name to 127.0.1.1, which no
other node can reach.

The route is looked up in an address family the node listens on: ``0.0.0.0`` takes IPv4 only,
``::`` takes both, since zmq maps IPv4 onto IPv6 listeners. A joiner looks in the family the
transport dials the manager in: IPv6 for an IPv6 literal, IPv4 for anything else, host names
included (``tcp_endpoint`` brackets only IPv6 literals, and zmq.IPV6 is set only for those), so
a name with both A and AAAA records gives the IPv4 route, the one the join itself takes. A joiner
on ``0.0.0.0`` whose manager is at an IPv6 address has no such route, and says so. A founder on
``::`` prefers the IPv4 default route, as Docker prefers IPv4 addresses.
"""

from __future__ import annotations

import socket
from typing import Any

from swarmnode.transport import DEFAULT_PORT, TransportError, bootstrap_address, join_host_port, split_host_port

__all__ = ["DEFAULT_LISTEN", "AdvertiseAddressError", "advertise_address", "dialable", "is_wildcard", "port_taken"]

DEFAULT_LISTEN = f"0.0.0.0:{DEFAULT_PORT}"

_IPV4_WILDCARDS = frozenset({"0.0.0.0", ""})
_IPV6_WILDCARD = "::"
# Documentation addresses (RFC 5737, RFC 3849): reserved, so normally only the default route leads there.
_DEFAULT_ROUTE_PROBES = {socket.AF_INET: "192.0.2.1", socket.AF_INET6: "2001:db8::1"}
_PROBE_PORT = 9  # any port does: a datagram connect sends nothing
_FAMILY_NAMES = {socket.AF_INET: "IPv4", socket.AF_INET6: "IPv6"}


class AdvertiseAddressError(ValueError):
    """No reachable address could be found for this node; the text says what to pass instead."""


def is_wildcard(host: str) -> bool:
    """Whether ``host`` (brackets allowed) listens on every address: no node can dial it."""
    host = host.strip("[]")
    return host in _IPV4_WILDCARDS or host == _IPV6_WILDCARD


def dialable(address: str) -> bool:
    """Whether another node could dial ``address`` (HOST:PORT): neither a wildcard host nor port 0."""
    try:
        host, port = split_host_port(address)
    except TransportError:
        return False
    return not is_wildcard(host) and port != 0


def advertise_address(address: str, *, towards: str = "") -> str:
    """Return ``address`` (HOST:PORT) with a wildcard host replaced by one other nodes can reach.

    ``towards`` is the manager being joined (HOST:PORT); without it (founding) the default route
    stands in. The rule and its reasons are at the top of this module.
    """
    host, _, port = address.rpartition(":")
    host = host.strip("[]")
    if host in _IPV4_WILDCARDS:
        families: tuple[socket.AddressFamily, ...] = (socket.AF_INET,)
    elif host == _IPV6_WILDCARD:
        families = (socket.AF_INET, socket.AF_INET6)  # zmq maps IPv4 onto an IPv6 listener
    else:
        return address
    if towards:
        local = _local_address_towards(towards, families, address, port)
    else:
        local = _default_route_address(families, address, port)
    return join_host_port(local, int(port))


def _local_address_towards(remote: str, families: tuple[socket.AddressFamily, ...], address: str, port: str) -> str:
    """Return this machine's source address on the route to ``remote`` (HOST:PORT), as the transport dials it."""
    try:
        host, remote_port = split_host_port(remote)  # the transport's own reading of the address
    except TransportError as exc:
        raise AdvertiseAddressError(f"cannot advertise {address}: {exc}") from None
    # As tcp_endpoint: an IPv6 literal is dialled over IPv6, anything else (host names too) over IPv4.
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    if family not in families:
        raise AdvertiseAddressError(
            f"cannot advertise {address}: a node listening there takes IPv4 only, but the manager {remote} "
            f"is dialled over IPv6; pass --advertise-addr HOST:{port} with an address the swarm reaches "
            f"this node at, or listen on [::]:{port}"
        )
    try:
        where = socket.getaddrinfo(host, remote_port, family, socket.SOCK_DGRAM)[0][4]
        return _source_address(family, where)
    except (OSError, ValueError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise AdvertiseAddressError(
            f"cannot advertise {address}: no local address on the {_FAMILY_NAMES[family]} route to {remote} "
            f"({reason}); pass --advertise-addr HOST:{port} with an address the swarm reaches this node at"
        ) from None


def _default_route_address(families: tuple[socket.AddressFamily, ...], address: str, port: str) -> str:
    """Return this machine's source address on the default route of the first family that has one."""
    reasons = []
    for family in families:
        try:
            return _source_address(family, (_DEFAULT_ROUTE_PROBES[family], _PROBE_PORT))
        except OSError as exc:
            reasons.append(f"{_FAMILY_NAMES[family]}: {exc.strerror or exc}")
    raise AdvertiseAddressError(
        f"cannot advertise {address}: this machine has no default route to take an address from "
        f"({'; '.join(reasons)}); pass --advertise-addr HOST:{port} with an address the swarm reaches this node at"
    )


def _source_address(family: socket.AddressFamily, where: tuple[Any, ...]) -> str:
    """Return the source address the kernel picks to reach ``where``; OSError when no route leads there."""
    with socket.socket(family, socket.SOCK_DGRAM) as probe:
        probe.connect(where)  # a datagram connect sends nothing: the kernel only picks the route
        local: str = probe.getsockname()[0]
    return local.partition("%")[0]  # an IPv6 scope (fe80::1%eth0) means nothing to another node


def port_taken(listen: str, *, bootstrap: bool = False) -> str:
    """Return why this node cannot listen on the port of ``listen`` (``bootstrap``: on the bootstrap
    port above it, where a manager also listens), or ""."""
    host, port = split_host_port(listen)
    if port == 0:
        return ""
    if bootstrap and port == 65535:
        return (
            f"cannot listen on {listen}: a manager listens on its port and the one above it (bootstrap), and "
            f"{port + 1} is no TCP port"
        )
    target = bootstrap_address(listen) if bootstrap else listen
    where = f"{target} (the bootstrap port, {listen} + 1)" if bootstrap else listen
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("" if is_wildcard(host) else host, split_host_port(target)[1]))
        except OSError as exc:
            return f"cannot listen on {where}: {exc.strerror}"
    return ""
