"""JSON Web Keys: RFC 7517 (JWK), RFC 7518 §6 (key members), RFC 7638 (thumbprint), RFC 8037 (OKP).

Private keys live as PKCS#8 DER (encrypted under the KEK at rest); what leaves the server is the public JWK
made here, with only public members and `kid` = the RFC 7638 SHA-256 thumbprint.
"""

from __future__ import annotations

from collections.abc import Mapping

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, OKPKey, RSAKey
from joserfc.jwk import thumbprint as _joserfc_thumbprint

from lukhas_id.domain.keys import SigningAlg
from lukhas_id.jose._algs import PrivateKey, PublicKey
from lukhas_id.jose._codec import b64url_decode

__all__ = ["generate_private_key", "public_jwk", "thumbprint"]

AsymmetricJWK = RSAKey | ECKey | OKPKey

MIN_RSA_BITS = 2048  # RFC 7518 §3.3, §3.5
RSA_GENERATED_BITS = 2048
_P256_COORDINATE_BYTES = 32
_ED25519_KEY_BYTES = 32

# RFC 7518 §6.2.1, §6.3.1; RFC 8037 §2: the public members of each key type.
_PUBLIC_MEMBERS: Mapping[str, tuple[str, ...]] = {
    "RSA": ("n", "e"),
    "EC": ("crv", "x", "y"),
    "OKP": ("crv", "x"),
}
# RFC 7638 §3.2 and RFC 8037 §2: the required members hashed by the thumbprint (sorted there anyway).
_THUMBPRINT_MEMBERS: Mapping[str, tuple[str, ...]] = {
    "RSA": ("e", "kty", "n"),
    "EC": ("crv", "kty", "x", "y"),
    "OKP": ("crv", "kty", "x"),
    "oct": ("k", "kty"),
}
_KTY: Mapping[SigningAlg, str] = {
    SigningAlg.RS256: "RSA",
    SigningAlg.PS256: "RSA",
    SigningAlg.ES256: "EC",
    SigningAlg.EDDSA: "OKP",
}


def generate_private_key(alg: SigningAlg) -> bytes:
    """A fresh private key for alg as unencrypted PKCS#8 DER (RSA 2048, P-256 or Ed25519)."""
    key: PrivateKey
    if alg in (SigningAlg.RS256, SigningAlg.PS256):
        key = rsa.generate_private_key(public_exponent=65537, key_size=RSA_GENERATED_BITS)
    elif alg is SigningAlg.ES256:
        key = ec.generate_private_key(ec.SECP256R1())
    elif alg is SigningAlg.EDDSA:
        key = Ed25519PrivateKey.generate()
    else:  # pragma: no cover - SigningAlg is closed
        raise ValueError("unsupported signing algorithm")
    return key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _check_key_fits(key: PrivateKey | PublicKey, alg: SigningAlg) -> None:
    if alg in (SigningAlg.RS256, SigningAlg.PS256):
        if not isinstance(key, rsa.RSAPrivateKey | rsa.RSAPublicKey):
            raise ValueError(f"{alg} needs an RSA key")
        if key.key_size < MIN_RSA_BITS:
            raise ValueError(f"{alg} needs an RSA key of at least {MIN_RSA_BITS} bits")
    elif alg is SigningAlg.ES256:
        if not isinstance(key, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey):
            raise ValueError(f"{alg} needs an EC key")
        if not isinstance(key.curve, ec.SECP256R1):
            raise ValueError(f"{alg} needs a P-256 key")
    elif alg is SigningAlg.EDDSA:
        if not isinstance(key, Ed25519PrivateKey | Ed25519PublicKey):
            raise ValueError(f"{alg} needs an Ed25519 key")
    else:  # pragma: no cover - SigningAlg is closed
        raise ValueError("unsupported signing algorithm")


def load_private_key(private_der: bytes, alg: SigningAlg) -> AsymmetricJWK:
    """Parse PKCS#8 DER into a joserfc key; ValueError if it is not a private key fit for alg."""
    try:
        native = serialization.load_der_private_key(private_der, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise ValueError("not an unencrypted PKCS#8 DER private key") from None
    if not isinstance(native, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | Ed25519PrivateKey):
        raise ValueError(f"{alg} needs a {_KTY[alg]} key")
    _check_key_fits(native, alg)
    if isinstance(native, rsa.RSAPrivateKey):
        return RSAKey.import_key(native)
    if isinstance(native, ec.EllipticCurvePrivateKey):
        return ECKey.import_key(native)
    return OKPKey.import_key(native)


def private_key_object(key: AsymmetricJWK) -> PrivateKey:
    native = key.private_key
    if not isinstance(native, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | Ed25519PrivateKey):
        raise ValueError("not a signing private key")
    return native


def _public_members(key: AsymmetricJWK) -> dict[str, str]:
    exported = key.as_dict(private=False)
    members: dict[str, str] = {"kty": key.key_type}
    for name in _PUBLIC_MEMBERS[key.key_type]:
        value = exported[name]
        if not isinstance(value, str):  # pragma: no cover - joserfc always exports strings here
            raise ValueError(f"JWK member {name} is not a string")
        members[name] = value
    return members


def public_jwk(private_der: bytes, alg: SigningAlg) -> dict[str, str]:
    """The RFC 7517 public JWK of a private key: public members only, kid (RFC 7638), alg and use=sig."""
    jwk = _public_members(load_private_key(private_der, alg))
    jwk["kid"] = thumbprint(jwk)
    jwk["alg"] = alg.value
    jwk["use"] = "sig"
    return jwk


def thumbprint(jwk: Mapping[str, object]) -> str:
    """RFC 7638 SHA-256 thumbprint: required members only, sorted, no whitespace, base64url without padding.

    Private and optional members (d, kid, alg, use...) are ignored, so a private key's thumbprint equals
    its public key's (§3.2.1).
    """
    kty = jwk.get("kty")
    if not isinstance(kty, str) or kty not in _THUMBPRINT_MEMBERS:
        raise ValueError("JWK has no supported kty")
    required: dict[str, object] = {}
    for name in _THUMBPRINT_MEMBERS[kty]:
        value = jwk.get(name)
        if not isinstance(value, str) or not value:
            raise ValueError(f"JWK lacks the required member {name}")
        if not value.isascii():  # joserfc hashes ASCII-escaped JSON; all registered values are ASCII
            raise ValueError(f"JWK member {name} is not ASCII")
        required[name] = value
    return _joserfc_thumbprint(required)


def _inferred_alg(kty: str, jwk: Mapping[str, object]) -> SigningAlg | None:
    """The algorithm of a JWK: its `alg`, else the only one its curve allows (RSA keys need `alg`)."""
    alg = jwk.get("alg")
    if alg is not None:
        if not isinstance(alg, str):
            return None
        try:
            return SigningAlg(alg)
        except ValueError:
            return None  # an algorithm we do not verify (RS384, ES384, RSA-OAEP...)
    crv = jwk.get("crv")
    if kty == "EC" and crv == "P-256":
        return SigningAlg.ES256
    if kty == "OKP" and crv == "Ed25519":
        return SigningAlg.EDDSA
    return None


def load_public_jwk(jwk: Mapping[str, object]) -> tuple[str, SigningAlg, PublicKey] | None:
    """(kid, alg, public key) for a JWK we can verify with; None for keys to skip (RFC 7517 §5: unknown
    kty, other use or key_ops, unsupported alg, no kid). ValueError for a malformed key of a known type.

    Only the public members are imported, even if the JWK carries private ones.
    """
    kty = jwk.get("kty")
    if not isinstance(kty, str) or kty not in _PUBLIC_MEMBERS:
        return None
    use = jwk.get("use")
    if use is not None and use != "sig":
        return None
    key_ops = jwk.get("key_ops")
    if key_ops is not None and (not isinstance(key_ops, list) or "verify" not in key_ops):
        return None
    kid = jwk.get("kid")
    if not isinstance(kid, str) or not kid:
        return None
    alg = _inferred_alg(kty, jwk)
    if alg is None:
        return None
    if _KTY[alg] != kty:
        raise ValueError(f"JWK {kid!r}: alg {alg} does not fit kty {kty}")

    public: dict[str, str | list[str]] = {"kty": kty}
    for name in _PUBLIC_MEMBERS[kty]:
        value = jwk.get(name)
        if not isinstance(value, str) or not value:
            raise ValueError(f"JWK {kid!r}: member {name} missing or not a string")
        public[name] = value
    _check_public_members(kid, alg, public)
    try:
        key: AsymmetricJWK
        if kty == "RSA":
            key = RSAKey.import_key(public)
        elif kty == "EC":
            key = ECKey.import_key(public)
        else:
            key = OKPKey.import_key(public)
        native = key.public_key
    except (JoseError, ValueError, TypeError):
        raise ValueError(f"JWK {kid!r}: invalid {kty} public key") from None
    if not isinstance(native, rsa.RSAPublicKey | ec.EllipticCurvePublicKey | Ed25519PublicKey):
        raise ValueError(f"JWK {kid!r}: not a signature key")
    _check_key_fits(native, alg)
    return kid, alg, native


def _octets(kid: str, name: str, value: str | list[str]) -> bytes:
    try:
        if not isinstance(value, str):
            raise ValueError
        return b64url_decode(value.encode("ascii"))
    except (ValueError, UnicodeEncodeError):
        raise ValueError(f"JWK {kid!r}: member {name} is not base64url") from None


def _check_public_members(kid: str, alg: SigningAlg, public: Mapping[str, str | list[str]]) -> None:
    """Sizes checked before import (joserfc would only warn about a short RSA modulus)."""
    if alg in (SigningAlg.RS256, SigningAlg.PS256):
        if int.from_bytes(_octets(kid, "n", public["n"]), "big").bit_length() < MIN_RSA_BITS:
            raise ValueError(f"JWK {kid!r}: RSA modulus shorter than {MIN_RSA_BITS} bits")
    elif alg is SigningAlg.ES256:
        # RFC 7518 §6.2.1.2-3: coordinates at full length.
        if public["crv"] != "P-256" or any(
            len(_octets(kid, c, public[c])) != _P256_COORDINATE_BYTES for c in ("x", "y")
        ):
            raise ValueError(f"JWK {kid!r}: {alg} needs crv P-256 with 32-byte x and y")
    elif public["crv"] != "Ed25519" or len(_octets(kid, "x", public["x"])) != _ED25519_KEY_BYTES:
        raise ValueError(f"JWK {kid!r}: {alg} needs crv Ed25519 with a 32-byte x")
