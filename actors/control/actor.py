"""The Control actor: the node's control API, reached by the CLI through the control socket.

Status works on every node; swarm management (nodes, join tokens, the CA) needs a manager,
and a worker answers it with Docker's explanation instead.
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Callable, Collection
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any, TypeVar, cast

from swarmnode.actors.ca.core import join_tokens, new_secret
from swarmnode.actors.dispatcher.core import DEFAULT_GRACE_PERIODS
from swarmnode.actors.messages import Address, ErrorReply, Message
from swarmnode.actors.runtime import (
    MANAGERS,
    REMOVED,
    SESSION_KEY,
    STOP_NODE_KEY,
    NodeActor,
    NodeContext,
    Refused,
    Session,
    handles,
)
from swarmnode.actors.runtime.addressable import Request
from swarmnode.actors.store.client import (
    LEADER_WAIT_S,
    PEERS_OUT_KEY,
    disk_full,
    propose,
    raft_status,
    read_store,
    update_object,
)
from swarmnode.actors.store.core import StoreCore, StoredObject
from swarmnode.actors.store.objects import AVAILABILITIES, CLUSTER_ID, ClusterView, NodeView, cluster_of, nodes_of
from swarmnode.actors.store.transactions import Delete, Update
from swarmnode.actors.supervision import GetStatistics, Link, SupervisorStatistics, describe
from swarmnode.transport import TransportError

from .messages import (
    ActorRow,
    ClusterStatusReply,
    ClusterStatusRequest,
    JoinTokenReply,
    JoinTokenRequest,
    LeaveReply,
    LeaveRequest,
    MemberRow,
    NodeInspectReply,
    NodeInspectRequest,
    NodeListReply,
    NodeListRequest,
    NodeRemoveReply,
    NodeRemoveRequest,
    NodeRoleReply,
    NodeRoleRequest,
    NodeRow,
    NodeUpdateReply,
    NodeUpdateRequest,
    StatusReply,
    StatusRequest,
)

__all__ = ["ControlActor"]

ROOT_NAME = "node"
STATISTICS_TIMEOUT_S = 3.0
LEADER_TIMEOUT_S = 2.0  # a follower's wait for the leader's view of the Raft group
# Requests that may wait run on threads beside the actor's (waits_on_raft, waits_on_supervisors),
# in pools by what they wait on, so that writes waiting for a leader never hold up a `status`.
WAITING_THREADS = {"raft": 4, "supervisors": 2}
STOPPED_BEFORE_IT_RAN = "the node's control actor stopped (or restarted) before it got to this request; try again"

H = TypeVar("H", bound=Callable[..., Any])


def _aside_in(pool: str) -> Callable[[H], H]:
    """Return a decorator: run a handler that may wait, on one of the actor's waiting threads of
    ``pool`` (waits_on_raft: on Raft; waits_on_supervisors: on the root supervisor).

    A linearizable read or a write waits for the leader; without one that is seconds
    (READ_INDEX_TIMEOUT_S, FORWARD_TIMEOUT_S). Meanwhile the actor answers the rest, above all
    `cluster status`, which must answer during a quorum loss (Docker's API serves each request
    on its own goroutine). `status` asks the root supervisor, which may be busy restarting
    children, this actor among them: on the actor's thread, each status queued would hold up
    the root's stop of this actor for its whole wait (the root abandoned the thread after 5 s,
    and the restart of the actor that crashed waited that long). The handler reads only the
    node's context, which is safe from any thread. A local ask (no transport to answer through
    later) runs it on the actor's thread.
    """

    def wrap(handler: H) -> H:
        @functools.wraps(handler)
        def aside(self: ControlActor, msg: Message, request: Request) -> Message | None:
            if request.delivery is None:
                return cast(Message | None, handler(self, msg, request))
            self._run_aside(functools.partial(handler, self, msg), request, pool)
            return None

        return cast(H, aside)

    return wrap


waits_on_raft = _aside_in("raft")
waits_on_supervisors = _aside_in("supervisors")


@dataclass(frozen=True, slots=True)
class _WaiterFailed:
    """A handler on a waiting thread failed with a bug: the actor crashes with it, on its own thread."""

    error: Exception


def _cluster(core: StoreCore) -> ClusterView:
    cluster = cluster_of(core)
    assert cluster is not None, "a manager's store always holds the cluster object"
    return cluster


def find_node(core: StoreCore, ref: str, self_id: str) -> StoredObject:
    """Resolve ``ref`` as Docker does: "self", an exact id, a unique id prefix, or a hostname."""
    node_id = self_id if ref == "self" else ref
    exact = core.get("node", node_id)
    if exact is not None:
        return exact
    nodes = core.list("node")
    matches = [n for n in nodes if n.id.startswith(node_id)] or [
        n for n in nodes if n.status.get("hostname") == node_id
    ]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise Refused("not-found", f"no node {ref!r} in this swarm (see `swarm-node node ls`)")
    raise Refused("ambiguous", f"{ref!r} names {len(matches)} nodes; use more of the node id")


def still_a_voter(node_id: str) -> str:
    """What the other managers need after manager ``node_id`` left without a demotion."""
    return (
        f"on another manager, `swarm-node node demote {node_id}`, then, once `node ls` shows it Down, "
        f"`node rm {node_id}`: it is still a voter of the managers' Raft group (until then it is listed)"
    )


def _manager_status(n: NodeView, status: Any, reachable: dict[str, str] | None = None) -> str:
    """A node's MANAGER STATUS: Leader, Reachable or Unreachable for a Raft member, else "".

    ``reachable``: the leader's view (``_leader_reachability``); without it, the heartbeats.
    """
    if n.cert_role != "manager" or not status.conf.has(n.node_id):
        return ""  # as Docker's: only the managers' Raft members have one
    if n.node_id == status.leader:
        return "Leader"
    if reachable is not None and n.node_id in reachable:
        return reachable[n.node_id].capitalize()
    return "Reachable" if n.state == "ready" else "Unreachable"  # the leader did not answer: the heartbeats


OUT_OF_SERVICE = "unreachable (disk full)"


def _reachability(status: Any, node_id: str, out: Collection[str] = ()) -> str:
    """As the leader sees member ``node_id``: heard from within an election timeout; "" off the leader.

    ``out``: the members that said they are up but out of Raft (their disk is full), known on any
    manager they dropped Raft messages of (a follower's pre-votes too).
    """
    if node_id in out:
        return OUT_OF_SERVICE
    if not status.active:
        return ""
    return "reachable" if node_id in status.active else "unreachable"


def _heard(status: Any, node_id: str) -> str:
    """Without a leader, as this manager hears the other voters: the live ones' pre-votes reach it.

    "" where that cannot be told: with a leader (a follower hears the leader only: the leader's
    view is the one to ask), of a learner (it never campaigns), or just after a start.
    """
    if status.leader or status.heard is None or node_id == status.id:
        return ""
    if node_id not in status.conf.voters or status.id not in status.conf.voters:
        return ""  # pre-votes go from voters to voters: a learner neither sends nor hears them
    return "reachable" if node_id in status.heard else "unreachable"


class ControlActor(NodeActor):
    """Serve the node's control API."""

    def __init__(self, link: Link | None, context: NodeContext) -> None:
        super().__init__(link)
        self.context = context
        self.waiting: dict[str, ThreadPoolExecutor] = {}  # pool -> its threads, made on first use
        self.queued: dict[Future[None], Request] = {}  # submitted to the waiting threads, not finished

    def on_receive(self, message: Any) -> Any:
        if isinstance(message, _WaiterFailed):
            raise message.error  # a crash like any handler's: the supervisor restarts this actor
        return super().on_receive(message)

    def on_stop(self) -> None:
        self._stop_waiting()

    def on_crash(self, exc: BaseException) -> None:
        self._stop_waiting()

    def _stop_waiting(self) -> None:
        """Requests under way finish on their own (each has a deadline) and answer; the ones still
        queued behind them are answered now, rather than left to their callers' timeouts."""
        for future, request in list(self.queued.items()):
            if future.cancel():
                request.reply(ErrorReply(code="unavailable", text=STOPPED_BEFORE_IT_RAN))
        for threads in self.waiting.values():
            threads.shutdown(wait=False)
        self.waiting = {}

    def _run_aside(self, work: Callable[[Request], Message | None], request: Request, pool: str) -> None:
        threads = self.waiting.get(pool)
        if threads is None:
            threads = self.waiting[pool] = ThreadPoolExecutor(
                WAITING_THREADS[pool], thread_name_prefix=f"{self.name}-waiting-{pool}"
            )
        future = threads.submit(self._answer_aside, work, request)
        self.queued[future] = request
        future.add_done_callback(self._forget)

    def _forget(self, future: Future[None]) -> None:  # on the thread that finished or cancelled it
        self.queued.pop(future, None)

    def _answer_aside(self, work: Callable[[Request], Message | None], request: Request) -> None:
        """On a waiting thread: answer ``request`` as the actor's own handlers are answered."""
        crash = self._answer(request, functools.partial(work, request))
        if crash is not None:
            self.actor_ref.tell(_WaiterFailed(crash))

    def _read(self, fn: Callable[[StoreCore], Any], *, linearizable: bool = True) -> Any:
        """Read the Store for an operator: by default only once it holds every committed write
        (read-index), so that any manager answers what the leader would; refused without a
        leader, as Docker's managers refuse their API then."""
        return read_store(self.context, fn, linearizable=linearizable)

    @handles(StatusRequest, roles=MANAGERS)
    @waits_on_supervisors
    def status(self, msg: StatusRequest, request: Request) -> StatusReply:
        root = self.context.registry.get(ROOT_NAME)
        if root is None:
            raise Refused("unavailable", "the node's supervision tree is not running")
        try:
            stats = cast(SupervisorStatistics, root.ask(GetStatistics(), timeout=STATISTICS_TIMEOUT_S))
        except Exception as exc:
            raise Refused("unavailable", f"the node supervisor did not answer: {describe(exc)}") from exc
        rows = [ActorRow(ROOT_NAME, True, "running", 0, "", stats.strategy)]
        rows.extend(
            ActorRow(
                path=f"{ROOT_NAME}/{a.path}",
                supervisor=a.supervisor,
                state=a.state,
                restarts=a.restarts,
                last_reason=a.last_reason,
                strategy=a.strategy,
            )
            for a in stats.actors
        )
        session: Session | None = self.context.get_shared(SESSION_KEY)
        return StatusReply(
            node_id=self.context.node_id,
            role=self.context.role,
            address=self.context.transport.address,
            curve_public_key=self.context.keys.public.decode(),
            pid=os.getpid(),
            uptime_s=round(time.time() - self.context.started_at, 3),
            actors=tuple(rows),
            session=session.state if session is not None else "",
            session_detail=session.detail if session is not None else "",
            session_since=session.since if session is not None else 0.0,
            advertise_addr=self.context.cluster_addr,
        )

    def _raft_status(self) -> Any:
        return raft_status(self.context, STATISTICS_TIMEOUT_S)

    @handles(ClusterStatusRequest, roles=MANAGERS)
    def cluster_status(self, msg: ClusterStatusRequest, request: Request) -> ClusterStatusReply | None:
        own = self._own_cluster_status()
        if own.role == "leader" or not own.leader or request.role != "local":
            return own  # a manager that asks wants this manager's own view: no relaying on
        # Only the leader knows how far each member got: ask it, and answer with its rows.
        try:
            future = self._ask_leader(own.leader)
        except TransportError:
            return own

        def relay(f: Any) -> None:  # on the transport's thread: no state of this actor is touched
            try:
                leader_view = f.result(0)
            except Exception:
                leader_view = None
            if not isinstance(leader_view, ClusterStatusReply):  # no answer: this manager's rows, lags unknown
                request.reply(own)
                return
            request.reply(replace(own, members=leader_view.members, members_seen_by=leader_view.node_id))

        future.add_done_callback(relay)
        return None

    def _ask_leader(self, leader: str) -> Any:
        """Ask the leader's control actor for its view of the Raft group (a future of the reply)."""
        return self.context.transport.request(
            Address(leader, self.name), ClusterStatusRequest(), src_actor=self.name, timeout_s=LEADER_TIMEOUT_S
        )

    def _peers_out(self) -> dict[str, str]:
        """The managers that told this one they are up but out of Raft, and why (a full disk)."""
        return dict(self.context.get_shared(PEERS_OUT_KEY) or {})

    def _own_cluster_status(self) -> ClusterStatusReply:
        status = self._raft_status()
        # This manager's own view: cluster status must answer also when there is no leader.
        nodes = {n.node_id: n for n in self._read(nodes_of, linearizable=False)}
        out = self._peers_out()
        full = disk_full(self.context)
        rows = []
        for suffrage, ids in (("voter", status.conf.voters), ("learner", status.conf.learners)):
            for node_id in ids:
                progress = status.progress.get(node_id)
                match = progress[0] if progress else (status.last_index if node_id == status.id else -1)
                if progress and match == 0:
                    match = -1  # not heard from since this leader began: how far it got is unknown, not 0
                lag = max(0, status.commit - match) if match >= 0 else -1
                node = nodes.get(node_id)
                rows.append(
                    MemberRow(
                        node_id=node_id,
                        # Where this manager is now, and the others where the Store has them
                        # (where the others look for it may lag: restarted on another --listen).
                        addr=self.context.cluster_addr if node_id == status.id else node.addr if node else "",
                        suffrage=suffrage,
                        match=match,
                        lag=lag,
                        state=progress[2] if progress else ("self" if node_id == status.id else "unknown"),
                        # Out of Raft (its disk full), it hears the leader only, and drops that.
                        reachable=_reachability(status, node_id, out) or ("" if full else _heard(status, node_id)),
                    )
                )
        return ClusterStatusReply(
            node_id=status.id,
            role=status.role,
            leader=status.leader,
            term=status.term,
            commit=status.commit,
            applied=status.applied,
            members=tuple(rows),
            members_seen_by=status.id,
            disk_full=full,
        )

    def _leader_reachability(self, status: Any) -> dict[str, str] | None:
        """Which members the leader heard from lately: this manager's own view if it leads, else
        the leader's (asked; a follower's heartbeat states lag by up to 3 heartbeats). None: unknown."""
        if status.active:
            return {m: _reachability(status, m) for m in status.progress}
        if not status.leader:
            return None
        try:
            reply = self._ask_leader(status.leader).result(LEADER_TIMEOUT_S + 1)
        except (TransportError, TimeoutError):
            return None
        if not isinstance(reply, ClusterStatusReply) or reply.role != "leader":
            return None
        return {m.node_id: m.reachable for m in reply.members if m.reachable}

    @handles(NodeListRequest, roles=MANAGERS)
    @waits_on_raft
    def node_list(self, msg: NodeListRequest, request: Request) -> NodeListReply:
        nodes = self._read(nodes_of)
        status = self._raft_status()
        reachable = self._leader_reachability(status)
        out = self._peers_out()
        if out:  # what this manager was told itself: also when the leader did not answer
            reachable = {**(reachable or {}), **dict.fromkeys(out, OUT_OF_SERVICE)}
        me = self.context.node_id
        rows = [
            NodeRow(
                node_id=n.node_id,
                hostname=n.hostname,
                role=n.cert_role or n.role,
                status=n.state,
                availability=n.availability,
                manager_status=_manager_status(n, status, reachable),
                addr=n.addr,
                cert_expiry=n.cert_expiry,
                is_self=n.node_id == me,
                desired_role=n.role,
            )
            for n in sorted(nodes, key=lambda n: (n.cert_role != "manager", n.hostname, n.node_id))
        ]
        return NodeListReply(nodes=tuple(rows))

    @handles(NodeInspectRequest, roles=MANAGERS)
    @waits_on_raft
    def node_inspect(self, msg: NodeInspectRequest, request: Request) -> NodeInspectReply:
        obj = self._read(lambda core: find_node(core, msg.node, self.context.node_id))
        node = {
            "id": obj.id,
            "version": obj.version,
            "created_at": obj.created_at,
            "updated_at": obj.updated_at,
            "spec": obj.spec,
            "status": obj.status,
        }
        view = NodeView.of(obj)
        try:
            status = self._raft_status()
            asked = status.conf.has(view.node_id) and view.node_id != status.leader  # only a member's is shown
            manager_status = _manager_status(view, status, self._leader_reachability(status) if asked else None)
        except Refused:  # the raft member is slow or restarting: the node without it
            manager_status = ""
        if manager_status:  # as Docker's ManagerStatus, for the managers' Raft members only
            node["manager_status"] = {
                "leader": manager_status == "Leader",
                "reachability": "unreachable" if manager_status.startswith("Unreachable") else "reachable",
                "addr": view.addr,
            }
        return NodeInspectReply(node=node)

    @handles(NodeUpdateRequest, roles=MANAGERS)
    @waits_on_raft
    def node_update(self, msg: NodeUpdateRequest, request: Request) -> NodeUpdateReply:
        if msg.availability and msg.availability not in AVAILABILITIES:
            raise Refused("invalid", f"availability {msg.availability!r} is not one of {', '.join(AVAILABILITIES)}")
        # A read-modify-write: the version check at commit catches a stale read, so a local one
        # does; but a manager behind the leader (just promoted) lacks nodes yet: one it does not
        # find is looked for again linearizably before it is said not to exist.
        try:
            obj = self._read(lambda core: find_node(core, msg.node, self.context.node_id), linearizable=False)
        except Refused as exc:
            if exc.code not in ("not-found", "ambiguous"):
                raise
            obj = self._read(lambda core: find_node(core, msg.node, self.context.node_id))

        def change(current: StoredObject) -> tuple[dict[str, Any], None]:
            spec = dict(current.spec)
            if msg.availability:
                spec["availability"] = msg.availability
            labels = dict(spec.get("labels", {})) | msg.label_add
            for key in msg.label_rm:
                if key not in labels:
                    raise Refused("not-found", f"node {current.id} has no label {key!r}")
                labels.pop(key)
            spec["labels"] = labels
            return spec, None

        result = update_object(self.context, "node", obj.id, change, wait_for_leader_s=LEADER_WAIT_S)
        return NodeUpdateReply(node_id=obj.id, version=result.index)

    @handles(NodeRoleRequest, roles=MANAGERS)
    @waits_on_raft
    def node_role(self, msg: NodeRoleRequest, request: Request) -> NodeRoleReply:
        """Change a node's desired role; its next certificate carries it, and Raft follows.

        Demoting is refused when the managers left would not hold a majority of reachable
        voters (the swarm would lose quorum), or when it is the last manager.
        """
        if msg.role not in ("manager", "worker"):
            raise Refused("invalid", f"role {msg.role!r} is not manager or worker")
        obj = self._read(lambda core: find_node(core, msg.node, self.context.node_id))
        node = NodeView.of(obj)
        if node.role == msg.role:
            return NodeRoleReply(node_id=node.node_id, role=msg.role, changed=False)
        if msg.role == "worker":
            self._check_quorum_without(node.node_id)

        def change(obj: StoredObject) -> tuple[dict[str, Any], None]:
            why_not = NodeView.of(obj).cannot_manage  # as committed when the write applies, not as read above
            if msg.role == "manager" and why_not:
                raise Refused(
                    "refused",
                    f"node {node.node_id} cannot run as a manager: on its machine, {why_not}; mend that (free the "
                    "port, or restart the node with another --listen; free space), then promote it",
                )
            return obj.spec | {"role": msg.role}, None

        update_object(self.context, "node", node.node_id, change, wait_for_leader_s=LEADER_WAIT_S)
        return NodeRoleReply(node_id=node.node_id, role=msg.role)

    def _check_quorum_without(self, node_id: str) -> None:
        status = self._raft_status()
        nodes = {n.node_id: n for n in self._read(nodes_of)}
        # Managers already demoted but still voters (their removal waits) are as good as gone.
        voters = [v for v in status.conf.voters if v != node_id and not (v in nodes and nodes[v].role == "worker")]
        if not voters:
            raise Refused("refused", f"node {node_id} is the last manager; demoting it would leave no swarm")
        seen = self._leader_reachability(status)  # the voters the leader heard from within an election timeout
        if seen is not None:
            reachable = [v for v in voters if v == status.leader or seen.get(v) == "reachable"]
        else:  # the leader did not answer: the heartbeats it records
            reachable = [v for v in voters if v in nodes and nodes[v].state == "ready"]
        if len(reachable) * 2 <= len(voters):
            raise Refused(
                "refused",
                f"demoting {node_id} would lose quorum: {len(reachable)} of the {len(voters)} managers left are "
                "reachable, and a majority is needed; bring managers back (or add some) first",
            )

    def _leave_warning(self) -> str:
        """What leaving costs, as Docker says it: the last manager's state, or the managers' majority."""
        text = "you are attempting to leave the swarm on a node that is participating as a manager; "
        try:
            voters = self._raft_status().conf.voters
        except Refused:
            voters = ()
        if len(voters) > 1 and self.context.node_id in voters:
            return text + (
                f"removing this node leaves {len(voters) - 1} of the {len(voters)} managers; without a majority of "
                "them up the swarm is inaccessible, and the only way back is `swarm-node start --force-new-cluster` "
                "on a survivor. Demote it first (`swarm-node node demote`), or use --force to ignore this message"
            )
        return text + (
            "removing the last manager erases all current state of the swarm. Use --force to ignore this message"
        )

    @handles(NodeRemoveRequest, roles=MANAGERS)
    @waits_on_raft
    def node_remove(self, msg: NodeRemoveRequest, request: Request) -> NodeRemoveReply:
        obj, cluster = self._read(lambda core: (find_node(core, msg.node, self.context.node_id), _cluster(core)))
        node = NodeView.of(obj)
        if node.node_id == self.context.node_id:
            raise Refused(
                "refused",
                f"node {node.node_id} is this manager and cannot remove itself; demote it first "
                "(`swarm-node node demote`), then `swarm-node leave` on it and `node rm` it from a manager",
            )
        if node.role == "manager":
            raise Refused("refused", f"node {node.node_id} is a manager; demote it first (`swarm-node node demote`)")
        conf = self._raft_status().conf
        if conf.has(node.node_id):
            raise Refused("busy", f"node {node.node_id} is still leaving the managers' Raft group; try again shortly")
        if node.state == "ready" and not msg.force:
            raise Refused(
                "refused",
                f"node {node.node_id} is ready and cannot be removed; stop it (or `swarm-node leave` on it) first, "
                f"then wait until `node ls` shows it Down ({DEFAULT_GRACE_PERIODS} heartbeats, "
                f"{DEFAULT_GRACE_PERIODS * cluster.heartbeat_period_s:g} s), or use --force",
            )
        revoked = dict(cluster.revoked) | {node.node_id: node.curve_key}
        propose(
            self.context,
            Delete("node", node.node_id, expected_version=obj.version),
            Update(
                "cluster", CLUSTER_ID, status=cluster.status() | {"revoked": revoked}, expected_version=cluster.version
            ),
            wait_for_leader_s=LEADER_WAIT_S,
        )
        return NodeRemoveReply(node_id=node.node_id)

    @handles(JoinTokenRequest, roles=MANAGERS)
    @waits_on_raft
    def join_token(self, msg: JoinTokenRequest, request: Request) -> JoinTokenReply:
        if msg.role not in ("worker", "manager"):
            raise Refused("invalid", f"role {msg.role!r} has no join token; use worker or manager")
        if msg.rotate:
            field = f"{msg.role}_secret"
            update_object(
                self.context,
                "cluster",
                CLUSTER_ID,
                lambda obj: (None, obj.status | {field: new_secret()}),
                wait_for_leader_s=LEADER_WAIT_S,
            )
        cluster = self._read(_cluster)
        return JoinTokenReply(
            role=msg.role, token=join_tokens(cluster)[msg.role], manager_addr=self.context.cluster_addr
        )

    @handles(LeaveRequest, roles=MANAGERS)
    def leave(self, msg: LeaveRequest, request: Request) -> LeaveReply:
        session: Session | None = self.context.get_shared(SESSION_KEY)
        removed = session is not None and session.state == REMOVED  # the swarm dropped it: no quorum to lose
        if self.context.role == "manager" and not msg.force and not removed:
            raise Refused("refused", self._leave_warning())
        stop = self.context.get_shared(STOP_NODE_KEY)
        if stop is None:
            raise Refused("unavailable", "this node process cannot be stopped from here")
        then = self._after_leaving() if self.context.role == "manager" and not removed else ""
        stop("left the swarm", "leave")
        return LeaveReply(node_id=self.context.node_id, then=then)

    def _after_leaving(self) -> str:
        """What the managers left need once this one, a voter of several, is gone ("" otherwise)."""
        me = self.context.node_id
        try:
            status = self._raft_status()
        except Refused:
            return ""
        voters = status.conf.voters
        if len(voters) < 2 or me not in voters:
            return ""
        if status.leader:
            seen = self._leader_reachability(status)  # None: it did not answer
            if seen is None:
                return still_a_voter(me)  # who is up cannot be told: the usual way
            up = [v for v in voters if v != me and (v == status.leader or seen.get(v) == "reachable")]
        elif status.heard is not None and not disk_full(self.context):
            up = [v for v in voters if v != me and v in status.heard]  # their pre-votes reach it
        else:
            return still_a_voter(me)
        if len(up) >= len(voters) // 2 + 1:
            return still_a_voter(me)
        down, need = len(voters) - 1 - len(up), len(voters) // 2 + 1 - len(up)
        back = f"until {need} of the {down} managers that are down are back, or " if down >= need else "until "
        return (
            f"the managers left ({len(up)} up of the {len(voters)} voters, this one gone for good) hold no majority: "
            f"the swarm takes no writes {back}`swarm-node start --force-new-cluster` on a survivor recovers it with "
            "its data"
        )
