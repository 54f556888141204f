"""The CFSSL relay's request shape, its reading of answers and refusals, and the --external-ca flag.

The HTTP layer is replaced by a fake urlopen; tests/integration/test_cfssl.py talks to a real cfssl.
"""

from __future__ import annotations

import io
import json
import urllib.error
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.message import Message
from typing import Any

import pytest
import zmq
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from swarmnode.actors.ca import (
    CfsslSigner,
    ExternalCA,
    ExternalCAError,
    RootCA,
    create_root_ca,
    curve_key_from_san,
    curve_key_san,
    make_csr,
    new_node_key,
    parse_external_ca,
    sign_node_certificate,
)

NOW = datetime.now(UTC)
CLUSTER = "c1"
URL = "https://ca.example.com:8888"


class FakeResponse:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def read(self) -> bytes:
        return self._body

    def __enter__(self) -> FakeResponse:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


@pytest.fixture(scope="module")
def root() -> RootCA:
    return create_root_ca(CLUSTER, NOW - timedelta(days=1))


@pytest.fixture(scope="module")
def key_pem() -> bytes:
    return new_node_key()


@pytest.fixture(scope="module")
def curve() -> bytes:
    return zmq.curve_keypair()[0]


@pytest.fixture
def requests(monkeypatch: pytest.MonkeyPatch) -> Callable[[Callable[[urllib.request.Request], bytes]], list[Any]]:
    """Install a fake urlopen whose answer comes from ``answer(request)``; return the requests seen."""

    def install(answer: Callable[[urllib.request.Request], bytes]) -> list[Any]:
        seen: list[Any] = []

        def urlopen(request: urllib.request.Request, timeout: float, context: object = None) -> FakeResponse:
            seen.append((request, timeout))
            return FakeResponse(answer(request))

        monkeypatch.setattr(urllib.request, "urlopen", urlopen)
        return seen

    return install


def ok(certificate: bytes) -> bytes:
    return json.dumps(
        {"success": True, "result": {"certificate": certificate.decode()}, "errors": [], "messages": []}
    ).encode()


def signed_like_cfssl(root: RootCA, request: urllib.request.Request) -> bytes:
    body = json.loads(request.data)  # type: ignore[arg-type]
    names = body["subject"]["names"][0]
    role = {"swarm-manager": "manager", "swarm-worker": "worker"}[names["OU"]]
    return sign_node_certificate(
        root,
        body["certificate_request"].encode(),
        node_id=body["subject"]["CN"],
        role=role,  # type: ignore[arg-type]
        cluster_id=names["O"],
        curve_public_key=curve_key_from_san(body["hosts"][0]),
        now=NOW,
    )


def sign(signer: CfsslSigner, key_pem: bytes, curve: bytes, node_id: str = "n1") -> bytes:
    return signer.sign(make_csr(key_pem), node_id=node_id, role="manager", cluster_id=CLUSTER, curve_public_key=curve)


def test_request_has_swarmkits_shape(requests: Any, root: RootCA, key_pem: bytes, curve: bytes) -> None:
    seen = requests(lambda r: ok(signed_like_cfssl(root, r)))
    csr = make_csr(key_pem)
    chain = CfsslSigner(URL, timeout_s=3.5).sign(
        csr, node_id="n1", role="manager", cluster_id=CLUSTER, curve_public_key=curve
    )
    request, timeout = seen[0]
    assert request.full_url == URL + "/api/v1/cfssl/sign"
    assert request.get_method() == "POST" and timeout == 3.5
    assert request.get_header("Content-type") == "application/json"
    assert json.loads(request.data) == {
        "certificate_request": csr.decode(),
        "subject": {"CN": "n1", "names": [{"O": CLUSTER, "OU": "swarm-manager"}]},
        "hosts": [curve_key_san(curve)],
    }
    assert x509.load_pem_x509_certificate(chain).subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "n1"


@pytest.mark.parametrize("url", [URL + "/api/v1/cfssl/sign", URL + "/api/v1/cfssl/sign/", URL + "/"])
def test_full_endpoint_urls_are_used_as_they_are(url: str) -> None:
    assert CfsslSigner(url, 1).sign_url == URL + "/api/v1/cfssl/sign"


def test_refusal_carries_cfssls_messages(requests: Any, key_pem: bytes, curve: bytes) -> None:
    body = {"success": False, "result": None, "errors": [{"code": 9002, "message": "CSR Decode failed"}]}

    def answer(request: urllib.request.Request) -> bytes:
        raise urllib.error.HTTPError(URL, 400, "Bad Request", Message(), io.BytesIO(json.dumps(body).encode()))

    requests(answer)
    with pytest.raises(
        ExternalCAError, match=f"^external CA at {URL} refused to sign: CSR Decode failed \\(code 9002\\)$"
    ):
        sign(CfsslSigner(URL, 1), key_pem, curve)


def test_success_false_in_a_200_is_a_refusal(requests: Any, key_pem: bytes, curve: bytes) -> None:
    requests(lambda r: json.dumps({"success": False, "errors": [{"code": 1, "message": "policy says no"}]}).encode())
    with pytest.raises(ExternalCAError, match="refused to sign: policy says no"):
        sign(CfsslSigner(URL, 1), key_pem, curve)


def test_http_error_without_cfssl_json_shows_status_and_body(requests: Any, key_pem: bytes, curve: bytes) -> None:
    def answer(request: urllib.request.Request) -> bytes:
        raise urllib.error.HTTPError(URL, 404, "Not Found", Message(), io.BytesIO(b"404 page not found\n"))

    requests(answer)
    with pytest.raises(ExternalCAError, match="answered HTTP 404 Not Found: 404 page not found"):
        sign(CfsslSigner(URL, 1), key_pem, curve)


def test_non_json_answer_is_reported(requests: Any, key_pem: bytes, curve: bytes) -> None:
    requests(lambda r: b"<html>proxy</html>")
    with pytest.raises(ExternalCAError, match="not CFSSL JSON: '<html>proxy</html>'"):
        sign(CfsslSigner(URL, 1), key_pem, curve)


@pytest.mark.parametrize(
    ("reason", "text"),
    [
        (ConnectionRefusedError(111, "Connection refused"), "is unreachable: connection refused"),
        (TimeoutError("timed out"), "is unreachable: timed out"),
        (OSError(113, "No route to host"), "is unreachable: no route to host"),
    ],
)
def test_unreachable_ca_is_reported(
    monkeypatch: pytest.MonkeyPatch, key_pem: bytes, curve: bytes, reason: OSError, text: str
) -> None:
    def urlopen(*args: object, **kwargs: object) -> FakeResponse:
        raise urllib.error.URLError(reason)

    monkeypatch.setattr(urllib.request, "urlopen", urlopen)
    with pytest.raises(ExternalCAError, match=f"^external CA at {URL} {text}$"):
        sign(CfsslSigner(URL, 1), key_pem, curve)


def test_a_timeout_while_reading_is_reported(monkeypatch: pytest.MonkeyPatch, key_pem: bytes, curve: bytes) -> None:
    def urlopen(*args: object, **kwargs: object) -> FakeResponse:
        raise TimeoutError("The read operation timed out")

    monkeypatch.setattr(urllib.request, "urlopen", urlopen)
    with pytest.raises(ExternalCAError, match="is unreachable: timed out"):
        sign(CfsslSigner(URL, 1), key_pem, curve)


def plain_leaf(root: RootCA, key_pem: bytes, subject: x509.Name, sans: list[str]) -> bytes:
    assert root.key_pem is not None
    root_key = serialization.load_pem_private_key(root.key_pem, None)
    node_key = serialization.load_pem_private_key(key_pem, None)
    assert isinstance(root_key, ec.EllipticCurvePrivateKey) and isinstance(node_key, ec.EllipticCurvePrivateKey)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(x509.load_pem_x509_certificate(root.cert_pem).subject)
        .public_key(node_key.public_key())
        .serial_number(1)
        .not_valid_before(NOW)
        .not_valid_after(NOW + timedelta(days=1))
    )
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(s) for s in sans]), critical=False)
    return builder.sign(root_key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)


def subject(cn: str, ou: str, o: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, cn),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, ou),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, o),
        ]
    )


def test_a_dropped_curve_binding_is_caught(requests: Any, root: RootCA, key_pem: bytes, curve: bytes) -> None:
    requests(lambda r: ok(plain_leaf(root, key_pem, subject("n1", "swarm-manager", CLUSTER), ["n1"])))
    with pytest.raises(ExternalCAError, match="dropped the CURVE key binding"):
        sign(CfsslSigner(URL, 1), key_pem, curve)


def test_a_rewritten_subject_is_caught(requests: Any, root: RootCA, key_pem: bytes, curve: bytes) -> None:
    leaf = plain_leaf(root, key_pem, subject("n1", "ops", CLUSTER), [curve_key_san(curve)])
    requests(lambda r: ok(leaf))
    with pytest.raises(ExternalCAError, match=r"did not keep the requested subject: OU is \['ops'\]"):
        sign(CfsslSigner(URL, 1), key_pem, curve)


def test_a_certificate_for_another_key_is_caught(requests: Any, root: RootCA, key_pem: bytes, curve: bytes) -> None:
    other = plain_leaf(root, new_node_key(), subject("n1", "swarm-manager", CLUSTER), [curve_key_san(curve)])
    requests(lambda r: ok(other))
    with pytest.raises(ExternalCAError, match="for a different key"):
        sign(CfsslSigner(URL, 1), key_pem, curve)


def test_a_garbage_certificate_is_caught(requests: Any, key_pem: bytes, curve: bytes) -> None:
    requests(lambda r: ok(b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"))
    with pytest.raises(ExternalCAError, match=r"not PEM X\.509"):
        sign(CfsslSigner(URL, 1), key_pem, curve)


def test_bad_role_is_refused_before_any_request(requests: Any, key_pem: bytes, curve: bytes) -> None:
    seen = requests(lambda r: b"")
    with pytest.raises(ValueError, match="role must be"):
        CfsslSigner(URL, 1).sign(
            make_csr(key_pem),
            node_id="n1",
            role="boss",  # type: ignore[arg-type]
            cluster_id=CLUSTER,
            curve_public_key=curve,
        )
    assert seen == []


# ------------------------------------------------------------------------------ --external-ca


def test_external_ca_flag_is_read() -> None:
    assert parse_external_ca("protocol=cfssl,url=https://ca.example.com:8888") == ExternalCA(
        "cfssl", "https://ca.example.com:8888"
    )
    assert parse_external_ca(" URL=http://10.0.0.1/api/v1/cfssl/sign , Protocol=CFSSL ") == ExternalCA(
        "cfssl", "http://10.0.0.1/api/v1/cfssl/sign"
    )


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("protocol=acme,url=https://x", "unknown protocol 'acme'; the only supported protocol is cfssl"),
        ("protocol=cfssl", "missing url=; example: protocol=cfssl,url=https://"),
        ("url=https://x", "missing protocol=; example"),
        ("protocol=cfssl,url=", "missing url="),
        ("protocol=cfssl,url=ftp://x", "url 'ftp://x' must be an http:// or https:// URL with a host"),
        ("protocol=cfssl,url=https://", "must be an http:// or https:// URL with a host"),
        ("protocol=cfssl,url=https://x,cacert=/a", "unknown field 'cacert'"),
        ("protocol=cfssl,protocol=cfssl,url=https://x", "protocol is given twice"),
        ("cfssl", "'cfssl' is not key=value"),
        ("", "'' is not key=value"),
    ],
)
def test_bad_external_ca_flags_say_what_is_wrong(spec: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_external_ca(spec)
