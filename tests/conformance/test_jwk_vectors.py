"""Spec vectors for jose/: RFC 7638 §3.1 and RFC 8037 §A.3 thumbprints, RFC 8037 §A.4 Ed25519 signature."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from lukhas_id.domain.keys import SigningAlg
from lukhas_id.jose import VerificationKeySet, public_jwk, thumbprint
from lukhas_id.jose._algs import make_signer, make_verifier
from lukhas_id.jose._codec import b64url_decode, b64url_encode
from lukhas_id.jose.keys import load_public_jwk

HERE = Path(__file__).parent


def _load(name: str) -> Any:
    return json.loads((HERE / name).read_text(encoding="utf-8"))


THUMBPRINTS = _load("rfc7638_thumbprint.json")["vectors"]
EDDSA = _load("rfc8037_eddsa_signature.json")


@pytest.mark.parametrize("vector", THUMBPRINTS, ids=[v["name"] for v in THUMBPRINTS])
def test_thumbprint_vector(vector: dict[str, Any]) -> None:
    assert thumbprint(vector["jwk"]) == vector["thumbprint"]


def test_rfc7638_rsa_key_is_usable_for_verification() -> None:
    (rsa,) = (v["jwk"] for v in THUMBPRINTS if v["jwk"]["kty"] == "RSA")
    keys = VerificationKeySet([rsa])
    assert keys.kids() == {"2011-04-29"}


def _rfc8037_private_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(b64url_decode(EDDSA["private_jwk"]["d"].encode()))


def test_rfc8037_public_jwk_and_kid() -> None:
    der = _rfc8037_private_key().private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    jwk = public_jwk(der, SigningAlg.EDDSA)
    assert jwk == {
        "kty": "OKP",
        "crv": "Ed25519",
        "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo",
        "kid": "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k",
        "alg": "EdDSA",
        "use": "sig",
    }


def test_rfc8037_signature_is_reproduced() -> None:
    signing_input = EDDSA["protected_b64"].encode() + b"." + b64url_encode(EDDSA["payload"].encode())
    signature = make_signer(SigningAlg.EDDSA, _rfc8037_private_key())(signing_input)
    assert (signing_input + b"." + b64url_encode(signature)).decode() == EDDSA["compact"]


def test_rfc8037_signature_verifies() -> None:
    public = {k: v for k, v in EDDSA["private_jwk"].items() if k != "d"} | {"kid": "a"}
    loaded = load_public_jwk(public)
    assert loaded is not None
    _, alg, key = loaded
    assert alg is SigningAlg.EDDSA
    header, payload, signature = EDDSA["compact"].encode().split(b".")
    verify = make_verifier(alg, key)
    assert verify(header + b"." + payload, b64url_decode(signature))
    assert not verify(header + b"." + payload + b"x", b64url_decode(signature))
