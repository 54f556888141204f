"""Make and read join tokens in swarmkit's format: ``SWMTKN-1-<root CA digest>-<secret>``.

Rules (swarmkit ca/config.go, GenerateJoinToken and ParseJoinToken):

- the digest is the sha256 of the root CA certificate's DER, written in base 36, lowercase,
  zero-padded to 50 characters (ceil(log36(2^256)));
- the secret is 16 random bytes read as a big-endian integer, written in base 36, zero-padded to
  25 characters (ceil(log36(2^128)));
- a joiner checks the root CA it fetched against the digest before trusting it, and the CA
  compares secrets in constant time.

Pure: randomness comes from ``secrets`` unless the caller passes the secret bytes.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from typing import Final

from .pki import ca_digest

TOKEN_PREFIX: Final = "SWMTKN"
TOKEN_VERSION: Final = 1
SECRET_BYTES: Final = 16
DIGEST_BYTES: Final = 32
BASE36_DIGEST_CHARS: Final = 50
BASE36_SECRET_CHARS: Final = 25
_BASE36_DIGITS: Final = "0123456789abcdefghijklmnopqrstuvwxyz"


class TokenError(ValueError):
    """A join token that cannot be used; the message says what is wrong with it."""


@dataclass(frozen=True, slots=True)
class JoinToken:
    """A parsed join token; ``ca_digest`` is sha256 hex, ``secret`` the base-36 text."""

    version: int
    ca_digest: str
    secret: str


def _to_base36(value: int, width: int) -> str:
    digits = []
    while value:
        value, digit = divmod(value, 36)
        digits.append(_BASE36_DIGITS[digit])
    return "".join(reversed(digits)).rjust(width, "0")


def _digest_bytes(digest: str | bytes) -> bytes:
    if isinstance(digest, bytes):
        if len(digest) != DIGEST_BYTES:
            raise ValueError(f"a root CA digest must be {DIGEST_BYTES} bytes, got {len(digest)}")
        return digest
    text = digest.removeprefix("sha256:")
    try:
        raw = bytes.fromhex(text)
    except ValueError:
        raise ValueError(f"a root CA digest must be sha256 hex, got {digest!r}") from None
    if len(raw) != DIGEST_BYTES:
        raise ValueError(f"a root CA digest must be 64 hex characters, got {len(text)}")
    return raw


def make_join_token(ca_digest_value: str | bytes, secret: bytes | None = None) -> str:
    """Return a join token for the root CA with this digest (hex or raw) and a 16-byte secret."""
    digest = _digest_bytes(ca_digest_value)
    if secret is None:
        secret = secrets.token_bytes(SECRET_BYTES)
    if len(secret) != SECRET_BYTES:
        raise ValueError(f"a join token secret must be {SECRET_BYTES} bytes, got {len(secret)}")
    digest_text = _to_base36(int.from_bytes(digest, "big"), BASE36_DIGEST_CHARS)
    secret_text = _to_base36(int.from_bytes(secret, "big"), BASE36_SECRET_CHARS)
    return f"{TOKEN_PREFIX}-{TOKEN_VERSION}-{digest_text}-{secret_text}"


def _base36_field(text: str, width: int, bits: int, what: str) -> int:
    if len(text) != width:
        raise TokenError(f"the {what} part of the join token has {len(text)} characters; expected {width}")
    bad = next((c for c in text if c not in _BASE36_DIGITS), None)
    if bad is not None:
        raise TokenError(f"the {what} part of the join token contains {bad!r}, which is not a base-36 digit (0-9, a-z)")
    value = int(text, 36)
    if value >> bits:
        raise TokenError(f"the {what} part of the join token is too large for {bits} bits")
    return value


def parse_join_token(text: str) -> JoinToken:
    """Read a join token; raise TokenError saying what is malformed."""
    token = text.strip()
    hint = "; copy the whole token again from a manager (`swarm-node join-token worker`, or `manager`)"
    parts = token.split("-")
    if parts[0] != TOKEN_PREFIX:
        raise TokenError(f"a join token starts with {TOKEN_PREFIX}-, got {_preview(token)}{hint}")
    if len(parts) < 2 or not parts[1].isdigit():
        raise TokenError(f"the join token has no version after {TOKEN_PREFIX}-{hint}")
    if int(parts[1]) != TOKEN_VERSION:
        raise TokenError(f"join token version {parts[1]} is not supported (this node reads version {TOKEN_VERSION})")
    if len(parts) != 4:
        raise TokenError(
            f"a join token has 4 parts separated by '-' (SWMTKN-1-<digest>-<secret>), got {len(parts)}{hint}"
        )
    digest = _base36_field(parts[2], BASE36_DIGEST_CHARS, DIGEST_BYTES * 8, "root CA digest")
    _base36_field(parts[3], BASE36_SECRET_CHARS, SECRET_BYTES * 8, "secret")
    return JoinToken(version=TOKEN_VERSION, ca_digest=f"{digest:064x}", secret=parts[3])


def _preview(token: str) -> str:
    return repr(token if len(token) <= 12 else token[:12] + "...")


def token_matches_ca(token: str | JoinToken, cert_pem: bytes) -> bool:
    """Tell whether a root CA certificate is the one the join token names (TokenError if malformed)."""
    parsed = parse_join_token(token) if isinstance(token, str) else token
    return hmac.compare_digest(parsed.ca_digest, ca_digest(cert_pem))


def secret_matches(presented: str | JoinToken, expected: str | JoinToken) -> bool:
    """Compare a presented join token with the expected one in constant time, digest and secret.

    A malformed presented token is simply no match; the caller reports it with parse_join_token.
    """
    try:
        got = parse_join_token(presented) if isinstance(presented, str) else presented
    except TokenError:
        return False
    want = parse_join_token(expected) if isinstance(expected, str) else expected
    same_digest = hmac.compare_digest(got.ca_digest, want.ca_digest)
    same_secret = hmac.compare_digest(got.secret.encode("ascii"), want.secret.encode("ascii"))
    return same_digest and same_secret and got.version == want.version
