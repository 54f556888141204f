"""The shape of the node and cluster objects in the Store, in one place.

The Store keeps plain maps (``spec``: what the operator asked for; ``status``: what the swarm
observed); these views give every actor one reading of them, so that a field is named once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .core import StoreCore, StoredObject

__all__ = [
    "AVAILABILITIES",
    "CLUSTER_ID",
    "ClusterView",
    "NodeView",
    "cluster_of",
    "nodes_of",
]

CLUSTER_ID = "default"  # one cluster object per swarm, as Docker's
AVAILABILITIES = ("active", "pause", "drain")


@dataclass(frozen=True, slots=True)
class ClusterView:
    """The swarm-wide settings and CA material (object kind "cluster", id "default")."""

    cluster_id: str
    cert_expiry_s: float
    heartbeat_period_s: float
    external_ca: dict[str, str] | None
    root_cert: bytes
    root_key: bytes | None
    root_intermediates: bytes  # the cross-signed new root while a rotation runs
    trust_pem: bytes  # every root a node must trust now (old and new during a rotation)
    rotation: str  # "" or "rotating"
    worker_secret: str
    manager_secret: str
    revoked: dict[str, str]  # node id -> its CURVE key: removed nodes, refused from then on
    version: int = 0

    @classmethod
    def of(cls, obj: StoredObject) -> ClusterView:
        spec, status = obj.spec, obj.status
        return cls(
            cluster_id=str(spec["cluster_id"]),
            cert_expiry_s=float(spec["cert_expiry_s"]),
            heartbeat_period_s=float(spec["heartbeat_period_s"]),
            external_ca=dict(spec["external_ca"]) if spec.get("external_ca") else None,
            root_cert=bytes(status["root_cert"]),
            root_key=bytes(status["root_key"]) if status.get("root_key") else None,
            root_intermediates=bytes(status.get("root_intermediates", b"")),
            trust_pem=bytes(status["trust_pem"]),
            rotation=str(status.get("rotation", "")),
            worker_secret=str(status["worker_secret"]),
            manager_secret=str(status["manager_secret"]),
            revoked={str(k): str(v) for k, v in dict(status.get("revoked", {})).items()},
            version=obj.version,
        )

    def spec(self) -> dict[str, Any]:
        return {
            "cluster_id": self.cluster_id,
            "cert_expiry_s": self.cert_expiry_s,
            "heartbeat_period_s": self.heartbeat_period_s,
            "external_ca": self.external_ca,
        }

    def status(self) -> dict[str, Any]:
        return {
            "root_cert": self.root_cert,
            "root_key": self.root_key,
            "root_intermediates": self.root_intermediates,
            "trust_pem": self.trust_pem,
            "rotation": self.rotation,
            "worker_secret": self.worker_secret,
            "manager_secret": self.manager_secret,
            "revoked": dict(self.revoked),
        }


@dataclass(frozen=True, slots=True)
class NodeView:
    """One node (object kind "node", id = node id)."""

    node_id: str
    role: str  # desired role (spec)
    availability: str
    labels: dict[str, str]
    state: str  # ready | down | unknown
    hostname: str
    addr: str
    certificate: bytes
    cert_role: str
    cert_expiry: float  # seconds since the epoch
    curve_key: str
    issuer: str  # digest of the root that signed the certificate
    message: str = ""
    cannot_manage: str = ""  # why it could not run as a manager (its heartbeats say), or ""
    version: int = 0
    created_at: float = 0.0
    updated_at: float = 0.0

    @classmethod
    def of(cls, obj: StoredObject) -> NodeView:
        spec, status = obj.spec, obj.status
        return cls(
            node_id=obj.id,
            role=str(spec.get("role", "worker")),
            availability=str(spec.get("availability", "active")),
            labels=dict(spec.get("labels", {})),
            state=str(status.get("state", "unknown")),
            hostname=str(status.get("hostname", "")),
            addr=str(status.get("addr", "")),
            certificate=bytes(status.get("certificate", b"")),
            cert_role=str(status.get("cert_role", "")),
            cert_expiry=float(status.get("cert_expiry", 0.0)),
            curve_key=str(status.get("curve_key", "")),
            issuer=str(status.get("issuer", "")),
            message=str(status.get("message", "")),
            cannot_manage=str(status.get("cannot_manage", "")),
            version=obj.version,
            created_at=obj.created_at,
            updated_at=obj.updated_at,
        )

    def spec(self) -> dict[str, Any]:
        return {"role": self.role, "availability": self.availability, "labels": dict(self.labels)}

    def status(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "hostname": self.hostname,
            "addr": self.addr,
            "certificate": self.certificate,
            "cert_role": self.cert_role,
            "cert_expiry": self.cert_expiry,
            "curve_key": self.curve_key,
            "issuer": self.issuer,
            "message": self.message,
            "cannot_manage": self.cannot_manage,
        }


def cluster_of(core: StoreCore) -> ClusterView | None:
    """Read the swarm's settings; None before the founding entry is applied (a manager catching up)."""
    obj = core.get("cluster", CLUSTER_ID)
    return ClusterView.of(obj) if obj is not None else None


def nodes_of(core: StoreCore) -> list[NodeView]:
    """Read every node of the swarm, sorted by node id."""
    return [NodeView.of(o) for o in core.list("node")]
