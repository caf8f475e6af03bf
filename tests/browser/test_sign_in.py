"""A browser signs in at the real server for a relying party written with an independent library.

Headless Chromium fills ΛiD's sign-in and consent pages; the relying party is Authlib's OAuth2Session
plus a tiny callback server. It redeems the code with PKCE (S256), validates the ID token with PyJWT
against the published JWKS (signature, iss, aud, nonce, and an at_hash it computes itself) and calls
UserInfo. It then refreshes (offline_access, grant_type=refresh_token with rotation) and signs out
through the end_session_endpoint, which revokes the session's refresh tokens and ends the browser's
session. OAuth 2.1 §4.1 and §4.3, RFC 7636, RFC 9207, OIDC Core §3.1 and §12, OIDC RP-Initiated Logout 1.0.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import subprocess
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode, urlsplit

import jwt
import pytest
from authlib.integrations.requests_client import OAuth2Session, OAuthError

from tests.browser.conftest import Callback, IdP
from tests.e2e.conftest import CLI

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext, Page

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

CLIENT_NAME = "Example RP"
SCOPE = "openid profile email offline_access"
DISPLAY_NAME = "Ada Lovelace"
EMAIL = "ada@example.com"
# The hash of at_hash follows the ID token's alg (OIDC Core §3.1.3.6); EdDSA with Ed25519 uses SHA-512.
HASHES = {"256": hashlib.sha256, "384": hashlib.sha384, "512": hashlib.sha512}


def at_hash(access_token: str, alg: str) -> str:
    """OIDC Core §3.1.3.6, computed here rather than taken from any library."""
    digest = (hashlib.sha512 if alg == "EdDSA" else HASHES[alg[-3:]])(access_token.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest[: len(digest) // 2]).rstrip(b"=").decode()


@dataclass
class User:
    username: str
    password: str
    lid: str


def create_user(idp: IdP) -> User:
    username, password = f"ada{secrets.token_hex(3)}", secrets.token_urlsafe(18)
    proc = subprocess.run(
        [*CLI, "user", "create", username, "--password-stdin", "--display-name", DISPLAY_NAME, "--email", EMAIL],
        input=f"{password}\n",
        env=idp.deployment.env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    return User(username, password, proc.stdout.strip())


@dataclass
class RelyingParty:
    """What an RP keeps between the steps: its session (and token), discovery metadata, state and nonce."""

    issuer: str
    client_id: str
    session: OAuth2Session
    callback: Callback
    meta: dict[str, Any] = field(default_factory=dict)
    nonce: str = field(default_factory=lambda: secrets.token_urlsafe(16))
    verifier: str = field(default_factory=lambda: secrets.token_urlsafe(48))
    state: str = ""
    token: dict[str, Any] = field(default_factory=dict)
    id_claims: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def register(cls, idp: IdP, callback: Callback) -> RelyingParty:
        creds = idp.deployment.cli(
            "client",
            "create",
            "--grant",
            "authorization_code",
            "--redirect-uri",
            callback.redirect_uri,
            "--post-logout-redirect-uri",
            callback.post_logout_redirect_uri,
            "--scope",
            SCOPE,
            "--name",
            CLIENT_NAME,
            "--json",
        )
        client = json.loads(creds.stdout)
        assert client["issuer"] == idp.issuer and client["redirect_uris"] == [callback.redirect_uri]
        assert client["post_logout_redirect_uris"] == [callback.post_logout_redirect_uri]
        session = OAuth2Session(
            client_id=client["client_id"],
            client_secret=client["client_secret"],
            token_endpoint_auth_method=client["token_endpoint_auth_method"],
            scope=SCOPE,
            redirect_uri=callback.redirect_uri,
            code_challenge_method="S256",
        )
        return cls(idp.issuer, client["client_id"], session, callback)

    def discover(self) -> None:
        url = f"{self.issuer}/.well-known/openid-configuration"
        self.meta = self.session.get(url, withhold_token=True, timeout=10).json()
        assert self.meta["issuer"] == self.issuer
        assert "S256" in self.meta["code_challenge_methods_supported"]
        assert self.meta["authorization_response_iss_parameter_supported"] is True
        assert "refresh_token" in self.meta["grant_types_supported"]
        assert "offline_access" in self.meta["scopes_supported"]
        assert self.meta["end_session_endpoint"] == f"{self.issuer}/oauth2/logout"

    def authorization_url(self) -> str:
        self.nonce = secrets.token_urlsafe(16)
        url, self.state = self.session.create_authorization_url(
            self.meta["authorization_endpoint"], code_verifier=self.verifier, nonce=self.nonce
        )
        return str(url)

    def check_callback(self, final_url: str) -> None:
        """RFC 9207 and RFC 6749 §4.1.2: one redirect, with the exact state and iss equal to the issuer."""
        assert final_url.startswith(f"{self.callback.redirect_uri}?")
        assert self.callback.arrived.wait(10)
        [query] = self.callback.hits
        assert "error" not in query, query
        assert query["state"] == [self.state]
        assert query["iss"] == [self.issuer]
        assert len(query["code"]) == 1 and query["code"][0]

    def redeem(self, final_url: str) -> None:
        """The code and the PKCE verifier at the token endpoint (Authlib checks state again)."""
        self.token = dict(
            self.session.fetch_token(
                self.meta["token_endpoint"],
                authorization_response=final_url,
                state=self.state,
                code_verifier=self.verifier,
                timeout=10,
            )
        )
        assert self.token["token_type"].lower() == "bearer"
        assert set(self.token["scope"].split()) == set(SCOPE.split())
        assert self.token["access_token"] and self.token["id_token"] and self.token["refresh_token"]

    def validate_id_token(self) -> dict[str, Any]:
        """Signature via jwks_uri (PyJWT's JWKS client), iss, aud, exp, nonce and an independently computed at_hash."""
        self.id_claims = self.verify_id_token(require_nonce=True)
        assert self.id_claims["nonce"] == self.nonce
        return self.id_claims

    def verify_id_token(self, *, require_nonce: bool) -> dict[str, Any]:
        id_token = self.token["id_token"]
        alg = jwt.get_unverified_header(id_token)["alg"]
        assert alg in self.meta["id_token_signing_alg_values_supported"] and alg != "none"
        key = jwt.PyJWKClient(self.meta["jwks_uri"], cache_keys=False).get_signing_key_from_jwt(id_token)
        required = ["iss", "sub", "aud", "exp", "iat", "at_hash"] + (["nonce"] if require_nonce else [])
        claims: dict[str, Any] = jwt.decode(
            id_token,
            key=key,
            algorithms=[alg],
            audience=self.client_id,
            issuer=self.issuer,
            options={"require": required},
        )
        assert claims["at_hash"] == at_hash(self.token["access_token"], alg)
        return claims

    def refresh(self) -> dict[str, Any]:
        """OAuth 2.1 §4.3 with Authlib: a new access token and a rotated refresh token (OIDC Core §12)."""
        before = dict(self.token)
        self.token = dict(
            self.session.refresh_token(self.meta["token_endpoint"], refresh_token=before["refresh_token"], timeout=10)
        )
        assert self.token["token_type"].lower() == "bearer"
        assert set(self.token["scope"].split()) == set(SCOPE.split())
        assert self.token["access_token"] and self.token["access_token"] != before["access_token"]
        assert self.token["refresh_token"] and self.token["refresh_token"] != before["refresh_token"]
        return before

    def refused_refresh(self, refresh_token: str) -> OAuthError:
        """The token endpoint refuses this refresh token; the session keeps its current token."""
        current = dict(self.token)
        with pytest.raises(OAuthError) as refused:
            self.session.refresh_token(self.meta["token_endpoint"], refresh_token=refresh_token, timeout=10)
        assert dict(self.session.token) == current
        return refused.value

    def end_session_url(self, state: str) -> str:
        query = {
            "id_token_hint": self.token["id_token"],
            "post_logout_redirect_uri": self.callback.post_logout_redirect_uri,
            "state": state,
        }
        return f"{self.meta['end_session_endpoint']}?{urlencode(query)}"

    def userinfo(self) -> dict[str, Any]:
        resp = self.session.get(self.meta["userinfo_endpoint"], timeout=10)  # Bearer from the session's token
        assert resp.status_code == 200, resp.text
        return dict(resp.json())


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
