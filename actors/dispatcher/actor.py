"""The Dispatcher actor (the leader only): node heartbeats, ready/down status, what nodes must learn.

Every node's Worker sends a heartbeat; the answer carries the period to use, the current
managers, the trusted roots when the node's are stale, and, during a root CA rotation, the
request to renew its certificate. A node silent for three periods is marked down; its next
heartbeat marks it ready. Only transitions are written to the Store.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass

from swarmnode.actors.ca.actor import managers_of
from swarmnode.actors.ca.core import finish_rotation, rotation_progress
from swarmnode.actors.node.addresses import dialable
from swarmnode.actors.raft.actor import StoreEvents, Subscribe, Unsubscribe
from swarmnode.actors.runtime import NodeActor, NodeContext, Refused, handles
from swarmnode.actors.runtime.addressable import Request
from swarmnode.actors.store.client import STORE_ACTOR, Change, is_raft_member, propose, read_store, update_object
from swarmnode.actors.store.core import StoreCore, StoredObject
from swarmnode.actors.store.objects import CLUSTER_ID, ClusterView, NodeView, cluster_of, nodes_of
from swarmnode.actors.store.transactions import Update
from swarmnode.actors.supervision import Link

from .core import HeartbeatCore, NodeLiveness, ReplyFacts, Transition
from .messages import HeartbeatReply, HeartbeatRequest

__all__ = ["Dispatcher"]

log = logging.getLogger("swarmnode.dispatcher")

EXPIRE_CHECKS_PER_PERIOD = 4
_DIGEST = re.compile(r"[0-9a-f]{64}")  # a root's ca_digest, as a heartbeat reports it (anything else is not kept)


@dataclass(frozen=True, slots=True)
class _Expire:
    """Timer: look for nodes that stopped beating."""


def _with_state(state: str) -> Change:
    """A change that sets a node's status state (ready or down)."""
    return lambda obj: (None, obj.status | {"state": state})


MARK_CHUNK = 500  # nodes marked unknown per write (each op carries a node's status, its certificate too)


class Dispatcher(NodeActor):
    """Track node liveness from heartbeats and tell nodes what changed."""

    def __init__(self, link: Link | None, context: NodeContext, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(link)
        self.context = context
        self.clock = clock
        self.core = HeartbeatCore(period_s=1.0, checked_often=True)
        self.cluster: ClusterView | None = None
        self.facts = ReplyFacts()

    def on_start(self) -> None:
        # It runs only while this manager leads (under the Leader supervisor): it starts by
        # marking every node the Store believes ready unknown, with a full grace window, as a
        # new leader must (swarmkit's markNodesUnknown): ready at its first heartbeat, else down.
        # Subscribed before it reads, so that no change falls between the two (a change seen
        # by both comes again as an event, which only sets what the read set).
        store = self.context.registry.get(STORE_ACTOR)
        assert store is not None
        store.ask(Subscribe(self.name, self.actor_ref, ("node", "cluster")))
        self._own_address()  # before the read: its own write must not conflict with the marking

        def read(core: StoreCore) -> tuple[ClusterView | None, list[NodeView], list[StoredObject]]:
            return cluster_of(core), nodes_of(core), core.list("node", lambda o: o.status.get("state") == "ready")

        try:  # linearizable: the entries of the term before, committed by now, are in what it reads
            cluster, nodes, ready = read_store(self.context, read, linearizable=True)
        except Refused:
            cluster, nodes, ready = read_store(self.context, read)
        if cluster is not None:
            self.cluster = cluster
            self.core = HeartbeatCore(period_s=self.cluster.heartbeat_period_s, checked_often=True)
        self._mark_unknown(ready)
        now = self.clock()  # after the write: the grace window is whole
        for node in nodes:
            alive = node.state in ("ready", "unknown")
            self.core.track(node.node_id, NodeLiveness.UNKNOWN if alive else NodeLiveness.DOWN, now)
        self.timers.start("expire", self.core.period_s / EXPIRE_CHECKS_PER_PERIOD, _Expire())

    def _mark_unknown(self, ready: list[StoredObject]) -> None:
        """Record the nodes a leader before this one knew ready as unknown, MARK_CHUNK per write.

        A node that changed since the read (a renewal, say) makes its chunk's write fail as a
        whole: those nodes keep their state, and their first heartbeat or their silence decides.
        """
        ops = [Update("node", o.id, status=o.status | {"state": "unknown"}, expected_version=o.version) for o in ready]
        marked = 0
        for first in range(0, len(ops), MARK_CHUNK):
            chunk = ops[first : first + MARK_CHUNK]
            try:
                propose(self.context, *chunk, leader_only=True)
            except Refused as exc:
                log.info("%d node(s) may not be marked unknown for the new leader: %s", len(chunk), exc.text)
                continue
            marked += len(chunk)
        if marked:
            log.info("%d node(s) unknown until their first heartbeat to this leader", marked)

    def on_stop(self) -> None:
        store = self.context.registry.get(STORE_ACTOR)
        if store is not None:
            store.tell(Unsubscribe(self.name))

    def _own_address(self) -> None:
        """Record where this manager is reached (its port is known only once the transport bound it)."""
        addr = self.context.cluster_addr
        node = read_store(self.context, lambda core: core.get("node", self.context.node_id))
        if node is not None and node.status.get("addr") != addr:
            try:
                update_object(
                    self.context,
                    "node",
                    self.context.node_id,
                    lambda obj: (None, obj.status | {"addr": addr}),
                    leader_only=True,
                )
            except Refused as exc:  # its own heartbeat says it again
                log.info("could not record where this manager is reached yet: %s", exc.text)

    def _note_what_it_says(self, view: NodeView, msg: HeartbeatRequest) -> None:
        """Record what a node's heartbeat says of itself when it changed: where it is reached now
        (restarted on another --listen), and why it could not run as a manager (`node promote`
        asks). One write, on a change only; a refused one is tried again at the next beat.

        Its CURVE key is bound in its certificate, so an address claimed for another node only
        makes connections to it fail their handshake; one no node can dial is not recorded.
        """
        said: dict[str, str] = {}
        if msg.addr and msg.addr != view.addr:
            if not dialable(msg.addr):
                log.warning(
                    "node %s says it is reached at %r, which no node can dial; kept %s",
                    view.node_id,
                    msg.addr,
                    view.addr,
                )
            else:
                said["addr"] = msg.addr
        if msg.cannot_manage != view.cannot_manage:
            said["cannot_manage"] = msg.cannot_manage
        if msg.issuer != view.issuer and _DIGEST.fullmatch(msg.issuer):
            # The root of the certificate it uses, not of the last one signed for it (one it may
            # not have saved, on a full disk): a root rotation is done when every node uses one.
            said["issuer"] = msg.issuer
        if not said:
            return
        try:
            update_object(self.context, "node", view.node_id, lambda obj: (None, obj.status | said), leader_only=True)
        except Refused as exc:  # the next heartbeat tries again
            log.info("could not record what node %s says of itself yet: %s", view.node_id, exc.text)
            return
        if "addr" in said:
            log.info("node %s is reached at %s now (was %s)", view.node_id, msg.addr, view.addr or "unknown")
        if said.get("cannot_manage"):
            log.info("node %s could not run as a manager: %s", view.node_id, msg.cannot_manage)

    def on_receive(self, message: object) -> object:
        try:
            if isinstance(message, _Expire):
                self._record(self.core.expire(self.clock()))
                self._finish_rotation()
                self.timers.start("expire", self.core.period_s / EXPIRE_CHECKS_PER_PERIOD, _Expire())
                return None
            if isinstance(message, StoreEvents):
                self._follow(message)
                return None
            return super().on_receive(message)
        finally:
            # Time spent waiting on the Store in a handler is not a stall of the process: the
            # heartbeats queued meanwhile are handled next, and a dead node's silence counts.
            self.core.handled(self.clock())

    def _follow(self, message: StoreEvents) -> None:
        for event in message.events:
            self.facts.follow(event)
            if event.object.kind == "node" and event.action == "delete":
                self.core.forget(event.object.id)
            elif event.object.kind == "cluster" and event.action != "delete":
                first = self.cluster is None
                self.cluster = ClusterView.of(event.object)
                self.core.set_period(self.cluster.heartbeat_period_s)
                if first:
                    self._own_address()

    def _finish_rotation(self) -> None:
        """End a root CA rotation once every node holds a certificate of the new root."""
        cluster = self.cluster
        if cluster is None or cluster.rotation != "rotating":
            return
        try:
            done, total = read_store(self.context, lambda core: rotation_progress(cluster, core))
            if done < total:
                return
            update_object(
                self.context,
                "cluster",
                CLUSTER_ID,
                lambda obj: (None, finish_rotation(ClusterView.of(obj))),
                leader_only=True,
            )
        except Refused as exc:  # looked at again at the next check
            log.info("could not end the root CA rotation yet: %s", exc.text)
            return
        log.info("root CA rotation finished: all %d node(s) hold certificates of the new root", total)

    def _record(self, transitions: list[Transition]) -> None:
        for t in transitions:
            state = t.state.value
            log.info("node %s is %s", t.node_id, state)
            try:
                update_object(self.context, "node", t.node_id, _with_state(state), leader_only=True)
            except Refused as exc:
                if exc.code == "not-found":
                    self.core.forget(t.node_id)
                else:  # said again at the next beat or check (this manager no longer leading: it stops soon)
                    self.core.revert(t)
                    log.info("could not record that node %s is %s yet: %s", t.node_id, state, exc.text)

    @handles(HeartbeatRequest, roles={"manager", "worker", "local"})
    def heartbeat(self, msg: HeartbeatRequest, request: Request) -> HeartbeatReply:
        assert request.peer is not None
        if self.cluster is None:
            raise Refused("unavailable", "this leader has not caught up with the cluster settings yet")
        node_id = request.peer.node_id if request.peer.role != "local" else self.context.node_id
        transition = self.core.beat(node_id, self.clock())
        if transition is not None:
            self._record([transition])
        cluster = self.cluster
        stale_trust = msg.trust_digest != self.facts.trust_digest(cluster)
        rotating = cluster.rotation == "rotating" and msg.issuer != self.facts.root_digest(cluster)
        # One read of the Store per heartbeat: this node, and the managers when a node changed since
        # they were last listed (listing them at every beat would cost a period N^2).
        managers = self.facts.managers()
        if managers is None:
            node, managers = read_store(self.context, lambda core: (core.get("node", node_id), managers_of(core)))
            self.facts.keep_managers(managers)
        else:
            node = read_store(self.context, lambda core: core.get("node", node_id))
        view = NodeView.of(node) if node is not None else None
        if view is not None:
            self._note_what_it_says(view, msg)
        role_changed = view is not None and view.role != view.cert_role
        if role_changed and view is not None and view.role == "worker" and is_raft_member(self.context, view.node_id):
            # A demoted manager gets a worker's certificate only once its removal from Raft
            # committed (the CA would sign a manager's again): asking now would renew it every beat.
            role_changed = False
        renew = rotating or role_changed
        return HeartbeatReply(
            period_s=cluster.heartbeat_period_s,
            managers=managers,
            trust_pem=cluster.trust_pem if stale_trust else b"",
            renew=renew,
        )
