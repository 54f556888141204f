"""The CertAuthority's decisions, without I/O: which role a join token grants, what to sign.

swarmkit's rules: a token is ``SWMTKN-1-<digest of the root CA>-<secret>``; the digest lets the
joiner check the CA it was given, the secret says which role the holder may join as. Rotating a
token replaces its secret, so a rotated token is refused at once. During a root CA rotation a
token naming either root is accepted (nodes may hold a token printed before the rotation).
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from cryptography import x509
from cryptography.x509.oid import NameOID

from swarmnode.actors.store.core import StoreCore
from swarmnode.actors.store.objects import ClusterView, NodeView, nodes_of

from .pki import (
    CertificateError,
    NodeCertInfo,
    RootCA,
    as_role,
    ca_digest,
    load_root_ca,
    sign_node_certificate,
    verify_node_certificate,
)
from .tokens import SECRET_BYTES, TokenError, make_join_token, parse_join_token, secret_matches

__all__ = [
    "JoinRefused",
    "cluster_id_of_root",
    "cluster_root",
    "finish_rotation",
    "join_tokens",
    "new_secret",
    "role_for_token",
    "rotation_detail",
    "rotation_progress",
    "sign_for_node",
    "split_pem",
    "trust_digest",
    "trust_digests",
    "verify_member_certificate",
]

_PEM_END = b"-----END CERTIFICATE-----"


class JoinRefused(Exception):
    """A join that must be refused; the text tells the joiner what was wrong."""


def new_secret() -> str:
    """Return a fresh join-token secret (16 random bytes, hex)."""
    return secrets.token_bytes(SECRET_BYTES).hex()


def split_pem(bundle: bytes) -> list[bytes]:
    """Split a PEM bundle into its certificates."""
    parts = (part.strip() for part in bundle.split(_PEM_END))
    return [part + b"\n" + _PEM_END + b"\n" for part in parts if part]


def trust_digest(trust_pem: bytes) -> str:
    """Name a trust bundle by its bytes, so a node and a manager can tell whether they agree."""
    return hashlib.sha256(trust_pem).hexdigest()[:16]


def cluster_id_of_root(cert_pem: bytes) -> str:
    """Return the cluster id a root CA certificate names (its subject O)."""
    cert = x509.load_pem_x509_certificate(cert_pem)
    names = cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
    if len(names) != 1:
        raise CertificateError("the root CA certificate names no cluster (exactly one subject O is required)")
    return str(names[0].value)


def trust_digests(cluster: ClusterView) -> list[str]:
    """Digests of every root the swarm trusts now, the current root first."""
    current = ca_digest(cluster.root_cert)
    others = [ca_digest(c) for c in split_pem(cluster.trust_pem)]
    return [current, *[d for d in others if d != current]]


def join_tokens(cluster: ClusterView) -> dict[str, str]:
    """The current worker and manager join tokens (they name the current root)."""
    digest = ca_digest(cluster.root_cert)
    return {
        "worker": make_join_token(digest, bytes.fromhex(cluster.worker_secret)),
        "manager": make_join_token(digest, bytes.fromhex(cluster.manager_secret)),
    }


def role_for_token(presented: str, cluster: ClusterView) -> str:
    """Return the role ``presented`` lets its holder join as; raise JoinRefused otherwise."""
    try:
        token = parse_join_token(presented)
    except TokenError as exc:
        raise JoinRefused(f"malformed join token: {exc}") from None
    digests = trust_digests(cluster)
    for digest in digests:
        for role, secret in (("worker", cluster.worker_secret), ("manager", cluster.manager_secret)):
            if secret_matches(token, make_join_token(digest, bytes.fromhex(secret))):
                return role
    if token.ca_digest not in digests:
        raise JoinRefused("the join token is for another swarm: its CA digest does not match this swarm's root CA")
    raise JoinRefused(
        "the join token is not valid for this swarm: it is wrong or has been rotated; "
        "get the current one with `swarm-node join-token worker` (or `manager`) on a manager"
    )


def cluster_root(cluster: ClusterView) -> RootCA:
    """The root that signs new certificates (with the cross-signed intermediate during a rotation)."""
    return load_root_ca(cluster.root_cert, cluster.root_key, cluster.root_intermediates)


def sign_for_node(
    cluster: ClusterView,
    csr_pem: bytes,
    *,
    node_id: str,
    role: str,
    curve_key: bytes,
    now: datetime,
) -> bytes:
    """Sign a node certificate with the swarm's own root (signing.py relays to an external CA)."""
    return sign_node_certificate(
        cluster_root(cluster),
        csr_pem,
        node_id=node_id,
        role=as_role(role),
        cluster_id=cluster.cluster_id,
        curve_public_key=curve_key,
        now=now,
        validity=timedelta(seconds=cluster.cert_expiry_s),
    )


def verify_member_certificate(chain_pem: bytes, trust_pem: bytes, cluster_id: str, now: datetime) -> NodeCertInfo:
    """Verify a chain against a trust bundle; return what it vouches for or raise CertificateError."""
    roots = split_pem(trust_pem)
    if not roots:
        raise CertificateError("no trusted root CA certificate")
    return verify_node_certificate(chain_pem, trusted_roots=roots, cluster_id=cluster_id, now=now)


PENDING_SHOWN = 20  # nodes named as not on the new root yet, at most


def rotation_progress(cluster: ClusterView, core: StoreCore) -> tuple[int, int]:
    """Return (nodes whose certificate the current root signed, all nodes)."""
    total, pending = _not_on_root(cluster, core)
    return total - len(pending), total


def rotation_detail(cluster: ClusterView, core: StoreCore) -> tuple[int, int, tuple[NodeView, ...]]:
    """Return the progress and the first PENDING_SHOWN nodes not on the current root."""
    total, pending = _not_on_root(cluster, core)
    return total - len(pending), total, tuple(pending[:PENDING_SHOWN])


def _not_on_root(cluster: ClusterView, core: StoreCore) -> tuple[int, list[NodeView]]:
    """Return how many nodes there are, and those whose certificate the current root did not sign."""
    current = ca_digest(cluster.root_cert)
    nodes = nodes_of(core)
    return len(nodes), [n for n in nodes if n.issuer != current]


def finish_rotation(cluster: ClusterView) -> dict[str, object]:
    """The cluster status once every node moved to the new root: trust it alone."""
    return cluster.status() | {"trust_pem": cluster.root_cert, "root_intermediates": b"", "rotation": ""}
