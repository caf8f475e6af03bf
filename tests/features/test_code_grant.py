"""The authorization_code grant at the token endpoint, with codes minted through the service layer.

RFC 6749 §4.1.3 / §10.5, OAuth 2.1 §4.1.3, RFC 7636, OIDC Core §3.1.3. (The authorization endpoint and
its pages arrive in the next increment; these tests start where it hands over: a code.)
"""

from __future__ import annotations

import asyncio
import base64
import hashlib

import jwt
import pytest

from lukhas_id import ids
from lukhas_id.clock import FixedClock
from lukhas_id.domain.client import GrantType, SubjectType
from lukhas_id.domain.principal import PrincipalType
from tests.support.harness import BASE, Harness, basic
from tests.support.rp import mint, pkce_pair, redeem, rp


@pytest.mark.parametrize("public", [False, True], ids=["confidential", "public"])
async def test_code_redeemed_for_tokens_and_a_valid_id_token(h: Harness, public: bool) -> None:
    party = await rp(h, public=public)
    verifier, challenge = pkce_pair()
    code, grant = await mint(h, party, challenge)
    status, body = await redeem(h, party, code, verifier)
    assert status == 200, body
    assert body["token_type"] == "Bearer"
    assert body["scope"] == "openid profile"
    id_token = str(body["id_token"])
    header = jwt.get_unverified_header(id_token)
    assert header["alg"] == "RS256" and header["typ"] == "JWT"
    jwks = jwt.PyJWKSet.from_dict((await h.http.get("/.well-known/jwks.json")).json())
    claims = jwt.decode(
        id_token, key=jwks[header["kid"]], algorithms=["RS256"], audience=party.client.client_id, issuer=BASE
    )
    assert claims["sub"] == grant.user_lid
    assert claims["nonce"] == grant.nonce
    assert claims["azp"] == party.client.client_id
    assert claims["auth_time"] == grant.auth_time
    assert claims["sid"] == "sid-1" and claims["amr"] == ["pwd"] and claims["acr"] == grant.acr
    digest = hashlib.sha256(str(body["access_token"]).encode()).digest()[:16]
    assert claims["at_hash"] == base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    access = jwt.decode(str(body["access_token"]), options={"verify_signature": False})
    assert access["sub"] == grant.user_lid and access["lid_type"] == "USR"
    assert access["auth_time"] == grant.auth_time


async def test_pairwise_subject_differs_per_sector_and_is_stable(h: Harness) -> None:
    party = await rp(h, subject_type=SubjectType.PAIRWISE)
    user = (await h.c.users.create(party.tenant, "pairwise-user")).lid
    subs = []
    for _ in range(2):
        verifier, challenge = pkce_pair()
        code, _ = await mint(h, party, challenge, user_lid=user)
        _, body = await redeem(h, party, code, verifier)
        subs.append(jwt.decode(str(body["id_token"]), options={"verify_signature": False})["sub"])
    assert subs[0] == subs[1] != user
    assert ids.parse(subs[0]).type is PrincipalType.USER


async def test_code_reuse_fails_and_revokes_the_tokens_it_issued(h: Harness) -> None:
    party = await rp(h)
    verifier, challenge = pkce_pair()
    code, _ = await mint(h, party, challenge)
    status, body = await redeem(h, party, code, verifier)
    assert status == 200
    access_token = str(body["access_token"])
    assert (await h.c.tokens.introspect(party.tenant, party.client, _form(access_token)))["active"] is True
    status, body = await redeem(h, party, code, verifier)
    assert (status, body["error"]) == (400, "invalid_grant")
    assert await h.c.tokens.introspect(party.tenant, party.client, _form(access_token)) == {"active": False}


def _form(token: str):  # type: ignore[no-untyped-def]
    from lukhas_id.protocol.oauth2.request import OAuthRequest

    return OAuthRequest({"token": [token]}, None)


async def test_concurrent_redemptions_have_one_winner(h: Harness) -> None:
    party = await rp(h)
    verifier, challenge = pkce_pair()
    code, _ = await mint(h, party, challenge)
    results = await asyncio.gather(*(redeem(h, party, code, verifier) for _ in range(8)))
    assert sorted(status for status, _ in results) == [200] + [400] * 7


@pytest.mark.parametrize(
    ("verifier", "error"),
    [
        (None, "invalid_request"),  # missing verifier
        ("x" * 42, "invalid_grant"),  # too short for RFC 7636 §4.1
        ("A" * 43, "invalid_grant"),  # well formed, wrong
        ("é" * 43, "invalid_grant"),  # outside the unreserved characters
    ],
)
async def test_pkce_failures(h: Harness, verifier: str | None, error: str) -> None:
    party = await rp(h)
    _, challenge = pkce_pair()
    code, _ = await mint(h, party, challenge)
    status, body = await redeem(h, party, code, verifier)
    assert (status, body["error"]) == (400, error)


async def test_redirect_uri_must_match_when_it_was_sent(h: Harness) -> None:
    party = await rp(h)
    for sent in ("http://127.0.0.1/cb", None):
        verifier, challenge = pkce_pair()
        code, _ = await mint(h, party, challenge)
        status, body = await redeem(h, party, code, verifier, redirect_uri=sent)  # type: ignore[arg-type]
        assert (status, body["error"]) == (400, "invalid_grant")
    # Not sent in the authorization request (one registered URI): it may be omitted here.
    verifier, challenge = pkce_pair()
    code, _ = await mint(h, party, challenge, redirect_uri_sent=False)
    status, _ = await redeem(h, party, code, verifier, redirect_uri=None)  # type: ignore[arg-type]
    assert status == 200


async def test_a_code_issued_to_another_client_is_invalid_grant(h: Harness) -> None:
    owner, thief = await rp(h), await rp(h)
    verifier, challenge = pkce_pair()
    code, _ = await mint(h, owner, challenge)
    status, body = await redeem(h, thief, code, verifier)
    assert (status, body["error"]) == (400, "invalid_grant")


async def test_unknown_code_and_garbage(h: Harness) -> None:
    party = await rp(h)
    verifier, _ = pkce_pair()
    for code in ("nope", "x" * 600):
        status, body = await redeem(h, party, code, verifier)
        assert (status, body["error"]) == (400, "invalid_grant")


async def test_expired_code(hc: Harness, clock: FixedClock, backend: dict[str, object]) -> None:
    if "redis_url" in backend:
        pytest.skip("Redis expires keys by its own clock; the 60 s lifetime is checked on the embedded store")
    party = await rp(hc)
    verifier, challenge = pkce_pair()
    code, _ = await mint(hc, party, challenge)
    clock.advance(61)
    status, body = await redeem(hc, party, code, verifier)
    assert (status, body["error"]) == (400, "invalid_grant")


async def test_a_client_without_the_grant_is_unauthorized_client(h: Harness) -> None:
    machine = await h.client()
    resp = await h.http.post(
        "/oauth2/token", data={"grant_type": "authorization_code", "code": "x"}, headers=machine.auth
    )
    assert (resp.status_code, resp.json()["error"]) == (400, "unauthorized_client")


async def test_public_and_confidential_client_authentication(h: Harness) -> None:
    public, confidential = await rp(h, public=True), await rp(h)
    # A confidential client must authenticate; naming it is not enough.
    resp = await h.http.post(
        "/oauth2/token",
        data={"grant_type": "authorization_code", "code": "x", "client_id": confidential.client.client_id},
    )
    assert (resp.status_code, resp.json()["error"]) == (401, "invalid_client")
    # A public client has no secret to present.
    resp = await h.http.post(
        "/oauth2/token",
        data={"grant_type": "authorization_code", "code": "x"},
        headers=basic(public.client.client_id, "made-up"),
    )
    assert (resp.status_code, resp.json()["error"]) == (401, "invalid_client")
    # A public client may not introspect.
    resp = await h.http.post("/oauth2/introspect", data={"token": "x", "client_id": public.client.client_id})
    assert resp.status_code == 401


async def test_an_id_token_key_made_by_another_process_is_found_at_once(h: Harness) -> None:
    """The CLI makes a tenant's first key of an algorithm while servers run with a cached key set."""
    from lukhas_id.adapters.sql import SqlSigningKeyRepository
    from lukhas_id.clock import SystemClock
    from lukhas_id.domain.keys import SigningAlg
    from lukhas_id.services.keys import KeyService

    party = await rp(h, alg="PS256")
    await h.c.keys.get(party.tenant.id)  # this process has a fresh cache without PS256 keys
    other = KeyService(
        SqlSigningKeyRepository(h.c.database),
        h.c.kek,
        SystemClock(),
        h.c.uow,
        max_access_token_ttl=3600,
        jwks_max_age=300,
    )
    await other.ensure(party.tenant.id, SigningAlg.PS256)
    verifier, challenge = pkce_pair()
    code, _ = await mint(h, party, challenge)
    status, body = await redeem(h, party, code, verifier)
    assert status == 200, body
    assert jwt.get_unverified_header(str(body["id_token"]))["alg"] == "PS256"


async def test_a_pairwise_client_needs_one_redirect_host(h: Harness) -> None:
    from lukhas_id.services.clients import InvalidClientSettings

    tenant = await h.tenant()
    with pytest.raises(InvalidClientSettings, match="one host"):
        await h.c.clients.create(
            tenant,
            name="two hosts",
            grant_types=frozenset({GrantType.AUTHORIZATION_CODE}),
            scopes=frozenset({"openid"}),
            redirect_uris=("https://a.example.com/cb", "https://b.example.com/cb"),
            subject_type=SubjectType.PAIRWISE,
        )
