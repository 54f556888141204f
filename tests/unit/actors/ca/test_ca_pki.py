"""Root CA, node certificates, the CURVE key binding, verification rules and root rotation."""

from __future__ import annotations

import hashlib
import random
from datetime import UTC, datetime, timedelta

import pytest
import zmq
import zmq.utils.z85
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from hypothesis import given
from hypothesis import strategies as st

from swarmnode.actors.ca import (
    CURVE_SAN_SUFFIX,
    MIN_NODE_VALIDITY,
    CertificateError,
    CSRError,
    NodeCertInfo,
    RootCA,
    ca_digest,
    create_root_ca,
    cross_sign,
    curve_key_from_san,
    curve_key_san,
    format_duration,
    load_root_ca,
    make_csr,
    new_node_key,
    renewal_time,
    sign_node_certificate,
    validate_expiry,
    verify_node_certificate,
)

NOW = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
CLUSTER = "clusterA"
DAY = timedelta(days=1)


@pytest.fixture(scope="module")
def root() -> RootCA:
    return create_root_ca(CLUSTER, NOW - DAY)


@pytest.fixture(scope="module")
def node_key() -> bytes:
    return new_node_key()


@pytest.fixture(scope="module")
def curve_public() -> bytes:
    return zmq.curve_keypair()[0]


def issue(root: RootCA, key_pem: bytes, curve: bytes, **overrides: object) -> bytes:
    kwargs: dict[str, object] = {
        "node_id": "node1",
        "role": "worker",
        "cluster_id": CLUSTER,
        "curve_public_key": curve,
        "now": NOW,
        "validity": DAY,
    }
    kwargs.update(overrides)
    return sign_node_certificate(root, make_csr(key_pem), **kwargs)  # type: ignore[arg-type]


def verify(chain: bytes, roots: list[bytes], **overrides: object) -> NodeCertInfo:
    kwargs: dict[str, object] = {"trusted_roots": roots, "cluster_id": CLUSTER, "now": NOW}
    kwargs.update(overrides)
    return verify_node_certificate(chain, **kwargs)  # type: ignore[arg-type]


def forge_leaf(
    root: RootCA,
    *,
    subject: list[tuple[x509.ObjectIdentifier, str]],
    sans: list[str] | None,
    ca: bool = False,
) -> bytes:
    """Sign an arbitrary leaf with the real root key: the shapes our signer never makes."""
    assert root.key_pem is not None
    root_key = serialization.load_pem_private_key(root.key_pem, None)
    assert isinstance(root_key, ec.EllipticCurvePrivateKey)
    issuer = x509.load_pem_x509_certificate(root.cert_pem)
    key = ec.generate_private_key(ec.SECP256R1())
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(oid, value) for oid, value in subject]))
        .issuer_name(issuer.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - DAY)
        .not_valid_after(NOW + DAY)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if sans is not None:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in sans]), critical=False)
    return builder.sign(root_key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)


STANDARD_SUBJECT = [
    (NameOID.ORGANIZATION_NAME, CLUSTER),
    (NameOID.ORGANIZATIONAL_UNIT_NAME, "swarm-worker"),
    (NameOID.COMMON_NAME, "node1"),
]


# ------------------------------------------------------------------------------ root CA


def test_root_ca_is_a_self_signed_p256_ca_named_after_the_cluster(root: RootCA) -> None:
    cert = x509.load_pem_x509_certificate(root.cert_pem)
    assert isinstance(cert.public_key(), ec.EllipticCurvePublicKey)
    assert isinstance(cert.public_key().curve, ec.SECP256R1)  # type: ignore[union-attr]
    cert.verify_directly_issued_by(cert)
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "swarm-node-ca"
    assert cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == CLUSTER
    constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints)
    assert constraints.critical and constraints.value.ca and constraints.value.path_length == 1
    usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.key_cert_sign and usage.crl_sign
    assert cert.not_valid_after_utc - (NOW - DAY) == timedelta(days=20 * 365)
    assert root.can_sign and root.key_pem is not None


def test_ca_digest_is_sha256_of_the_der_certificate(root: RootCA) -> None:
    der = x509.load_pem_x509_certificate(root.cert_pem).public_bytes(serialization.Encoding.DER)
    assert ca_digest(root.cert_pem) == hashlib.sha256(der).hexdigest() == root.digest


def test_load_root_ca_accepts_a_matching_pair_and_external_mode(root: RootCA) -> None:
    assert load_root_ca(root.cert_pem, root.key_pem) == root
    external = load_root_ca(root.cert_pem)
    assert external.key_pem is None and not external.can_sign


def test_load_root_ca_refuses_a_key_of_another_ca(root: RootCA) -> None:
    other = create_root_ca(CLUSTER, NOW)
    with pytest.raises(ValueError, match="does not match"):
        load_root_ca(root.cert_pem, other.key_pem)


def test_load_root_ca_refuses_a_leaf(root: RootCA, node_key: bytes, curve_public: bytes) -> None:
    with pytest.raises(ValueError, match="is not a CA certificate"):
        load_root_ca(issue(root, node_key, curve_public))


def test_external_mode_root_cannot_sign(root: RootCA, node_key: bytes, curve_public: bytes) -> None:
    with pytest.raises(ValueError, match="external CA mode"):
        issue(RootCA(root.cert_pem, None), node_key, curve_public)


def test_naive_now_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        create_root_ca(CLUSTER, datetime(2030, 1, 1))


# ------------------------------------------------------------------------------ signing


def test_node_certificate_carries_the_identity_the_ca_chose(root: RootCA, node_key: bytes, curve_public: bytes) -> None:
    chain = issue(root, node_key, curve_public, node_id="abc123", role="manager")
    cert = x509.load_pem_x509_certificate(chain)
    subject = {a.oid: a.value for a in cert.subject}
    assert subject == {
        NameOID.COMMON_NAME: "abc123",
        NameOID.ORGANIZATIONAL_UNIT_NAME: "swarm-manager",
        NameOID.ORGANIZATION_NAME: CLUSTER,
    }
    assert cert.public_key() == serialization.load_pem_private_key(node_key, None).public_key()
    assert not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert set(eku) == {ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH}
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.DNSName) == [curve_key_san(curve_public)]
    assert cert.not_valid_after_utc == NOW + DAY
    assert cert.not_valid_before_utc < NOW


def test_csr_subject_is_a_placeholder_and_is_ignored(root: RootCA, node_key: bytes, curve_public: bytes) -> None:
    key = serialization.load_pem_private_key(node_key, None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    hostile = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "swarm-manager")]))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("a" * 52 + CURVE_SAN_SUFFIX)]), critical=False)
        .sign(key, hashes.SHA256())
        .public_bytes(serialization.Encoding.PEM)
    )
    chain = sign_node_certificate(
        root, hostile, node_id="n", role="worker", cluster_id=CLUSTER, curve_public_key=curve_public, now=NOW
    )
    info = verify(chain, [root.cert_pem])
    assert info.role == "worker"
    assert info.curve_public_key == curve_public
    plain = x509.load_pem_x509_csr(make_csr(node_key))
    assert plain.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "swarm-node-csr"


def test_validity_is_cut_at_the_ca_expiry(node_key: bytes, curve_public: bytes) -> None:
    short_root = create_root_ca(CLUSTER, NOW - DAY, validity=2 * DAY)
    cert = x509.load_pem_x509_certificate(issue(short_root, node_key, curve_public, validity=30 * DAY))
    assert cert.not_valid_after_utc == NOW + DAY


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"role": "admin"}, "role must be 'manager' or 'worker'"),
        ({"node_id": ""}, "the node id must be"),
        ({"cluster_id": "x" * 65}, "the cluster id must be"),
        ({"validity": timedelta(0)}, "validity must be positive"),
        ({"curve_public_key": b"short"}, "z85 text of 40 bytes"),
        ({"curve_public_key": b"~" * 40}, "not valid z85"),
    ],
)
def test_signing_refuses_bad_arguments(
    root: RootCA, node_key: bytes, curve_public: bytes, overrides: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        issue(root, node_key, curve_public, **overrides)


def test_signing_refuses_a_garbage_csr(root: RootCA, curve_public: bytes) -> None:
    with pytest.raises(CSRError, match="not a PEM-encoded PKCS#10 CSR"):
        sign_node_certificate(
            root, b"junk", node_id="n", role="worker", cluster_id=CLUSTER, curve_public_key=curve_public, now=NOW
        )


def test_signing_refuses_a_csr_with_a_non_p256_key(root: RootCA, curve_public: bytes) -> None:
    key = ec.generate_private_key(ec.SECP384R1())
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "x")]))
        .sign(key, hashes.SHA256())
        .public_bytes(serialization.Encoding.PEM)
    )
    with pytest.raises(CSRError, match="ECDSA P-256"):
        sign_node_certificate(
            root, csr, node_id="n", role="worker", cluster_id=CLUSTER, curve_public_key=curve_public, now=NOW
        )


def test_signing_refuses_a_csr_whose_signature_is_broken(root: RootCA, node_key: bytes, curve_public: bytes) -> None:
    der = bytearray(x509.load_pem_x509_csr(make_csr(node_key)).public_bytes(serialization.Encoding.DER))
    der[-3] ^= 0x01  # inside the signature value
    broken = x509.load_der_x509_csr(bytes(der)).public_bytes(serialization.Encoding.PEM)
    with pytest.raises(CSRError, match="signature does not match"):
        sign_node_certificate(
            root, broken, node_id="n", role="worker", cluster_id=CLUSTER, curve_public_key=curve_public, now=NOW
        )


# ------------------------------------------------------------------------------ CURVE binding


def test_curve_binding_is_one_dns_label_of_52_base32_characters(curve_public: bytes) -> None:
    name = curve_key_san(curve_public)
    label, _, suffix = name.partition(".")
    assert "." + suffix == CURVE_SAN_SUFFIX
    assert len(label) == 52 and label == label.lower()
    assert curve_key_from_san(name) == curve_public
    assert curve_key_from_san(name.upper()) == curve_public


@given(st.binary(min_size=32, max_size=32))
def test_curve_binding_round_trips_any_key(raw: bytes) -> None:
    z85 = zmq.utils.z85.encode(raw)
    assert curve_key_from_san(curve_key_san(z85)) == z85


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("abc.example.org", "does not end with"),
        ("a" * 51 + CURVE_SAN_SUFFIX, "51 characters, expected 52"),
        ("1" * 52 + CURVE_SAN_SUFFIX, "not base32"),
        ("a" * 51 + "b" + CURVE_SAN_SUFFIX, "not canonical"),
    ],
)
def test_curve_binding_refuses_garbled_names(name: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        curve_key_from_san(name)


# ------------------------------------------------------------------------------ verification


def test_verification_returns_what_the_certificate_vouches_for(
    root: RootCA, node_key: bytes, curve_public: bytes
) -> None:
    chain = issue(root, node_key, curve_public, node_id="m1", role="manager")
    info = verify(chain, [root.cert_pem])
    cert = x509.load_pem_x509_certificate(chain)
    assert info == NodeCertInfo(
        node_id="m1",
        role="manager",
        cluster_id=CLUSTER,
        curve_public_key=curve_public,
        not_before=cert.not_valid_before_utc,
        not_after=NOW + DAY,
        serial=cert.serial_number,
        issuer_digest=root.digest,
    )


def test_expired_certificate_is_refused(root: RootCA, node_key: bytes, curve_public: bytes) -> None:
    chain = issue(root, node_key, curve_public)
    with pytest.raises(CertificateError, match=r"certificate of node node1 expired at 2030-01-02 12:00:00 UTC"):
        verify(chain, [root.cert_pem], now=NOW + DAY)


def test_not_yet_valid_certificate_is_refused(root: RootCA, node_key: bytes, curve_public: bytes) -> None:
    chain = issue(root, node_key, curve_public)
    with pytest.raises(CertificateError, match="certificate of node node1 is not valid until 2030-01-01 11:55:00 UTC"):
        verify(chain, [root.cert_pem], now=NOW - timedelta(minutes=6))


def test_certificate_of_another_cluster_is_refused(root: RootCA, node_key: bytes, curve_public: bytes) -> None:
    chain = issue(root, node_key, curve_public)
    with pytest.raises(CertificateError, match="certificate of node node1 is for cluster clusterA, this is cluster B"):
        verify(chain, [root.cert_pem], cluster_id="B")


def test_revoked_node_is_refused(root: RootCA, node_key: bytes, curve_public: bytes) -> None:
    chain = issue(root, node_key, curve_public)
    with pytest.raises(CertificateError, match="node node1 was removed from the swarm"):
        verify(chain, [root.cert_pem], revoked_node_ids={"node1"})
    assert verify(chain, [root.cert_pem], revoked_node_ids={"node2"}).node_id == "node1"


def test_certificate_of_another_ca_is_refused(root: RootCA, node_key: bytes, curve_public: bytes) -> None:
    stranger = create_root_ca(CLUSTER, NOW - DAY)
    chain = issue(stranger, node_key, curve_public)
    with pytest.raises(CertificateError, match="certificate of node node1 is not signed by this swarm's CA"):
        verify(chain, [root.cert_pem])


def test_a_stranger_intermediate_does_not_help(root: RootCA, node_key: bytes, curve_public: bytes) -> None:
    stranger = create_root_ca(CLUSTER, NOW - DAY)
    chain = issue(stranger, node_key, curve_public) + stranger.cert_pem
    with pytest.raises(CertificateError, match="not signed by this swarm's CA"):
        verify(chain, [root.cert_pem])


def test_tampered_certificate_is_refused(root: RootCA, node_key: bytes, curve_public: bytes) -> None:
    cert = x509.load_pem_x509_certificate(issue(root, node_key, curve_public))
    der = bytearray(cert.public_bytes(serialization.Encoding.DER))
    der[-3] ^= 0x01
    tampered = x509.load_der_x509_certificate(bytes(der)).public_bytes(serialization.Encoding.PEM)
    with pytest.raises(CertificateError, match="not signed by this swarm's CA"):
        verify(tampered, [root.cert_pem])


def test_bad_role_ou_is_refused(root: RootCA) -> None:
    subject = [*STANDARD_SUBJECT[:1], (NameOID.ORGANIZATIONAL_UNIT_NAME, "swarm-admin"), STANDARD_SUBJECT[2]]
    forged = forge_leaf(root, subject=subject, sans=["a" * 52 + CURVE_SAN_SUFFIX])
    with pytest.raises(CertificateError, match="certificate of node node1 has role OU 'swarm-admin'; expected"):
        verify(forged, [root.cert_pem])


def test_two_role_ous_are_refused(root: RootCA) -> None:
    subject = [*STANDARD_SUBJECT, (NameOID.ORGANIZATIONAL_UNIT_NAME, "swarm-manager")]
    forged = forge_leaf(root, subject=subject, sans=["a" * 52 + CURVE_SAN_SUFFIX])
    with pytest.raises(CertificateError, match="has role OU None"):
        verify(forged, [root.cert_pem])


def test_missing_node_id_is_refused(root: RootCA) -> None:
    forged = forge_leaf(root, subject=STANDARD_SUBJECT[:2], sans=["a" * 52 + CURVE_SAN_SUFFIX])
    with pytest.raises(CertificateError, match=r"certificate has no node id \(exactly one subject CN"):
        verify(forged, [root.cert_pem])


def test_missing_cluster_is_refused(root: RootCA) -> None:
    forged = forge_leaf(root, subject=STANDARD_SUBJECT[1:], sans=["a" * 52 + CURVE_SAN_SUFFIX])
    with pytest.raises(CertificateError, match="certificate of node node1 names no cluster"):
        verify(forged, [root.cert_pem])


def test_ca_certificate_as_a_leaf_is_refused(root: RootCA) -> None:
    forged = forge_leaf(root, subject=STANDARD_SUBJECT, sans=["a" * 52 + CURVE_SAN_SUFFIX], ca=True)
    with pytest.raises(CertificateError, match="is a CA certificate, not a node certificate"):
        verify(forged, [root.cert_pem])


@pytest.mark.parametrize(
    ("sans", "message"),
    [
        (None, "certificate of node node1 carries no CURVE public key"),
        (["node1.example.org"], "certificate of node node1 carries no CURVE public key"),
        (
            ["a" * 52 + CURVE_SAN_SUFFIX, "b" * 52 + CURVE_SAN_SUFFIX],
            "carries 2 CURVE public keys; expected exactly one",
        ),
        (["a" * 40 + CURVE_SAN_SUFFIX], "garbled CURVE public key binding .* 40 characters, expected 52"),
        (["0" * 52 + CURVE_SAN_SUFFIX], "garbled CURVE public key binding .* not base32"),
    ],
)
def test_missing_or_garbled_curve_binding_is_refused(root: RootCA, sans: list[str] | None, message: str) -> None:
    forged = forge_leaf(root, subject=STANDARD_SUBJECT, sans=sans)
    with pytest.raises(CertificateError, match=message):
        verify(forged, [root.cert_pem])


def test_garbage_chain_is_refused(root: RootCA) -> None:
    with pytest.raises(CertificateError, match=r"not PEM-encoded X\.509"):
        verify(b"not a certificate", [root.cert_pem])


def test_certificate_error_carries_its_reason(root: RootCA, node_key: bytes, curve_public: bytes) -> None:
    chain = issue(root, node_key, curve_public)
    with pytest.raises(CertificateError) as caught:
        verify(chain, [root.cert_pem], cluster_id="B")
    assert caught.value.reason == str(caught.value)


# ------------------------------------------------------------------------------ root rotation


@pytest.fixture(scope="module")
def rotation(root: RootCA) -> tuple[RootCA, bytes]:
    """A new root and its cross-signed intermediate; the signer during rotation carries both."""
    new = create_root_ca(CLUSTER, NOW - timedelta(hours=1))
    intermediate = cross_sign(new, root, NOW - timedelta(hours=1))
    return RootCA(new.cert_pem, new.key_pem, intermediates_pem=intermediate), intermediate


def test_cross_signed_intermediate_is_the_new_root_issued_by_the_old(
    root: RootCA, rotation: tuple[RootCA, bytes]
) -> None:
    new, intermediate_pem = rotation
    intermediate = x509.load_pem_x509_certificate(intermediate_pem)
    new_cert = x509.load_pem_x509_certificate(new.cert_pem)
    old_cert = x509.load_pem_x509_certificate(root.cert_pem)
    assert intermediate.subject == new_cert.subject
    assert intermediate.public_key() == new_cert.public_key()
    intermediate.verify_directly_issued_by(old_cert)
    assert intermediate.extensions.get_extension_for_class(x509.BasicConstraints).value.ca


def test_during_rotation_a_node_trusting_only_the_old_root_accepts_a_new_leaf(
    root: RootCA, rotation: tuple[RootCA, bytes], node_key: bytes, curve_public: bytes
) -> None:
    new, intermediate = rotation
    chain = issue(new, node_key, curve_public)
    assert chain.endswith(intermediate)
    info = verify(chain, [root.cert_pem])
    assert info.node_id == "node1" and info.issuer_digest == root.digest


def test_a_node_trusting_the_new_root_accepts_a_new_leaf_directly(
    rotation: tuple[RootCA, bytes], node_key: bytes, curve_public: bytes
) -> None:
    new, _ = rotation
    chain = issue(new, node_key, curve_public)
    assert verify(chain, [new.cert_pem]).issuer_digest == new.digest
    leaf_only = x509.load_pem_x509_certificates(chain)[0].public_bytes(serialization.Encoding.PEM)
    assert verify(leaf_only, [new.cert_pem]).node_id == "node1"


def test_a_node_trusting_both_roots_anchors_a_new_leaf_at_the_new_root(
    root: RootCA, rotation: tuple[RootCA, bytes], node_key: bytes, curve_public: bytes
) -> None:
    new, _ = rotation
    chain = issue(new, node_key, curve_public)
    assert verify(chain, [root.cert_pem, new.cert_pem]).issuer_digest == new.digest


def test_after_rotation_an_old_leaf_is_refused_by_the_new_root(
    root: RootCA, rotation: tuple[RootCA, bytes], node_key: bytes, curve_public: bytes
) -> None:
    new, _ = rotation
    old_leaf = issue(root, node_key, curve_public)
    with pytest.raises(CertificateError, match="not signed by this swarm's CA"):
        verify(old_leaf, [new.cert_pem])


def test_a_new_leaf_without_the_intermediate_is_refused_by_the_old_root(
    root: RootCA, rotation: tuple[RootCA, bytes], node_key: bytes, curve_public: bytes
) -> None:
    new, _ = rotation
    leaf_only = x509.load_pem_x509_certificates(issue(new, node_key, curve_public))[0]
    with pytest.raises(CertificateError, match="not signed by this swarm's CA"):
        verify(leaf_only.public_bytes(serialization.Encoding.PEM), [root.cert_pem])


def test_an_expired_intermediate_is_refused(root: RootCA, node_key: bytes, curve_public: bytes) -> None:
    new = create_root_ca(CLUSTER, NOW - DAY)
    short_old = create_root_ca(CLUSTER, NOW - DAY, validity=DAY + timedelta(hours=2))
    signer = RootCA(new.cert_pem, new.key_pem, cross_sign(new, short_old, NOW - DAY))
    chain = issue(signer, node_key, curve_public)
    assert verify(chain, [short_old.cert_pem]).node_id == "node1"
    with pytest.raises(CertificateError, match=r"chains through CA .* which is valid only"):
        verify(chain, [short_old.cert_pem], now=NOW + timedelta(hours=3))


def test_cross_signing_needs_the_old_key(root: RootCA) -> None:
    new = create_root_ca(CLUSTER, NOW)
    with pytest.raises(ValueError, match="cannot cross-sign"):
        cross_sign(new, RootCA(root.cert_pem, None), NOW)


# ------------------------------------------------------------------------------ timing


def test_renewal_falls_between_half_and_four_fifths_of_the_lifetime() -> None:
    rng = random.Random(7)
    start, end = NOW, NOW + timedelta(days=90)
    picks = [renewal_time(start, end, rng) for _ in range(2000)]
    assert min(picks) >= start + timedelta(days=45)
    assert max(picks) <= start + timedelta(days=72)
    # Uniform: both ends of the window get used, not one fixed point.
    assert min(picks) < start + timedelta(days=46) and max(picks) > start + timedelta(days=71)


def test_renewal_of_a_short_lived_certificate_counts_from_issuance_not_the_backdated_start() -> None:
    # Issued at NOW for 20 s, back-dated 5 minutes for clock skew: renew 10-16 s after NOW.
    rng = random.Random(11)
    picks = [renewal_time(NOW - timedelta(minutes=5), NOW + timedelta(seconds=20), rng) for _ in range(500)]
    assert min(picks) >= NOW + timedelta(seconds=10)
    assert max(picks) <= NOW + timedelta(seconds=16)


def test_renewal_is_repeatable_with_a_seeded_generator() -> None:
    end = NOW + DAY
    assert renewal_time(NOW, end, random.Random(3)) == renewal_time(NOW, end, random.Random(3))


def test_expiry_below_the_minimum_is_refused_with_both_values() -> None:
    with pytest.raises(ValueError, match=r"^certificate expiry 10m is below the minimum of 30m"):
        validate_expiry(timedelta(minutes=10))
    with pytest.raises(ValueError, match="certificate expiry 1h is below the minimum of 2h"):
        validate_expiry(timedelta(hours=1), minimum=timedelta(hours=2))
    validate_expiry(MIN_NODE_VALIDITY)
    validate_expiry(timedelta(days=90))


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (timedelta(0), "0s"),
        (timedelta(minutes=90), "1h30m"),
        (timedelta(days=90), "90d"),
        (timedelta(seconds=-300), "-5m"),
        (timedelta(days=1, seconds=1), "1d1s"),
    ],
)
def test_durations_read_compactly(value: timedelta, text: str) -> None:
    assert format_duration(value) == text
