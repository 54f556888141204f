"""Relay node CSRs to an external CFSSL signer (external CA mode, as swarmkit's ca/external.go).

The request has swarmkit's shape: the CSR, a ``subject`` override (CN = node id, OU = role,
O = cluster id) and a ``hosts`` list, which carries the CURVE key binding as a DNS name because
that is what CFSSL (even the 2016 release Debian ships) copies into the certificate unchanged;
CFSSL drops the CSR's own extensions and writes a URI host as a DNS name.

The signer checks that what comes back is a certificate for the CSR's key that still says what
was asked (subject and CURVE binding), so a CFSSL configured to strip names fails loudly here
rather than at every peer. Trusting the chain is verify_node_certificate's job.
"""

from __future__ import annotations

import errno
import json
import socket
import ssl
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any, Final

from cryptography import x509
from cryptography.x509.oid import NameOID

from .pki import ROLE_TO_OU, Role, as_role, curve_key_san

SIGN_PATH: Final = "/api/v1/cfssl/sign"
SUPPORTED_PROTOCOLS: Final = ("cfssl",)
DEFAULT_TIMEOUT_S: Final = 10.0
_BODY_PREVIEW_CHARS: Final = 200
_EXAMPLE_SPEC: Final = "protocol=cfssl,url=https://ca.example.com:8888"


class ExternalCAError(Exception):
    """The external CA could not be reached, refused, or returned something unusable."""


@dataclass(frozen=True, slots=True)
class ExternalCA:
    """An external CA named on the command line (``--external-ca protocol=cfssl,url=...``)."""

    protocol: str
    url: str


def parse_external_ca(spec: str) -> ExternalCA:
    """Read an ``--external-ca`` value; ValueError says what is wrong and shows an example."""
    fields: dict[str, str] = {}
    for item in spec.split(","):
        key, sep, value = item.strip().partition("=")
        key = key.strip().lower()
        if not sep or not key:
            raise ValueError(f"--external-ca: {item.strip()!r} is not key=value; example: {_EXAMPLE_SPEC}")
        if key not in ("protocol", "url"):
            raise ValueError(f"--external-ca: unknown field {key!r}; the fields are protocol and url")
        if key in fields:
            raise ValueError(f"--external-ca: {key} is given twice")
        fields[key] = value.strip()
    protocol = fields.get("protocol", "").lower()
    if not protocol:
        raise ValueError(f"--external-ca: missing protocol=; example: {_EXAMPLE_SPEC}")
    if protocol not in SUPPORTED_PROTOCOLS:
        raise ValueError(f"--external-ca: unknown protocol {protocol!r}; the only supported protocol is cfssl")
    url = fields.get("url", "")
    if not url:
        raise ValueError(f"--external-ca: missing url=; example: {_EXAMPLE_SPEC}")
    parsed = urllib.parse.urlsplit(url)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise ValueError(f"--external-ca: url {url!r} must be an http:// or https:// URL with a host")
    return ExternalCA(protocol=protocol, url=url)


def _sign_url(url: str) -> str:
    # swarmkit takes the full endpoint URL; a bare server URL is accepted too.
    trimmed = url.rstrip("/")
    return trimmed if trimmed.endswith(SIGN_PATH) else trimmed + SIGN_PATH


def _cfssl_errors(payload: Any) -> str:
    if not isinstance(payload, dict):
        return ""
    errors = payload.get("errors")
    if not isinstance(errors, list):
        return ""
    texts = []
    for item in errors:
        if isinstance(item, dict):
            code = item.get("code")
            message = str(item.get("message", "")).strip() or "no message"
            texts.append(f"{message} (code {code})" if code is not None else message)
        else:
            texts.append(str(item))
    return "; ".join(texts)


def _describe_unreachable(reason: object) -> str:
    if isinstance(reason, ConnectionRefusedError) or getattr(reason, "errno", None) == errno.ECONNREFUSED:
        return "connection refused"
    if isinstance(reason, TimeoutError):
        return "timed out"
    if isinstance(reason, socket.gaierror):
        return f"cannot resolve the host name ({reason.strerror})"
    if isinstance(reason, ssl.SSLError):
        return f"TLS failed ({reason.reason or reason})"
    if isinstance(reason, OSError) and reason.strerror:
        return reason.strerror[0].lower() + reason.strerror[1:]
    return str(reason)


class CfsslSigner:
    """Sign node CSRs through a CFSSL ``/api/v1/cfssl/sign`` endpoint."""

    def __init__(self, url: str, timeout_s: float = DEFAULT_TIMEOUT_S, *, ssl_context: ssl.SSLContext | None = None):
        self.url = url
        self.sign_url = _sign_url(url)
        self.timeout_s = timeout_s
        self._ssl_context = ssl_context

    def __repr__(self) -> str:
        return f"CfsslSigner({self.url!r}, timeout_s={self.timeout_s})"

    def sign(self, csr_pem: bytes, *, node_id: str, role: Role, cluster_id: str, curve_public_key: bytes) -> bytes:
        """Have the external CA sign ``csr_pem``; return the PEM chain it sent, leaf first."""
        role = as_role(role)  # callers from outside typed code may pass any string
        san = curve_key_san(curve_public_key)
        body = {
            "certificate_request": csr_pem.decode("ascii"),
            "subject": {"CN": node_id, "names": [{"O": cluster_id, "OU": ROLE_TO_OU[role]}]},
            "hosts": [san],
        }
        payload = self._post(json.dumps(body).encode("utf-8"))
        result = payload.get("result")
        certificate = result.get("certificate") if isinstance(result, dict) else None
        if payload.get("success") is not True or not isinstance(certificate, str) or not certificate:
            detail = _cfssl_errors(payload) or "it gave no certificate and no reason"
            raise ExternalCAError(f"external CA at {self.url} refused to sign: {detail}")
        chain = certificate.encode("ascii")
        self._check_returned(chain, csr_pem, node_id=node_id, ou=ROLE_TO_OU[role], cluster_id=cluster_id, san=san)
        return chain if chain.endswith(b"\n") else chain + b"\n"

    def _post(self, data: bytes) -> dict[str, Any]:
        request = urllib.request.Request(
            self.sign_url, data=data, method="POST", headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s, context=self._ssl_context) as response:
                raw = response.read()
        except urllib.error.HTTPError as exc:
            raw = exc.read()
            detail = _cfssl_errors(_json_or_none(raw))
            if detail:
                raise ExternalCAError(f"external CA at {self.url} refused to sign: {detail}") from None
            text = raw.decode("utf-8", "replace").strip()[:_BODY_PREVIEW_CHARS]
            raise ExternalCAError(
                f"external CA at {self.url} answered HTTP {exc.code} {exc.reason}: {text or '(empty body)'}"
            ) from None
        except urllib.error.URLError as exc:
            raise ExternalCAError(
                f"external CA at {self.url} is unreachable: {_describe_unreachable(exc.reason)}"
            ) from None
        except (TimeoutError, OSError) as exc:
            raise ExternalCAError(f"external CA at {self.url} is unreachable: {_describe_unreachable(exc)}") from None
        payload = _json_or_none(raw)
        if not isinstance(payload, dict):
            preview = raw.decode("utf-8", "replace").strip()[:_BODY_PREVIEW_CHARS]
            raise ExternalCAError(f"external CA at {self.url} answered something that is not CFSSL JSON: {preview!r}")
        return payload

    def _check_returned(
        self, chain: bytes, csr_pem: bytes, *, node_id: str, ou: str, cluster_id: str, san: str
    ) -> None:
        try:
            leaf = x509.load_pem_x509_certificates(chain)[0]
        except ValueError:
            raise ExternalCAError(f"external CA at {self.url} returned a certificate that is not PEM X.509") from None
        if leaf.public_key() != x509.load_pem_x509_csr(csr_pem).public_key():
            raise ExternalCAError(f"external CA at {self.url} returned a certificate for a different key")
        wanted = (
            ("CN", NameOID.COMMON_NAME, node_id),
            ("OU", NameOID.ORGANIZATIONAL_UNIT_NAME, ou),
            ("O", NameOID.ORGANIZATION_NAME, cluster_id),
        )
        for label, oid, value in wanted:
            got = [a.value for a in leaf.subject.get_attributes_for_oid(oid)]
            if got != [value]:
                raise ExternalCAError(
                    f"external CA at {self.url} did not keep the requested subject: {label} is {got}, "
                    f"expected {value!r}; let its signing profile take the subject from the request"
                )
        try:
            names = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        except x509.ExtensionNotFound:
            names = x509.SubjectAlternativeName([])
        if san not in names.get_values_for_type(x509.DNSName):
            raise ExternalCAError(
                f"external CA at {self.url} dropped the CURVE key binding (DNS name {san}); "
                "let its signing profile take hosts from the request"
            )


def _json_or_none(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return None
