"""Messages of the CertAuthority: bootstrap, join and renewal."""

from __future__ import annotations

from swarmnode.actors.messages import Message, message

__all__ = [
    "GetManagersReply",
    "GetManagersRequest",
    "GetRootCAReply",
    "GetRootCARequest",
    "IssueNodeCertificateReply",
    "IssueNodeCertificateRequest",
    "ManagerInfo",
    "RenewNodeCertificateReply",
    "RenewNodeCertificateRequest",
]


@message
class ManagerInfo(Message):
    """How to reach one manager: its node id, cluster address and CURVE public key (z85)."""

    KIND = "ManagerInfo"
    node_id: str
    addr: str
    curve_key: str


@message
class GetRootCARequest(Message):
    """The joiner's first, unauthenticated question (bootstrap port): who is your CA?"""

    KIND = "GetRootCARequest"


@message
class GetRootCAReply(Message):
    """The swarm's trusted root(s) and the answering manager's certificate chain.

    Nothing here is trusted by the joiner until the roots match the digest in its token and
    the manager's chain verifies against them.
    """

    KIND = "GetRootCAReply"
    trust_pem: bytes
    manager_certificate: bytes
    manager_addr: str


@message
class IssueNodeCertificateRequest(Message):
    """Join: the token and a CSR, sent over CURVE with the joiner's own new key (anonymous)."""

    KIND = "IssueNodeCertificateRequest"
    token: str
    csr: bytes
    hostname: str
    addr: str
    # Why the joiner could not run as a manager (its bootstrap port is taken), or "": only the
    # manager knows which role the token gives, and refuses a manager token then.
    cannot_manage: str = ""


@message
class IssueNodeCertificateReply(Message):
    """The new node's identity, certificate and managers.

    No heartbeat period: the node learns it from every HeartbeatReply, so that a ``cluster
    update`` reaches it (as swarmkit's join reply).
    """

    KIND = "IssueNodeCertificateReply"
    node_id: str
    cluster_id: str
    role: str
    certificate: bytes
    trust_pem: bytes
    managers: tuple[ManagerInfo, ...]


@message
class RenewNodeCertificateRequest(Message):
    """A member asks for a new certificate for a new key; node id, role and CURVE key stay."""

    KIND = "RenewNodeCertificateRequest"
    csr: bytes


@message
class RenewNodeCertificateReply(Message):
    KIND = "RenewNodeCertificateReply"
    certificate: bytes
    trust_pem: bytes


@message
class GetManagersRequest(Message):
    """A member asks a manager that does not lead (no dispatcher) whom it knows as managers."""

    KIND = "GetManagersRequest"


@message
class GetManagersReply(Message):
    """The managers this manager's Store knows, and the leader it follows ("" if none now)."""

    KIND = "GetManagersReply"
    leader: str
    managers: tuple[ManagerInfo, ...]
