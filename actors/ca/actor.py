"""The CertAuthority actor: on managers it signs certificates; on every node it renews its own.

A manager answers the joiner's bootstrap question (the roots and its own certificate), issues
certificates to joiners that present a valid token, renews members' certificates, and moves
the swarm to a new root CA. Every node holds its certificate, renews it at a random 50-80% of
its lifetime (and at once when the managers ask, during a root rotation) without changing its
CURVE key, so its connections never drop.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from swarmnode.actors.control.messages import CARotateReply, CARotateRequest, RotationPending
from swarmnode.actors.messages import Address
from swarmnode.actors.node.identity import new_node_id, write_private
from swarmnode.actors.node.swarm_state import (
    CERT_DIR,
    NodeCertificate,
    read_certificate,
    update_node_state,
    write_certificate,
)
from swarmnode.actors.runtime import (
    ANY_ROLE,
    CERTIFICATE_KEY,
    MANAGERS_KEY,
    STOP_NODE_KEY,
    TRUST_KEY,
    NodeActor,
    NodeContext,
    Refused,
    handles,
)
from swarmnode.actors.runtime.addressable import Request
from swarmnode.actors.store.client import (
    STATUS_TIMEOUT_S,
    STORE_ACTOR,
    is_raft_member,
    propose,
    raft_status,
    read_store,
    update_object,
)
from swarmnode.actors.store.core import StoreCore, StoredObject
from swarmnode.actors.store.objects import CLUSTER_ID, ClusterView, NodeView, cluster_of, nodes_of
from swarmnode.actors.store.transactions import Create
from swarmnode.actors.supervision import Link, describe
from swarmnode.transport import BOOTSTRAP_ROLE, TransportError

from .cfssl import ExternalCAError
from .core import (
    JoinRefused,
    cluster_root,
    role_for_token,
    rotation_detail,
    verify_member_certificate,
)
from .messages import (
    GetManagersReply,
    GetManagersRequest,
    GetRootCAReply,
    GetRootCARequest,
    IssueNodeCertificateReply,
    IssueNodeCertificateRequest,
    ManagerInfo,
    RenewNodeCertificateReply,
    RenewNodeCertificateRequest,
)
from .pki import (
    CertificateError,
    NodeCertInfo,
    ca_digest,
    create_root_ca,
    cross_sign,
    make_csr,
    new_node_key,
    renewal_time,
)
from .signing import sign_member_certificate

__all__ = ["CertAuthority", "RenewNow", "leader_and_managers", "managers_of"]

log = logging.getLogger("swarmnode.ca")

RENEW_RETRY_S = 10.0
SAVE_RETRY_MAX_S = 300.0  # a renewal that cannot be saved is tried again at most this far apart
ROLE_FOLLOW_S = 1.0  # a role the certificate gives, found at start, is followed this long after
MANAGERS_READ_S = 0.5  # GetManagersRequest: local reads, answered at once unless this manager is stuck
RENEW_TIMEOUT_S = 15.0


@dataclass(frozen=True, slots=True)
class RenewNow:
    """Renew this node's certificate now (a timer, or the managers asked: a rotation, a role change)."""

    reason: str
    via: str = ""  # the manager to ask first (the leader whose heartbeat answer asked)
    # When it was asked (monotonic; 0: a timer's). A renewal done since makes it moot: while one
    # renewal waits, the heartbeats that ask again must not line up renewals behind it.
    asked_at: float = 0.0


@dataclass(frozen=True, slots=True)
class _FollowRole:
    """Timer: save the role the certificate says, which a full disk kept from being saved."""


def managers_of(core: StoreCore) -> tuple[ManagerInfo, ...]:
    """The managers of the swarm as joiners and workers need them."""
    return tuple(
        ManagerInfo(node_id=n.node_id, addr=n.addr, curve_key=n.curve_key)
        for n in nodes_of(core)
        if n.cert_role == "manager"
    )


def leader_and_managers(context: NodeContext, timeout_s: float = STATUS_TIMEOUT_S) -> GetManagersReply:
    """What this manager knows of the managers: the leader it follows and the Store's managers.

    Refused by a manager removed from Raft (demoted, not yet restarted as a worker): what it
    knows is a frozen past.
    """
    status = raft_status(context, timeout_s)  # a worker node has none: refused as not a manager
    if not status.is_member(context.node_id):
        if not status.conf.voters:  # no membership at all: nothing came from the leader yet
            raise Refused(
                "unavailable",
                f"manager {context.node_id} is new to the managers (just joined or promoted): it waits for the "
                "leader's state",
            )
        raise Refused("unavailable", f"node {context.node_id} is not a manager (any more)")
    return GetManagersReply(leader=status.leader, managers=read_store(context, managers_of, timeout_s))


class CertAuthority(NodeActor):
    """Sign (managers) and renew (every node) certificates."""

    def __init__(
        self,
        link: Link | None,
        context: NodeContext,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
    ) -> None:
        super().__init__(link)
        self.context = context
        self.clock = clock
        self.rng = rng or random.Random()
        self.cert: NodeCertificate | None = None
        self.info: NodeCertInfo | None = None
        self.renewed_at = 0.0  # monotonic time of this incarnation's last renewal
        self.save_failures = 0  # renewals in a row whose certificate could not be saved (a full disk)

    # -- own certificate ----------------------------------------------------------------------

    def on_start(self) -> None:
        cert = read_certificate(self.context.state_dir)
        self._adopt(cert)
        assert self.info is not None
        if self.info.role != self.context.role:
            # The certificate was saved and node.json was not (a full disk, or a crash between
            # the two): the node runs as node.json says, and no heartbeat would ask for a renewal.
            # Followed once the node's start is over.
            self.timers.start("role", ROLE_FOLLOW_S, _FollowRole())

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), UTC)

    def _adopt(self, cert: NodeCertificate) -> None:
        """Take ``cert`` as this node's certificate and plan its renewal."""
        info = verify_member_certificate(cert.chain_pem, cert.trust_pem, self.context.cluster_id, self._now())
        self.cert, self.info = cert, info
        self.context.set_shared(CERTIFICATE_KEY, info)
        self.context.set_shared(TRUST_KEY, cert.trust_pem)
        when = renewal_time(info.not_before, info.not_after, self.rng)
        delay_s = max(0.0, when.timestamp() - self.clock())
        self.timers.start("renew", delay_s, RenewNow("scheduled renewal"))
        log.info("certificate of %s valid until %s; renewal in %.0f s", info.node_id, info.not_after, delay_s)

    def on_receive(self, message: object) -> object:
        if isinstance(message, RenewNow):
            if message.asked_at and (message.asked_at <= self.renewed_at or self.save_failures):
                # A renewal finished after it was asked, or one is tried again soon (its
                # certificate could not be saved): a signing at each heartbeat would not help.
                return None
            self._renew_own(message.reason, message.via)
            return None
        if isinstance(message, _FollowRole):
            self._follow_role()
            return None
        return super().on_receive(message)

    def _renew_own(self, reason: str, via: str = "") -> None:
        key_pem = new_node_key()
        csr = make_csr(key_pem)
        try:
            chain, trust = self._renew_here_or_remotely(csr, via)
        except (Refused, TransportError, ExternalCAError, CertificateError) as exc:
            text = exc.text if isinstance(exc, Refused) else describe(exc)
            log.warning("certificate renewal (%s) failed: %s; retrying in %g s", reason, text, RENEW_RETRY_S)
            self.timers.start("renew", RENEW_RETRY_S, RenewNow(reason, via))
            return
        cert = NodeCertificate(key_pem=key_pem, chain_pem=chain, trust_pem=trust)
        try:
            write_certificate(self.context.state_dir, cert)
        except OSError as exc:
            # Not adopted: a restart would find the old one on disk, which still serves. Signed
            # again at the next try (with the role wanted then), less and less often while the
            # disk stays full: each costs the managers a signing and a Store write.
            self.save_failures += 1
            retry_s = min(RENEW_RETRY_S * 2 ** (self.save_failures - 1), SAVE_RETRY_MAX_S)
            log.log(
                logging.WARNING if self.save_failures == 1 else logging.INFO,
                "certificate renewal (%s): could not save the new certificate in %s (%s); retrying in %g s",
                reason,
                self.context.state_dir,
                exc.strerror or exc,
                retry_s,
            )
            self.timers.start("renew", retry_s, RenewNow(reason, via))
            return
        if self.save_failures:
            log.info("saved a renewed certificate of this node at last")
        self.save_failures = 0
        self._adopt(cert)
        self.renewed_at = time.monotonic()
        log.info("renewed the certificate of this node (%s)", reason)
        self._follow_role()

    def _follow_role(self) -> None:
        """Run as the role the certificate says: save it and restart the node's actors as one.

        A full disk that keeps it from being saved is said and tried again: a crash would leave
        the certificate of one role (it is on disk) beside the node of the other, which no later
        renewal would notice.
        """
        assert self.info is not None
        if self.info.role == self.context.role:
            return
        try:
            self._change_role(self.info.role)
        except OSError as exc:
            log.warning(
                "this node's certificate makes it a %s, and saving that in %s failed (%s); retrying in %g s",
                self.info.role,
                self.context.state_dir,
                exc.strerror or exc,
                RENEW_RETRY_S,
            )
            self.timers.start("role", RENEW_RETRY_S, _FollowRole())

    def _change_role(self, role: str) -> None:
        """The new certificate makes this node a manager or a worker: restart the tree as one."""
        if update_node_state(self.context.state_dir, lambda state: replace(state, role=role)) is None:
            return
        log.warning("this node is now a %s (its new certificate says so); restarting its actors", role)
        stop = self.context.get_shared(STOP_NODE_KEY)
        if stop is not None:
            stop(f"role changed to {role}", "restart")

    def _renew_here_or_remotely(self, csr: bytes, via: str = "") -> tuple[bytes, bytes]:
        """A manager signs its own certificate, unless it is being demoted or its Store has no leader.

        A demoted manager asks the other managers: once its removal from Raft has committed, the
        leader no longer talks to it (its own Store stops where it was), and only the leader's
        side can tell that the removal is done and give it its worker's certificate.
        """
        if self.context.role == "manager" and self.context.registry.get(STORE_ACTOR) is not None:
            me = self.context.node_id
            try:
                obj = read_store(self.context, lambda core: core.get("node", me))
                if obj is not None and NodeView.of(obj).role == "manager":
                    return self._renew(me, csr)
                why = "this manager is being demoted" if obj is not None else "its Store does not know it yet"
                log.info("renewing through another manager: %s", why)
            except Refused as exc:
                if exc.code != "unavailable":
                    raise
                log.info("renewing through another manager: %s", exc.text)
        return self._renew_remotely(csr, via)

    def _renew_remotely(self, csr: bytes, via: str = "") -> tuple[bytes, bytes]:
        transport = self.context.transport
        last: Exception | None = None
        managers = sorted(self.context.get_shared(MANAGERS_KEY, ()), key=lambda m: m.node_id != via)
        for manager in managers:
            if manager.node_id == self.context.node_id:
                continue
            try:
                future = transport.request(
                    Address(manager.node_id, "ca"),
                    RenewNodeCertificateRequest(csr=csr),
                    src_actor=self.name,
                    timeout_s=RENEW_TIMEOUT_S,
                )
                reply = future.result(RENEW_TIMEOUT_S + 1)
            except (TransportError, TimeoutError) as exc:
                last = exc
                continue
            assert isinstance(reply, RenewNodeCertificateReply)
            return reply.certificate, reply.trust_pem
        raise TransportError(f"no manager answered the renewal ({describe(last) if last else 'no manager known'})")

    # -- manager: bootstrap, join, renewal ---------------------------------------------------

    def _rotation(self, *, linearizable: bool = True) -> tuple[ClusterView, tuple[int, int, tuple[NodeView, ...]]]:
        """The cluster and how far a rotation is, in one read (by default as the leader has it: one
        read-index round)."""

        def both(core: StoreCore) -> tuple[ClusterView | None, tuple[int, int, tuple[NodeView, ...]]]:
            cluster = cluster_of(core)
            return cluster, rotation_detail(cluster, core) if cluster is not None else (0, 0, ())

        cluster, detail = read_store(self.context, both, linearizable=linearizable)
        if cluster is None:
            raise Refused("unavailable", "this manager has no cluster object yet")
        return cluster, detail

    def _cluster(self) -> ClusterView:
        cluster = read_store(self.context, cluster_of)
        if cluster is None:
            raise Refused("unavailable", "this manager has no cluster object yet")
        return cluster

    def _sign(
        self, cluster: ClusterView, csr: bytes, node_id: str, role: str, curve_key: bytes, failure: str
    ) -> tuple[bytes, NodeCertInfo]:
        """Sign and check a member's certificate; refuse, saying ``failure`` and why, if that fails."""
        try:
            return sign_member_certificate(
                cluster, csr, node_id=node_id, role=role, curve_key=curve_key, now=self._now()
            )
        except ExternalCAError as exc:
            raise Refused("unavailable", f"{failure}: {exc}") from None
        except (ValueError, CertificateError) as exc:
            raise Refused("refused", f"{failure}: {describe(exc)}") from None

    @handles(GetRootCARequest, roles=ANY_ROLE | {BOOTSTRAP_ROLE})
    def get_root_ca(self, msg: GetRootCARequest, request: Request) -> GetRootCAReply:
        cluster = self._cluster()
        assert self.cert is not None
        return GetRootCAReply(
            trust_pem=cluster.trust_pem,
            manager_certificate=self.cert.chain_pem,
            manager_addr=self.context.cluster_addr,
        )

    @handles(IssueNodeCertificateRequest, roles={"anonymous"})
    def issue(self, msg: IssueNodeCertificateRequest, request: Request) -> IssueNodeCertificateReply:
        cluster = self._cluster()
        try:
            role = role_for_token(msg.token, cluster)
        except JoinRefused as exc:
            log.warning("refused a join from %s: %s", request.peer.node_id if request.peer else "?", exc)
            raise Refused("refused", str(exc)) from None
        if role == "manager" and msg.cannot_manage:
            raise Refused(
                "refused",
                f"the token makes a manager, and the joining node says: {msg.cannot_manage}; nothing was "
                "registered (mend that on its machine: another --listen for a taken port, free space for a full "
                "disk; or join with the worker token)",
            )
        assert request.peer is not None
        curve_key = request.peer.node_id.encode()  # an anonymous peer is named by its CURVE key
        node_id = new_node_id()
        # A manager token makes a manager: the leader adds it to Raft as a learner once its node
        # object is committed, and promotes it to voter when it has caught up.
        chain, info = self._sign(
            cluster, msg.csr, node_id, role, curve_key, "cannot issue a certificate for this request"
        )
        node = NodeView(
            node_id=node_id,
            role=role,
            availability="active",
            labels={},
            state="unknown",
            hostname=msg.hostname,
            addr=msg.addr,
            certificate=chain,
            cert_role=role,
            cert_expiry=info.not_after.timestamp(),
            curve_key=curve_key.decode(),
            issuer=info.issuer_digest,
            cannot_manage=msg.cannot_manage,  # `node promote` asks it before its first heartbeat
        )
        propose(self.context, Create("node", node_id, node.spec(), node.status()))
        log.info("issued a %s certificate to new node %s (%s)", role, node_id, msg.hostname)
        managers = read_store(self.context, managers_of)
        return IssueNodeCertificateReply(
            node_id=node_id,
            cluster_id=cluster.cluster_id,
            role=role,
            certificate=chain,
            trust_pem=cluster.trust_pem,
            managers=managers,
        )

    @handles(GetManagersRequest, roles={"manager", "worker"})
    def get_managers(self, msg: GetManagersRequest, request: Request) -> GetManagersReply:
        return leader_and_managers(self.context, MANAGERS_READ_S)  # two local asks of 0.5 s at most

    @handles(RenewNodeCertificateRequest, roles={"manager", "worker"})
    def renew_member(self, msg: RenewNodeCertificateRequest, request: Request) -> RenewNodeCertificateReply:
        assert request.peer is not None
        chain, trust = self._renew(request.peer.node_id, msg.csr)
        return RenewNodeCertificateReply(certificate=chain, trust_pem=trust)

    def _renew(self, node_id: str, csr: bytes) -> tuple[bytes, bytes]:
        """Sign a new certificate for member ``node_id`` and record it; return (chain, trust)."""
        cluster = self._cluster()
        # Linearizable: a manager that lags must not sign by a view from before a promotion.
        obj = read_store(self.context, lambda core: core.get("node", node_id), linearizable=True)
        if obj is None:
            raise Refused("refused", f"node {node_id} is not a member of this swarm")
        node = NodeView.of(obj)
        # The certificate carries the role the operator wants (promote/demote take effect here),
        # but a demoted manager keeps a manager's until its removal from Raft has committed (as
        # swarmkit's role manager): a worker drops its Raft data, which a voter must keep.
        role = node.role
        if role == "worker" and is_raft_member(self.context, node_id):
            role = "manager"
        chain, info = self._sign(
            cluster, csr, node_id, role, node.curve_key.encode(), f"cannot renew the certificate of {node_id}"
        )
        # Not its issuer: the node's heartbeats say which root it uses, once it saved and took
        # this one (Dispatcher); a rotation must not count one it could not save.
        renewed = {
            "certificate": chain,
            "cert_expiry": info.not_after.timestamp(),
            "cert_role": info.role,
        }

        def record(obj: StoredObject) -> tuple[None, dict[str, object]]:
            # Promoted again since it was signed: the worker's certificate must not be given out
            # (the node would drop its Raft data as a member again). The renewal is tried again.
            if info.role == "worker" and obj.spec.get("role") != "worker":
                raise Refused("unavailable", f"node {node_id} was promoted while its renewal was signed; try again")
            return None, obj.status | renewed

        update_object(self.context, "node", node_id, record)
        return chain, cluster.trust_pem

    # -- manager: root CA rotation -------------------------------------------------------------

    @handles(CARotateRequest, roles={"local"})
    def rotate(self, msg: CARotateRequest, request: Request) -> CARotateReply:
        """Start a root rotation (as ``docker swarm ca --rotate``), or report its progress.

        The new root is cross-signed by the old one, and every certificate the CA signs from now
        on comes with that cross-signed certificate, so nodes that still trust only the old root
        accept the new certificates. The Dispatcher asks each node to renew; when every node holds
        a certificate of the new root, it drops the old root from the trust bundle.

        What it reports is read as the leader has it (read-index), as every read an operator
        makes: a follower's Store may lag, and a removed manager's is frozen.
        """
        cluster, detail = self._rotation()
        if msg.start and cluster.rotation != "rotating":
            if cluster.external_ca is not None:
                raise Refused("refused", "rotating the root CA of a swarm with an external CA is not built")
            now = self._now()
            old = cluster_root(cluster)
            new = create_root_ca(cluster.cluster_id, now)
            cross = cross_sign(new, old, now)

            def start(obj: StoredObject) -> tuple[None, dict[str, object]]:
                return None, obj.status | {
                    "root_cert": new.cert_pem,
                    "root_key": new.key_pem,
                    "root_intermediates": cross,
                    "trust_pem": cluster.root_cert + new.cert_pem,
                    "rotation": "rotating",
                }

            update_object(self.context, "cluster", CLUSTER_ID, start)
            assert new.key_pem is not None
            write_private(self.context.state_dir / CERT_DIR / "root-ca.key", new.key_pem)
            log.info("root CA rotation started: new root %s", ca_digest(new.cert_pem)[:16])
            cluster, detail = self._rotation(linearizable=False)  # this manager applied the write: its Store has it
        done, total, pending = detail
        return CARotateReply(
            root_digest=ca_digest(cluster.root_cert),
            nodes_total=total,
            nodes_done=done,
            state=cluster.rotation or "done",
            pending=tuple(RotationPending(n.node_id, n.hostname, n.state) for n in pending) if cluster.rotation else (),
        )
