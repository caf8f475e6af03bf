"""The authorization endpoint over HTTP: sign-in page, consent page, code, tokens, UserInfo.

RFC 6749 §4.1, OAuth 2.1 §4.1, RFC 9207, RFC 9700 §4.11-§4.16, OIDC Core §3.1.2. A browser test with an
independent relying-party library comes with the next increment; this drives the same pages with httpx.
"""

from __future__ import annotations

import secrets
from urllib.parse import urlsplit

import jwt

from lukhas_id.domain.client import Client, GrantType
from tests.support.harness import BASE, Harness, basic
from tests.support.rp import REDIRECT, STATE, authorize_url, hidden, path_of, pkce_pair, rp_params
from tests.support.sign_in import (
    sign_in,
)


async def setup(h: Harness, tenant_name: str | None = None) -> tuple[Client, str, str, str]:
    tenant = await h.tenant(tenant_name)
    client, secret = await h.c.clients.create(
        tenant,
        name="Example RP",
        grant_types=frozenset({GrantType.AUTHORIZATION_CODE}),
        scopes=frozenset({"openid", "profile", "email"}),
        redirect_uris=(REDIRECT,),
    )
    assert secret is not None
    username, password = f"ada{secrets.token_hex(3)}", secrets.token_urlsafe(18)
    await h.c.users.create(tenant, username, password=password, display_name="Ada")
    return client, secret, username, password


async def test_sign_in_consent_code_tokens_userinfo(h: Harness) -> None:
    client, secret, username, password = await setup(h)
    verifier, challenge = pkce_pair()
    first = await h.http.get(authorize_url(client, challenge))
    assert first.status_code == 303
    assert path_of(first.headers["location"]).startswith("/login?return_to=")
    signed = await sign_in(h.http, first.headers["location"], username, password)
    assert signed.status_code == 303
    consent = await h.http.get(path_of(signed.headers["location"]))
    assert consent.status_code == 200
    assert "Example RP" in consent.text and 'name="decision" value="allow"' in consent.text
    assert "frame-ancestors 'none'" in consent.headers["content-security-policy"]
    assert consent.headers["referrer-policy"] == "no-referrer"
    assert "access-control-allow-origin" not in consent.headers
    decided = await h.http.post(
        "/oauth2/consent",
        data={
            "csrf_token": hidden(consent.text, "csrf_token"),
            "interaction": hidden(consent.text, "interaction"),
            "decision": "allow",
        },
    )
    assert decided.status_code == 303
    q = rp_params(decided.headers["location"])
    assert q["state"] == STATE and q["iss"] == BASE
    tokens = await h.http.post(
        "/oauth2/token",
        data={
            "grant_type": "authorization_code",
            "code": q["code"],
            "redirect_uri": REDIRECT,
            "code_verifier": verifier,
        },
        headers=basic(client.client_id, secret),
    )
    assert tokens.status_code == 200, tokens.text
    id_claims = jwt.decode(tokens.json()["id_token"], options={"verify_signature": False})
    assert id_claims["nonce"] == "n-1" and id_claims["amr"] == ["pwd"] and "sid" in id_claims
    info = await h.http.get("/oauth2/userinfo", headers={"authorization": f"Bearer {tokens.json()['access_token']}"})
    assert info.status_code == 200
    assert info.json()["sub"] == id_claims["sub"] and info.json()["name"] == "Ada"
    # Signed in and consented: the next request goes straight back with a code.
    again = await h.http.get(authorize_url(client, pkce_pair()[1]))
    assert again.status_code == 303 and "code" in rp_params(again.headers["location"])


async def test_errors_about_client_or_redirect_uri_are_a_page_never_a_redirect(h: Harness) -> None:
    client, _, _, _ = await setup(h)
    for url in (
        authorize_url(client, pkce_pair()[1], redirect_uri="https://evil.example.com/cb"),
        authorize_url(client, pkce_pair()[1], client_id="cl_nobody"),
        "/oauth2/authorize",
    ):
        resp = await h.http.get(url)
        assert resp.status_code == 400
        assert "location" not in resp.headers
        assert resp.headers["content-type"].startswith("text/html")
        assert "evil.example.com" not in resp.text


async def test_other_errors_redirect_with_state_and_iss(h: Harness) -> None:
    client, _, _, _ = await setup(h)
    resp = await h.http.get(authorize_url(client, pkce_pair()[1], code_challenge_method="plain"))
    assert resp.status_code == 303
    q = rp_params(resp.headers["location"])
    assert q["error"] == "invalid_request" and q["state"] == STATE and q["iss"] == BASE
    resp = await h.http.get(authorize_url(client, pkce_pair()[1], response_type="token"))
    assert rp_params(resp.headers["location"])["error"] == "unsupported_response_type"
    resp = await h.http.get(authorize_url(client, pkce_pair()[1], prompt="none"))
    assert rp_params(resp.headers["location"])["error"] == "login_required"


async def test_consent_without_csrf_is_403_and_deny_is_access_denied(h: Harness) -> None:
    client, _, username, password = await setup(h)
    first = await h.http.get(authorize_url(client, pkce_pair()[1]))
    signed = await sign_in(h.http, first.headers["location"], username, password)
    consent = await h.http.get(path_of(signed.headers["location"]))
    interaction = hidden(consent.text, "interaction")
    forged = await h.http.post("/oauth2/consent", data={"interaction": interaction, "decision": "allow"})
    assert forged.status_code == 403
    denied = await h.http.post(
        "/oauth2/consent",
        data={"csrf_token": hidden(consent.text, "csrf_token"), "interaction": interaction, "decision": "deny"},
    )
    q = rp_params(denied.headers["location"])
    assert q["error"] == "access_denied" and q["state"] == STATE


async def test_a_session_of_one_tenant_does_not_sign_in_at_another(h: Harness) -> None:
    client_a, _, username, password = await setup(h, "acme")
    first = await h.http.get(authorize_url(client_a, pkce_pair()[1], base="/t/acme"))
    signed = await sign_in(h.http, first.headers["location"], username, password)
    consent = await h.http.get(path_of(signed.headers["location"]))
    assert consent.status_code == 200  # signed in at acme
    client_b, _, _, _ = await setup(h, "globex")
    resp = await h.http.get(authorize_url(client_b, pkce_pair()[1], base="/t/globex", prompt="none"))
    assert rp_params(resp.headers["location"])["error"] == "login_required"


async def test_post_to_the_authorization_endpoint(h: Harness) -> None:
    client, _, _, _ = await setup(h)
    url = authorize_url(client, pkce_pair()[1])
    query = urlsplit(url).query
    resp = await h.http.post(
        "/oauth2/authorize", content=query, headers={"content-type": "application/x-www-form-urlencoded"}
    )
    assert resp.status_code == 303 and "/login?return_to=" in resp.headers["location"]
    resp = await h.http.post("/oauth2/authorize", content=query, headers={"content-type": "text/plain"})
    assert resp.status_code == 415
