"""Dynamic client registration (RFC 7591) and its management protocol (RFC 7592), both deployments."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from lukhas_id.clock import FixedClock
from lukhas_id.domain.client import ClientStatus
from lukhas_id.settings import Settings
from tests.support.cli import make_cli
from tests.support.harness import BASE, Harness, basic, running
from tests.support.rp import REDIRECT, RP, mint, pkce_pair

RP_METADATA: dict[str, Any] = {
    "redirect_uris": [REDIRECT],
    "grant_types": ["authorization_code", "refresh_token"],
    "response_types": ["code"],
    "client_name": "Dynamic RP",
    "scope": "openid profile",
}


async def initial_token(h: Harness, tenant: str | None = None, ttl: int = 3600) -> str:
    return await h.c.registration.issue_initial_token(await h.tenant(tenant), ttl)


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def post(
    h: Harness,
    body: Any,
    token: str | None,
    *,
    tenant: str | None = None,
    content_type: str = "application/json",
) -> httpx.Response:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {"Content-Type": content_type, **(auth(token) if token is not None else {})}
    return await h.http.post(f"{h.base(tenant)}/oauth2/register", content=content, headers=headers)


async def register(h: Harness, metadata: dict[str, Any] | None = None, tenant: str | None = None) -> dict[str, Any]:
    resp = await post(h, RP_METADATA if metadata is None else metadata, await initial_token(h, tenant), tenant=tenant)
    assert resp.status_code == 201, resp.text
    return resp.json()  # type: ignore[no-any-return]


# --- RFC 7591 registration ------------------------------------------------------------------------


async def test_register_returns_the_client_information(h: Harness) -> None:
    resp = await post(h, RP_METADATA, await initial_token(h))
    assert resp.status_code == 201, resp.text
    assert resp.headers["cache-control"] == "no-store"
    info = resp.json()
    assert info["client_id"].startswith("cl_")
    assert isinstance(info["client_secret"], str) and len(info["client_secret"]) >= 32
    assert info["client_secret_expires_at"] == 0
    assert isinstance(info["client_id_issued_at"], int)
    assert info["registration_client_uri"] == f"{BASE}/oauth2/register/{info['client_id']}"
    assert isinstance(info["registration_access_token"], str)
    assert info["registration_access_token"] != info["client_secret"]
    assert info["redirect_uris"] == [REDIRECT]
    assert info["grant_types"] == ["authorization_code", "refresh_token"]
    assert info["response_types"] == ["code"]
    assert info["token_endpoint_auth_method"] == "client_secret_basic"
    assert info["client_name"] == "Dynamic RP"
    assert info["scope"] == "openid profile"
    assert info["subject_type"] == "public"
    assert info["id_token_signed_response_alg"] == "RS256"
    stored = await h.c.clients.get((await h.tenant()).id, info["client_id"])
    assert stored is not None and stored.status is ClientStatus.ACTIVE
    # Only keyed hashes are stored.
    assert info["client_secret"] not in stored.secret_hash
    assert stored.registration_token_hash and info["registration_access_token"] not in stored.registration_token_hash


async def test_defaults_are_applied_and_returned(h: Harness) -> None:
    info = await register(h, {"redirect_uris": [REDIRECT], "logo_uri": "https://rp.example.com/l.png"})
    assert info["grant_types"] == ["authorization_code"]
    assert info["response_types"] == ["code"]
    assert info["token_endpoint_auth_method"] == "client_secret_basic"
    assert info["scope"] == "openid"
    assert "logo_uri" not in info  # unknown metadata is ignored (RFC 7591 §2)


async def test_registered_client_runs_the_code_grant(h: Harness) -> None:
    info = await register(h)
    tenant = await h.tenant()
    client = await h.c.clients.get(tenant.id, info["client_id"])
    assert client is not None
    verifier, challenge = pkce_pair()
    code, _ = await mint(h, RP(client, info["client_secret"], tenant), challenge)
    resp = await h.http.post(
        "/oauth2/token",
        data={"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT, "code_verifier": verifier},
        headers=basic(info["client_id"], info["client_secret"]),
    )
    assert resp.status_code == 200, resp.text
    assert {"access_token", "id_token"} <= set(resp.json())


async def test_registered_client_runs_client_credentials_with_post_auth(h: Harness) -> None:
    info = await register(
        h,
        {
            "grant_types": ["client_credentials"],
            "token_endpoint_auth_method": "client_secret_post",
            "scope": "api:read",
        },
    )
    assert info["response_types"] == [] and info["redirect_uris"] == []
    assert info["token_endpoint_auth_method"] == "client_secret_post"
    resp = await h.http.post(
        "/oauth2/token",
        data={
            "grant_type": "client_credentials",
            "client_id": info["client_id"],
            "client_secret": info["client_secret"],
        },
    )
    assert resp.status_code == 200, resp.text
    assert resp.json()["scope"] == "api:read"


async def test_public_client_gets_no_secret(h: Harness) -> None:
    info = await register(h, {**RP_METADATA, "token_endpoint_auth_method": "none"})
    assert "client_secret" not in info and "client_secret_expires_at" not in info
    assert info["token_endpoint_auth_method"] == "none"


async def test_loopback_http_redirect_is_accepted(h: Harness) -> None:
    info = await register(h, {"redirect_uris": ["http://127.0.0.1/cb", "http://localhost:8080/cb"]})
    assert info["redirect_uris"] == ["http://127.0.0.1/cb", "http://localhost:8080/cb"]


async def test_tenant_registration_uses_the_tenants_token(h: Harness) -> None:
    await h.tenant("acme")
    # A token of the default tenant does not register in another.
    resp = await post(h, RP_METADATA, await initial_token(h), tenant="acme")
    assert resp.status_code == 401
    info = await register(h, tenant="acme")
    assert info["registration_client_uri"] == f"{BASE}/t/acme/oauth2/register/{info['client_id']}"


# --- the initial access token ----------------------------------------------------------------------


async def test_missing_initial_token_is_401(h: Harness) -> None:
    resp = await post(h, b"{not json", None)  # checked before the body is read
    assert resp.status_code == 401
    assert resp.headers["www-authenticate"] == f'Bearer realm="{BASE}"'


async def test_invalid_initial_token_is_401(h: Harness) -> None:
    resp = await post(h, RP_METADATA, "not-a-real-token")
    assert resp.status_code == 401
    assert resp.json()["error"] == "invalid_token"
    assert 'error="invalid_token"' in resp.headers["www-authenticate"]
    resp = await h.http.post(
        "/oauth2/register", json=RP_METADATA, headers={"Authorization": "Basic dTpw"}
    )  # another scheme is no Bearer credentials
    assert resp.status_code == 401


async def test_initial_token_is_multi_use_until_it_expires(hc: Harness, clock: FixedClock) -> None:
    token = await initial_token(hc, ttl=600)
    assert (await post(hc, RP_METADATA, token)).status_code == 201
    assert (await post(hc, RP_METADATA, token)).status_code == 201
    clock.advance(601)
    resp = await post(hc, RP_METADATA, token)
    assert resp.status_code == 401
    assert resp.json()["error"] == "invalid_token"


async def test_registration_access_token_is_not_an_initial_token(h: Harness) -> None:
    info = await register(h)
    assert (await post(h, RP_METADATA, info["registration_access_token"])).status_code == 401


# --- metadata validation ---------------------------------------------------------------------------

BAD_METADATA: list[tuple[str, dict[str, Any], str]] = [
    ("http non-loopback", {"redirect_uris": ["http://rp.example.com/cb"]}, "invalid_redirect_uri"),
    ("fragment", {"redirect_uris": ["https://rp.example.com/cb#frag"]}, "invalid_redirect_uri"),
    ("relative", {"redirect_uris": ["/cb"]}, "invalid_redirect_uri"),
    ("no redirect uris", {"client_name": "x"}, "invalid_redirect_uri"),
    ("javascript", {"redirect_uris": ["javascript:alert(1)"]}, "invalid_redirect_uri"),
    ("wildcard host", {"redirect_uris": ["https://*.rp.example.com/cb"]}, "invalid_redirect_uri"),
    ("wildcard among others", {"redirect_uris": [REDIRECT, "https://*/cb"]}, "invalid_redirect_uri"),
    ("host not a dns name", {"redirect_uris": ["https://rp_1.example.com/cb"]}, "invalid_redirect_uri"),
    ("numeric host", {"redirect_uris": ["https://2130706433/cb"]}, "invalid_redirect_uri"),
    (
        "unknown auth method",
        {**RP_METADATA, "token_endpoint_auth_method": "private_key_jwt"},
        "invalid_client_metadata",
    ),
    ("response type token", {**RP_METADATA, "response_types": ["token"]}, "invalid_client_metadata"),
    ("jwks_uri", {**RP_METADATA, "jwks_uri": "https://rp.example.com/jwks"}, "invalid_client_metadata"),
    ("jwks", {**RP_METADATA, "jwks": {"keys": []}}, "invalid_client_metadata"),
    ("software statement", {**RP_METADATA, "software_statement": "a.b.c"}, "invalid_software_statement"),
    ("redirect_uris a string", {"redirect_uris": REDIRECT}, "invalid_client_metadata"),
    ("redirect_uris numbers", {"redirect_uris": [1]}, "invalid_client_metadata"),
    ("grant_types a string", {**RP_METADATA, "grant_types": "authorization_code"}, "invalid_client_metadata"),
    ("client_name a number", {**RP_METADATA, "client_name": 5}, "invalid_client_metadata"),
    ("scope an array", {**RP_METADATA, "scope": ["openid"]}, "invalid_client_metadata"),
    ("scope with a quote", {**RP_METADATA, "scope": 'openid bad"scope'}, "invalid_client_metadata"),
    ("auth method a bool", {**RP_METADATA, "token_endpoint_auth_method": True}, "invalid_client_metadata"),
    ("unknown grant", {**RP_METADATA, "grant_types": ["password"]}, "invalid_client_metadata"),
    ("empty grants", {**RP_METADATA, "grant_types": []}, "invalid_client_metadata"),
    (
        "code without authorization_code",
        {"grant_types": ["client_credentials"], "response_types": ["code"]},
        "invalid_client_metadata",
    ),
    (
        "public client_credentials",
        {"grant_types": ["client_credentials"], "token_endpoint_auth_method": "none"},
        "invalid_client_metadata",
    ),
    ("HS256 id tokens", {**RP_METADATA, "id_token_signed_response_alg": "HS256"}, "invalid_client_metadata"),
    ("subject type", {**RP_METADATA, "subject_type": "random"}, "invalid_client_metadata"),
    (
        "bad post-logout uri",
        {**RP_METADATA, "post_logout_redirect_uris": ["http://rp.example.com/bye"]},
        "invalid_client_metadata",
    ),
    (
        "wildcard post-logout uri",
        {**RP_METADATA, "post_logout_redirect_uris": ["https://*.rp.example.com/bye"]},
        "invalid_client_metadata",
    ),
]


@pytest.mark.parametrize(("case", "metadata", "error"), BAD_METADATA, ids=[c[0] for c in BAD_METADATA])
async def test_invalid_metadata_is_refused(h: Harness, case: str, metadata: dict[str, Any], error: str) -> None:
    resp = await post(h, metadata, await initial_token(h))
    assert resp.status_code == 400, resp.text
    body = resp.json()
    assert body["error"] == error
    assert body["error_description"]
    assert resp.headers["cache-control"] == "no-store"
    assert await h.c.clients.list((await h.tenant()).id) == []


BAD_REQUESTS: list[tuple[str, bytes, str, int]] = [
    ("malformed json", b'{"redirect_uris": [', "application/json", 400),
    ("duplicate keys", b'{"client_name": "a", "client_name": "b", "redirect_uris": []}', "application/json", 400),
    ("nested duplicate keys", b'{"jwks": {"a": 1, "a": 2}}', "application/json", 400),
    ("not an object", b"[]", "application/json", 400),
    ("not utf-8", b'{"client_name": "\xff"}', "application/json", 400),
    ("NaN", b'{"client_name": NaN}', "application/json", 400),
    ("form content type", b"redirect_uris=https://rp.example.com/cb", "application/x-www-form-urlencoded", 400),
    ("latin-1 charset", json.dumps(RP_METADATA).encode(), "application/json; charset=latin-1", 400),
    ("oversized", json.dumps({**RP_METADATA, "x": "a" * 65 * 1024}).encode(), "application/json", 413),
]


@pytest.mark.parametrize(("case", "body", "content_type", "status"), BAD_REQUESTS, ids=[c[0] for c in BAD_REQUESTS])
async def test_unreadable_requests_are_refused(
    h: Harness, case: str, body: bytes, content_type: str, status: int
) -> None:
    resp = await post(h, body, await initial_token(h), content_type=content_type)
    assert resp.status_code == status, resp.text
    assert resp.json()["error"] == "invalid_request"


async def test_json_with_charset_utf8_is_accepted(h: Harness) -> None:
    resp = await post(h, RP_METADATA, await initial_token(h), content_type="application/json; charset=UTF-8")
    assert resp.status_code == 201, resp.text


JSON = {"Content-Type": "application/json"}
# What the body reader (web/http_io.py read_message) answers, word for word: (case, headers, body, status,
# error_description). The media type is checked before a byte of the body is read.
READER_ANSWERS: list[tuple[str, list[tuple[str, str]], bytes, int, str]] = [
    ("no content type", [], b"{}", 400, "Content-Type must be application/json"),
    (
        "wrong type before an oversized body",
        [("Content-Type", "text/plain")],
        b"x" * (65 * 1024),
        400,
        "Content-Type must be application/json",
    ),
    (
        "latin-1",
        [("Content-Type", "application/json; charset=latin-1")],
        b"{}",
        400,
        "the only accepted charset is UTF-8",
    ),
    (
        "repeated content type",
        [("Content-Type", "application/json"), ("Content-Type", "application/json")],
        b"{}",
        400,
        "repeated Content-Type header",
    ),
    ("oversized", [*JSON.items()], b" " * (64 * 1024 + 1), 413, "request body is larger than 65536 bytes"),
    (
        "declared larger than the limit",
        [*JSON.items(), ("Content-Length", str(64 * 1024 + 1))],
        b"{}",
        413,
        "request body is larger than 65536 bytes",
    ),
    ("malformed length", [*JSON.items(), ("Content-Length", "12x")], b"{}", 400, "malformed Content-Length"),
    ("bad json", [*JSON.items()], b'{"client_name": ', 400, "the body is not valid JSON"),
    ("duplicate member", [*JSON.items()], b'{"a": 1, "a": 2}', 400, "a JSON member is repeated"),
]


@pytest.mark.parametrize(
    ("case", "headers", "body", "status", "description"), READER_ANSWERS, ids=[c[0] for c in READER_ANSWERS]
)
async def test_the_body_reader_answers(
    h: Harness, case: str, headers: list[tuple[str, str]], body: bytes, status: int, description: str
) -> None:
    token = await initial_token(h)
    sent = [*headers, *auth(token).items()]
    resp = await h.http.post("/oauth2/register", content=body, headers=sent)
    assert (resp.status_code, resp.json()) == (status, {"error": "invalid_request", "error_description": description})
    assert resp.headers["cache-control"] == "no-store"
    info = await register(h)  # the update reads its body the same way
    sent = [*headers, *auth(info["registration_access_token"]).items()]
    resp = await h.http.put(config_path(info), content=body, headers=sent)
    assert (resp.status_code, resp.json()) == (status, {"error": "invalid_request", "error_description": description})


async def test_the_media_type_is_case_insensitive_and_charset_may_be_quoted(h: Harness) -> None:
    resp = await post(h, RP_METADATA, await initial_token(h), content_type='Application/JSON ; charset="utf-8"')
    assert resp.status_code == 201, resp.text


# --- RFC 7592 management ---------------------------------------------------------------------------


def config_path(info: dict[str, Any]) -> str:
    return str(info["registration_client_uri"]).removeprefix(BASE)


async def test_read_with_the_registration_token(h: Harness) -> None:
    info = await register(h)
    resp = await h.http.get(config_path(info), headers=auth(info["registration_access_token"]))
    assert resp.status_code == 200, resp.text
    assert resp.headers["cache-control"] == "no-store"
    got = resp.json()
    expected = {k: v for k, v in info.items() if k != "client_secret"}
    assert got == expected


async def test_wrong_or_foreign_tokens_get_401(h: Harness) -> None:
    a = await register(h)
    b = await register(h)
    for token in ("wrong-token", b["registration_access_token"], await initial_token(h), a["client_secret"]):
        for method in ("GET", "PUT", "DELETE"):
            resp = await h.http.request(method, config_path(a), headers=auth(token), json={})
            assert resp.status_code == 401, (method, resp.text)
            assert resp.json()["error"] == "invalid_token"
    # An unknown client looks the same as a wrong token.
    unknown = await h.http.get("/oauth2/register/cl_nobody", headers=auth(a["registration_access_token"]))
    assert unknown.status_code == 401 and unknown.json()["error"] == "invalid_token"
    assert (await h.http.get(config_path(a))).status_code == 401
    # The client is unchanged.
    assert (await h.http.get(config_path(a), headers=auth(a["registration_access_token"]))).status_code == 200


async def test_update_replaces_the_metadata(h: Harness) -> None:
    info = await register(h)
    token = info["registration_access_token"]
    tenant = await h.tenant()
    before = await h.c.clients.get(tenant.id, info["client_id"])  # now cached
    assert before is not None
    new = {
        "client_id": info["client_id"],
        "client_secret": info["client_secret"],
        "redirect_uris": ["https://rp.example.com/new-cb"],
        "client_name": "Renamed RP",
        "token_endpoint_auth_method": "client_secret_post",
    }
    resp = await h.http.put(config_path(info), json=new, headers=auth(token))
    assert resp.status_code == 200, resp.text
    got = resp.json()
    assert got["client_name"] == "Renamed RP"
    assert got["redirect_uris"] == ["https://rp.example.com/new-cb"]
    assert got["grant_types"] == ["authorization_code"]  # omitted: back to the default
    assert got["scope"] == "openid"
    assert got["token_endpoint_auth_method"] == "client_secret_post"
    assert got["registration_access_token"] == token
    assert "client_secret" not in got
    client = await h.c.clients.get(tenant.id, info["client_id"])  # the cache was invalidated
    assert client is not None and client.redirect_uris == ("https://rp.example.com/new-cb",)
    read = (await h.http.get(config_path(info), headers=auth(token))).json()
    assert read == got
    # The secret was kept.
    assert client.secret_hash == before.secret_hash


UPDATE_ERRORS: list[tuple[str, dict[str, Any], str]] = [
    ("no client_id", {"redirect_uris": [REDIRECT]}, "invalid_request"),
    ("other client_id", {"client_id": "cl_other", "redirect_uris": [REDIRECT]}, "invalid_request"),
    ("registration token", {"registration_access_token": "x", "redirect_uris": [REDIRECT]}, "invalid_request"),
    ("issued at", {"client_id_issued_at": 1, "redirect_uris": [REDIRECT]}, "invalid_request"),
    ("wrong secret", {"client_secret": "guess", "redirect_uris": [REDIRECT]}, "invalid_client_metadata"),
    ("bad redirect", {"redirect_uris": ["http://rp.example.com/cb"]}, "invalid_redirect_uri"),
    ("wildcard redirect", {"redirect_uris": ["https://*.rp.example.com/cb"]}, "invalid_redirect_uri"),
    ("to public", {"redirect_uris": [REDIRECT], "token_endpoint_auth_method": "none"}, "invalid_client_metadata"),
    ("unknown method", {"redirect_uris": [REDIRECT], "token_endpoint_auth_method": "tls"}, "invalid_client_metadata"),
]


async def test_wildcard_redirect_uri_is_refused_with_a_clear_description(h: Harness) -> None:
    """RFC 7591 §2 and §3.2.2 with OAuth 2.1 §2.3.1: a wildcard host is refused, never stored."""
    resp = await post(h, {**RP_METADATA, "redirect_uris": ["https://*.rp.example.com/cb"]}, await initial_token(h))
    assert resp.status_code == 400, resp.text
    body = resp.json()
    assert body["error"] == "invalid_redirect_uri"
    assert "wildcard" in body["error_description"] and "§2.3.1" in body["error_description"]
    assert "rp.example.com" not in body["error_description"]  # the submitted value is not echoed


@pytest.mark.parametrize(("case", "body", "error"), UPDATE_ERRORS, ids=[c[0] for c in UPDATE_ERRORS])
async def test_invalid_updates_are_refused(h: Harness, case: str, body: dict[str, Any], error: str) -> None:
    info = await register(h)
    doc = {"client_id": info["client_id"], **body} if case not in {"no client_id", "other client_id"} else body
    resp = await h.http.put(config_path(info), json=doc, headers=auth(info["registration_access_token"]))
    assert resp.status_code == 400, resp.text
    assert resp.json()["error"] == error
    read = (await h.http.get(config_path(info), headers=auth(info["registration_access_token"]))).json()
    assert read["redirect_uris"] == [REDIRECT]


async def test_update_body_is_checked_like_registration(h: Harness) -> None:
    info = await register(h)
    resp = await h.http.put(
        config_path(info),
        content=b'{"client_id": "a", "client_id": "b"}',
        headers={**auth(info["registration_access_token"]), "Content-Type": "application/json"},
    )
    assert resp.status_code == 400 and resp.json()["error"] == "invalid_request"


async def test_delete_disables_the_client(h: Harness) -> None:
    info = await register(h, {"grant_types": ["client_credentials"], "scope": "api:read"})
    token = info["registration_access_token"]
    creds = basic(info["client_id"], info["client_secret"])
    ok = await h.http.post("/oauth2/token", data={"grant_type": "client_credentials"}, headers=creds)
    assert ok.status_code == 200, ok.text
    resp = await h.http.delete(config_path(info), headers=auth(token))
    assert resp.status_code == 204
    assert resp.content == b""
    # The registration access token, the client_id and its secret stop working.
    assert (await h.http.get(config_path(info), headers=auth(token))).status_code == 401
    assert (await h.http.delete(config_path(info), headers=auth(token))).status_code == 401
    gone = await h.http.post("/oauth2/token", data={"grant_type": "client_credentials"}, headers=creds)
    assert gone.status_code == 401 and gone.json()["error"] == "invalid_client"
    client = await h.c.clients.get((await h.tenant()).id, info["client_id"])
    assert client is not None and client.status is ClientStatus.DISABLED and client.registration_token_hash == ""


async def test_operator_clients_have_no_registration_token(h: Harness) -> None:
    rc = await h.client()
    resp = await h.http.get(f"/oauth2/register/{rc.client_id}", headers=auth(rc.secret))
    assert resp.status_code == 401


async def test_discovery_advertises_the_endpoint(h: Harness) -> None:
    meta = (await h.http.get("/.well-known/openid-configuration")).json()
    assert meta["registration_endpoint"] == f"{BASE}/oauth2/register"


# --- CLI -------------------------------------------------------------------------------------------


async def test_cli_registration_token_works_and_is_printed_once(tmp_path: Path) -> None:
    cli = make_cli(tmp_path)
    proc = cli("client", "registration-token", "--ttl", "600")
    token = proc.stdout.strip()
    assert len(token) >= 40 and "\n" not in token
    assert token not in proc.stderr
    assert "oauth2/register" in proc.stderr
    assert "shown once" in proc.stderr
    assert "valid 600 s" in proc.stderr
    errors = cli("client", "registration-token", "--ttl", "5", ok=False).stderr
    assert "between 60" in errors
    cli("client", "registration-token", "--tenant", "nobody", ok=False)
    async with running(Settings(public_url=BASE, var_dir=tmp_path)) as h:
        resp = await post(h, RP_METADATA, token)
        assert resp.status_code == 201, resp.text
        assert (await post(h, RP_METADATA, token + "x")).status_code == 401
