"""Messages between a node's Worker and the managers' Dispatcher."""

from __future__ import annotations

from swarmnode.actors.ca.messages import ManagerInfo
from swarmnode.actors.messages import Message, message

__all__ = ["HeartbeatReply", "HeartbeatRequest"]


@message
class HeartbeatRequest(Message):
    """I am alive; ``trust_digest`` says which trusted roots I hold, ``issuer`` who signed my cert."""

    KIND = "HeartbeatRequest"
    trust_digest: str
    issuer: str
    # Where this node is reached now (HOST:PORT): a node restarted on another address says so,
    # and the leader records it ("" from a node that does not say).
    addr: str = ""
    # Why this worker could not run as a manager (its port + 1, a manager's bootstrap port, is
    # taken), or "": the leader records it, and `node promote` is refused while it holds.
    cannot_manage: str = ""


@message
class HeartbeatReply(Message):
    """When to beat next, who the managers are, and what to do about certificates.

    ``trust_pem`` is empty when the node's roots are current; ``renew`` asks the node to renew
    its certificate now (root CA rotation).
    """

    KIND = "HeartbeatReply"
    period_s: float
    managers: tuple[ManagerInfo, ...]
    trust_pem: bytes
    renew: bool
