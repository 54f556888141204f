"""Issue and check the swarm's X.509 identities: root CA, node certificates, rotation.

Rules this module keeps (swarmkit's ca/ package is the reference design):

- The root CA is ECDSA P-256, self-signed, CN "swarm-node-ca", O = cluster id.
- A node certificate says who the node is and nothing else comes from the node: the CA takes
  only the public key out of a CSR (after checking the CSR's own signature) and writes the
  subject itself: CN = node id, OU = swarm-manager | swarm-worker, O = cluster id.
- The node's CURVE public key is bound inside the certificate as one DNS subject-alternative
  name, ``<base32 of the 32 raw key bytes>.curve.swarm-node.invalid`` (see docs/pki.md: it is
  the one encoding that an external CFSSL signer carries through unchanged).
- Verification walks the chain from the leaf to one of the trusted roots by signature, so a
  leaf signed by a new root and presented with the cross-signed intermediate is accepted by a
  node that still trusts only the old root (root rotation, as ``docker swarm ca --rotate``).
- Pure: no clock (``now`` is passed in), no threads, no I/O.
"""

from __future__ import annotations

import base64
import hashlib
import random
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final, Literal, TypeAlias, cast

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

Role: TypeAlias = Literal["manager", "worker"]

ROOT_CN: Final = "swarm-node-ca"
MANAGER_OU: Final = "swarm-manager"
WORKER_OU: Final = "swarm-worker"
ROLE_TO_OU: Final[dict[str, str]] = {"manager": MANAGER_OU, "worker": WORKER_OU}
OU_TO_ROLE: Final[dict[str, Role]] = {MANAGER_OU: "manager", WORKER_OU: "worker"}

CURVE_SAN_SUFFIX: Final = ".curve.swarm-node.invalid"
CURVE_KEY_RAW_BYTES: Final = 32
CURVE_KEY_Z85_BYTES: Final = 40
CURVE_KEY_B32_CHARS: Final = 52

DEFAULT_ROOT_VALIDITY: Final = timedelta(days=20 * 365)
DEFAULT_NODE_VALIDITY: Final = timedelta(days=90)  # swarmkit's default node certificate expiry
MIN_NODE_VALIDITY: Final = timedelta(minutes=30)
# Certificates start a little in the past so that a peer whose clock runs behind accepts them.
CLOCK_SKEW_BACKDATE: Final = timedelta(minutes=5)
RENEW_FROM_FRACTION: Final = 0.5
RENEW_TO_FRACTION: Final = 0.8
MAX_CHAIN_INTERMEDIATES: Final = 4
# X.509 upper bounds for CN and O (RFC 5280 ub-common-name, ub-organization-name).
MAX_NAME_CHARS: Final = 64

_CSR_PLACEHOLDER_CN: Final = "swarm-node-csr"


class CertificateError(Exception):
    """A certificate that this swarm must not accept; ``reason`` says why in plain words."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class CSRError(ValueError):
    """A certificate signing request that the CA cannot sign."""


@dataclass(frozen=True, slots=True)
class RootCA:
    """The swarm's root CA; ``key_pem`` is None when an external CA holds the key.

    ``intermediates_pem`` is appended to every chain this CA signs: during a root rotation the
    signer is the new root and the intermediate is the new root cross-signed by the old one, so
    nodes that still trust only the old root accept the new leaves.
    """

    cert_pem: bytes
    key_pem: bytes | None
    intermediates_pem: bytes = b""

    @property
    def digest(self) -> str:
        """The sha256 hex digest of the root certificate, as carried in join tokens."""
        return ca_digest(self.cert_pem)

    @property
    def can_sign(self) -> bool:
        """Whether this CA holds its private key (False in external CA mode)."""
        return self.key_pem is not None


@dataclass(frozen=True, slots=True)
class NodeCertInfo:
    """What a verified node certificate vouches for."""

    node_id: str
    role: Role
    cluster_id: str
    curve_public_key: bytes  # z85 text, 40 bytes, as zmq.curve_keypair() returns
    not_before: datetime
    not_after: datetime
    serial: int
    issuer_digest: str  # ca_digest of the trusted root that anchors the chain


# ------------------------------------------------------------------------------ durations


def format_duration(value: timedelta) -> str:
    """Render a duration compactly for messages: ``1h30m``, ``10m``, ``90d``."""
    total = int(value.total_seconds())
    sign = "-" if total < 0 else ""
    total = abs(total)
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        count, total = divmod(total, size)
        if count:
            parts.append(f"{count}{unit}")
    return sign + ("".join(parts) or "0s")


def validate_expiry(validity: timedelta, *, minimum: timedelta = MIN_NODE_VALIDITY) -> None:
    """Refuse a node certificate expiry chosen by a user that is below ``minimum``."""
    if validity < minimum:
        raise ValueError(
            f"certificate expiry {format_duration(validity)} is below the minimum of "
            f"{format_duration(minimum)}; choose an expiry of at least {format_duration(minimum)}"
        )


def renewal_time(not_before: datetime, not_after: datetime, rng: random.Random) -> datetime:
    """Pick when to renew: a uniformly random 50-80% of the lifetime, so renewals do not herd.

    The lifetime counts from issuance: ``not_before`` is back-dated for clock skew (by us and by
    CFSSL alike), and counting from it would renew short-lived certificates at once, forever.
    """
    issued = min(not_before + CLOCK_SKEW_BACKDATE, not_after)
    fraction = rng.uniform(RENEW_FROM_FRACTION, RENEW_TO_FRACTION)
    return issued + (not_after - issued) * fraction


# ------------------------------------------------------------------------------ CURVE binding

_Z85_ALPHABET: Final = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#"
_Z85_INDEX: Final = {c: i for i, c in enumerate(_Z85_ALPHABET)}


def _z85_decode(text: bytes) -> bytes:
    if len(text) % 5:
        raise ValueError(f"z85 text length must be a multiple of 5, got {len(text)}")
    out = bytearray()
    for start in range(0, len(text), 5):
        value = 0
        for char in text[start : start + 5]:
            digit = _Z85_INDEX.get(char)
            if digit is None:
                raise ValueError(f"{chr(char)!r} is not a z85 character")
            value = value * 85 + digit
        if value >= 1 << 32:
            raise ValueError("z85 group out of range")
        out += value.to_bytes(4, "big")
    return bytes(out)


def _z85_encode(raw: bytes) -> bytes:
    if len(raw) % 4:
        raise ValueError(f"z85 input length must be a multiple of 4, got {len(raw)}")
    out = bytearray()
    for start in range(0, len(raw), 4):
        value = int.from_bytes(raw[start : start + 4], "big")
        group = bytearray(5)
        for pos in range(4, -1, -1):
            value, digit = divmod(value, 85)
            group[pos] = _Z85_ALPHABET[digit]
        out += group
    return bytes(out)


def curve_key_san(curve_public_key: bytes) -> str:
    """Return the DNS name that binds a z85 CURVE public key into a certificate."""
    if not isinstance(curve_public_key, bytes) or len(curve_public_key) != CURVE_KEY_Z85_BYTES:
        raise ValueError(
            f"a CURVE public key must be z85 text of {CURVE_KEY_Z85_BYTES} bytes (as zmq.curve_keypair() "
            f"returns), got {curve_public_key!r}"
        )
    try:
        raw = _z85_decode(curve_public_key)
    except ValueError as exc:
        raise ValueError(f"CURVE public key {curve_public_key!r} is not valid z85: {exc}") from None
    label = base64.b32encode(raw).decode("ascii").rstrip("=").lower()
    return label + CURVE_SAN_SUFFIX


def curve_key_from_san(name: str) -> bytes:
    """Return the z85 CURVE public key bound by ``name``; ValueError when it is garbled."""
    lowered = name.lower()  # DNS names compare without case
    if not lowered.endswith(CURVE_SAN_SUFFIX):
        raise ValueError(f"{name!r} does not end with {CURVE_SAN_SUFFIX!r}")
    label = lowered[: -len(CURVE_SAN_SUFFIX)]
    if len(label) != CURVE_KEY_B32_CHARS:
        raise ValueError(f"the key label has {len(label)} characters, expected {CURVE_KEY_B32_CHARS}")
    try:
        raw = base64.b32decode(label.upper() + "====")
    except ValueError:
        raise ValueError("the key label is not base32") from None
    # Only the canonical spelling is accepted, so one key has exactly one name.
    if base64.b32encode(raw).decode("ascii").rstrip("=").lower() != label:
        raise ValueError("the key label is not canonical base32")
    return _z85_encode(raw)


# ------------------------------------------------------------------------------ keys and PEM


def _private_key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _load_signing_key(key_pem: bytes) -> ec.EllipticCurvePrivateKey:
    key = serialization.load_pem_private_key(key_pem, password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ValueError(f"the CA key must be an ECDSA key, got {type(key).__name__}")
    return key


def _load_certs(pem: bytes, what: str) -> list[x509.Certificate]:
    try:
        certs = x509.load_pem_x509_certificates(pem)
    except ValueError:
        raise CertificateError(f"{what} is not PEM-encoded X.509") from None
    return certs


def _load_one_cert(pem: bytes) -> x509.Certificate:
    try:
        return x509.load_pem_x509_certificate(pem)
    except ValueError:
        raise ValueError("not a PEM-encoded X.509 certificate") from None


def ca_digest(cert_pem: bytes) -> str:
    """Return the sha256 hex digest of the (first) certificate's DER, as swarmkit's join tokens use."""
    cert = _load_one_cert(cert_pem)
    return hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()


def new_node_key() -> bytes:
    """Return a new node private key (ECDSA P-256, PKCS#8 PEM)."""
    return _private_key_pem(ec.generate_private_key(ec.SECP256R1()))


def make_csr(key_pem: bytes) -> bytes:
    """Return a CSR for ``key_pem``; its subject is a placeholder because the CA decides it."""
    key = _load_signing_key(key_pem)
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, _CSR_PLACEHOLDER_CN)]))
        .sign(key, hashes.SHA256())
    )
    return csr.public_bytes(serialization.Encoding.PEM)


# ------------------------------------------------------------------------------ the CA side


def as_role(value: str) -> Role:
    """Return ``value`` as a node role; ValueError unless it is manager or worker."""
    if value not in ROLE_TO_OU:
        raise ValueError(f"role must be 'manager' or 'worker', got {value!r}")
    return cast(Role, value)


def _check_name(value: str, what: str) -> None:
    if not value or len(value) > MAX_NAME_CHARS:
        raise ValueError(f"{what} must be 1-{MAX_NAME_CHARS} characters, got {value!r}")


def _require_aware(now: datetime) -> None:
    if now.tzinfo is None:
        raise ValueError("now must be a timezone-aware datetime (UTC)")


def _root_name(cluster_id: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, cluster_id),
            x509.NameAttribute(NameOID.COMMON_NAME, ROOT_CN),
        ]
    )


def _ca_key_usage() -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=True,
        crl_sign=True,
        encipher_only=False,
        decipher_only=False,
    )


def create_root_ca(cluster_id: str, now: datetime, validity: timedelta = DEFAULT_ROOT_VALIDITY) -> RootCA:
    """Create the self-signed root CA of a new swarm."""
    _check_name(cluster_id, "the cluster id")
    _require_aware(now)
    key = ec.generate_private_key(ec.SECP256R1())
    name = _root_name(cluster_id)
    # pathlen 1 leaves room for the cross-signed intermediate of a root rotation.
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - CLOCK_SKEW_BACKDATE)
        .not_valid_after(now + validity)
        .add_extension(x509.BasicConstraints(ca=True, path_length=1), critical=True)
        .add_extension(_ca_key_usage(), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return RootCA(cert_pem=cert.public_bytes(serialization.Encoding.PEM), key_pem=_private_key_pem(key))


def load_root_ca(cert_pem: bytes, key_pem: bytes | None = None, intermediates_pem: bytes = b"") -> RootCA:
    """Check a root CA read from disk or given by a user: a CA certificate and, if given, its key."""
    cert = _load_one_cert(cert_pem)
    try:
        constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        constraints = None
    if constraints is None or not constraints.ca:
        raise ValueError(f"{cert.subject.rfc4514_string()} is not a CA certificate (no basicConstraints CA:true)")
    if key_pem is not None:
        key = _load_signing_key(key_pem)
        if key.public_key() != cert.public_key():
            raise ValueError("the CA key does not match the CA certificate")
    return RootCA(
        cert_pem=cert.public_bytes(serialization.Encoding.PEM), key_pem=key_pem, intermediates_pem=intermediates_pem
    )


def _authority_key_id(issuer: x509.Certificate) -> x509.AuthorityKeyIdentifier:
    try:
        ski = issuer.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    except x509.ExtensionNotFound:
        return x509.AuthorityKeyIdentifier.from_issuer_public_key(cast(ec.EllipticCurvePublicKey, issuer.public_key()))
    return x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski)


def _parse_csr(csr_pem: bytes) -> ec.EllipticCurvePublicKey:
    try:
        csr = x509.load_pem_x509_csr(csr_pem)
    except ValueError:
        raise CSRError("the certificate signing request is not a PEM-encoded PKCS#10 CSR") from None
    if not csr.is_signature_valid:
        raise CSRError("the certificate signing request's signature does not match its key")
    key = csr.public_key()
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP256R1):
        raise CSRError("the certificate signing request must carry an ECDSA P-256 key")
    return key


def sign_node_certificate(
    root: RootCA,
    csr_pem: bytes,
    *,
    node_id: str,
    role: Role,
    cluster_id: str,
    curve_public_key: bytes,
    now: datetime,
    validity: timedelta = DEFAULT_NODE_VALIDITY,
) -> bytes:
    """Issue a node certificate for the key in ``csr_pem``; return the PEM chain, leaf first.

    Only the public key comes from the CSR: the subject, the CURVE binding and the lifetime are
    the CA's decision. The lifetime is cut at the CA's own expiry.
    """
    if root.key_pem is None:
        raise ValueError("this root CA has no private key (external CA mode): relay the CSR to the external CA")
    role = as_role(role)  # callers from outside typed code may pass any string
    _check_name(node_id, "the node id")
    _check_name(cluster_id, "the cluster id")
    _require_aware(now)
    if validity <= timedelta(0):
        raise ValueError(f"certificate validity must be positive, got {format_duration(validity)}")
    san = curve_key_san(curve_public_key)
    public_key = _parse_csr(csr_pem)
    issuer = _load_one_cert(root.cert_pem)
    signing_key = _load_signing_key(root.key_pem)
    not_after = min(now + validity, issuer.not_valid_after_utc)
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, cluster_id),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, ROLE_TO_OU[role]),
            x509.NameAttribute(NameOID.COMMON_NAME, node_id),
        ]
    )
    leaf = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - CLOCK_SKEW_BACKDATE)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=True,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
            critical=False,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(_authority_key_id(issuer), critical=False)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(san)]), critical=False)
        .sign(signing_key, hashes.SHA256())
    )
    return leaf.public_bytes(serialization.Encoding.PEM) + root.intermediates_pem


def cross_sign(new_root: RootCA, old_root: RootCA, now: datetime) -> bytes:
    """Return the new root as an intermediate signed by the old root (PEM), for a root rotation.

    The intermediate has the new root's subject, public key and key identifier, so a leaf the new
    root signed chains through it to the old root.
    """
    _require_aware(now)
    if old_root.key_pem is None:
        raise ValueError("the old root CA has no private key, so it cannot cross-sign the new root")
    new_cert = _load_one_cert(new_root.cert_pem)
    old_cert = _load_one_cert(old_root.cert_pem)
    old_key = _load_signing_key(old_root.key_pem)
    new_public = new_cert.public_key()
    if not isinstance(new_public, ec.EllipticCurvePublicKey):
        raise ValueError("the new root CA must have an ECDSA key")
    not_after = min(new_cert.not_valid_after_utc, old_cert.not_valid_after_utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(new_cert.subject)
        .issuer_name(old_cert.subject)
        .public_key(new_public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - CLOCK_SKEW_BACKDATE)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_ca_key_usage(), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(new_public), critical=False)
        .add_extension(_authority_key_id(old_cert), critical=False)
        .sign(old_key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM)


# ------------------------------------------------------------------------------ verification


def _single_attribute(name: x509.Name, oid: x509.ObjectIdentifier) -> str | None:
    values = name.get_attributes_for_oid(oid)
    if len(values) != 1:
        return None
    value = values[0].value
    return value if isinstance(value, str) else None


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        return cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        return False


def _issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def _anchor(
    leaf: x509.Certificate, intermediates: list[x509.Certificate], roots: list[x509.Certificate]
) -> tuple[x509.Certificate, list[x509.Certificate]] | None:
    """Find a trusted root the leaf chains to; return it and the intermediates used, leaf side first.

    Names alone cannot decide: an old and a new root of one swarm have the same subject, so each
    candidate issuer is tried by signature.
    """
    path: list[x509.Certificate] = []
    current = leaf
    for _ in range(MAX_CHAIN_INTERMEDIATES + 1):
        for root in roots:
            if _issued_by(current, root):
                return root, path
        step = next(
            (c for c in intermediates if c not in path and _is_ca(c) and _issued_by(current, c)),
            None,
        )
        if step is None:
            return None
        path.append(step)
        current = step
    return None


def _curve_key(leaf: x509.Certificate, who: str) -> bytes:
    try:
        names = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(
            x509.DNSName
        )
    except x509.ExtensionNotFound:
        names = []
    bound = [n for n in names if n.lower().endswith(CURVE_SAN_SUFFIX)]
    if not bound:
        raise CertificateError(f"certificate of {who} carries no CURVE public key")
    if len(bound) > 1:
        raise CertificateError(f"certificate of {who} carries {len(bound)} CURVE public keys; expected exactly one")
    try:
        return curve_key_from_san(bound[0])
    except ValueError as exc:
        raise CertificateError(
            f"certificate of {who} has a garbled CURVE public key binding {bound[0]!r}: {exc}"
        ) from None


def _when(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def verify_node_certificate(
    chain_pem: bytes,
    *,
    trusted_roots: Sequence[bytes],
    cluster_id: str,
    now: datetime,
    revoked_node_ids: Collection[str] = (),
) -> NodeCertInfo:
    """Check a node's certificate chain; return what it vouches for or raise CertificateError."""
    _require_aware(now)
    certs = _load_certs(chain_pem, "the node certificate")
    if not certs:
        raise CertificateError("the node certificate chain is empty")
    leaf, intermediates = certs[0], certs[1:]
    node_id = _single_attribute(leaf.subject, NameOID.COMMON_NAME)
    if not node_id:
        raise CertificateError("certificate has no node id (exactly one subject CN is required)")
    who = f"node {node_id}"
    cert_cluster = _single_attribute(leaf.subject, NameOID.ORGANIZATION_NAME)
    if cert_cluster is None:
        raise CertificateError(f"certificate of {who} names no cluster (exactly one subject O is required)")
    if cert_cluster != cluster_id:
        raise CertificateError(f"certificate of {who} is for cluster {cert_cluster}, this is cluster {cluster_id}")

    roots = [cert for pem in trusted_roots for cert in _load_certs(pem, "a trusted root")]
    found = _anchor(leaf, intermediates, roots)
    if found is None:
        raise CertificateError(f"certificate of {who} is not signed by this swarm's CA")
    anchor, path = found
    if _is_ca(leaf):
        raise CertificateError(f"certificate of {who} is a CA certificate, not a node certificate")

    not_before, not_after = leaf.not_valid_before_utc, leaf.not_valid_after_utc
    if now < not_before:
        raise CertificateError(f"certificate of {who} is not valid until {_when(not_before)}")
    if now >= not_after:
        raise CertificateError(f"certificate of {who} expired at {_when(not_after)}")
    for cert in [*path, anchor]:
        if now < cert.not_valid_before_utc or now >= cert.not_valid_after_utc:
            raise CertificateError(
                f"certificate of {who} chains through CA {cert.subject.rfc4514_string()} which is valid only "
                f"from {_when(cert.not_valid_before_utc)} to {_when(cert.not_valid_after_utc)}"
            )

    ou = _single_attribute(leaf.subject, NameOID.ORGANIZATIONAL_UNIT_NAME)
    role = OU_TO_ROLE.get(ou or "")
    if role is None:
        raise CertificateError(f"certificate of {who} has role OU {ou!r}; expected {MANAGER_OU!r} or {WORKER_OU!r}")
    curve_public_key = _curve_key(leaf, who)
    if node_id in revoked_node_ids:
        raise CertificateError(f"{who} was removed from the swarm")
    return NodeCertInfo(
        node_id=node_id,
        role=role,
        cluster_id=cert_cluster,
        curve_public_key=curve_public_key,
        not_before=not_before,
        not_after=not_after,
        serial=leaf.serial_number,
        issuer_digest=hashlib.sha256(anchor.public_bytes(serialization.Encoding.DER)).hexdigest(),
    )
