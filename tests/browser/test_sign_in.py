"""A browser signs in at the real server for a relying party written with an independent library.

Headless Chromium fills ΛiD's sign-in and consent pages; the relying party is Authlib's OAuth2Session
plus a tiny callback server. It redeems the code with PKCE (S256), validates the ID token with PyJWT
against the published JWKS (signature, iss, aud, nonce, and an at_hash it computes itself) and calls
UserInfo. It then refreshes (offline_access, grant_type=refresh_token with rotation) and signs out
through the end_session_endpoint, which revokes the session's refresh tokens and ends the browser's
session. OAuth 2.1 §4.1 and §4.3, RFC 7636, RFC 9207, OIDC Core §3.1 and §12, OIDC RP-Initiated Logout 1.0.
"""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING
from urllib.parse import urlencode, urlsplit

import pytest

from tests.support.browser_rp import CLIENT_NAME, DISPLAY_NAME, EMAIL, Callback, RelyingParty, User, create_user
from tests.support.servers import IdP

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext, Page

pytestmark = [pytest.mark.browser, pytest.mark.e2e]


def sign_in_and_consent(page: Page, url: str, user: User, rp: RelyingParty) -> tuple[list[str], str]:
    """Drive the pages as a person would; return the main-frame URLs that loaded and the final URL."""
    loaded: list[str] = []
    console: list[str] = []
    page.on("framenavigated", lambda frame: loaded.append(frame.url) if frame == page.main_frame else None)
    page.on("console", lambda msg: console.append(f"{msg.type}: {msg.text.strip()}"))

    page.goto(url)  # /oauth2/authorize answers 303 to the sign-in page
    try:
        page.wait_for_url(lambda u: u.startswith(f"{rp.issuer}/login?"))
    except Exception as exc:
        raise AssertionError(f"no sign-in page; at {page.url}; console: {console}") from exc
    assert page.title().startswith("Sign in")
    page.locator('input[name="username"]').fill(user.username)
    page.locator('input[name="password"]').fill(user.password)
    page.locator('button[type="submit"]').click()

    allow = page.locator('button[name="decision"][value="allow"]')
    allow.wait_for()
    assert page.url.startswith(f"{rp.issuer}/")
    assert page.locator('button[name="decision"][value="deny"]').count() == 1
    assert CLIENT_NAME in page.locator("h1").inner_text()
    allow.click()

    try:
        page.wait_for_url(lambda u: u.startswith(f"{rp.callback.redirect_uri}?"))
        page.locator("#rp-done").wait_for()
    except Exception as exc:
        raise AssertionError(f"the browser did not reach the RP; still at {page.url}; console: {console}") from exc
    return loaded, page.url


def test_sign_in_consent_code_pkce_id_token_userinfo(browser: BrowserContext, idp: IdP, rp_callback: Callback) -> None:
    rp = RelyingParty.register(idp, rp_callback)
    user = create_user(idp)
    idp.start()
    rp.discover()
    page = browser.pages[0] if browser.pages else browser.new_page()
    try:
        # 1. Sign-in and consent pages in the browser, then one redirect to the RP: code, exact state, iss.
        loaded, final_url = sign_in_and_consent(page, rp.authorization_url(), user, rp)
        assert [urlsplit(u).path for u in loaded[:1] + loaded[-1:]] == ["/login", "/cb"], loaded
        assert len(loaded) == 3, loaded  # sign-in page, consent page, RP
        rp.check_callback(final_url)

        # 2. The code and the PKCE verifier at the token endpoint.
        rp.redeem(final_url)

        # 3. The ID token: signature via jwks_uri, iss, aud, nonce, at_hash.
        claims = rp.validate_id_token()
        assert claims["sub"] == user.lid  # a public (not pairwise) subject: the user's ΛID

        # 4. UserInfo with the access token.
        info = rp.userinfo()
        assert info["sub"] == claims["sub"]
        assert info["name"] == DISPLAY_NAME
        assert info["email"] == EMAIL

        # 5. Refresh: a new access token and a rotated (different) refresh token; the new access token works
        #    at UserInfo; the new ID token (OIDC Core §12.2) keeps iss/sub/aud/sid, has no nonce.
        first = rp.refresh()
        refreshed = rp.verify_id_token(require_nonce=False)
        assert refreshed["sub"] == claims["sub"] and "nonce" not in refreshed
        assert refreshed.get("sid") == claims.get("sid")
        assert rp.userinfo()["sub"] == claims["sub"]
        assert first["refresh_token"] != rp.token["refresh_token"]

        # 6. Logout: the end_session_endpoint with the latest ID token as hint (this browser's session, so
        #    no confirmation page), then one 303 to the registered post_logout_redirect_uri with the state.
        logout_state = secrets.token_urlsafe(16)
        page.goto(rp.end_session_url(logout_state))
        try:
            page.wait_for_url(lambda u: u.startswith(f"{rp_callback.post_logout_redirect_uri}?"))
            page.locator("#rp-logged-out").wait_for()
        except Exception as exc:
            raise AssertionError(f"logout did not reach the RP; still at {page.url}: {page.title()!r}") from exc
        assert rp_callback.logged_out.wait(10)
        assert rp_callback.logout_hits == [{"state": [logout_state]}], rp_callback.logout_hits
        assert urlsplit(page.url).query == urlencode({"state": logout_state})

        #    The session's refresh tokens are revoked: the current one (never presented, so not a reuse)
        #    is now invalid_grant.
        refused = rp.refused_refresh(rp.token["refresh_token"])
        assert refused.error == "invalid_grant", (refused.error, refused.description)

        #    The session has ended: a new authorization request in the same browser shows the sign-in page.
        hits = len(rp_callback.hits)
        page.goto(rp.authorization_url())
        try:
            page.wait_for_url(lambda u: u.startswith(f"{rp.issuer}/login?"))
        except Exception as exc:
            raise AssertionError(f"no sign-in page after logout; at {page.url}: {page.title()!r}") from exc
        assert page.title().startswith("Sign in")
        assert page.locator('input[name="password"]').count() == 1
        assert len(rp_callback.hits) == hits
    finally:
        rp.session.close()
