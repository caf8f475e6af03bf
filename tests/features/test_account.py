"""The account page: profile, active sessions with "sign out everywhere", consents with "withdraw" (CSRF).

Both deployments; browsers sign in through the pages (tests/support/sign_in.py).
"""

from __future__ import annotations

import httpx

from lukhas_id.domain.tenant import Tenant
from tests.support.harness import BASE, Harness
from tests.support.rp import authorize_url, hidden, pkce_pair, rp_params
from tests.support.sign_in import (
    assert_cookie_cleared,
    assert_page,
    assert_signed_out,
    sign_in_rp,
)


def browser(h: Harness) -> httpx.AsyncClient:
    """Another browser (its own cookie jar) on the same server."""
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=h.app), base_url=BASE)


async def test_account_without_session_goes_to_sign_in(h: Harness) -> None:
    resp = await h.http.get("/account")
    assert resp.status_code == 303 and resp.headers["location"] == f"{BASE}/login"
    await h.tenant("acme")
    resp = await h.http.get("/t/acme/account")
    assert resp.status_code == 303 and resp.headers["location"] == f"{BASE}/t/acme/login"
    resp = await h.http.post("/account", data={"action": "signout_everywhere"})
    assert resp.status_code == 303 and resp.headers["location"] == f"{BASE}/login"


async def test_account_lists_profile_sessions_and_consents(h: Harness) -> None:
    s = await sign_in_rp(h)
    page = await h.http.get("/account")
    assert_page(page, 200)
    session = await h.c.sessions.get(s.tenant, s.session_cookie)
    assert session is not None
    user = await h.c.logout.profile(s.tenant, session.user_lid)
    assert user is not None
    assert user.username in page.text and "Ada" in page.text
    assert "Example RP" in page.text and "Confirm who you are" in page.text
    assert page.text.count("<li>Signed in") == 1 and "(this browser)" in page.text
    assert 'value="signout_everywhere"' in page.text and 'value="withdraw"' in page.text
    assert page.headers["cache-control"] == "no-store"
    # Never a session id, a sid or a token.
    assert s.session_cookie not in page.text and session.sid not in page.text
    assert s.id_token not in page.text


async def test_two_sessions_of_one_user_and_sign_out_everywhere(h: Harness) -> None:
    s = await sign_in_rp(h)
    session = await h.c.sessions.get(s.tenant, s.session_cookie)
    assert session is not None
    user = await h.c.logout.profile(s.tenant, session.user_lid)
    assert user is not None
    async with browser(h) as other:
        # The second browser signs the same user in through the sign-in page.
        login = await other.get("/login")
        password = await _password_of(h, s.tenant, user.username)
        signed = await other.post(
            "/login",
            data={"username": user.username, "password": password, "csrf_token": hidden(login.text, "csrf_token")},
        )
        assert signed.status_code == 303 and signed.headers["location"] == f"{BASE}/account"
        other_cookie = other.cookies.get("lid_session")
        assert other_cookie
        page = await h.http.get("/account")
        assert page.text.count("<li>Signed in") == 2 and page.text.count("(this browser)") == 1
        # Without the CSRF token: refused, nothing ended.
        forged = await h.http.post("/account", data={"action": "signout_everywhere"})
        assert_page(forged, 403)
        assert await h.c.sessions.get(s.tenant, other_cookie) is not None
        done = await h.http.post(
            "/account", data={"action": "signout_everywhere", "csrf_token": hidden(page.text, "csrf_token")}
        )
        assert_page(done, 200)
        assert "You are signed out" in done.text
        assert_cookie_cleared(h, done, s.tenant)
        await assert_signed_out(h, s)
        assert await h.c.sessions.get(s.tenant, other_cookie) is None
        assert (await other.get("/account")).status_code == 303


async def _password_of(h: Harness, tenant: Tenant, username: str) -> str:
    """Set a known password for `username` (the helper's users have random ones)."""
    password = "correct horse battery staple 42"
    await h.c.users.set_password(tenant, username, password)
    return password


async def test_withdraw_consent_then_authorize_asks_again(h: Harness) -> None:
    for tenant_name in (None, "acme"):
        s = await sign_in_rp(h, tenant_name)
        # Consented: prompt=none gets a code.
        ok = await h.http.get(authorize_url(s.client, pkce_pair()[1], base=s.base, prompt="none"))
        assert "code" in rp_params(ok.headers["location"])
        page = await h.http.get(f"{s.base}/account")
        assert "Example RP" in page.text
        form = {"action": "withdraw", "client_id": hidden(page.text, "client_id")}
        assert_page(await h.http.post(f"{s.base}/account", data=form), 403)
        done = await h.http.post(f"{s.base}/account", data={**form, "csrf_token": hidden(page.text, "csrf_token")})
        assert done.status_code == 303 and done.headers["location"] == f"{BASE}{s.base}/account"
        page = await h.http.get(f"{s.base}/account")
        assert "Example RP" not in page.text and "You have not allowed any application" in page.text
        again = await h.http.get(authorize_url(s.client, pkce_pair()[1], base=s.base, prompt="none"))
        assert rp_params(again.headers["location"])["error"] == "consent_required"
        # Still signed in: withdrawing a consent is not a sign-out.
        assert await h.c.sessions.get(s.tenant, s.session_cookie) is not None


async def test_unknown_action_and_a_csrf_token_of_another_tenant(h: Harness) -> None:
    s = await sign_in_rp(h)
    page = await h.http.get("/account")
    token = hidden(page.text, "csrf_token")
    assert_page(await h.http.post("/account", data={"action": "nothing", "csrf_token": token}), 400)
    assert_page(await h.http.post("/account", content=b"{}", headers={"content-type": "application/json"}), 415)
    acme = await sign_in_rp(h, "acme")
    acme_page = await h.http.get("/t/acme/account")
    wrong = await h.http.post(
        "/t/acme/account", data={"action": "signout_everywhere", "csrf_token": hidden(page.text, "csrf_token")}
    )
    assert_page(wrong, 403)
    assert acme_page.status_code == 200
    assert await h.c.sessions.get(acme.tenant, acme.session_cookie) is not None
    assert await h.c.sessions.get(s.tenant, s.session_cookie) is not None
