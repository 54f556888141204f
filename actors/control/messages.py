"""Messages of the control API."""

from __future__ import annotations

from typing import Any

from swarmnode.actors.messages import Message, message

__all__ = [
    "ActorRow",
    "CARotateReply",
    "CARotateRequest",
    "ClusterStatusReply",
    "ClusterStatusRequest",
    "JoinTokenReply",
    "JoinTokenRequest",
    "LeaveReply",
    "LeaveRequest",
    "MemberRow",
    "NodeInspectReply",
    "NodeInspectRequest",
    "NodeListReply",
    "NodeListRequest",
    "NodeRemoveReply",
    "NodeRemoveRequest",
    "NodeRoleReply",
    "NodeRoleRequest",
    "NodeRow",
    "NodeUpdateReply",
    "NodeUpdateRequest",
    "StatusReply",
    "StatusRequest",
]


@message
class StatusRequest(Message):
    """Ask a node who it is and how its actors are doing."""

    KIND = "StatusRequest"


@message
class ActorRow(Message):
    """One actor of the supervision tree; ``path`` runs from the root, slash-separated."""

    KIND = "ActorRow"
    path: str
    supervisor: bool
    state: str
    restarts: int
    last_reason: str
    strategy: str


@message
class StatusReply(Message):
    KIND = "StatusReply"
    node_id: str
    role: str
    address: str
    curve_public_key: str
    pid: int
    uptime_s: float
    actors: tuple[ActorRow, ...]
    # The node's session with the managers (the Worker's heartbeats): pending, active, failing or
    # removed, what more there is to say, and since when (epoch s); "" before the Worker first ran.
    # A restarted Worker goes on from what the last one said (the actor rows show its restarts).
    session: str = ""
    session_detail: str = ""
    session_since: float = 0.0
    # Where other nodes reach it (its advertise address); ``address`` is where it listens.
    advertise_addr: str = ""


@message
class NodeRow(Message):
    """One node as `node ls` shows it."""

    KIND = "NodeRow"
    node_id: str
    hostname: str
    role: str
    status: str
    availability: str
    manager_status: str
    addr: str
    cert_expiry: float
    is_self: bool
    # The role asked for (`node promote`/`demote`); ``role`` is the one the node's certificate
    # holds, what it runs as. They differ while a role change is under way.
    desired_role: str = ""


@message
class NodeListRequest(Message):
    KIND = "NodeListRequest"


@message
class NodeListReply(Message):
    KIND = "NodeListReply"
    nodes: tuple[NodeRow, ...]


@message
class NodeInspectRequest(Message):
    """Ask for one node's whole object; ``node`` is an id, a unique id prefix, a hostname or "self"."""

    KIND = "NodeInspectRequest"
    node: str


@message
class NodeInspectReply(Message):
    KIND = "NodeInspectReply"
    node: dict[str, Any]


@message
class NodeRemoveRequest(Message):
    """Remove a node from the swarm and revoke its certificate; ``force`` also removes a ready node."""

    KIND = "NodeRemoveRequest"
    node: str
    force: bool


@message
class NodeRemoveReply(Message):
    KIND = "NodeRemoveReply"
    node_id: str


@message
class NodeUpdateRequest(Message):
    """Change a node's availability (active, pause, drain) and labels."""

    KIND = "NodeUpdateRequest"
    node: str
    availability: str
    label_add: dict[str, str]
    label_rm: tuple[str, ...]


@message
class NodeUpdateReply(Message):
    KIND = "NodeUpdateReply"
    node_id: str
    version: int


@message
class JoinTokenRequest(Message):
    """Show (and with ``rotate``, replace) the join token of ``role``: worker or manager."""

    KIND = "JoinTokenRequest"
    role: str
    rotate: bool


@message
class JoinTokenReply(Message):
    KIND = "JoinTokenReply"
    role: str
    token: str
    manager_addr: str


@message
class LeaveRequest(Message):
    """Leave the swarm: the node tells the managers, stops, and forgets its swarm state."""

    KIND = "LeaveRequest"
    force: bool


@message
class LeaveReply(Message):
    KIND = "LeaveReply"
    node_id: str
    # A manager that left with --force is still a voter of the others' Raft group: what to run on one.
    then: str = ""


@message
class CARotateRequest(Message):
    """Start replacing the root CA (``start``), or only report how far the rotation is."""

    KIND = "CARotateRequest"
    start: bool


@message
class RotationPending(Message):
    """A node whose certificate the current root has not signed yet, and its state (ready, down...)."""

    KIND = "RotationPending"
    node_id: str
    hostname: str
    state: str


@message
class CARotateReply(Message):
    KIND = "CARotateReply"
    root_digest: str  # the current root's (the new one while rotating)
    nodes_total: int
    nodes_done: int
    state: str
    # While rotating: the first PENDING_SHOWN nodes not on the new root yet.
    pending: tuple[RotationPending, ...] = ()


@message
class ClusterStatusRequest(Message):
    """Ask a manager for the Raft group as it sees it."""

    KIND = "ClusterStatusRequest"


@message
class MemberRow(Message):
    """One Raft member: ``lag`` is how many committed entries it lacks (known on the leader only, else -1);
    ``reachable`` is "reachable" or "unreachable" as the leader sees it (heard from within an
    election timeout), "" where the view is not the leader's."""

    KIND = "MemberRow"
    node_id: str
    addr: str
    suffrage: str
    match: int
    lag: int
    state: str
    reachable: str = ""


@message
class ClusterStatusReply(Message):
    """The Raft group as ``node_id`` sees it; ``members`` as ``members_seen_by`` sees them.

    Only a leader knows each member's progress: a follower asked by the CLI relays the question
    and shows the leader's rows (``members_seen_by`` names the leader), or its own rows, whose
    lags are unknown (-1), when the leader does not answer.
    """

    KIND = "ClusterStatusReply"
    node_id: str
    role: str
    leader: str
    term: int
    commit: int
    applied: int
    members: tuple[MemberRow, ...]
    members_seen_by: str
    disk_full: str = ""  # while its Raft member waits for room on a full disk: what filled, and the room it waits for


@message
class NodeRoleRequest(Message):
    """Promote a worker to manager, or demote a manager to worker (``role`` is the new role)."""

    KIND = "NodeRoleRequest"
    node: str
    role: str


@message
class NodeRoleReply(Message):
    KIND = "NodeRoleReply"
    node_id: str
    role: str
    changed: bool = True  # False: the node had that role already
