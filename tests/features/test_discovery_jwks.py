"""Discovery (RFC 8414, OIDC Discovery) and the JWKS (RFC 7517): contents, caching, ETag."""

from __future__ import annotations

import base64

from lukhas_id.domain.keys import SigningAlg
from lukhas_id.settings import Settings
from tests.support.harness import BASE, Harness, running

PRIVATE_MEMBERS = {"d", "p", "q", "dp", "dq", "qi", "k"}


def _b64(text: str) -> bytes:
    assert "=" not in text and "+" not in text and "/" not in text
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


async def test_metadata_lists_only_what_is_implemented(h: Harness) -> None:
    for path in ("/.well-known/openid-configuration", "/.well-known/oauth-authorization-server"):
        resp = await h.http.get(path)
        assert resp.status_code == 200
        assert resp.headers["content-type"].startswith("application/json")
        meta = resp.json()
        assert meta["issuer"] == BASE
        assert meta["jwks_uri"] == f"{BASE}/.well-known/jwks.json"
        assert meta["token_endpoint"] == f"{BASE}/oauth2/token"
        assert meta["introspection_endpoint"] == f"{BASE}/oauth2/introspect"
        assert meta["revocation_endpoint"] == f"{BASE}/oauth2/revoke"
        assert meta["grant_types_supported"] == ["authorization_code", "client_credentials", "refresh_token"]
        assert set(meta["token_endpoint_auth_methods_supported"]) == {
            "client_secret_basic",
            "client_secret_post",
            "none",
        }
        assert meta["authorization_endpoint"] == f"{BASE}/oauth2/authorize"
        assert meta["userinfo_endpoint"] == f"{BASE}/oauth2/userinfo"
        assert meta["response_types_supported"] == ["code"]
        assert meta["code_challenge_methods_supported"] == ["S256"]
        assert meta["authorization_response_iss_parameter_supported"] is True
        assert "RS256" in meta["id_token_signing_alg_values_supported"]
        assert meta["request_uri_parameter_supported"] is False
        assert "refresh_token" in meta["grant_types_supported"]
        assert "offline_access" in meta["scopes_supported"]
        assert meta["end_session_endpoint"] == f"{BASE}/oauth2/logout"
        assert meta["registration_endpoint"] == f"{BASE}/oauth2/register"
        assert all(v != [] for v in meta.values())
        assert "max-age=" in resp.headers["cache-control"]
        assert resp.headers["access-control-allow-origin"] == "*"


async def test_jwks_members_and_caching(h: Harness) -> None:
    resp = await h.http.get("/.well-known/jwks.json")
    assert resp.status_code == 200
    assert "max-age=300" in resp.headers["cache-control"]
    etag = resp.headers["etag"]
    keys = resp.json()["keys"]
    assert len(keys) == 2  # the active key and the next one, both published
    assert len({k["kid"] for k in keys}) == 2
    for key in keys:
        assert key["kty"] == "EC" and key["crv"] == "P-256"
        assert key["use"] == "sig" and key["alg"] == "ES256"
        assert len(_b64(key["x"])) == 32 and len(_b64(key["y"])) == 32
        assert not PRIVATE_MEMBERS & set(key)
    again = await h.http.get("/.well-known/jwks.json", headers={"if-none-match": etag})
    assert again.status_code == 304
    assert again.content == b""


async def test_jwks_etag_changes_with_rotation(h: Harness) -> None:
    before = (await h.http.get("/.well-known/jwks.json")).headers["etag"]
    tenant = await h.tenant()
    await h.c.keys.rotate(tenant.id, SigningAlg(tenant.access_token_alg))
    resp = await h.http.get("/.well-known/jwks.json", headers={"if-none-match": before})
    assert resp.status_code == 200
    assert resp.headers["etag"] != before
    assert len(resp.json()["keys"]) == 3  # retired, active, next


async def test_healthz_and_readyz(h: Harness) -> None:
    assert (await h.http.get("/healthz")).json() == {"status": "ok"}
    resp = await h.http.get("/readyz")
    assert resp.status_code == 200, resp.text
    assert resp.json() == {"status": "ready"}


async def test_readyz_names_the_failing_part(h: Harness) -> None:
    await h.c.database.dispose()

    async def broken() -> None:
        raise ConnectionError("down")

    h.c.database.ping = broken  # type: ignore[method-assign]
    resp = await h.http.get("/readyz")
    assert resp.status_code == 503
    assert "database" in resp.json()["failing"]


async def test_server_timing_is_off_by_default_and_on_when_configured(h: Harness, prepared: Settings) -> None:
    assert "server-timing" not in (await h.http.get("/healthz")).headers
    async with running(prepared.model_copy(update={"server_timing": True})) as timed:
        for resp in (await timed.http.get("/healthz"), await timed.http.post("/oauth2/token", data={})):
            value = resp.headers["server-timing"]
            assert value.startswith("app;dur=") and float(value.removeprefix("app;dur=")) >= 0
