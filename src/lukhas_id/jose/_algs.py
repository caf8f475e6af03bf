"""JWS signature primitives: RFC 7518 §3.3-3.5 (RS256, ES256, PS256) and RFC 8037 §3.1 (EdDSA, Ed25519).

Signers and verifiers are closures built once per key with their padding/hash objects bound.

Why `cryptography` directly and not joserfc's `jws.serialize_compact` / `deserialize_compact`: they cost
measurably more per call than a direct sign or verify (the figures: docs/PERFORMANCE.md), and neither can
enforce our header rules (duplicate members, crit, typ, kid) or skip its per-call registry, header checks
and, for EdDSA, a SecurityWarning. jose/ therefore builds the signing input itself and signs here;
joserfc still parses and exports every key (keys.py).
"""

from __future__ import annotations

from collections.abc import Callable

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey, RSAPublicKey
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature

from lukhas_id.domain.keys import SigningAlg

PrivateKey = RSAPrivateKey | ec.EllipticCurvePrivateKey | Ed25519PrivateKey
PublicKey = RSAPublicKey | ec.EllipticCurvePublicKey | Ed25519PublicKey
Signer = Callable[[bytes], bytes]
Verifier = Callable[[bytes, bytes], bool]

_SHA256 = hashes.SHA256()
_ECDSA_SHA256 = ec.ECDSA(_SHA256)
_PKCS1V15 = padding.PKCS1v15()
# RFC 7518 §3.5: MGF1 with the same hash, salt as long as the hash output.
_PSS_SHA256 = padding.PSS(mgf=padding.MGF1(_SHA256), salt_length=32)
_P256_BYTES = 32


def _rsa_padding(alg: SigningAlg) -> padding.AsymmetricPadding:
    return _PSS_SHA256 if alg is SigningAlg.PS256 else _PKCS1V15


def make_signer(alg: SigningAlg, key: PrivateKey) -> Signer:
    """A function signing a JWS signing input; the key's type must already match alg (see keys.py)."""
    if alg in (SigningAlg.RS256, SigningAlg.PS256):
        if not isinstance(key, RSAPrivateKey):
            raise TypeError("RSA key required")
        rsa_key, pad = key, _rsa_padding(alg)

        def sign_rsa(msg: bytes) -> bytes:
            return rsa_key.sign(msg, pad, _SHA256)

        return sign_rsa
    if alg is SigningAlg.ES256:
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise TypeError("EC key required")
        ec_key = key

        def sign_es256(msg: bytes) -> bytes:
            # RFC 7518 §3.4: raw R || S, each left-padded to 32 bytes (cryptography returns DER).
            r, s = decode_dss_signature(ec_key.sign(msg, _ECDSA_SHA256))
            return r.to_bytes(_P256_BYTES, "big") + s.to_bytes(_P256_BYTES, "big")

        return sign_es256
    if alg is SigningAlg.EDDSA:
        if not isinstance(key, Ed25519PrivateKey):
            raise TypeError("Ed25519 key required")
        return key.sign
    raise ValueError("unsupported signing algorithm")


def make_verifier(alg: SigningAlg, key: PublicKey) -> Verifier:
    """A function returning whether a signature over a JWS signing input is valid."""
    if alg in (SigningAlg.RS256, SigningAlg.PS256):
        if not isinstance(key, RSAPublicKey):
            raise TypeError("RSA key required")
        rsa_key, pad = key, _rsa_padding(alg)
        sig_len = (key.key_size + 7) // 8

        def verify_rsa(msg: bytes, sig: bytes) -> bool:
            if len(sig) != sig_len:
                return False
            try:
                rsa_key.verify(sig, msg, pad, _SHA256)
            except InvalidSignature:
                return False
            return True

        return verify_rsa
    if alg is SigningAlg.ES256:
        if not isinstance(key, ec.EllipticCurvePublicKey):
            raise TypeError("EC key required")
        ec_key = key

        def verify_es256(msg: bytes, sig: bytes) -> bool:
            if len(sig) != 2 * _P256_BYTES:  # a DER signature is never accepted
                return False
            r = int.from_bytes(sig[:_P256_BYTES], "big")
            s = int.from_bytes(sig[_P256_BYTES:], "big")
            try:
                ec_key.verify(encode_dss_signature(r, s), msg, _ECDSA_SHA256)
            except InvalidSignature:
                return False
            return True

        return verify_es256
    if alg is not SigningAlg.EDDSA:
        raise ValueError("unsupported signing algorithm")
    if not isinstance(key, Ed25519PublicKey):
        raise TypeError("Ed25519 key required")
    ed_key = key

    def verify_eddsa(msg: bytes, sig: bytes) -> bool:
        if len(sig) != 64:
            return False
        try:
            ed_key.verify(sig, msg)
        except InvalidSignature:
            return False
        return True

    return verify_eddsa
