"""Operator-supplied signing keys: PEM (RFC 7468) private keys, PKCS#8 (RFC 5958) or traditional (PKCS#1
RSA, SEC 1 EC), optionally encrypted, into the PKCS#8 DER that ΛiD stores under the KEK.

What is accepted is what ΛiD generates itself (jose/keys.py): RSA of 2048 to 8192 bits (RS256 or PS256:
the key alone cannot say which, so the algorithm must be given), EC P-256 (ES256) and Ed25519 (EdDSA).
Every refusal is a ValueError whose message names the problem and never quotes the key material.
"""

from __future__ import annotations

from typing import Final

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from lukhas_id.domain.keys import SigningAlg
from lukhas_id.jose.keys import MIN_RSA_BITS

__all__ = ["MAX_PEM_BYTES", "MAX_RSA_BITS", "NeedsPassphrase", "load_private_pem"]

# A PEM RSA 8192 private key is about 6.5 KB; anything far larger is not one key.
MAX_PEM_BYTES: Final = 64 * 1024
# Larger RSA keys would make every token signature far slower for no gain (RFC 7518 §3.3 sets the minimum).
MAX_RSA_BITS: Final = 8192

_RSA_ALGS: Final = (SigningAlg.RS256, SigningAlg.PS256)
_PUBLIC_LABELS: Final = (
    b"-----BEGIN PUBLIC KEY-----",
    b"-----BEGIN RSA PUBLIC KEY-----",
    b"-----BEGIN CERTIFICATE-----",
)
_ENCRYPTED_MARKS: Final = (b"-----BEGIN ENCRYPTED PRIVATE KEY-----", b"Proc-Type: 4,ENCRYPTED")


class NeedsPassphrase(ValueError):
    """The PEM is encrypted and no passphrase was given."""


def load_private_pem(
    pem: bytes, alg: SigningAlg | None = None, passphrase: bytes | None = None
) -> tuple[bytes, SigningAlg]:
    """The key of a PEM file as unencrypted PKCS#8 DER, and its algorithm: `alg`, or the one its type
    implies. ValueError (NeedsPassphrase for an encrypted key without `passphrase`) when it is not one
    private signing key ΛiD can use with that algorithm."""
    if len(pem) > MAX_PEM_BYTES:
        raise ValueError(f"the file is larger than {MAX_PEM_BYTES // 1024} KiB: not one PEM private key")
    if b"-----BEGIN " not in pem:
        raise ValueError("not a PEM file (no -----BEGIN line)")
    if b"PRIVATE KEY-----" not in pem:
        if any(label in pem for label in _PUBLIC_LABELS):
            raise ValueError("this is a public key or a certificate: give the private key")
        raise ValueError("no PEM private key in the file")
    encrypted = any(mark in pem for mark in _ENCRYPTED_MARKS)
    if encrypted and passphrase is None:
        raise NeedsPassphrase("the private key is encrypted: give its passphrase with --passphrase-file")
    try:
        key = serialization.load_pem_private_key(pem, password=passphrase)
    except TypeError:  # a passphrase for a key that has none, or none for an encrypted key
        if passphrase is None:
            raise NeedsPassphrase("the private key is encrypted: give its passphrase with --passphrase-file") from None
        raise ValueError("the private key is not encrypted: drop --passphrase-file") from None
    except (ValueError, UnsupportedAlgorithm):
        if encrypted:
            raise ValueError("cannot decrypt the private key: wrong passphrase, or an unsupported cipher") from None
        raise ValueError("the PEM private key cannot be read (damaged, or of an unsupported format)") from None
    chosen = _algorithm(key, alg)
    der = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return der, chosen


def _algorithm(key: object, alg: SigningAlg | None) -> SigningAlg:
    if isinstance(key, rsa.RSAPrivateKey):
        if not MIN_RSA_BITS <= key.key_size <= MAX_RSA_BITS:
            raise ValueError(
                f"an RSA key of {key.key_size} bits: ΛiD signs with RSA keys of {MIN_RSA_BITS} to {MAX_RSA_BITS} bits"
            )
        if alg is None:
            raise ValueError("an RSA key signs RS256 or PS256: say which with --alg")
        if alg not in _RSA_ALGS:
            raise ValueError(f"an RSA key cannot sign {alg} (use --alg RS256 or --alg PS256)")
        return alg
    if isinstance(key, ec.EllipticCurvePrivateKey):
        if not isinstance(key.curve, ec.SECP256R1):
            raise ValueError(f"an EC key on curve {key.curve.name}: ES256 needs a P-256 key")
        implied = SigningAlg.ES256
    elif isinstance(key, Ed25519PrivateKey):
        implied = SigningAlg.EDDSA
    else:
        raise ValueError("unsupported key type: ΛiD signs with RSA, EC P-256 or Ed25519 keys")
    kind = "an EC P-256" if implied is SigningAlg.ES256 else "an Ed25519"
    if alg is not None and alg is not implied:
        raise ValueError(f"{kind} key cannot sign {alg} (it signs {implied})")
    return implied
