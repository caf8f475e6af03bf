"""UserInfo through the HTTP edge: OIDC Core §5.3/§5.4, RFC 6750 §2/§3, OAuth 2.1 §5.1.

Tokens come from the authorization_code grant with codes minted through the service layer (the
authorization endpoint arrives later), for real users. A client_credentials (SVC) token is answered
403 insufficient_scope: it is a valid token, but not one that UserInfo can serve (no user), the same
answer as a user token without `openid`.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from dataclasses import dataclass

import httpx
import jwt
import pytest

from lukhas_id import ids
from lukhas_id.adapters.sql.users import SqlUserRepository
from lukhas_id.clock import FixedClock
from lukhas_id.domain.client import Client, ClientStatus, GrantType, SubjectType, TokenFormat
from lukhas_id.domain.principal import Principal, PrincipalStatus, PrincipalType
from lukhas_id.domain.tenant import Tenant
from lukhas_id.domain.user import User, UserStatus, username_key
from lukhas_id.services.codes import CodeGrant
from tests.support.harness import BASE, Harness, basic

REDIRECT = "https://rp.example.com/cb"
API = "urn:example:api"


@dataclass
class RP:
    client: Client
    secret: str
    tenant: Tenant


async def relying_party(
    h: Harness,
    *,
    tenant: str | None = None,
    subject_type: SubjectType = SubjectType.PUBLIC,
    token_format: TokenFormat = TokenFormat.JWT,
) -> RP:
    t = await h.tenant(tenant)
    client, secret = await h.c.clients.create(
        t,
        name="relying party",
        grant_types=frozenset({GrantType.AUTHORIZATION_CODE}),
        scopes=frozenset({"openid", "profile", "email"}),
        resources=(),
        redirect_uris=(REDIRECT,),
        subject_type=subject_type,
        token_format=token_format,
    )
    assert secret is not None
    return RP(client, secret, t)


async def new_user(h: Harness, tenant: Tenant, *, email: str | None = "alice@example.com") -> User:
    username = "alice-" + secrets.token_hex(4)
    return await h.c.users.create(tenant, username, email=email, display_name="Alice Liddell")


async def verified_user(h: Harness, tenant: Tenant) -> User:
    """A user whose e-mail address is verified (no service sets the flag yet: straight to the store)."""
    now = time.time()
    username = "bob-" + secrets.token_hex(4)
    lid = ids.generate(PrincipalType.USER)
    user = User(
        tenant_id=tenant.id,
        lid=lid,
        username=username,
        username_key=username_key(username),
        email="bob@example.com",
        email_verified=True,
        display_name="Bob",
        status=UserStatus.ACTIVE,
        password_hash=None,
        created_at=now,
        updated_at=now,
    )
    principal = Principal(tenant.id, lid, PrincipalType.USER, "Bob", PrincipalStatus.ACTIVE, now)
    await SqlUserRepository(h.c.database).create(user, principal)
    return user


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


async def tokens(
    h: Harness, rp: RP, user_lid: str, scope: tuple[str, ...] = ("openid",), resources: tuple[str, ...] = ()
) -> dict[str, str]:
    verifier, challenge = pkce_pair()
    grant = CodeGrant(
        tenant_id=rp.tenant.id,
        client_id=rp.client.client_id,
        redirect_uri=REDIRECT,
        redirect_uri_sent=True,
        user_lid=user_lid,
        scope=scope,
        code_challenge=challenge,
        nonce=None,
        auth_time=int(time.time()) - 5,
        amr=("pwd",),
        acr=None,
        sid=None,
        resources=resources,
    )
    code = await h.c.codes.issue(grant)
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT, "code_verifier": verifier}
    resp = await h.http.post(
        f"{h.base(rp.tenant.name)}/oauth2/token", data=data, headers=basic(rp.client.client_id, rp.secret)
    )
    assert resp.status_code == 200, resp.text
    return resp.json()  # type: ignore[no-any-return]


async def access_token(h: Harness, rp: RP, user_lid: str, scope: tuple[str, ...] = ("openid",)) -> str:
    return (await tokens(h, rp, user_lid, scope))["access_token"]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def get(h: Harness, token: str | None, tenant: str | None = None) -> httpx.Response:
    return await h.http.get(f"{h.base(tenant)}/oauth2/userinfo", headers=bearer(token) if token else {})


def assert_bearer_error(resp: httpx.Response, status: int, error: str | None, realm: str = BASE) -> None:
    assert resp.status_code == status, resp.text
    challenge = resp.headers["www-authenticate"]
    assert challenge.startswith(f'Bearer realm="{realm}"'), challenge
    assert resp.headers["cache-control"] == "no-store"
    assert resp.headers["access-control-allow-origin"] == "*"
    if error is None:
        assert "error" not in challenge
        assert resp.content == b""
    else:
        assert f'error="{error}"' in challenge
        assert resp.json()["error"] == error


# --- claims ------------------------------------------------------------------------------------


@pytest.mark.parametrize("token_format", [TokenFormat.JWT, TokenFormat.OPAQUE], ids=["jwt", "opaque"])
async def test_openid_only_gives_sub(h: Harness, token_format: TokenFormat) -> None:
    rp = await relying_party(h, token_format=token_format)
    user = await new_user(h, rp.tenant)
    resp = await get(h, await access_token(h, rp, user.lid))
    assert resp.status_code == 200, resp.text
    assert resp.json() == {"sub": user.lid}
    assert resp.headers["content-type"] == "application/json"
    assert resp.headers["cache-control"] == "no-store"
    assert resp.headers["access-control-allow-origin"] == "*"


async def test_profile_claims(h: Harness) -> None:
    rp = await relying_party(h)
    user = await new_user(h, rp.tenant)
    resp = await get(h, await access_token(h, rp, user.lid, ("openid", "profile")))
    assert resp.json() == {
        "sub": user.lid,
        "name": "Alice Liddell",
        "preferred_username": user.username,
        "updated_at": int(user.updated_at),
    }


async def test_email_claims_with_the_verified_flag(h: Harness) -> None:
    rp = await relying_party(h)
    unverified, verified = await new_user(h, rp.tenant), await verified_user(h, rp.tenant)
    resp = await get(h, await access_token(h, rp, unverified.lid, ("openid", "email")))
    assert resp.json() == {"sub": unverified.lid, "email": "alice@example.com", "email_verified": False}
    resp = await get(h, await access_token(h, rp, verified.lid, ("openid", "email")))
    assert resp.json() == {"sub": verified.lid, "email": "bob@example.com", "email_verified": True}


async def test_email_scope_for_a_user_without_an_address(h: Harness) -> None:
    rp = await relying_party(h)
    user = await new_user(h, rp.tenant, email=None)
    resp = await get(h, await access_token(h, rp, user.lid, ("openid", "profile", "email")))
    body = resp.json()
    assert body["sub"] == user.lid and "email" not in body and "email_verified" not in body
    assert body["preferred_username"] == user.username


async def test_pairwise_sub_equals_the_id_token_sub(h: Harness) -> None:
    rp = await relying_party(h, subject_type=SubjectType.PAIRWISE)
    user = await new_user(h, rp.tenant)
    issued = await tokens(h, rp, user.lid)
    id_sub = jwt.decode(issued["id_token"], options={"verify_signature": False})["sub"]
    resp = await get(h, issued["access_token"])
    assert resp.json() == {"sub": id_sub}
    assert id_sub != user.lid


async def test_post_with_the_header_or_a_form_token(h: Harness) -> None:
    rp = await relying_party(h)
    user = await new_user(h, rp.tenant)
    token = await access_token(h, rp, user.lid)
    resp = await h.http.post("/oauth2/userinfo", headers=bearer(token))
    assert (resp.status_code, resp.json()) == (200, {"sub": user.lid})
    resp = await h.http.post("/oauth2/userinfo", data={"access_token": token})
    assert (resp.status_code, resp.json()) == (200, {"sub": user.lid})
    resp = await h.http.post(
        "/oauth2/userinfo",
        content=f"access_token={token}".encode(),
        headers={"content-type": "application/x-www-form-urlencoded; charset=UTF-8"},
    )
    assert resp.status_code == 200


async def test_tenant_deployment(h: Harness) -> None:
    rp = await relying_party(h, tenant="acme")
    user = await new_user(h, rp.tenant)
    token = await access_token(h, rp, user.lid)
    resp = await get(h, token, "acme")
    assert (resp.status_code, resp.json()) == (200, {"sub": user.lid})
    # The same token at the default tenant: another issuer, another key set.
    assert_bearer_error(await get(h, token), 401, "invalid_token")
    # And a default-tenant token at the tenant: the challenge names that tenant's issuer.
    home = await relying_party(h)
    home_user = await new_user(h, home.tenant)
    resp = await get(h, await access_token(h, home, home_user.lid), "acme")
    assert_bearer_error(resp, 401, "invalid_token", realm=f"{BASE}/t/acme")


async def test_opaque_token_of_another_tenant(h: Harness) -> None:
    rp = await relying_party(h, tenant="acme", token_format=TokenFormat.OPAQUE)
    user = await new_user(h, rp.tenant)
    assert_bearer_error(await get(h, await access_token(h, rp, user.lid)), 401, "invalid_token")


# --- refusals ----------------------------------------------------------------------------------


async def test_token_without_openid_is_insufficient_scope(h: Harness) -> None:
    rp = await relying_party(h)
    user = await new_user(h, rp.tenant)
    resp = await get(h, await access_token(h, rp, user.lid, ("profile", "email")))
    assert_bearer_error(resp, 403, "insufficient_scope")
    assert 'scope="openid"' in resp.headers["www-authenticate"]


async def test_client_credentials_token_is_insufficient_scope(h: Harness) -> None:
    machine = await h.client(scopes="openid api:read", resources=())
    token = await h.access_token(machine, scope="openid")
    assert_bearer_error(await get(h, token), 403, "insufficient_scope")


async def test_token_for_another_audience_is_invalid_token(h: Harness) -> None:
    rp = await relying_party(h)
    user = await new_user(h, rp.tenant)
    # A user token meant only for another resource server (minted directly: tokens from the code grant
    # with `openid` always include the issuer, i.e. UserInfo, in their audience).
    token = await h.c.tokens.mint_access_token(
        rp.tenant, rp.client, sub=user.lid, lid_type="USR", scope="openid", aud=(API,)
    )
    assert_bearer_error(await get(h, token), 401, "invalid_token")


async def test_code_grant_tokens_with_a_resource_still_reach_userinfo(h: Harness) -> None:
    t = await h.tenant()
    client, secret = await h.c.clients.create(
        t,
        name="rp with an api",
        grant_types=frozenset({GrantType.AUTHORIZATION_CODE}),
        scopes=frozenset({"openid"}),
        resources=(API,),
        redirect_uris=(REDIRECT,),
    )
    assert secret is not None
    rp = RP(client, secret, t)
    user = await new_user(h, t)
    token = (await tokens(h, rp, user.lid, resources=(API,)))["access_token"]
    assert (await get(h, token)).status_code == 200


async def test_revoked_token(h: Harness) -> None:
    rp = await relying_party(h)
    user = await new_user(h, rp.tenant)
    token = await access_token(h, rp, user.lid)
    assert (await get(h, token)).status_code == 200
    resp = await h.http.post("/oauth2/revoke", data={"token": token}, headers=basic(rp.client.client_id, rp.secret))
    assert resp.status_code == 200
    assert_bearer_error(await get(h, token), 401, "invalid_token")


@pytest.mark.parametrize("token_format", [TokenFormat.JWT, TokenFormat.OPAQUE], ids=["jwt", "opaque"])
async def test_expired_token(hc: Harness, clock: FixedClock, token_format: TokenFormat) -> None:
    rp = await relying_party(hc, token_format=token_format)
    user = await new_user(hc, rp.tenant)
    token = await access_token(hc, rp, user.lid)
    assert (await get(hc, token)).status_code == 200
    clock.advance(rp.client.access_token_ttl + 1)
    assert_bearer_error(await get(hc, token), 401, "invalid_token")


@pytest.mark.parametrize(
    "token",
    ["garbage", "a.b.c", "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.", "x" * 20000, "é", "a b"],
    ids=["word", "three-dots", "alg-none", "huge", "non-ascii", "space"],
)
async def test_garbage_tokens(h: Harness, token: str) -> None:
    headers = {"Authorization": f"Bearer {token}".encode()}
    resp = await h.http.get("/oauth2/userinfo", headers=headers)  # type: ignore[arg-type]
    assert_bearer_error(resp, 401, "invalid_token")


async def test_id_token_is_not_an_access_token(h: Harness) -> None:
    rp = await relying_party(h)
    user = await new_user(h, rp.tenant)
    issued = await tokens(h, rp, user.lid)
    assert_bearer_error(await get(h, issued["id_token"]), 401, "invalid_token")


async def test_missing_token_has_no_error_attribute(h: Harness) -> None:
    for resp in (
        await h.http.get("/oauth2/userinfo"),
        await h.http.post("/oauth2/userinfo"),
        await h.http.get("/oauth2/userinfo", headers={"Authorization": "Basic dXNlcjpwYXNz"}),
    ):
        assert_bearer_error(resp, 401, None)
        assert resp.headers["www-authenticate"] == f'Bearer realm="{BASE}"'


async def test_token_in_two_places_is_invalid_request(h: Harness) -> None:
    rp = await relying_party(h)
    user = await new_user(h, rp.tenant)
    token = await access_token(h, rp, user.lid)
    resp = await h.http.post("/oauth2/userinfo", data={"access_token": token}, headers=bearer(token))
    assert_bearer_error(resp, 400, "invalid_request")
    resp = await h.http.post("/oauth2/userinfo", data={"access_token": [token, token]})
    assert_bearer_error(resp, 400, "invalid_request")
    resp = await h.http.get("/oauth2/userinfo", headers=[("Authorization", f"Bearer {token}")] * 2)
    assert_bearer_error(resp, 400, "invalid_request")


async def test_query_token_is_ignored(h: Harness) -> None:
    rp = await relying_party(h)
    user = await new_user(h, rp.tenant)
    token = await access_token(h, rp, user.lid)
    resp = await h.http.get("/oauth2/userinfo", params={"access_token": token})
    assert_bearer_error(resp, 401, None)
    resp = await h.http.post("/oauth2/userinfo", params={"access_token": token})
    assert_bearer_error(resp, 401, None)
    # With a header too, the query is ignored rather than counted as a second method.
    resp = await h.http.get("/oauth2/userinfo", params={"access_token": token}, headers=bearer(token))
    assert resp.status_code == 200


async def test_disabled_user(h: Harness) -> None:
    rp = await relying_party(h)
    user = await new_user(h, rp.tenant)
    token = await access_token(h, rp, user.lid)
    await h.c.users.disable(rp.tenant, user.username)
    assert_bearer_error(await get(h, token), 401, "invalid_token")
    await h.c.users.enable(rp.tenant, user.username)
    assert (await get(h, token)).status_code == 200


async def test_disabled_client(h: Harness) -> None:
    rp = await relying_party(h)
    user = await new_user(h, rp.tenant)
    token = await access_token(h, rp, user.lid)
    await h.c.clients.set_status(rp.tenant.id, rp.client.client_id, ClientStatus.DISABLED)
    assert_bearer_error(await get(h, token), 401, "invalid_token")


# --- the HTTP edge -----------------------------------------------------------------------------


async def test_bad_bodies_are_4xx_never_500(h: Harness) -> None:
    form = {"content-type": "application/x-www-form-urlencoded"}
    cases: list[tuple[bytes, dict[str, str], int]] = [
        (b"access_token=%ff", form, 400),  # not UTF-8
        (b"\xff\xfe", form, 400),
        (b"access_token=abc", {"content-type": "application/json"}, 400),
        (b"access_token=abc", {"content-type": "application/x-www-form-urlencoded; charset=latin-1"}, 400),
        (b"a=" + b"x" * (h.settings.max_body_bytes + 1), form, 413),
        (b"access_token=a%00b", form, 400),
        (b"&".join([b"a=1"] * 200), form, 400),
    ]
    for body, headers, status in cases:
        resp = await h.http.post("/oauth2/userinfo", content=body, headers=headers)
        assert_bearer_error(resp, status, "invalid_request")
    resp = await h.http.post("/oauth2/userinfo", headers={"content-length": "12x"})
    assert resp.status_code == 400


FORM = ("content-type", "application/x-www-form-urlencoded")
# What the body reader (web/http_io.py read_message) answers, word for word, as RFC 6750 invalid_request:
# (case, headers, body, status, error_description).
READER_ANSWERS: list[tuple[str, list[tuple[str, str]], bytes, int, str]] = [
    ("json", [("content-type", "application/json")], b"access_token=a", 400, f"Content-Type must be {FORM[1]}"),
    ("no content type", [], b"access_token=a", 400, f"Content-Type must be {FORM[1]}"),
    (
        "latin-1",
        [(FORM[0], FORM[1] + "; charset=latin-1")],
        b"access_token=a",
        400,
        "the only accepted charset is UTF-8",
    ),
    ("repeated content type", [FORM, FORM], b"access_token=a", 400, "repeated Content-Type header"),
    ("not utf-8", [FORM], b"access_token=%ff", 400, "the request body is not valid UTF-8"),
    ("repeated token", [FORM], b"access_token=a&access_token=b", 400, "parameter access_token is repeated"),
    ("malformed length", [FORM, ("content-length", "12x")], b"", 400, "malformed Content-Length"),
    (
        "declared larger than the limit",
        [FORM, ("content-length", "65537")],
        b"",
        413,
        "request body is larger than 65536 bytes",
    ),
    ("oversized", [FORM], b"a=" + b"x" * 65535, 413, "request body is larger than 65536 bytes"),
]


@pytest.mark.parametrize(
    ("case", "headers", "body", "status", "description"), READER_ANSWERS, ids=[c[0] for c in READER_ANSWERS]
)
async def test_the_body_reader_answers(
    h: Harness, case: str, headers: list[tuple[str, str]], body: bytes, status: int, description: str
) -> None:
    assert h.settings.max_body_bytes == 65536
    resp = await h.http.post("/oauth2/userinfo", content=body, headers=headers)
    assert_bearer_error(resp, status, "invalid_request")
    assert resp.json()["error_description"] == description
    assert f'error_description="{description}"' in resp.headers["www-authenticate"]


async def test_the_authorization_header_is_checked_before_the_body_is_read(h: Harness) -> None:
    headers = [("authorization", "Bearer a"), ("authorization", "Bearer b"), FORM]
    resp = await h.http.post("/oauth2/userinfo", content=b"a=" + b"x" * 70000, headers=headers)
    assert_bearer_error(resp, 400, "invalid_request")
    assert resp.json()["error_description"] == "repeated Authorization header"


async def test_an_empty_body_needs_no_content_type_and_get_reads_no_body(h: Harness) -> None:
    rp = await relying_party(h)
    user = await new_user(h, rp.tenant)
    token = await access_token(h, rp, user.lid)
    resp = await h.http.post("/oauth2/userinfo", headers={**bearer(token), "content-type": "application/json"})
    assert (resp.status_code, resp.json()) == (200, {"sub": user.lid})
    resp = await h.http.post("/oauth2/userinfo", headers={"content-type": "text/plain"})
    assert_bearer_error(resp, 401, None)
    resp = await h.http.request("GET", "/oauth2/userinfo", content=b"x" * 70000, headers=bearer(token))
    assert (resp.status_code, resp.json()) == (200, {"sub": user.lid})
    resp = await h.http.post(
        "/oauth2/userinfo",
        content=f"access_token={token}".encode(),
        headers={"content-type": 'Application/X-WWW-Form-URLencoded ; charset="utf-8"'},
    )
    assert (resp.status_code, resp.json()) == (200, {"sub": user.lid})


async def test_cors_preflight_and_methods(h: Harness) -> None:
    resp = await h.http.options(
        "/oauth2/userinfo",
        headers={"Origin": "https://rp.example.com", "Access-Control-Request-Method": "GET"},
    )
    assert resp.status_code == 204
    assert resp.headers["access-control-allow-origin"] == "*"
    assert "authorization" in resp.headers["access-control-allow-headers"].lower()
    assert (await h.http.put("/oauth2/userinfo")).status_code == 405
    assert (await h.http.get("/t/nowhere/oauth2/userinfo")).status_code == 404
