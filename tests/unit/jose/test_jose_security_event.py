"""Security Event Tokens are their own purpose: RFC 8417 §2.2/§2.3, OpenID SSF 1.0 §4.1 (no sub, no exp)."""

from __future__ import annotations

import time

import jwt as pyjwt
import pytest

from lukhas_id.domain.keys import SigningAlg
from lukhas_id.jose import InvalidToken, SigningKeyMaterial, TokenPurpose, VerificationKeySet, sign, verify
from lukhas_id.jose.keys import generate_private_key, public_jwk

ISS = "https://id.example.com"
SET = TokenPurpose.SECURITY_EVENT
VERIFY = "https://schemas.openid.net/secevent/ssf/event-type/verification"


@pytest.fixture(scope="module", params=[SigningAlg.ES256, SigningAlg.RS256])
def keypair(request: pytest.FixtureRequest) -> tuple[SigningKeyMaterial, VerificationKeySet, dict[str, str]]:
    der = generate_private_key(request.param)
    jwk = public_jwk(der, request.param)
    return SigningKeyMaterial(jwk["kid"], request.param, der), VerificationKeySet([jwk]), jwk


def _claims() -> dict[str, object]:
    return {
        "iss": ISS,
        "aud": "cl_receiver",
        "iat": int(time.time()),
        "jti": "j-1",
        "sub_id": {"format": "opaque", "id": "stream-1"},
        "events": {VERIFY: {"state": "s"}},
    }


def test_set_round_trip_typ_and_an_independent_library(keypair) -> None:  # type: ignore[no-untyped-def]
    key, keys, jwk = keypair
    token = sign(_claims(), SET, key)
    assert pyjwt.get_unverified_header(token)["typ"] == "secevent+jwt"
    assert verify(token, SET, keys, issuer=ISS, now=time.time(), audience="cl_receiver")["events"] == {
        VERIFY: {"state": "s"}
    }
    decoded = pyjwt.decode(token, key=pyjwt.PyJWK(jwk), algorithms=[key.alg.value], audience="cl_receiver")
    assert decoded["sub_id"] == {"format": "opaque", "id": "stream-1"}


@pytest.mark.parametrize("claim", ["sub", "exp"])
def test_sub_and_exp_are_refused_on_sign(keypair, claim: str) -> None:  # type: ignore[no-untyped-def]
    key, _, _ = keypair
    with pytest.raises(ValueError, match=f"claim {claim} is not allowed"):
        sign({**_claims(), claim: "x" if claim == "sub" else 1}, SET, key)


@pytest.mark.parametrize("missing", ["iss", "iat", "jti", "aud", "events"])
def test_set_requires_its_claims(keypair, missing: str) -> None:  # type: ignore[no-untyped-def]
    key, _, _ = keypair
    claims = _claims()
    del claims[missing]
    with pytest.raises(ValueError, match=missing):
        sign(claims, SET, key)


def test_events_must_be_a_non_empty_object(keypair) -> None:  # type: ignore[no-untyped-def]
    key, _, _ = keypair
    for bad in ({}, [VERIFY], "x"):
        with pytest.raises(ValueError, match="events"):
            sign({**_claims(), "events": bad}, SET, key)


def test_a_set_is_no_other_token_and_no_other_token_is_a_set(keypair) -> None:  # type: ignore[no-untyped-def]
    key, keys, _ = keypair
    token = sign(_claims(), SET, key)
    for purpose in (TokenPurpose.ACCESS_TOKEN, TokenPurpose.ID_TOKEN):
        with pytest.raises(InvalidToken):
            verify(token, purpose, keys, issuer=ISS, now=time.time())
    now = int(time.time())
    id_token = sign({"iss": ISS, "sub": "u", "aud": "a", "exp": now + 60, "iat": now}, TokenPurpose.ID_TOKEN, key)
    with pytest.raises(InvalidToken):
        verify(id_token, SET, keys, issuer=ISS, now=time.time())
