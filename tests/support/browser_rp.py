"""A relying party for the browser tests: Authlib's OAuth2Session, a callback server's record, and PyJWT checks.

The RP registers with the deployment's CLI, discovers the issuer, builds the authorization URL (PKCE
S256, nonce), checks the callback (RFC 9207), redeems the code, validates the ID token against the
published JWKS with an at_hash it computes itself (OIDC Core §3.1.3.6), refreshes and signs out.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import subprocess
import threading
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import jwt
import pytest
from authlib.integrations.requests_client import OAuth2Session, OAuthError

from tests.support.servers import CLI, IdP

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
class Callback:
    """The relying party on 127.0.0.1: its redirect URI http://localhost:PORT/cb and its post-logout
    redirect URI http://localhost:PORT/logged-out; records each query of each."""

    port: int
    hits: list[dict[str, list[str]]] = field(default_factory=list)
    arrived: threading.Event = field(default_factory=threading.Event)
    logout_hits: list[dict[str, list[str]]] = field(default_factory=list)
    logged_out: threading.Event = field(default_factory=threading.Event)

    @property
    def redirect_uri(self) -> str:
        return f"http://localhost:{self.port}/cb"

    @property
    def post_logout_redirect_uri(self) -> str:
        return f"http://localhost:{self.port}/logged-out"


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
