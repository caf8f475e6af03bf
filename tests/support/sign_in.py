"""Signing in through the pages, as a browser does, for feature tests.

`sign_in` fills the password form; `sign_in_rp` takes a new user through the authorization code flow
at a relying party (sign-in, consent, code redeemed for an ID token), and the `assert_*` helpers check
that a session ended (RP-Initiated Logout 1.0, the account page).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx

from lukhas_id.domain.client import Client, GrantType
from lukhas_id.domain.tenant import Tenant
from tests.support.harness import Harness, basic
from tests.support.rp import REDIRECT, authorize_url, hidden, path_of, pkce_pair, rp_params

BYE = "https://rp.example.com/bye"


async def sign_in(http: httpx.AsyncClient, login_location: str, username: str, password: str) -> httpx.Response:
    page = await http.get(path_of(login_location))
    assert page.status_code == 200
    form = {
        "username": username,
        "password": password,
        "csrf_token": hidden(page.text, "csrf_token"),
        "return_to": hidden(page.text, "return_to"),
    }
    signed = await http.post(urlsplit(login_location).path, data=form)
    assert signed.status_code == 303, signed.text
    return signed


@dataclass
class SignedIn:
    tenant: Tenant
    client: Client
    base: str
    id_token: str
    session_cookie: str
    secret: str


def cookie_name(h: Harness, tenant: Tenant) -> str:
    return "lid_session" if tenant.name == h.settings.default_tenant else f"lid_session_t_{tenant.name}"


async def sign_in_rp(
    h: Harness,
    tenant_name: str | None = None,
    http: httpx.AsyncClient | None = None,
    again: SignedIn | None = None,
) -> SignedIn:
    """A new user signs in at the RP through the pages (consenting) and the RP redeems the code; with
    `again`, at the same RP (prompt=login: a new session even if the browser has one)."""
    http = http or h.http
    tenant = again.tenant if again is not None else await h.tenant(tenant_name)
    base = h.base(tenant.name)
    client, secret = (again.client, again.secret) if again is not None else (None, "")
    if client is None:
        client, made = await h.c.clients.create(
            tenant,
            name="Example RP",
            grant_types=frozenset({GrantType.AUTHORIZATION_CODE}),
            scopes=frozenset({"openid", "profile"}),
            redirect_uris=(REDIRECT,),
            post_logout_redirect_uris=(BYE,),
        )
        assert made is not None
        secret = made
    username, password = f"ada{secrets.token_hex(3)}", secrets.token_urlsafe(18)
    await h.c.users.create(tenant, username, password=password, display_name="Ada")
    tokens = await consent_and_redeem(http, base, client, secret, username, password)
    session_cookie = http.cookies.get(cookie_name(h, tenant))
    assert session_cookie
    return SignedIn(tenant, client, base, tokens["id_token"], session_cookie, secret)


async def consent_and_redeem(
    http: httpx.AsyncClient, base: str, client: Client, secret: str, username: str, password: str
) -> dict[str, Any]:
    """Authorize (prompt=login), sign in with the password, consent, and redeem the code with PKCE as the
    RP would; the token response."""
    verifier, challenge = pkce_pair()
    first = await http.get(authorize_url(client, challenge, base=base, prompt="login"))
    signed = await sign_in(http, first.headers["location"], username, password)
    consent = await http.get(path_of(signed.headers["location"]))
    assert consent.status_code == 200, consent.text
    decided = await http.post(
        f"{base}/oauth2/consent",
        data={
            "csrf_token": hidden(consent.text, "csrf_token"),
            "interaction": hidden(consent.text, "interaction"),
            "decision": "allow",
        },
    )
    code = rp_params(decided.headers["location"])["code"]
    tokens = await http.post(
        f"{base}/oauth2/token",
        data={"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT, "code_verifier": verifier},
        headers=basic(client.client_id, secret),
    )
    assert tokens.status_code == 200, tokens.text
    return tokens.json()  # type: ignore[no-any-return]


async def assert_signed_out(h: Harness, s: SignedIn, http: httpx.AsyncClient | None = None) -> None:
    http = http or h.http
    assert await h.c.sessions.get(s.tenant, s.session_cookie) is None
    resp = await http.get(authorize_url(s.client, pkce_pair()[1], base=s.base, prompt="none"))
    assert rp_params(resp.headers["location"])["error"] == "login_required"


def assert_cookie_cleared(h: Harness, resp: httpx.Response, tenant: Tenant) -> None:
    cleared = [c for c in resp.headers.get_list("set-cookie") if c.startswith(f"{cookie_name(h, tenant)}=")]
    assert cleared and "Max-Age=0" in cleared[0] and "HttpOnly" in cleared[0], cleared


def assert_page(resp: httpx.Response, status: int) -> None:
    assert resp.status_code == status, resp.text
    assert "location" not in resp.headers
    assert resp.headers["content-type"].startswith("text/html")
    assert "frame-ancestors 'none'" in resp.headers["content-security-policy"]
