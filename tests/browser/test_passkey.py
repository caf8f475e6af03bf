"""A person enrols a passkey on the account page and later signs in with it alone, in real Chromium.

Chromium's own WebAuthn stack runs the ceremonies against a CDP virtual authenticator (ctap2, internal
transport, resident keys, user verification), so what ΛiD receives is exactly what a browser sends:
`navigator.credentials.create/get` called by ΛiD's served passkey.js, the options parsed by
PublicKeyCredential.parse*OptionsFromJSON and the results sent as credential.toJSON(). The page is
opened as http://localhost:PORT (rp id `localhost`: WebAuthn refuses IP-literal origins). The relying
party (Authlib) then sees an ID token whose `amr` says a passkey was used and no password.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest

from tests.support.browser_rp import Callback, RelyingParty, create_user
from tests.support.servers import IdP

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext, Page

pytestmark = [pytest.mark.browser, pytest.mark.e2e]


def add_virtual_authenticator(page: Page) -> tuple[object, str]:
    """WebAuthn.addVirtualAuthenticator over the Chrome DevTools Protocol; returns (cdp, authenticator id)."""
    cdp = page.context.new_cdp_session(page)
    cdp.send("WebAuthn.enable", {"enableUI": False})
    added = cdp.send(
        "WebAuthn.addVirtualAuthenticator",
        {
            "options": {
                "protocol": "ctap2",
                "ctap2Version": "ctap2_1",
                "transport": "internal",
                "hasResidentKey": True,
                "hasUserVerification": True,
                "isUserVerified": True,
                "automaticPresenceSimulation": True,
            }
        },
    )
    return cdp, str(added["authenticatorId"])


def wait_for(page: Page, predicate_url: str, console: list[str]) -> None:
    try:
        page.wait_for_url(lambda u: u.startswith(predicate_url))
    except Exception as exc:
        raise AssertionError(f"expected {predicate_url}; at {page.url}; console: {console}") from exc


def test_enrol_a_passkey_then_sign_in_with_it_alone(browser: BrowserContext, idp: IdP, rp_callback: Callback) -> None:
    rp = RelyingParty.register(idp, rp_callback)
    user = create_user(idp)
    idp.start()
    rp.discover()
    assert "urn:lukhas:acr:passkey" in rp.meta["acr_values_supported"]
    page = browser.pages[0] if browser.pages else browser.new_page()
    console: list[str] = []
    page.on("console", lambda msg: console.append(f"{msg.type}: {msg.text.strip()}"))
    cdp, authenticator = add_virtual_authenticator(page)
    try:
        # 1. Sign in with the password (no passkey yet), straight to the account page.
        page.goto(f"{idp.issuer}/login")
        page.locator('input[name="username"]').fill(user.username)
        page.locator('input[name="password"]').fill(user.password)
        page.locator('button[type="submit"]').click()
        wait_for(page, f"{idp.issuer}/account", console)

        # 2. Add a passkey: the button is shown by passkey.js; the page reloads with the passkey listed.
        page.locator("#passkey-name").fill("Test laptop")
        page.locator("#passkey-add").click()
        page.locator("[data-passkey]").first.wait_for()
        assert "Test laptop" in page.locator("#passkey-list").inner_text()
        credentials = cdp.send("WebAuthn.getCredentials", {"authenticatorId": authenticator})["credentials"]  # type: ignore[attr-defined]
        assert len(credentials) == 1 and credentials[0]["isResidentCredential"] is True

        # 3. Sign out (the confirmation page, as there is no ID token hint).
        page.goto(f"{idp.issuer}/oauth2/logout")
        page.locator('button[name="confirm"][value="yes"]').click()
        page.get_by_role("heading").first.wait_for()
        page.goto(f"{idp.issuer}/account")
        wait_for(page, f"{idp.issuer}/login", console)  # signed out

        # 4. The relying party sends the browser to ΛiD; the person signs in with the passkey alone
        #    (no username typed: a discoverable credential), consents, and the browser lands at the RP.
        page.goto(rp.authorization_url())
        wait_for(page, f"{idp.issuer}/login?", console)
        page.locator("#passkey-login").click()
        allow = page.locator('button[name="decision"][value="allow"]')
        try:
            allow.wait_for()
        except Exception as exc:
            status = page.locator("#passkey-status").inner_text() if page.locator("#passkey-status").count() else ""
            raise AssertionError(f"no consent page; at {page.url}; status {status!r}; console: {console}") from exc
        allow.click()
        wait_for(page, f"{rp_callback.redirect_uri}?", console)
        rp.check_callback(page.url)
        rp.redeem(page.url)
        claims = rp.validate_id_token()
        assert claims["sub"] == user.lid
        amr = claims["amr"]
        assert ("hwk" in amr or "swk" in amr) and "user" in amr and "pwd" not in amr, amr
        # The virtual authenticator verifies the user (UV), so the sign-in counts as two factors.
        assert "mfa" in amr and claims["acr"] == "urn:lukhas:acr:mfa", claims
        counter = cdp.send("WebAuthn.getCredentials", {"authenticatorId": authenticator})["credentials"][0]  # type: ignore[attr-defined]
        assert counter["signCount"] >= 1, json.dumps(counter)
    finally:
        rp.session.close()
