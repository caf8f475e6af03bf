"""Second factor at sign-in, acr_values step-up at the authorization endpoint, 428 on sensitive account
actions, and administrator account recovery, through the HTTP edge (both deployments, fixed clock)."""

from __future__ import annotations

import secrets

import httpx
import jwt
import pyotp
import pytest

from lukhas_id.clock import FixedClock
from lukhas_id.domain.client import GrantType, TokenFormat
from lukhas_id.domain.tenant import Tenant
from lukhas_id.domain.user import User
from tests.support.harness import BASE, Harness, basic
from tests.support.rp import REDIRECT, authorize_url, hidden, path_of, pkce_pair, rp_params

MFA = "urn:lukhas:acr:mfa"
JSON = {"accept": "application/json"}


async def _user(h: Harness) -> tuple[Tenant, User, str]:
    tenant = await h.tenant()
    password = secrets.token_urlsafe(18)
    user = await h.c.users.create(tenant, f"ada{secrets.token_hex(3)}", password=password, display_name="Ada")
    return tenant, user, password


async def _enrol_totp(h: Harness, clock: FixedClock, tenant: Tenant, user: User) -> pyotp.TOTP:
    enrolment = await h.c.totp.begin_enrolment(tenant, user)
    totp = pyotp.TOTP(enrolment.secret)
    assert await h.c.totp.confirm(tenant, user.lid, totp.at(clock.now()))
    clock.advance(30)  # the confirming code's time step is spent
    return totp


async def _password(h: Harness, user: User, password: str, return_to: str | None = None) -> httpx.Response:
    page = await h.http.get("/login", params={"return_to": return_to} if return_to else None)
    form = {"csrf_token": hidden(page.text, "csrf_token"), "username": user.username, "password": password}
    if return_to:
        form["return_to"] = return_to
    return await h.http.post("/login", data=form)


async def _second_factor(h: Harness, page: httpx.Response, code: str) -> httpx.Response:
    return await h.http.post("/login/second-factor", data={"csrf_token": hidden(page.text, "csrf_token"), "code": code})


def _session_cookie(h: Harness) -> str | None:
    return h.http.cookies.get("lid_session")


async def test_password_then_authenticator_code_gives_a_two_factor_session(hc: Harness, clock: FixedClock) -> None:
    tenant, user, password = await _user(hc)
    totp = await _enrol_totp(hc, clock, tenant, user)
    step = await _password(hc, user, password)
    assert step.status_code == 200 and 'action="http://testserver/login/second-factor"' in step.text
    assert _session_cookie(hc) is None  # the password alone makes no session
    wrong = await _second_factor(hc, step, "000000" if totp.at(clock.now()) != "000000" else "111111")
    assert wrong.status_code == 200 and 'id="second-factor-error"' in wrong.text and _session_cookie(hc) is None
    done = await _second_factor(hc, wrong, totp.at(clock.now()))
    assert done.status_code == 303 and done.headers["location"] == f"{BASE}/account"
    session = await hc.c.sessions.get(tenant, _session_cookie(hc) or "")
    assert session is not None and session.amr == ("pwd", "otp", "mfa") and session.acr == MFA

    # The same code again (same time step) in a new sign-in: refused (RFC 6238 §5.2).
    hc.http.cookies.clear()
    again = await _password(hc, user, password)
    replay = await _second_factor(hc, again, totp.at(clock.now()))
    assert replay.status_code == 200 and 'id="second-factor-error"' in replay.text and _session_cookie(hc) is None


async def test_a_recovery_code_works_once_as_the_second_factor(hc: Harness, clock: FixedClock) -> None:
    tenant, user, password = await _user(hc)
    await _enrol_totp(hc, clock, tenant, user)
    codes = await hc.c.recovery_codes.generate(tenant, user.lid)
    step = await _password(hc, user, password)
    done = await _second_factor(hc, step, codes[0].lower())
    assert done.status_code == 303 and _session_cookie(hc)
    hc.http.cookies.clear()
    step = await _password(hc, user, password)
    reused = await _second_factor(hc, step, codes[0])
    assert reused.status_code == 200 and 'id="second-factor-error"' in reused.text
    assert await hc.c.recovery_codes.remaining(tenant, user.lid) == 9


async def test_second_factor_form_needs_csrf_and_a_pending_password_step(h: Harness) -> None:
    page = await h.http.get("/login")
    token = hidden(page.text, "csrf_token")
    no_csrf = await h.http.post("/login/second-factor", data={"code": "123456"})
    assert no_csrf.status_code == 403
    nothing_pending = await h.http.post("/login/second-factor", data={"csrf_token": token, "code": "123456"})
    assert nothing_pending.status_code == 400 and "sign in again" in nothing_pending.text
    get = await h.http.get("/login/second-factor")
    assert get.status_code == 405


async def test_wrong_codes_are_rate_limited_with_retry_after(hc: Harness, clock: FixedClock) -> None:
    tenant, user, password = await _user(hc)
    totp = await _enrol_totp(hc, clock, tenant, user)
    page = await _password(hc, user, password)
    good = totp.at(clock.now())
    for _ in range(5):
        page = await _second_factor(hc, page, "999999" if good != "999999" else "888888")
        assert page.status_code == 200
    blocked = await _second_factor(hc, page, good)
    assert blocked.status_code == 429 and 0 < int(blocked.headers["retry-after"]) <= 60
    metric = hc.c.metrics.registry.get_sample_value("identity_rate_limit_blocks_total", {"limit": "sign_in"})
    assert metric is not None and metric >= 1


async def _rp(h: Harness, tenant: Tenant, token_format: TokenFormat = TokenFormat.JWT) -> tuple[str, str]:
    client, secret = await h.c.clients.create(
        tenant,
        name="Bank",
        grant_types=frozenset({GrantType.AUTHORIZATION_CODE}),
        scopes=frozenset({"openid", "profile"}),
        redirect_uris=(REDIRECT,),
        first_party=True,
        token_format=token_format,
    )
    assert secret is not None
    return client.client_id, secret


async def test_acr_values_force_the_second_factor_and_reach_the_id_token(hc: Harness, clock: FixedClock) -> None:
    tenant, user, password = await _user(hc)
    totp = await _enrol_totp(hc, clock, tenant, user)
    client_id, secret = await _rp(hc, tenant)
    client = await hc.c.clients.get(tenant.id, client_id)
    assert client is not None
    verifier, challenge = pkce_pair()
    first = await hc.http.get(authorize_url(client, challenge, acr_values=f"urn:lukhas:acr:passkey {MFA}"))
    assert first.status_code == 303 and "/login?return_to=" in first.headers["location"]
    return_to = first.headers["location"].split("return_to=")[1]
    login_page = await hc.http.get(path_of(first.headers["location"]))
    assert 'data-step-up="true"' in login_page.text  # the page asks for the stronger sign-in
    step = await _password(hc, user, password, return_to)
    done = await _second_factor(hc, step, totp.at(clock.now()))
    assert done.headers["location"].startswith(f"{BASE}/oauth2/authorize/resume")
    back = await hc.http.get(path_of(done.headers["location"]))
    code = rp_params(back.headers["location"])["code"]
    tokens = await hc.http.post(
        "/oauth2/token",
        data={"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT, "code_verifier": verifier},
        headers=basic(client_id, secret),
    )
    claims = jwt.decode(tokens.json()["id_token"], options={"verify_signature": False})
    assert claims["acr"] == MFA and {"pwd", "otp", "mfa"} <= set(claims["amr"])

    # A session that already meets the level is not asked again; prompt=none works.
    again = await hc.http.get(authorize_url(client, pkce_pair()[1], acr_values=MFA, prompt="none"))
    assert "code" in rp_params(again.headers["location"])


async def test_acr_values_the_user_cannot_meet_end_in_unmet_authentication_requirements(hc: Harness) -> None:
    tenant, user, password = await _user(hc)
    client_id, _ = await _rp(hc, tenant)
    client = await hc.c.clients.get(tenant.id, client_id)
    assert client is not None
    # Signed in with a password only: prompt=none at the mfa level is login_required.
    await _password(hc, user, password)
    quiet = await hc.http.get(authorize_url(client, pkce_pair()[1], acr_values=MFA, prompt="none"))
    assert rp_params(quiet.headers["location"])["error"] == "login_required"
    first = await hc.http.get(authorize_url(client, pkce_pair()[1], acr_values=MFA))
    return_to = first.headers["location"].split("return_to=")[1]
    signed = await _password(hc, user, password, return_to)  # no second factor to offer
    back = await hc.http.get(path_of(signed.headers["location"]))
    params = rp_params(back.headers["location"])
    assert params["error"] == "unmet_authentication_requirements" and params["iss"] == BASE
    # An acr value this server does not define is not a requirement (OIDC: voluntary).
    other = await hc.http.get(authorize_url(client, pkce_pair()[1], acr_values="urn:other:gold"))
    assert "code" in rp_params(other.headers["location"])


async def _account_form(h: Harness) -> str:
    page = await h.http.get("/account")
    assert page.status_code == 200, page.text
    return hidden(page.text, "csrf_token")


async def test_sensitive_actions_need_a_recent_second_factor(hc: Harness, clock: FixedClock) -> None:
    tenant, user, password = await _user(hc)
    totp = await _enrol_totp(hc, clock, tenant, user)
    await hc.c.totp.remove(tenant, user.lid)  # sign in with the password only, then add the factor back
    signed = await _password(hc, user, password)
    assert signed.status_code == 303
    totp = await _enrol_totp(hc, clock, tenant, user)
    token = await _account_form(hc)
    for action, extra in (("email_change", {"email": "new@example.com"}), ("totp_disable", {})):
        refused = await hc.http.post("/account", data={"csrf_token": token, "action": action, **extra}, headers=JSON)
        assert refused.status_code == 428
        assert refused.json() == {
            "error": "step_up_required",
            "reason": "second_factor_required",
            "acr_values": MFA,
            "max_age": 300,
        }
    page = await hc.http.post("/account", data={"csrf_token": token, "action": "passkey_remove", "handle": "x"})
    assert page.status_code == 428 and 'id="step-up-required"' in page.text  # the HTML form gets a page
    assert (await hc.c.users.by_lid(tenant, user.lid)).email is None  # type: ignore[union-attr]

    # Confirm it's you with the authenticator app, then the action goes through.
    confirmed = await hc.http.post(
        "/account", data={"csrf_token": token, "action": "step_up", "code": totp.at(clock.now())}
    )
    assert confirmed.status_code == 303
    token = await _account_form(hc)
    changed = await hc.http.post(
        "/account", data={"csrf_token": token, "action": "email_change", "email": "new@example.com"}, headers=JSON
    )
    assert changed.status_code == 200
    stored = await hc.c.users.by_lid(tenant, user.lid)
    assert stored is not None and stored.email == "new@example.com" and not stored.email_verified

    # Five minutes later the confirmation is too old.
    clock.advance(301)
    token = await _account_form(hc)
    late = await hc.http.post("/account", data={"csrf_token": token, "action": "totp_disable"}, headers=JSON)
    assert late.status_code == 428 and late.json()["reason"] == "authentication_too_old"


async def test_adding_a_factor_to_an_account_that_has_one_needs_a_step_up(hc: Harness, clock: FixedClock) -> None:
    tenant, user, password = await _user(hc)
    signed = await _password(hc, user, password)
    assert signed.status_code == 303
    token = await _account_form(hc)
    setup = await hc.http.post("/account", data={"csrf_token": token, "action": "totp_begin"})
    assert setup.status_code == 200 and "<svg" in setup.text and 'id="totp-secret"' in setup.text
    secret = setup.text.split('id="totp-secret">')[1].split("<")[0]
    confirm = await hc.http.post(
        "/account",
        data={
            "csrf_token": hidden(setup.text, "csrf_token"),
            "action": "totp_confirm",
            "code": pyotp.TOTP(secret).at(clock.now()),
        },
    )
    assert confirm.status_code == 200 and confirm.text.count("<li><code>") == 10  # recovery codes, once
    assert await hc.c.totp.enrolled(tenant, user.lid)
    # Enrolling did not raise the session: removing the factor still needs "confirm it's you".
    token = await _account_form(hc)
    refused = await hc.http.post("/account", data={"csrf_token": token, "action": "totp_disable"}, headers=JSON)
    assert refused.status_code == 428


async def test_administrator_recovery_code_gives_a_session_that_can_only_add_a_passkey(hc: Harness) -> None:
    tenant, user, _ = await _user(hc)
    code = await hc.c.account_recovery.issue(tenant, user)
    page = await hc.http.get("/login/recover")
    assert page.status_code == 200
    wrong = await hc.http.post(
        "/login/recover",
        data={"csrf_token": hidden(page.text, "csrf_token"), "username": user.username, "code": "x" * 22},
    )
    assert wrong.status_code == 200 and 'id="recover-error"' in wrong.text
    done = await hc.http.post(
        "/login/recover",
        data={"csrf_token": hidden(page.text, "csrf_token"), "username": user.username, "code": code},
    )
    assert done.status_code == 303 and done.headers["location"] == f"{BASE}/account"
    session = await hc.c.sessions.get(tenant, _session_cookie(hc) or "")
    assert session is not None and session.amr == () and session.acr == "urn:lukhas:acr:recovery"
    account = await hc.http.get("/account")
    assert 'id="recovery-notice"' in account.text and 'id="passkey-add"' in account.text
    assert 'value="email_change"' not in account.text
    token = account.text.split('data-csrf="')[1].split('"')[0]
    refused = await hc.http.post("/account", data={"csrf_token": token, "action": "email_change", "email": "a@b.c"})
    assert refused.status_code == 403
    # The recovery session does not sign in at applications.
    client_id, _ = await _rp(hc, tenant)
    client = await hc.c.clients.get(tenant.id, client_id)
    assert client is not None
    quiet = await hc.http.get(authorize_url(client, pkce_pair()[1], prompt="none"))
    assert rp_params(quiet.headers["location"])["error"] == "login_required"
    # The code was single use.
    hc.http.cookies.clear()
    page = await hc.http.get("/login/recover")
    again = await hc.http.post(
        "/login/recover",
        data={"csrf_token": hidden(page.text, "csrf_token"), "username": user.username, "code": code},
    )
    assert again.status_code == 200 and 'id="recover-error"' in again.text


async def test_discovery_lists_the_acr_levels(h: Harness) -> None:
    doc = (await h.http.get("/.well-known/openid-configuration")).json()
    assert doc["acr_values_supported"] == ["urn:lukhas:acr:pwd", "urn:lukhas:acr:passkey", MFA]


async def test_wrong_step_up_and_recovery_codes_are_rate_limited(hc: Harness, clock: FixedClock) -> None:
    tenant, user, password = await _user(hc)
    await _password(hc, user, password)
    totp = await _enrol_totp(hc, clock, tenant, user)
    good = totp.at(clock.now())
    wrong = "000000" if good != "000000" else "111111"
    for _ in range(5):
        token = await _account_form(hc)
        resp = await hc.http.post("/account", data={"csrf_token": token, "action": "step_up", "code": wrong})
        assert resp.status_code == 200 and 'id="account-notice"' in resp.text
    token = await _account_form(hc)
    blocked = await hc.http.post("/account", data={"csrf_token": token, "action": "step_up", "code": good})
    assert blocked.status_code == 429

    # Account recovery codes: 5 wrong ones for a username, then even the right code waits. (From another
    # address: the client's bucket is one per address across every sign-in page, and is empty now.)
    other, other_user, _ = await _user(hc)
    code = await hc.c.account_recovery.issue(other, other_user)
    transport = httpx.ASGITransport(app=hc.app, client=("198.51.100.20", 40000))
    async with httpx.AsyncClient(transport=transport, base_url=BASE) as browser:
        page = await browser.get("/login/recover")
        form = {"csrf_token": hidden(page.text, "csrf_token"), "username": other_user.username}
        for _ in range(5):
            resp = await browser.post("/login/recover", data={**form, "code": "y" * 22})
            assert resp.status_code == 200
        resp = await browser.post("/login/recover", data={**form, "code": code})
        assert resp.status_code == 429 and int(resp.headers["retry-after"]) > 0


@pytest.mark.parametrize("token_format", [TokenFormat.JWT, TokenFormat.OPAQUE])
async def test_introspection_tells_how_the_user_authenticated(
    hc: Harness, clock: FixedClock, token_format: TokenFormat
) -> None:
    """RFC 9470 §6.2: acr and auth_time of the authentication, for JWT and opaque access tokens."""
    tenant, user, password = await _user(hc)
    totp = await _enrol_totp(hc, clock, tenant, user)
    client_id, secret = await _rp(hc, tenant, token_format)
    client = await hc.c.clients.get(tenant.id, client_id)
    assert client is not None
    verifier, challenge = pkce_pair()
    first = await hc.http.get(authorize_url(client, challenge))
    step = await _password(hc, user, password, first.headers["location"].split("return_to=")[1])
    signed_in_at = int(clock.now())
    done = await _second_factor(hc, step, totp.at(clock.now()))
    back = await hc.http.get(path_of(done.headers["location"]))
    code = rp_params(back.headers["location"])["code"]
    tokens = await hc.http.post(
        "/oauth2/token",
        data={"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT, "code_verifier": verifier},
        headers=basic(client_id, secret),
    )
    access = tokens.json()["access_token"]
    assert (access.count(".") == 2) is (token_format is TokenFormat.JWT)
    info = await hc.http.post("/oauth2/introspect", data={"token": access}, headers=basic(client_id, secret))
    body = info.json()
    assert body["active"] is True and body["acr"] == MFA and body["auth_time"] == signed_in_at
