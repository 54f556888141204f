"""Join tokens in swarmkit's SWMTKN-1-<digest>-<secret> format, and every way one can be malformed."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from swarmnode.actors.ca import (
    JoinToken,
    TokenError,
    create_root_ca,
    make_join_token,
    parse_join_token,
    secret_matches,
    token_matches_ca,
)

NOW = datetime(2030, 1, 1, tzinfo=UTC)
DIGEST = "ab" * 32
SECRET = bytes(range(16))


def base36(value: int) -> str:
    """An independent base-36 writer (lowercase, as Go's big.Int.Text(36))."""
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    return digits[value] if value < 36 else base36(value // 36) + digits[value % 36]


def test_token_has_swarmkits_layout() -> None:
    token = make_join_token(DIGEST, SECRET)
    prefix, version, digest, secret = token.split("-")
    assert (prefix, version) == ("SWMTKN", "1")
    assert digest == base36(int(DIGEST, 16)).rjust(50, "0")
    assert secret == base36(int.from_bytes(SECRET, "big")).rjust(25, "0")


def test_small_values_are_zero_padded() -> None:
    token = make_join_token(bytes(31) + b"\x01", bytes(15) + b"\x24")
    assert token == "SWMTKN-1-" + "0" * 49 + "1-" + "0" * 23 + "10"


def test_largest_values_fill_the_fields_exactly() -> None:
    token = make_join_token(b"\xff" * 32, b"\xff" * 16)
    _, _, digest, secret = token.split("-")
    assert len(digest) == 50 and len(secret) == 25 and digest[0] != "0" and secret[0] != "0"


def test_digest_may_be_hex_with_or_without_prefix_or_raw_bytes() -> None:
    raw = bytes.fromhex(DIGEST)
    assert (
        make_join_token(DIGEST, SECRET) == make_join_token("sha256:" + DIGEST, SECRET) == make_join_token(raw, SECRET)
    )


def test_secret_is_random_when_not_given() -> None:
    assert make_join_token(DIGEST) != make_join_token(DIGEST)


@pytest.mark.parametrize(
    ("digest", "secret", "message"),
    [
        ("zz" * 32, SECRET, "must be sha256 hex"),
        ("ab" * 31, SECRET, "64 hex characters"),
        (b"\x00" * 31, SECRET, "must be 32 bytes"),
        (DIGEST, b"\x00" * 15, "secret must be 16 bytes"),
    ],
)
def test_bad_inputs_to_make_are_refused(digest: str | bytes, secret: bytes, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make_join_token(digest, secret)


@given(st.binary(min_size=32, max_size=32), st.binary(min_size=16, max_size=16))
def test_parse_reads_back_what_make_wrote(digest: bytes, secret: bytes) -> None:
    token = make_join_token(digest, secret)
    parsed = parse_join_token(token)
    assert parsed.version == 1
    assert parsed.ca_digest == digest.hex()
    assert int(parsed.secret, 36) == int.from_bytes(secret, "big")


def test_parse_ignores_surrounding_whitespace() -> None:
    token = make_join_token(DIGEST, SECRET)
    assert parse_join_token(f"  {token}\n") == parse_join_token(token)


GOOD = make_join_token(DIGEST, SECRET)
_, _, GOOD_DIGEST, GOOD_SECRET = GOOD.split("-")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "a join token starts with SWMTKN-, got ''"),
        ("SWMTKX-1-abc-def", "a join token starts with SWMTKN-, got 'SWMTKX-1-abc...'"),
        ("swmtkn-1-" + GOOD_DIGEST + "-" + GOOD_SECRET, "starts with SWMTKN-"),
        ("SWMTKN", "has no version"),
        ("SWMTKN-x-" + GOOD_DIGEST + "-" + GOOD_SECRET, "has no version"),
        ("SWMTKN-2-" + GOOD_DIGEST + "-" + GOOD_SECRET, "join token version 2 is not supported"),
        ("SWMTKN-1-" + GOOD_DIGEST, "has 4 parts separated by '-'.*got 3"),
        (GOOD + "-FIPS", "got 5"),
        ("SWMTKN-1-" + GOOD_DIGEST[1:] + "-" + GOOD_SECRET, "root CA digest part .* 49 characters; expected 50"),
        ("SWMTKN-1-" + GOOD_DIGEST + "-" + GOOD_SECRET + "0", "secret part .* 26 characters; expected 25"),
        ("SWMTKN-1-" + GOOD_DIGEST[:-1] + "!-" + GOOD_SECRET, "contains '!', which is not a base-36 digit"),
        ("SWMTKN-1-" + GOOD_DIGEST + "-" + GOOD_SECRET.upper(), "secret part .* not a base-36 digit"),
        ("SWMTKN-1-" + "z" * 50 + "-" + GOOD_SECRET, "root CA digest part .* too large for 256 bits"),
        ("SWMTKN-1-" + GOOD_DIGEST + "-" + "z" * 25, "secret part .* too large for 128 bits"),
    ],
)
def test_malformed_tokens_say_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(TokenError, match=message):
        parse_join_token(text)


def test_token_error_is_a_value_error() -> None:
    assert issubclass(TokenError, ValueError)


def test_token_names_the_root_ca_it_was_made_for() -> None:
    root = create_root_ca("c1", NOW)
    other = create_root_ca("c1", NOW)
    token = make_join_token(root.digest)
    assert token_matches_ca(token, root.cert_pem)
    assert token_matches_ca(parse_join_token(token), root.cert_pem)
    assert not token_matches_ca(token, other.cert_pem)


def test_token_matches_ca_refuses_a_malformed_token() -> None:
    root = create_root_ca("c1", NOW)
    with pytest.raises(TokenError):
        token_matches_ca("SWMTKN-1-nope", root.cert_pem)


def test_secret_matches_needs_the_same_digest_and_secret() -> None:
    expected = make_join_token(DIGEST, SECRET)
    assert secret_matches(expected, expected)
    assert secret_matches(parse_join_token(expected), expected)
    assert not secret_matches(make_join_token(DIGEST, b"\x01" * 16), expected)
    assert not secret_matches(make_join_token("cd" * 32, SECRET), expected)
    assert not secret_matches("garbage", expected)
    assert not secret_matches(JoinToken(2, DIGEST, parse_join_token(expected).secret), expected)
