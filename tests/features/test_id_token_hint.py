"""id_token_hint at the authorization endpoint (OIDC Core §3.1.2.1, §3.1.2.2) over HTTP, both deployments.

The hint must be an ID token this tenant issued to the requesting client (else invalid_request, whether or
not anyone is signed in; accepted past its exp); the OP answers only for the user it names: another
user's session is no session (login page, or login_required with prompt=none), and a fresh sign-in as
another user ends with login_required.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

import httpx
import pytest

from lukhas_id.clock import FixedClock
from lukhas_id.domain.client import Client, GrantType, SubjectType
from lukhas_id.domain.tenant import Tenant
from lukhas_id.services.id_tokens import ID_TOKEN_TTL
from tests.support.harness import BASE, Harness
from tests.support.rp import REDIRECT, authorize_url, path_of, pkce_pair, rp_params
from tests.support.sign_in import (
    consent_and_redeem,
    sign_in,
)


@dataclass
class Rp:
    tenant: Tenant
    client: Client
    secret: str
    base: str


@dataclass
class Account:
    username: str
    password: str
    id_token: str = ""


async def make_rp(h: Harness, tenant_name: str | None = None, subject_type: SubjectType = SubjectType.PUBLIC) -> Rp:
    tenant = await h.tenant(tenant_name)
    client, secret = await h.c.clients.create(
        tenant,
        name="Example RP",
        grant_types=frozenset({GrantType.AUTHORIZATION_CODE}),
        scopes=frozenset({"openid", "profile"}),
        redirect_uris=(REDIRECT,),
        subject_type=subject_type,
    )
    assert secret is not None
    return Rp(tenant, client, secret, h.base(tenant.name))


async def sign_in_at(h: Harness, rp: Rp, http: httpx.AsyncClient | None = None) -> Account:
    """A new user signs in at the RP through the pages (prompt=login, consenting); the RP gets an ID token."""
    http = http or h.http
    account = Account(f"ada{secrets.token_hex(3)}", secrets.token_urlsafe(18))
    await h.c.users.create(rp.tenant, account.username, password=account.password, display_name="Ada")
    tokens = await consent_and_redeem(http, rp.base, rp.client, rp.secret, account.username, account.password)
    account.id_token = tokens["id_token"]
    return account


async def authorize(h: Harness, rp: Rp, hint: str, http: httpx.AsyncClient | None = None, **extra: str) -> str:
    resp = await (http or h.http).get(
        authorize_url(rp.client, pkce_pair()[1], base=rp.base, id_token_hint=hint, **extra)
    )
    assert resp.status_code in (302, 303), resp.text
    return str(resp.headers["location"])


def browser(h: Harness) -> httpx.AsyncClient:
    """Another browser (its own cookies) in front of the same server."""
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=h.app), base_url=BASE)


def is_login_page(location: str) -> bool:
    return location.startswith(BASE) and "/login" in location


@pytest.mark.parametrize("subject_type", [SubjectType.PUBLIC, SubjectType.PAIRWISE])
async def test_the_hinted_user_signed_in_gets_a_code(h: Harness, subject_type: SubjectType) -> None:
    rp = await make_rp(h, subject_type=subject_type)
    ada = await sign_in_at(h, rp)
    for extra in ({"prompt": "none"}, {}):
        params = rp_params(await authorize(h, rp, ada.id_token, **extra))
        assert "code" in params and "error" not in params, params


async def test_another_users_session_is_no_session(h: Harness) -> None:
    rp = await make_rp(h)
    ada = await sign_in_at(h, rp)
    await sign_in_at(h, rp)  # the browser's session is now another user's
    assert rp_params(await authorize(h, rp, ada.id_token, prompt="none"))["error"] == "login_required"
    assert is_login_page(await authorize(h, rp, ada.id_token))  # the hinted user is asked to sign in
    # Signing in there as the hinted user completes the request.
    login = await authorize(h, rp, ada.id_token)
    signed = await sign_in(h.http, login, ada.username, ada.password)
    resumed = await h.http.get(path_of(signed.headers["location"]))
    assert "code" in rp_params(resumed.headers["location"])


async def test_a_fresh_sign_in_as_another_user_is_login_required(h: Harness) -> None:
    rp = await make_rp(h)
    ada = await sign_in_at(h, rp)
    async with browser(h) as other_browser:
        bob = await sign_in_at(h, rp, other_browser)
        login = await authorize(h, rp, ada.id_token, other_browser)
        assert is_login_page(login)
        signed = await sign_in(other_browser, login, bob.username, bob.password)
        resumed = await other_browser.get(path_of(signed.headers["location"]))
    params = rp_params(resumed.headers["location"])
    assert params["error"] == "login_required" and "code" not in params and params["iss"] == BASE


async def test_a_hint_not_issued_here_or_to_this_client_is_invalid_request(h: Harness) -> None:
    rp = await make_rp(h)
    ada = await sign_in_at(h, rp)
    other = await make_rp(h)
    elsewhere = await make_rp(h, "globex")
    globex_ada = await sign_in_at(h, elsewhere)
    head, payload, sig = ada.id_token.split(".")
    tampered = f"{head}.{payload[:-2]}{'AA' if not payload.endswith('AA') else 'BB'}.{sig}"
    for hint in ("garbage", "a.b.c", tampered, f"{head}.{payload}.", globex_ada.id_token):
        for extra in ({"prompt": "none"}, {}):
            params = rp_params(await authorize(h, rp, hint, **extra))
            assert params["error"] == "invalid_request", params
            assert hint not in params.get("error_description", "")
    params = rp_params(await authorize(h, other, ada.id_token))
    assert params["error"] == "invalid_request"
    assert params["error_description"] == "the ID token hint was issued to another client"
    # Refused before any sign-in: a browser with no session gets the error, not the login page.
    async with browser(h) as fresh:
        params = rp_params(await authorize(h, rp, "garbage", fresh))
        assert params["error"] == "invalid_request"


async def test_an_expired_hint_is_accepted(hc: Harness, clock: FixedClock) -> None:
    rp = await make_rp(hc)
    ada = await sign_in_at(hc, rp)
    clock.advance(ID_TOKEN_TTL + 120)  # the ID token has expired; the session (idle 1 h) has not
    params = rp_params(await authorize(hc, rp, ada.id_token, prompt="none"))
    assert "code" in params, params
