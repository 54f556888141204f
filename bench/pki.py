"""Measure the PKI beside baselines measured in the same run, and print the figures.

1. node certificates signed/s: sign_node_certificate (CSR parse and check, CA key load, build,
   ECDSA P-256 sign) beside a raw ``cryptography`` ECDSA P-256 sign of a 32-byte digest;
2. node certificates verified/s: verify_node_certificate (parse, chain walk by signature,
   window, subject, CURVE binding) beside a raw ECDSA P-256 verify of a 32-byte digest;
3. the same verification of a rotation chain [leaf, cross-signed intermediate] against the old
   root (two signature checks, plus the failed try of the leaf against the old root).

Read the ratios with the work in mind: a signature by our CA also checks the CSR's own
signature (proof of possession: one ECDSA verify, about three raw signs' worth), so signing
cannot come near the raw-sign figure; a verification holds one ECDSA verify plus X.509 parsing.

Usage: python bench/pki.py [--seconds 2]   (whole run under 20 s with the default)
"""

from __future__ import annotations

import argparse
import hashlib
import os
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

from swarmnode.actors.ca import (
    RootCA,
    create_root_ca,
    cross_sign,
    make_csr,
    new_node_key,
    sign_node_certificate,
    verify_node_certificate,
)

CLUSTER = "benchcluster"
CURVE_PUBLIC = b"rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7"  # any valid z85 key
WARMUP_S = 0.1
CHECK_EVERY = 16  # operations between clock reads
MAX_SECONDS = 4.0  # per side; keeps the whole run under 20 s


def rate(operation: Callable[[], object], seconds: float) -> float:
    """Return operations per second of ``operation`` over about ``seconds``, after a warm-up."""
    deadline = time.perf_counter() + WARMUP_S
    while time.perf_counter() < deadline:
        operation()
    count = 0
    start = time.perf_counter()
    deadline = start + seconds
    while True:
        for _ in range(CHECK_EVERY):
            operation()
        count += CHECK_EVERY
        now = time.perf_counter()
        if now >= deadline:
            return count / (now - start)


def figure(label: str, ours: float, base: float, base_label: str) -> None:
    print(f"{label:<40} ours {ours:9,.0f}/s   {base_label} {base:9,.0f}/s   ratio {ours / base:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=2.0, help=f"measuring time per side (at most {MAX_SECONDS:g})")
    args = parser.parse_args()
    seconds = min(args.seconds, MAX_SECONDS)
    now = datetime.now(UTC)

    root = create_root_ca(CLUSTER, now)
    csr = make_csr(new_node_key())

    def sign_ours() -> bytes:
        return sign_node_certificate(
            root,
            csr,
            node_id="benchnode",
            role="worker",
            cluster_id=CLUSTER,
            curve_public_key=CURVE_PUBLIC,
            now=now,
            validity=timedelta(days=90),
        )

    raw_key = ec.generate_private_key(ec.SECP256R1())
    digest = hashlib.sha256(os.urandom(64)).digest()
    prehashed = ec.ECDSA(Prehashed(hashes.SHA256()))
    signature = raw_key.sign(digest, prehashed)
    raw_public = raw_key.public_key()

    print(f"pki bench: {seconds:g} s per side, ECDSA P-256, cryptography backend")
    figure(
        "1. node certificates signed",
        rate(sign_ours, seconds),
        rate(lambda: raw_key.sign(digest, prehashed), seconds),
        "raw sign",
    )

    chain = sign_ours()
    trusted = [root.cert_pem]

    def verify_ours() -> object:
        return verify_node_certificate(chain, trusted_roots=trusted, cluster_id=CLUSTER, now=now)

    raw_verify_rate = rate(lambda: raw_public.verify(signature, digest, prehashed), seconds)
    figure("2. node certificates verified", rate(verify_ours, seconds), raw_verify_rate, "raw verify")

    new_root = create_root_ca(CLUSTER, now)
    signer = RootCA(new_root.cert_pem, new_root.key_pem, cross_sign(new_root, root, now))
    rotation_chain = sign_node_certificate(
        signer, csr, node_id="benchnode", role="worker", cluster_id=CLUSTER, curve_public_key=CURVE_PUBLIC, now=now
    )

    def verify_rotation() -> object:
        return verify_node_certificate(rotation_chain, trusted_roots=trusted, cluster_id=CLUSTER, now=now)

    figure("3. rotation chains verified (old root)", rate(verify_rotation, seconds), raw_verify_rate, "raw verify")


if __name__ == "__main__":
    main()
