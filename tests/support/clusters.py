"""Cluster objects for tests that need a swarm's settings without a swarm."""

from __future__ import annotations

from datetime import datetime

from swarmnode.actors.ca import create_root_ca
from swarmnode.actors.store.objects import ClusterView


def cluster_with_new_root(cluster_id: str, now: datetime, *, cert_expiry_s: float = 3600.0) -> ClusterView:
    """A cluster whose root CA (also its whole trust bundle) is made now; no external CA, no rotation."""
    root = create_root_ca(cluster_id, now)
    return ClusterView(
        cluster_id=cluster_id,
        cert_expiry_s=cert_expiry_s,
        heartbeat_period_s=5.0,
        external_ca=None,
        root_cert=root.cert_pem,
        root_key=root.key_pem,
        root_intermediates=b"",
        trust_pem=root.cert_pem,
        rotation="",
        worker_secret="00" * 16,
        manager_secret="11" * 16,
        revoked={},
    )
