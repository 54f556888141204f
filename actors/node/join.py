"""Join a swarm (``swarm join``): check the CA against the token, then get a certificate.

The joiner trusts nothing it has not checked: it fetches the roots over the plain bootstrap
port, keeps them only if one matches the digest in its token (else it stops: someone may be in
the middle), verifies the manager's certificate against them to learn the manager's CURVE key,
and only then sends its token and CSR over CURVE, as an anonymous peer with a fresh key of its
own. The certificate it gets back binds that key.
"""

from __future__ import annotations

import contextlib
import errno
import socket
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

from swarmnode.actors.ca.core import cluster_id_of_root, split_pem, verify_member_certificate
from swarmnode.actors.ca.messages import (
    GetRootCAReply,
    GetRootCARequest,
    IssueNodeCertificateReply,
    IssueNodeCertificateRequest,
)
from swarmnode.actors.ca.pki import CertificateError, NodeCertInfo, ca_digest, make_csr, new_node_key
from swarmnode.actors.ca.tokens import TokenError, parse_join_token
from swarmnode.actors.messages import Address
from swarmnode.actors.runtime import CurveKeys
from swarmnode.actors.store.wal import free_bytes
from swarmnode.actors.supervision import describe
from swarmnode.transport import (
    ControlClient,
    RemoteError,
    RequestTimeout,
    Transport,
    TransportError,
    bootstrap_address,
    generate_keypair,
)

from .addresses import AdvertiseAddressError, advertise_address
from .swarm_state import (
    CERTIFICATE_FILES,
    KEY_FILE,
    NODE_FILE,
    ManagerRecord,
    NodeCertificate,
    NodeState,
    save_node_state,
    too_little_room_to_manage,
    write_certificate,
)

__all__ = ["JoinError", "JoinOptions", "JoinResult", "join_swarm"]

JOIN_TIMEOUT_S = 15.0
PROBE_TIMEOUT_S = 5.0
JOIN_ROOM_BYTES = 1 << 20  # free in the state dir before a join is asked: the node's files and log start


class JoinError(Exception):
    """The join failed; the text says why and what to do."""


@dataclass(frozen=True, slots=True)
class JoinOptions:
    manager_addr: str
    token: str
    advertise_addr: str  # a wildcard host (0.0.0.0) becomes this machine's address on the route to the manager
    hostname: str = ""
    cannot_manage: str = ""  # why this node could not run as a manager (its bootstrap port is taken), or ""


@dataclass(frozen=True, slots=True)
class JoinResult:
    state: NodeState


def fetch_root_ca(manager_addr: str, timeout_s: float = JOIN_TIMEOUT_S) -> GetRootCAReply:
    """Ask a manager's bootstrap port for the swarm's roots and the manager's certificate."""
    where = bootstrap_address(manager_addr)
    _probe(manager_addr, where)
    try:
        with ControlClient.bootstrap(where, timeout_s=timeout_s) as client:
            reply = client.request("ca", GetRootCARequest())
    except RequestTimeout:
        raise JoinError(
            f"no swarm manager answers at {manager_addr} (its bootstrap port {where} did not reply within "
            f"{timeout_s:g} s): check the address, and that a manager runs there"
        ) from None
    except (RemoteError, TransportError) as exc:
        raise JoinError(f"the manager at {manager_addr} did not give its root CA: {exc}") from None
    if not isinstance(reply, GetRootCAReply):
        raise JoinError(f"the manager at {manager_addr} answered {reply.KIND} to a root CA request")
    return reply


def _probe(manager_addr: str, where: str) -> None:
    """Fail at once, with the reason, when nothing listens on the bootstrap port (zmq would just retry)."""
    host, _, port = where.rpartition(":")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=PROBE_TIMEOUT_S):
            pass
    except OSError as exc:
        raise JoinError(
            f"no swarm manager answers at {manager_addr}: its bootstrap port {where} is not reachable "
            f"({exc.strerror or exc}); check the address (a manager's cluster port, the one it listens on, as "
            "`swarm-node join-token` prints it: the bootstrap port is that + 1), and that a manager runs there"
        ) from None


def join_swarm(state_dir: Path, options: JoinOptions) -> JoinResult:
    """Join the swarm of the manager at ``options.manager_addr``; write the node's state."""
    try:
        token = parse_join_token(options.token)
    except TokenError as exc:
        raise JoinError(f"invalid join token: {exc}") from None
    reply = fetch_root_ca(options.manager_addr)
    roots = split_pem(reply.trust_pem)
    digests = [ca_digest(r) for r in roots]
    if token.ca_digest not in digests:
        raise JoinError(
            f"the root CA of the swarm at {options.manager_addr} does not match the join token "
            f"(the token names CA digest {token.ca_digest[:12]}..., the manager presented "
            f"{', '.join(d[:12] + '...' for d in digests) or 'none'}): the swarm's root CA may have been rotated "
            "since the token was made (`swarm-node join-token worker` on a manager gives the current one), or this "
            "may be a man-in-the-middle attack; check the token and the address. Nothing was sent to the manager."
        )
    root = roots[digests.index(token.ca_digest)]
    now = datetime.now(UTC)
    try:
        cluster_id = cluster_id_of_root(root)
        manager = verify_member_certificate(reply.manager_certificate, reply.trust_pem, cluster_id, now)
    except CertificateError as exc:
        raise JoinError(f"the manager at {options.manager_addr} presented a bad certificate: {exc}") from None
    if manager.role != "manager":
        raise JoinError(f"the node at {options.manager_addr} is not a manager (its certificate says {manager.role})")
    try:
        addr = advertise_address(options.advertise_addr, towards=options.manager_addr)
    except AdvertiseAddressError as exc:
        raise JoinError(str(exc)) from None
    options = _with_room(state_dir, options)
    public, secret = generate_keypair()
    key_pem = new_node_key()
    csr = make_csr(key_pem)
    issued = _request_certificate(
        options, manager.node_id, manager.curve_public_key, addr=addr, public=public, secret=secret, csr=csr
    )
    try:
        info = verify_member_certificate(issued.certificate, issued.trust_pem, issued.cluster_id, now)
    except CertificateError as exc:
        raise JoinError(f"the manager issued a certificate that does not verify: {exc}") from None
    if info.curve_public_key != public:
        raise JoinError("the manager issued a certificate for another CURVE key; refusing it")
    written = [state_dir / name for name in (*CERTIFICATE_FILES, KEY_FILE, NODE_FILE)]
    there = {path for path in written if path.exists()}  # none, as a rule: the state dir holds no swarm
    try:
        write_certificate(
            state_dir, NodeCertificate(key_pem=key_pem, chain_pem=issued.certificate, trust_pem=issued.trust_pem)
        )
        state = _joined_state(issued, options, addr, manager, public, secret)
        save_node_state(state_dir, state)
    except OSError as exc:  # the disk filled since the check above, say
        for path in written:
            if path not in there:
                with contextlib.suppress(OSError):
                    path.unlink(missing_ok=True)  # only what this join wrote
        mend = "free space there" if exc.errno in (errno.ENOSPC, errno.EDQUOT) else "mend that"
        raise JoinError(
            f"the swarm took this node as {issued.node_id}, but its identity could not be saved in {state_dir} "
            f"({exc.strerror}): {mend} and join again (as a new node); on a manager, "
            f"`swarm-node node rm {issued.node_id}` removes the one registered now"
        ) from None
    return JoinResult(state=state)


def _with_room(state_dir: Path, options: JoinOptions) -> JoinOptions:
    """Refuse a join the state dir has no room for, before anything is sent; tell the manager
    when there is too little for a manager's Raft log (a manager token is then refused)."""
    free = free_bytes(state_dir)
    if free < JOIN_ROOM_BYTES:
        raise JoinError(
            f"the disk of state dir {state_dir} has {free >> 10} KiB free; a node needs "
            f"{JOIN_ROOM_BYTES >> 20} MiB there to join (its identity, certificate and log): free space and "
            "join again. Nothing was sent to the manager."
        )
    why = too_little_room_to_manage(state_dir)
    return replace(options, cannot_manage="; ".join(filter(None, (options.cannot_manage, why))))


def _joined_state(
    issued: IssueNodeCertificateReply,
    options: JoinOptions,
    addr: str,
    manager: NodeCertInfo,
    public: bytes,
    secret: bytes,
) -> NodeState:
    managers = tuple(ManagerRecord(m.node_id, m.addr, m.curve_key) for m in issued.managers if m.addr)
    return NodeState(
        node_id=issued.node_id,
        role=issued.role,
        cluster_id=issued.cluster_id,
        advertise_addr=addr,
        hostname=options.hostname or socket.gethostname(),
        keys=CurveKeys(public=public, secret=secret),
        managers=managers or (ManagerRecord(manager.node_id, options.manager_addr, manager.curve_public_key.decode()),),
    )


def _request_certificate(
    options: JoinOptions, manager_id: str, manager_key: bytes, *, addr: str, public: bytes, secret: bytes, csr: bytes
) -> IssueNodeCertificateReply:
    """Send the token and CSR to the manager over CURVE, from a short-lived transport."""
    transport = Transport.outbound_only("joining", public, secret)
    transport.start()
    try:
        transport.connect(manager_id, options.manager_addr, manager_key)
        future = transport.request(
            Address(manager_id, "ca"),
            IssueNodeCertificateRequest(
                token=options.token,
                csr=csr,
                hostname=options.hostname or socket.gethostname(),
                addr=addr,
                cannot_manage=options.cannot_manage,
            ),
            src_actor="join",
            timeout_s=JOIN_TIMEOUT_S,
        )
        reply = future.result(JOIN_TIMEOUT_S + 1)
    except RemoteError as exc:
        raise JoinError(f"the manager refused to let this node join: {exc.text}") from None
    except (RequestTimeout, TimeoutError):
        raise JoinError(
            f"the manager at {options.manager_addr} did not answer the join within {JOIN_TIMEOUT_S:g} s"
        ) from None
    except TransportError as exc:
        raise JoinError(f"cannot reach the manager at {options.manager_addr}: {describe(exc)}") from None
    finally:
        transport.stop()
    if not isinstance(reply, IssueNodeCertificateReply):
        raise JoinError(f"the manager answered {reply.KIND} to the join request")
    return reply
