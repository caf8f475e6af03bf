"""The authorization endpoint's use case end to end at the service layer: login, consent, code, tokens.

(The HTTP pages drive exactly these steps; they are tested with the pages themselves.)
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest

from lukhas_id.domain.client import Client, GrantType
from lukhas_id.domain.tenant import Tenant
from lukhas_id.protocol.oauth2.authorize import AuthorizeFatal, AuthorizeRedirectError
from lukhas_id.services.authorization import NeedConsent, NeedLogin, Redirect, SignedIn
from tests.support.harness import BASE, Harness, basic

REDIRECT = "https://rp.example.com/cb"


async def setup(h: Harness, *, first_party: bool = False) -> tuple[Tenant, Client, str, SignedIn]:
    tenant = await h.tenant()
    client, secret = await h.c.clients.create(
        tenant,
        name="Example RP",
        grant_types=frozenset({GrantType.AUTHORIZATION_CODE}),
        scopes=frozenset({"openid", "profile", "email"}),
        redirect_uris=(REDIRECT,),
        first_party=first_party,
    )
    assert secret is not None
    user = await h.c.users.create(tenant, f"user{secrets.token_hex(3)}", password=secrets.token_urlsafe(16))
    who = SignedIn(user.lid, int(time.time()) - 10, ("pwd",), None, "sid-" + secrets.token_hex(4))
    return tenant, client, secret, who


def params(client: Client, challenge: str, **extra: str) -> dict[str, list[str]]:
    base = {
        "response_type": "code",
        "client_id": client.client_id,
        "redirect_uri": REDIRECT,
        "scope": "openid profile",
        "state": "af0ifjsldkj &=?\u00e9",
        "nonce": "n-0S6",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        **extra,
    }
    return {k: [v] for k, v in base.items()}


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    return verifier, base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


def query(location: str) -> dict[str, str]:
    parts = urlsplit(location)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == REDIRECT
    return {k: v[0] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}


async def test_login_then_consent_then_code_then_tokens(h: Harness) -> None:
    tenant, client, secret, who = await setup(h)
    verifier, challenge = pkce()
    p = params(client, challenge)
    step = await h.c.authorization.authorize(tenant, p, None)
    assert isinstance(step, NeedLogin)
    resumed = await h.c.authorization.recall(tenant, step.interaction, consume=True)
    assert resumed == p
    step2 = await h.c.authorization.authorize(tenant, resumed, who, fresh_login=True)
    assert isinstance(step2, NeedConsent)
    assert step2.scopes == ("openid", "profile") and step2.client.name == "Example RP"
    done = await h.c.authorization.decide(tenant, step2.interaction, who, allow=True)
    q = query(done.location)
    assert q["state"] == "af0ifjsldkj &=?\u00e9"  # byte for byte
    assert q["iss"] == BASE  # RFC 9207
    resp = await h.http.post(
        "/oauth2/token",
        data={
            "grant_type": "authorization_code",
            "code": q["code"],
            "redirect_uri": REDIRECT,
            "code_verifier": verifier,
        },
        headers=basic(client.client_id, secret),
    )
    assert resp.status_code == 200, resp.text
    claims = jwt.decode(resp.json()["id_token"], options={"verify_signature": False})
    assert claims["sub"] == who.user_lid and claims["nonce"] == "n-0S6" and claims["sid"] == who.sid
    # The consent is remembered: the next request goes straight to a code.
    again = await h.c.authorization.authorize(tenant, params(client, pkce()[1]), who)
    assert isinstance(again, Redirect) and "code" in query(again.location)
    # ... unless the client asks for more, or prompt=consent.
    more = await h.c.authorization.authorize(tenant, params(client, pkce()[1], scope="openid email"), who)
    assert isinstance(more, NeedConsent)
    forced = await h.c.authorization.authorize(tenant, params(client, pkce()[1], prompt="consent"), who)
    assert isinstance(forced, NeedConsent)


async def test_first_party_clients_skip_consent(h: Harness) -> None:
    tenant, client, _, who = await setup(h, first_party=True)
    step = await h.c.authorization.authorize(tenant, params(client, pkce()[1]), who)
    assert isinstance(step, Redirect)


async def test_denied_consent_redirects_access_denied_with_state_and_iss(h: Harness) -> None:
    tenant, client, _, who = await setup(h)
    step = await h.c.authorization.authorize(tenant, params(client, pkce()[1]), who)
    assert isinstance(step, NeedConsent)
    done = await h.c.authorization.decide(tenant, step.interaction, who, allow=False)
    q = query(done.location)
    assert q["error"] == "access_denied" and q["iss"] == BASE and q["state"] == "af0ifjsldkj &=?\u00e9"
    assert "code" not in q
    with pytest.raises(LookupError):  # an interaction is used once
        await h.c.authorization.decide(tenant, step.interaction, who, allow=True)


@pytest.mark.parametrize(("signed_in", "code"), [(False, "login_required"), (True, "consent_required")])
async def test_prompt_none(h: Harness, signed_in: bool, code: str) -> None:
    tenant, client, _, who = await setup(h)
    with pytest.raises(AuthorizeRedirectError) as err:
        await h.c.authorization.authorize(tenant, params(client, pkce()[1], prompt="none"), who if signed_in else None)
    assert err.value.code == code
    location = h.c.authorization.error_location(tenant, err.value)
    assert query(location)["iss"] == BASE


async def test_prompt_login_and_max_age_ask_for_a_new_login(h: Harness) -> None:
    tenant, client, _, who = await setup(h, first_party=True)
    assert isinstance(
        await h.c.authorization.authorize(tenant, params(client, pkce()[1], prompt="login"), who), NeedLogin
    )
    assert isinstance(await h.c.authorization.authorize(tenant, params(client, pkce()[1], max_age="5"), who), NeedLogin)
    assert isinstance(await h.c.authorization.authorize(tenant, params(client, pkce()[1], max_age="60"), who), Redirect)


async def test_client_and_redirect_errors_are_never_redirected(h: Harness) -> None:
    tenant, client, _, who = await setup(h)
    for bad in ({"client_id": "cl_nobody"}, {"redirect_uri": "https://evil.example.com/cb"}):
        with pytest.raises(AuthorizeFatal):
            await h.c.authorization.authorize(tenant, params(client, pkce()[1], **bad), who)
    with pytest.raises(AuthorizeRedirectError) as err:
        await h.c.authorization.authorize(tenant, params(client, pkce()[1], code_challenge_method="plain"), who)
    assert err.value.code == "invalid_request"


async def test_unknown_or_hostile_interaction_ids(h: Harness) -> None:
    tenant, _, _, _ = await setup(h)
    for interaction in ("", "x" * 500, "nope", "é"):
        assert await h.c.authorization.recall(tenant, interaction) is None


async def test_acr_values_are_recorded_with_the_code(h: Harness) -> None:
    tenant, client, _, who = await setup(h, first_party=True)
    step = await h.c.authorization.authorize(tenant, params(client, pkce()[1], acr_values="urn:a urn:b"), who)
    assert isinstance(step, Redirect)
    redemption = await h.c.codes.redeem(tenant.id, query(step.location)["code"])
    assert redemption.grant is not None
    assert redemption.grant.acr_values == ("urn:a", "urn:b")
