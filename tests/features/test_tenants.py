"""Tenants: each has its own issuer, keys and clients; a token of one is never accepted by another."""

from __future__ import annotations

import jwt
import pytest

from lukhas_id.domain.client import TokenFormat
from tests.support.harness import BASE, Harness


@pytest.mark.parametrize("fmt", [TokenFormat.JWT, TokenFormat.OPAQUE])
async def test_a_token_of_one_tenant_is_inactive_in_another(h: Harness, fmt: TokenFormat) -> None:
    a = await h.client(tenant="acme", token_format=fmt)
    b = await h.client(tenant="globex", token_format=fmt)
    token = await h.access_token(a)
    assert (await h.introspect(a, token))["active"] is True
    assert await h.introspect(b, token) == {"active": False}
    # Nor at the default tenant.
    d = await h.client()
    assert await h.introspect(d, token) == {"active": False}
    # And tenant B cannot revoke it.
    assert (await h.revoke(b, token)).status_code == 200
    assert (await h.introspect(a, token))["active"] is True


async def test_tenant_issuer_and_endpoints(h: Harness) -> None:
    rc = await h.client(tenant="acme")
    meta = (await h.http.get("/t/acme/.well-known/openid-configuration")).json()
    assert meta["issuer"] == f"{BASE}/t/acme"
    assert meta["token_endpoint"] == f"{BASE}/t/acme/oauth2/token"
    # RFC 8414 §3.1: the well-known segment inserted between host and path.
    inserted = (await h.http.get("/.well-known/oauth-authorization-server/t/acme")).json()
    assert inserted == meta
    token = await h.access_token(rc)
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["iss"] == f"{BASE}/t/acme"
    default_kids = {k["kid"] for k in (await h.http.get("/.well-known/jwks.json")).json()["keys"]}
    acme_kids = {k["kid"] for k in (await h.http.get("/t/acme/.well-known/jwks.json")).json()["keys"]}
    assert default_kids and acme_kids and not default_kids & acme_kids
    assert jwt.get_unverified_header(token)["kid"] in acme_kids


async def test_a_client_of_one_tenant_cannot_authenticate_at_another(h: Harness) -> None:
    a = await h.client(tenant="acme")
    await h.tenant("globex")
    resp = await h.http.post("/t/globex/oauth2/token", data={"grant_type": "client_credentials"}, headers=a.auth)
    assert resp.status_code == 401
    assert resp.json()["error"] == "invalid_client"


async def test_unknown_tenant_is_404(h: Harness) -> None:
    for path in (
        "/t/nobody/oauth2/token",
        "/t/nobody/.well-known/jwks.json",
        "/t/NOT_VALID/.well-known/jwks.json",
    ):
        resp = await (h.http.post(path) if "token" in path else h.http.get(path))
        assert resp.status_code == 404
        assert resp.json()["error"] in {"invalid_request", "not_found"}
    # The default tenant lives at the root only.
    assert (await h.http.get(f"/t/{h.settings.default_tenant}/.well-known/jwks.json")).status_code == 404


async def test_deterministic_lids_are_keyed_per_tenant(h: Harness) -> None:
    from lukhas_id import ids
    from lukhas_id.domain.principal import PrincipalType

    acme, globex = await h.tenant("acme"), await h.tenant("globex")
    a1 = h.c.tenants.derive_lid(acme, PrincipalType.USER, "external-42")
    assert a1 == h.c.tenants.derive_lid(acme, PrincipalType.USER, "external-42")
    assert a1 != h.c.tenants.derive_lid(globex, PrincipalType.USER, "external-42")
    assert ids.parse(a1).type is PrincipalType.USER
