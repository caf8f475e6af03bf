"""Introspection (RFC 7662) and revocation (RFC 7009), including mass revocation markers."""

from __future__ import annotations

import base64
import json

import pytest

from lukhas_id.clock import FixedClock
from lukhas_id.domain.client import TokenFormat
from lukhas_id.domain.token import MarkerKind
from tests.support.harness import Harness

FORMATS = [TokenFormat.JWT, TokenFormat.OPAQUE]


@pytest.mark.parametrize("fmt", FORMATS)
async def test_introspect_then_revoke_makes_the_token_inactive(h: Harness, fmt: TokenFormat) -> None:
    rc = await h.client(token_format=fmt)
    token = await h.access_token(rc)
    info = await h.introspect(rc, token)
    assert info["active"] is True
    assert info["iss"] == "http://testserver"
    assert info["token_type"] == "Bearer"
    resp = await h.revoke(rc, token, token_type_hint="access_token")
    assert resp.status_code == 200
    assert resp.headers["cache-control"] == "no-store"
    assert await h.introspect(rc, token) == {"active": False}
    # Revoking again, or an unknown token, is still 200 (RFC 7009 §2.2).
    assert (await h.revoke(rc, token)).status_code == 200
    assert (await h.revoke(rc, "not-a-token")).status_code == 200


async def test_revocation_with_a_wrong_or_unknown_hint_still_finds_the_token(h: Harness) -> None:
    rc = await h.client()
    token = await h.access_token(rc)
    assert (await h.revoke(rc, token, token_type_hint="refresh_token")).status_code == 200
    assert await h.introspect(rc, token) == {"active": False}
    token = await h.access_token(rc)
    assert (await h.revoke(rc, token, token_type_hint="mystery")).status_code == 200
    assert await h.introspect(rc, token) == {"active": False}


async def test_a_client_cannot_revoke_another_clients_token(h: Harness) -> None:
    owner, other = await h.client(), await h.client()
    token = await h.access_token(owner)
    resp = await h.revoke(other, token)
    assert resp.status_code == 400
    assert resp.json()["error"] == "unauthorized_client"
    assert (await h.introspect(owner, token))["active"] is True


@pytest.mark.parametrize("fmt", FORMATS)
async def test_who_may_introspect(h: Harness, fmt: TokenFormat) -> None:
    owner = await h.client(token_format=fmt, resources=("urn:example:api", "urn:example:other"))
    resource_server = await h.client(resources=("urn:example:api",))
    stranger = await h.client(resources=("urn:example:elsewhere",))
    token = await h.access_token(owner, resource="urn:example:api")
    # The client it was issued to, and a resource server the token is meant for (its audience).
    assert (await h.introspect(owner, token))["active"] is True
    assert (await h.introspect(resource_server, token))["active"] is True
    # Any other client of the tenant learns nothing (RFC 7662 §2.2).
    assert await h.introspect(stranger, token) == {"active": False}
    other_aud = await h.access_token(owner, resource="urn:example:other")
    assert await h.introspect(resource_server, other_aud) == {"active": False}


@pytest.mark.parametrize(
    "token",
    [
        "garbage",
        "a.b.c",
        "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.",
        "x" * 20000,
        "",
    ],
)
async def test_malformed_or_unknown_tokens_are_just_inactive(h: Harness, token: str) -> None:
    rc = await h.client()
    resp = await h.http.post("/oauth2/introspect", data={"token": token}, headers=rc.auth)
    if token == "":
        assert resp.status_code == 400
        assert resp.json()["error"] == "invalid_request"
    else:
        assert resp.status_code == 200
        assert resp.json() == {"active": False}


async def test_wrongly_signed_token_is_inactive(h: Harness) -> None:
    rc = await h.client()
    token = await h.access_token(rc)
    head, payload, sig = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["scope"] = "admin"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    assert await h.introspect(rc, f"{head}.{forged}.{sig}") == {"active": False}
    flipped = sig[:-2] + ("A" if sig[-2] != "A" else "B") + sig[-1]
    assert await h.introspect(rc, f"{head}.{payload}.{flipped}") == {"active": False}


@pytest.mark.parametrize("fmt", FORMATS)
async def test_expired_tokens_are_inactive(hc: Harness, clock: FixedClock, fmt: TokenFormat) -> None:
    rc = await hc.client(token_format=fmt, ttl=60)
    token = await hc.access_token(rc)
    clock.advance(59)
    assert (await hc.introspect(rc, token))["active"] is True
    clock.advance(2)
    assert await hc.introspect(rc, token) == {"active": False}


@pytest.mark.parametrize("fmt", FORMATS)
async def test_mass_revocation_by_client(hc: Harness, clock: FixedClock, fmt: TokenFormat) -> None:
    rc, bystander = await hc.client(token_format=fmt), await hc.client(token_format=fmt)
    before, other = await hc.access_token(rc), await hc.access_token(bystander)
    await hc.c.tokens.revoke_all(rc.tenant, MarkerKind.CLIENT, rc.client_id)
    assert await hc.introspect(rc, before) == {"active": False}
    assert (await hc.introspect(rc, other))["active"] is True
    clock.advance(1)
    after = await hc.access_token(rc)
    assert (await hc.introspect(rc, after))["active"] is True


async def test_mass_revocation_by_subject(hc: Harness, clock: FixedClock) -> None:
    rc = await hc.client()
    token = await hc.access_token(rc)
    await hc.c.tokens.revoke_all(rc.tenant, MarkerKind.SUBJECT, rc.client.principal_lid)
    assert await hc.introspect(rc, token) == {"active": False}
    clock.advance(1)
    assert (await hc.introspect(rc, await hc.access_token(rc)))["active"] is True


async def test_introspection_requires_client_authentication(h: Harness) -> None:
    rc = await h.client()
    token = await h.access_token(rc)
    resp = await h.http.post("/oauth2/introspect", data={"token": token})
    assert resp.status_code == 401
    assert resp.json()["error"] == "invalid_client"
    assert resp.headers["www-authenticate"].startswith("Basic")
    resp = await h.http.post("/oauth2/revoke", data={"token": token})
    assert resp.status_code == 401


@pytest.mark.parametrize("hint", ["access_token", "refresh_token", "something_else"])
async def test_introspection_hint_is_only_a_hint(h: Harness, hint: str) -> None:
    rc = await h.client()
    token = await h.access_token(rc)
    resp = await h.http.post("/oauth2/introspect", data={"token": token, "token_type_hint": hint}, headers=rc.auth)
    assert resp.status_code == 200
    assert resp.json()["active"] is True
    assert resp.headers["cache-control"] == "no-store"
