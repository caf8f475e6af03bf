"""client_credentials grant (RFC 6749 §4.4) with RFC 9068 JWT and opaque access tokens."""

from __future__ import annotations

import jwt
import pytest

from lukhas_id import ids
from lukhas_id.domain.client import ClientAuthMethod, TokenFormat
from lukhas_id.domain.principal import PrincipalType
from tests.support.harness import BASE, Harness


async def _jwks(h: Harness, tenant: str | None = None) -> jwt.PyJWKSet:
    resp = await h.http.get(f"{h.base(tenant)}/.well-known/jwks.json")
    assert resp.status_code == 200
    return jwt.PyJWKSet.from_dict(resp.json())


async def test_jwt_access_token_follows_rfc_9068(h: Harness) -> None:
    rc = await h.client(principal_type=PrincipalType.AGENT)
    resp = await h.token(rc, scope="api:read")
    assert resp.status_code == 200
    assert resp.headers["cache-control"] == "no-store"
    assert resp.headers["pragma"] == "no-cache"
    body = resp.json()
    assert body["token_type"] == "Bearer"
    assert body["scope"] == "api:read"
    assert 0 < body["expires_in"] <= 3600
    token = body["access_token"]
    header = jwt.get_unverified_header(token)
    assert header["typ"] == "at+jwt"
    assert header["alg"] == "ES256"
    keyset = await _jwks(h)
    key = keyset[header["kid"]]
    claims = jwt.decode(token, key=key, algorithms=["ES256"], audience="urn:example:api", issuer=BASE)
    assert claims["sub"] == rc.client.principal_lid
    assert ids.parse(claims["sub"]).type is PrincipalType.AGENT
    assert claims["lid_type"] == "AGT"
    assert claims["client_id"] == rc.client_id
    assert claims["scope"] == "api:read"
    assert claims["exp"] - claims["iat"] == body["expires_in"]
    assert set(claims) >= {"iss", "sub", "aud", "client_id", "scope", "jti", "iat", "exp", "lid_type"}


async def test_default_scope_is_every_allowed_scope(h: Harness) -> None:
    rc = await h.client(scopes="b a")
    body = (await h.token(rc)).json()
    assert body["scope"] == "a b"


async def test_client_secret_post(h: Harness) -> None:
    rc = await h.client(auth_method=ClientAuthMethod.CLIENT_SECRET_POST)
    resp = await h.http.post(
        "/oauth2/token",
        data={"grant_type": "client_credentials", "client_id": rc.client_id, "client_secret": rc.secret},
    )
    assert resp.status_code == 200, resp.text


async def test_a_client_authenticates_only_with_its_registered_method(h: Harness) -> None:
    """RFC 7591 §2, OAuth 2.1 §2.4: the right secret sent by another method is invalid_client."""
    basic_client = await h.client()  # client_secret_basic
    post_client = await h.client(auth_method=ClientAuthMethod.CLIENT_SECRET_POST)
    as_post = {"grant_type": "client_credentials", "client_id": basic_client.client_id}
    resp = await h.http.post("/oauth2/token", data={**as_post, "client_secret": basic_client.secret})
    assert resp.status_code == 401, resp.text
    assert resp.json() == {
        "error": "invalid_client",
        "error_description": "this client must authenticate with client_secret_basic",
    }
    assert "www-authenticate" not in resp.headers  # no Basic challenge: the client did not use the header
    resp = await h.http.post("/oauth2/token", data={"grant_type": "client_credentials"}, headers=post_client.auth)
    assert resp.status_code == 401, resp.text
    assert resp.json()["error"] == "invalid_client"
    assert resp.headers["www-authenticate"].startswith("Basic ")
    # The same holds at introspection and revocation, and each client's own method still works.
    token = await h.access_token(basic_client)
    for path in ("/oauth2/introspect", "/oauth2/revoke"):
        resp = await h.http.post(path, data={"token": token}, headers=post_client.auth)
        assert resp.status_code == 401, (path, resp.text)
    assert (await h.introspect(basic_client, token))["active"] is True
    resp = await h.http.post(
        "/oauth2/token",
        data={
            "grant_type": "client_credentials",
            "client_id": post_client.client_id,
            "client_secret": post_client.secret,
        },
    )
    assert resp.status_code == 200, resp.text


async def test_resource_sets_audience(h: Harness) -> None:
    rc = await h.client(resources=("urn:example:api", "https://rs.example.com/v1"))
    token = await h.access_token(rc, resource="https://rs.example.com/v1")
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["aud"] == "https://rs.example.com/v1"
    # Several resources (RFC 8707 allows repeats): the audience lists them all.
    resp = await h.http.post(
        "/oauth2/token",
        content="grant_type=client_credentials&resource=urn%3Aexample%3Aapi&resource=https%3A%2F%2Frs.example.com%2Fv1",
        headers={**rc.auth, "content-type": "application/x-www-form-urlencoded"},
    )
    assert resp.status_code == 200, resp.text
    claims = jwt.decode(resp.json()["access_token"], options={"verify_signature": False})
    assert claims["aud"] == ["urn:example:api", "https://rs.example.com/v1"]


async def test_without_configured_resource_the_audience_is_the_issuer(h: Harness) -> None:
    rc = await h.client(resources=())
    claims = jwt.decode(await h.access_token(rc), options={"verify_signature": False})
    assert claims["aud"] == BASE


@pytest.mark.parametrize(
    "resource", ["urn:other", "https://rs.example.com/v1#frag", "relative/path", "https://rs.example.com/v2"]
)
async def test_unknown_or_malformed_resource_is_invalid_target(h: Harness, resource: str) -> None:
    rc = await h.client(resources=("urn:example:api", "https://rs.example.com/v1"))
    resp = await h.token(rc, resource=resource)
    assert resp.status_code == 400
    assert resp.json()["error"] == "invalid_target"


async def test_opaque_token(h: Harness) -> None:
    rc = await h.client(token_format=TokenFormat.OPAQUE)
    token = await h.access_token(rc, scope="api:write")
    assert token.count(".") == 0
    assert len(token) >= 43
    info = await h.introspect(rc, token)
    assert info["active"] is True
    assert info["scope"] == "api:write"
    assert info["sub"] == rc.client.principal_lid
    assert info["client_id"] == rc.client_id
    assert info["aud"] == "urn:example:api"


async def test_scope_outside_the_allowed_is_invalid_scope(h: Harness) -> None:
    rc = await h.client(scopes="api:read")
    resp = await h.token(rc, scope="api:read admin")
    assert resp.status_code == 400
    assert resp.json()["error"] == "invalid_scope"


async def test_malformed_scope_is_invalid_scope(h: Harness) -> None:
    rc = await h.client(scopes="api:read")
    resp = await h.token(rc, scope='api:read  "x"')
    assert resp.status_code == 400
    assert resp.json()["error"] == "invalid_scope"


async def test_each_token_has_its_own_jti(h: Harness) -> None:
    rc = await h.client()
    jtis = {jwt.decode(await h.access_token(rc), options={"verify_signature": False})["jti"] for _ in range(5)}
    assert len(jtis) == 5
