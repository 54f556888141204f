"""What a node that cannot start says to do about it."""

from __future__ import annotations

import errno

from swarmnode.actors.node.process import _port_hint
from swarmnode.actors.supervision import StartFailed, describe
from swarmnode.transport import TransportError
from swarmnode.transport._endpoints import bind_error


def wrapped_as_the_supervisors_do(error: Exception) -> StartFailed:
    """The root's StartFailed, from the transport actor's StartFailed, from ``error``."""
    child = StartFailed("transport", describe(error))
    child.__cause__ = error
    root = StartFailed("node", describe(child))
    root.__cause__ = child
    return root


def test_a_taken_port_under_the_supervisors_wrapping_says_to_listen_elsewhere():
    taken = bind_error("127.0.0.1:5001 (the bootstrap port, cluster port + 1)", errno.EADDRINUSE, "in use")
    assert "start it with another --listen (a manager listens on its port and the one above" in _port_hint(
        wrapped_as_the_supervisors_do(taken), "manager"
    )
    assert _port_hint(wrapped_as_the_supervisors_do(taken), "worker") == "; start it with another --listen"


def test_other_failures_get_no_port_hint_whatever_their_text_says():
    denied = bind_error("127.0.0.1:80", errno.EACCES, "denied")
    assert _port_hint(wrapped_as_the_supervisors_do(denied), "manager") == ""
    assert _port_hint(wrapped_as_the_supervisors_do(TransportError("address already in use")), "manager") == ""
