"""ID tokens are their own purpose: typ JWT, OIDC Core §2 claims; never interchangeable with access tokens."""

from __future__ import annotations

import time

import jwt as pyjwt
import pytest

from lukhas_id.domain.keys import SigningAlg
from lukhas_id.jose import InvalidToken, SigningKeyMaterial, TokenPurpose, VerificationKeySet, sign, verify
from lukhas_id.jose.keys import generate_private_key, public_jwk

ISS = "https://id.example.com"


@pytest.fixture(scope="module", params=list(SigningAlg))
def keypair(request: pytest.FixtureRequest) -> tuple[SigningKeyMaterial, VerificationKeySet, dict[str, str]]:
    der = generate_private_key(request.param)
    jwk = public_jwk(der, request.param)
    return SigningKeyMaterial(jwk["kid"], request.param, der), VerificationKeySet([jwk]), jwk


def _claims() -> dict[str, object]:
    now = int(time.time())
    return {"iss": ISS, "sub": "USR-x", "aud": "client-1", "exp": now + 300, "iat": now, "nonce": "n-1"}


def test_id_token_round_trip_and_typ(keypair) -> None:  # type: ignore[no-untyped-def]
    key, keys, jwk = keypair
    token = sign(_claims(), TokenPurpose.ID_TOKEN, key)
    assert pyjwt.get_unverified_header(token)["typ"] == "JWT"
    claims = verify(token, TokenPurpose.ID_TOKEN, keys, issuer=ISS, now=time.time(), audience="client-1")
    assert claims["nonce"] == "n-1"
    # An independent library agrees.
    decoded = pyjwt.decode(token, key=pyjwt.PyJWK(jwk), algorithms=[key.alg.value], audience="client-1")
    assert decoded["sub"] == "USR-x"


def test_id_token_is_never_an_access_token_and_back(keypair) -> None:  # type: ignore[no-untyped-def]
    key, keys, _ = keypair
    id_token = sign(_claims(), TokenPurpose.ID_TOKEN, key)
    with pytest.raises(InvalidToken):
        verify(id_token, TokenPurpose.ACCESS_TOKEN, keys, issuer=ISS, now=time.time())
    at_claims = {**_claims(), "client_id": "client-1", "jti": "j-1"}
    access_token = sign(at_claims, TokenPurpose.ACCESS_TOKEN, key)
    with pytest.raises(InvalidToken):
        verify(access_token, TokenPurpose.ID_TOKEN, keys, issuer=ISS, now=time.time())


@pytest.mark.parametrize("missing", ["iss", "sub", "aud", "exp", "iat"])
def test_id_token_requires_core_claims(keypair, missing: str) -> None:  # type: ignore[no-untyped-def]
    key, _, _ = keypair
    claims = _claims()
    del claims[missing]
    with pytest.raises(ValueError, match=missing):
        sign(claims, TokenPurpose.ID_TOKEN, key)
