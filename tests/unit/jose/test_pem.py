"""jose/pem.py: operator-supplied PEM private keys (RFC 7468; PKCS#8 RFC 5958, PKCS#1, SEC 1)."""

from __future__ import annotations

import functools

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, rsa
from cryptography.hazmat.primitives.asymmetric.ed448 import Ed448PrivateKey
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from lukhas_id.domain.keys import SigningAlg
from lukhas_id.jose.keys import public_jwk
from lukhas_id.jose.pem import MAX_PEM_BYTES, NeedsPassphrase, load_private_pem

PKCS8 = serialization.PrivateFormat.PKCS8
TRADITIONAL = serialization.PrivateFormat.TraditionalOpenSSL
PASSPHRASE = b"correct horse battery staple"


@functools.cache
def _rsa(bits: int = 2048) -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


@functools.cache
def _p256() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


@functools.cache
def _ed25519() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def _pem(key: object, fmt: serialization.PrivateFormat = PKCS8, passphrase: bytes | None = None) -> bytes:
    enc = serialization.BestAvailableEncryption(passphrase) if passphrase is not None else serialization.NoEncryption()
    return key.private_bytes(serialization.Encoding.PEM, fmt, enc)  # type: ignore[attr-defined,no-any-return]


@pytest.mark.parametrize("fmt", [PKCS8, TRADITIONAL], ids=["pkcs8", "traditional"])
@pytest.mark.parametrize(
    ("make", "alg", "implied"),
    [
        (_p256, None, SigningAlg.ES256),
        (_p256, SigningAlg.ES256, SigningAlg.ES256),
        (_ed25519, None, SigningAlg.EDDSA),
        (_rsa, SigningAlg.RS256, SigningAlg.RS256),
        (_rsa, SigningAlg.PS256, SigningAlg.PS256),
    ],
)
def test_accepted_keys_become_pkcs8_der(
    make: object, alg: SigningAlg | None, implied: SigningAlg, fmt: serialization.PrivateFormat
) -> None:
    key = make()  # type: ignore[operator]
    if fmt is TRADITIONAL and isinstance(key, Ed25519PrivateKey):
        fmt = PKCS8  # Ed25519 has no traditional format
    der, chosen = load_private_pem(_pem(key, fmt), alg)
    assert chosen is implied
    assert der == key.private_bytes(serialization.Encoding.DER, PKCS8, serialization.NoEncryption())
    assert public_jwk(der, chosen)["alg"] == implied.value


@pytest.mark.parametrize("fmt", [PKCS8, TRADITIONAL], ids=["pkcs8", "traditional"])
def test_encrypted_keys_need_their_passphrase(fmt: serialization.PrivateFormat) -> None:
    pem = _pem(_p256(), fmt, PASSPHRASE)
    with pytest.raises(NeedsPassphrase, match="--passphrase-file"):
        load_private_pem(pem)
    with pytest.raises(ValueError, match="wrong passphrase"):
        load_private_pem(pem, passphrase=b"not it")
    der, alg = load_private_pem(pem, passphrase=PASSPHRASE)
    assert alg is SigningAlg.ES256 and der == load_private_pem(_pem(_p256()))[0]
    with pytest.raises(ValueError, match="not encrypted"):
        load_private_pem(_pem(_p256()), passphrase=PASSPHRASE)


def test_ambiguous_and_mismatched_algorithms_are_refused() -> None:
    with pytest.raises(ValueError, match="RS256 or PS256: say which with --alg"):
        load_private_pem(_pem(_rsa()))
    with pytest.raises(ValueError, match="an RSA key cannot sign ES256"):
        load_private_pem(_pem(_rsa()), SigningAlg.ES256)
    with pytest.raises(ValueError, match="EC P-256 key cannot sign RS256"):
        load_private_pem(_pem(_p256()), SigningAlg.RS256)
    with pytest.raises(ValueError, match="Ed25519 key cannot sign ES256"):
        load_private_pem(_pem(_ed25519()), SigningAlg.ES256)


def test_weak_and_unsupported_keys_are_refused() -> None:
    with pytest.raises(ValueError, match="1024 bits"):
        load_private_pem(_pem(_rsa(1024)), SigningAlg.RS256)
    with pytest.raises(ValueError, match="secp384r1: ES256 needs a P-256"):
        load_private_pem(_pem(ec.generate_private_key(ec.SECP384R1())))
    with pytest.raises(ValueError, match="unsupported key type"):
        load_private_pem(_pem(Ed448PrivateKey.generate()))
    with pytest.raises(ValueError, match="unsupported key type"):
        load_private_pem(_pem(dsa.generate_private_key(2048)))


def test_what_is_not_a_private_key_is_refused() -> None:
    public = (
        _p256().public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    with pytest.raises(ValueError, match="public key"):
        load_private_pem(public)
    rsa_public = _rsa().public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.PKCS1)
    with pytest.raises(ValueError, match="public key"):
        load_private_pem(rsa_public)
    with pytest.raises(ValueError, match="not a PEM"):
        load_private_pem(b"")
    with pytest.raises(ValueError, match="not a PEM"):
        load_private_pem(_p256().private_bytes(serialization.Encoding.DER, PKCS8, serialization.NoEncryption()))
    with pytest.raises(ValueError, match="no PEM private key"):
        load_private_pem(b"-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n")
    with pytest.raises(ValueError, match="cannot be read"):
        load_private_pem(b"-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n")
    with pytest.raises(ValueError, match="larger than 64 KiB"):
        load_private_pem(_pem(_p256()) + b"\n" * MAX_PEM_BYTES)


def test_errors_never_quote_the_key() -> None:
    pem = _pem(_rsa())
    body = b"".join(pem.splitlines()[1:-1]).decode()
    for alg in (None, SigningAlg.ES256):
        with pytest.raises(ValueError) as caught:
            load_private_pem(pem, alg)
        assert body[:16] not in str(caught.value) and "BEGIN" not in str(caught.value)
