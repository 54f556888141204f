"""Sign a member's certificate with the swarm's own root or relay it to the external CA.

The one place that makes this choice, for the founder's first certificate and for every later
join and renewal. Relaying is I/O (an HTTP request), which is why this is not in core.py.
"""

from __future__ import annotations

from datetime import datetime

from swarmnode.actors.store.objects import ClusterView

from .cfssl import CfsslSigner
from .core import sign_for_node, verify_member_certificate
from .pki import NodeCertInfo, as_role

__all__ = ["sign_member_certificate"]


def sign_member_certificate(
    cluster: ClusterView, csr: bytes, *, node_id: str, role: str, curve_key: bytes, now: datetime
) -> tuple[bytes, NodeCertInfo]:
    """Sign a member's certificate with the swarm's root or its external CA; check it as peers will.

    Raises ExternalCAError when the external CA fails, ValueError or CertificateError when the
    request, or the certificate that came back, is unusable.
    """
    if cluster.external_ca is None:
        chain = sign_for_node(cluster, csr, node_id=node_id, role=role, curve_key=curve_key, now=now)
    else:
        chain = CfsslSigner(cluster.external_ca["url"]).sign(
            csr, node_id=node_id, role=as_role(role), cluster_id=cluster.cluster_id, curve_public_key=curve_key
        )
    return chain, verify_member_certificate(chain, cluster.trust_pem, cluster.cluster_id, now)
