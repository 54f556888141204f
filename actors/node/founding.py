"""Found a swarm (``swarm init``): the first manager's identity, root CA and first Store entry.

Everything is written before the node's actors start: the root CA and the manager's own
certificate, its identity, and the Store's first committed entry (the cluster object and this
node), so that a crash in the middle leaves either no swarm (``node.json`` is written last) or
a whole one.
"""

from __future__ import annotations

import random
import shutil
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from swarmnode.actors.ca.cfssl import ExternalCA
from swarmnode.actors.ca.core import cluster_id_of_root, new_secret
from swarmnode.actors.ca.pki import CertificateError, create_root_ca, make_csr, new_node_key
from swarmnode.actors.ca.signing import sign_member_certificate
from swarmnode.actors.raft.actor import initial_snapshot, raft_dir
from swarmnode.actors.runtime import CurveKeys
from swarmnode.actors.store.core import StoreCore
from swarmnode.actors.store.objects import CLUSTER_ID, ClusterView, NodeView
from swarmnode.actors.store.transactions import Create, Transaction, new_txn_id
from swarmnode.actors.store.wal import HardState, WriteAheadLog, write_snapshot
from swarmnode.transport import generate_keypair

from .identity import new_node_id, write_private
from .swarm_state import CERT_DIR, ManagerRecord, NodeCertificate, NodeState, save_node_state, write_certificate

__all__ = ["FoundingOptions", "found_swarm"]

DEFAULT_CERT_EXPIRY_S = 90 * 24 * 3600.0  # Docker's default node certificate expiry
DEFAULT_HEARTBEAT_S = 5.0  # Docker's --dispatcher-heartbeat default
FIRST_INDEX = 1
FIRST_TERM = 1


@dataclass(frozen=True, slots=True)
class FoundingOptions:
    advertise_addr: str
    hostname: str
    cert_expiry_s: float = DEFAULT_CERT_EXPIRY_S
    heartbeat_period_s: float = DEFAULT_HEARTBEAT_S
    external_ca: ExternalCA | None = None
    external_ca_cert: bytes | None = None  # the external CA's root certificate (PEM)
    segment_bytes: int = 64 * 1024 * 1024


def found_swarm(state_dir: Path, options: FoundingOptions) -> NodeState:
    """Create a one-manager swarm in ``state_dir``; return the manager's state."""
    now = datetime.now(UTC)
    cluster_id = new_node_id()
    node_id = new_node_id()
    public, secret = generate_keypair()
    key_pem = new_node_key()
    csr = make_csr(key_pem)
    if options.external_ca is None:
        root = create_root_ca(cluster_id, now)
        root_cert, root_key = root.cert_pem, root.key_pem
    else:
        if options.external_ca_cert is None:
            raise ValueError("an external CA needs its root certificate (--external-ca-cert FILE)")
        root_cert, root_key = options.external_ca_cert, None
        cluster_id = cluster_id_of_root(root_cert)
    cluster = ClusterView(
        cluster_id=cluster_id,
        cert_expiry_s=options.cert_expiry_s,
        heartbeat_period_s=options.heartbeat_period_s,
        external_ca={"protocol": options.external_ca.protocol, "url": options.external_ca.url}
        if options.external_ca
        else None,
        root_cert=root_cert,
        root_key=root_key,
        root_intermediates=b"",
        trust_pem=root_cert,
        rotation="",
        worker_secret=new_secret(),
        manager_secret=new_secret(),
        revoked={},
    )
    # The swarm's root signs the first certificate as it will every later one (or its external CA).
    try:
        chain, info = sign_member_certificate(cluster, csr, node_id=node_id, role="manager", curve_key=public, now=now)
    except CertificateError as exc:
        if options.external_ca is None:
            raise  # our own root made a certificate that fails its own checks: a bug
        raise ValueError(
            f"the external CA at {options.external_ca.url} signed a certificate that the root given with "
            f"--external-ca-cert does not vouch for ({exc}); pass that CA's own root certificate"
        ) from None
    node = NodeView(
        node_id=node_id,
        role="manager",
        availability="active",
        labels={},
        state="ready",
        hostname=options.hostname,
        addr=options.advertise_addr,
        certificate=chain,
        cert_role="manager",
        cert_expiry=info.not_after.timestamp(),
        curve_key=public.decode(),
        issuer=info.issuer_digest,
    )
    # A half-founded swarm from an earlier crash holds no node.json: start over cleanly.
    directory = raft_dir(state_dir)
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(mode=0o700, parents=True)
    store = StoreCore()
    first = Transaction(
        ops=(
            Create("cluster", CLUSTER_ID, cluster.spec(), cluster.status()),
            Create("node", node_id, node.spec(), node.status()),
        ),
        now=time.time(),
        txn_id=new_txn_id(random.SystemRandom()),
    )
    result = store.apply(FIRST_INDEX, first)
    assert result.ok, result.error
    # The Store at index 1 is the swarm's first Raft snapshot, with this manager its one voter;
    # the log starts after it, in term 1 with this manager's own vote.
    write_snapshot(directory, FIRST_INDEX, initial_snapshot(store, node_id))
    wal, _ = WriteAheadLog.open(directory, segment_max_bytes=options.segment_bytes)
    try:
        wal.truncate_suffix(FIRST_INDEX + 1)
        wal.append([], hard_state=HardState(term=FIRST_TERM, vote=node_id, commit=FIRST_INDEX))
    finally:
        wal.close()
    write_certificate(state_dir, NodeCertificate(key_pem=key_pem, chain_pem=chain, trust_pem=root_cert))
    if root_key is not None:
        write_private(state_dir / CERT_DIR / "root-ca.key", root_key)
    state = NodeState(
        node_id=node_id,
        role="manager",
        cluster_id=cluster_id,
        advertise_addr=options.advertise_addr,
        hostname=options.hostname,
        keys=CurveKeys(public=public, secret=secret),
        managers=(ManagerRecord(node_id, options.advertise_addr, public.decode()),),
    )
    save_node_state(state_dir, state)
    return state
