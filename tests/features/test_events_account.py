"""Identity events of what a user does to their account (domain/events.py), on both deployments: passkeys,
the authenticator app, recovery codes, account recovery, signing out and consents. Each use case emits
exactly its event from its service (the routes log nothing of their own), and none carries a username,
an address, a code, a credential id, a session id or a token."""

from __future__ import annotations

import json
import logging
import re
import secrets
from typing import Any
from urllib.parse import urlsplit

import httpx
import pyotp
import pytest

from lukhas_id.clock import FixedClock
from lukhas_id.domain.events import EventType
from lukhas_id.domain.tenant import Tenant
from lukhas_id.domain.user import User
from lukhas_id.protocol.webauthn import WebAuthnError
from tests.support.authenticator import SoftAuthenticator, b64u
from tests.support.events import assert_clean, of, recorder
from tests.support.harness import BASE, Harness
from tests.support.rp import authorize_url, hidden, pkce_pair, rp_params
from tests.support.sign_in import BYE, sign_in_rp

ORIGIN = BASE
RP_ID = urlsplit(BASE).hostname or ""


class Boom(Exception):
    pass


def authenticator() -> SoftAuthenticator:
    return SoftAuthenticator(origin=ORIGIN, rp_id=RP_ID)


async def new_user(h: Harness) -> tuple[Tenant, User, str]:
    tenant = await h.tenant()
    password = secrets.token_urlsafe(18)
    user = await h.c.users.create(
        tenant, f"ada{secrets.token_hex(3)}", email="ada@example.com", password=password, display_name="Ada"
    )
    return tenant, user, password


async def password_sign_in(h: Harness, user: User, password: str) -> str:
    """Sign in through the pages; the CSRF token of this browser afterwards."""
    page = await h.http.get("/login")
    form = {"csrf_token": hidden(page.text, "csrf_token"), "username": user.username, "password": password}
    done = await h.http.post("/login", data=form)
    assert done.status_code == 303, done.text
    return hidden((await h.http.get("/login")).text, "csrf_token")


async def webauthn(h: Harness, path: str, body: Any, token: str) -> httpx.Response:
    headers = {"content-type": "application/json", "x-csrf-token": token, "origin": ORIGIN}
    return await h.http.post(path, content=json.dumps(body).encode(), headers=headers)


async def test_passkey_registration_rename_and_removal(h: Harness) -> None:
    tenant, user, password = await new_user(h)
    token = await password_sign_in(h, user, password)
    seen = recorder(h)
    a = authenticator()
    begin = await webauthn(h, "/webauthn/register/begin", {}, token)
    assert begin.status_code == 200, begin.text
    done = await webauthn(h, "/webauthn/register/complete", {**a.register(begin.json()), "name": "Laptop"}, token)
    assert done.status_code == 201, done.text
    [passkey] = await h.c.passkeys.list_for_user(tenant, user.lid)
    page = await h.http.get("/account")
    form = {"csrf_token": hidden(page.text, "csrf_token"), "handle": passkey.handle}
    renamed = await h.http.post("/account", data={**form, "action": "passkey_rename", "name": "Work laptop"})
    assert renamed.status_code == 303, renamed.text
    # Removing one is sensitive (a step-up on the account page): the service is what emits.
    assert await h.c.passkeys.delete(tenant, user.lid, passkey.handle)
    assert not await h.c.passkeys.delete(tenant, user.lid, passkey.handle)  # nothing removed: no event
    assert not await h.c.passkeys.rename(tenant, user.lid, passkey.handle, "gone")
    assert [e.type for e in seen] == [
        EventType.PASSKEY_REGISTERED,
        EventType.PASSKEY_RENAMED,
        EventType.PASSKEY_REMOVED,
    ]
    assert all(e.tenant_id == tenant.id and e.principal == user.lid for e in seen)
    assert all(dict(e.metadata) == {"handle": passkey.handle} for e in seen)
    credential_id = a.credentials[0].id
    assert_clean(seen, user.username, password, "Laptop", b64u(credential_id), credential_id.hex())


async def test_a_passkey_registration_rolled_back_leaves_neither_passkey_nor_event(
    h: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    tenant, user, _ = await new_user(h)
    seen = recorder(h)
    a = authenticator()
    real_add = h.c.passkeys._repo.add

    async def write_then_fail(passkey: Any) -> None:
        await real_add(passkey)
        assert await h.c.passkeys.list_for_user(tenant, user.lid)  # written, inside the unit
        raise Boom

    monkeypatch.setattr(h.c.passkeys._repo, "add", write_then_fail)
    options = await h.c.passkeys.begin_registration(tenant, user.lid, "sid-1")
    with pytest.raises(Boom):
        await h.c.passkeys.complete_registration(tenant, user.lid, "sid-1", a.register(options))
    monkeypatch.undo()
    assert await h.c.passkeys.list_for_user(tenant, user.lid) == []
    assert seen == []
    # Registered again (another credential): then it is there, with one event.
    options = await h.c.passkeys.begin_registration(tenant, user.lid, "sid-1")
    passkey = await h.c.passkeys.complete_registration(tenant, user.lid, "sid-1", a.register(options))
    assert [(e.type, e.metadata["handle"]) for e in seen] == [(EventType.PASSKEY_REGISTERED, passkey.handle)]


async def test_a_counter_that_did_not_increase_is_a_warning_event(h: Harness, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="lukhas_id.events")
    tenant, user, _ = await new_user(h)
    a = authenticator()
    options = await h.c.passkeys.begin_registration(tenant, user.lid, "sid-1")
    passkey = await h.c.passkeys.complete_registration(tenant, user.lid, "sid-1", a.register(options, sign_count=10))
    seen = recorder(h)
    options = await h.c.passkeys.begin_authentication(tenant, "pre-1")
    with pytest.raises(WebAuthnError, match="counter did not increase"):
        await h.c.passkeys.complete_authentication(tenant, "pre-1", a.assertion(options, sign_count=10))
    assert [(e.type, e.tenant_id, e.principal) for e in seen] == [
        (EventType.PASSKEY_CLONE_SUSPECTED, tenant.id, user.lid)
    ]
    assert dict(seen[0].metadata) == {"handle": passkey.handle}
    flagged = [p for p in await h.c.passkeys.list_for_user(tenant, user.lid) if p.possibly_cloned]
    assert [p.handle for p in flagged] == [passkey.handle]  # the flag and its event committed together
    warnings = [r for r in caplog.records if r.name == "lukhas_id.events" and r.levelno == logging.WARNING]
    assert [r.getMessage() for r in warnings] == ["passkey counter did not increase: possible cloned credential"]
    assert_clean(seen, user.username, b64u(a.credentials[0].id))


async def test_authenticator_app_and_recovery_codes(hc: Harness, clock: FixedClock) -> None:
    tenant, user, password = await new_user(hc)
    seen = recorder(hc)
    enrolment = await hc.c.totp.begin_enrolment(tenant, user)
    totp = pyotp.TOTP(enrolment.secret)
    assert not await hc.c.totp.confirm(tenant, user.lid, "not a code")  # nothing enrolled: no event
    code = totp.at(clock.now())
    assert await hc.c.totp.confirm(tenant, user.lid, code)
    codes = await hc.c.recovery_codes.generate(tenant, user.lid)
    assert await hc.c.recovery_codes.use(tenant, user.lid, codes[0])
    assert await hc.c.totp.remove(tenant, user.lid)
    await hc.c.recovery_codes.remove(tenant, user.lid)
    assert not await hc.c.totp.remove(tenant, user.lid)  # none left: no event
    await hc.c.recovery_codes.remove(tenant, user.lid)
    assert [e.type for e in seen] == [
        EventType.TOTP_ENROLLED,
        EventType.RECOVERY_CODES_GENERATED,
        EventType.TOTP_REMOVED,
        EventType.RECOVERY_CODES_REMOVED,
    ]
    assert all(e.tenant_id == tenant.id and e.principal == user.lid for e in seen)
    assert [dict(e.metadata) for e in seen] == [{}, {"count": "10"}, {}, {"count": "9"}]
    assert_clean(seen, user.username, password, enrolment.secret, code, *codes, *(c.replace("-", "") for c in codes))


async def test_account_recovery_issued_and_redeemed(h: Harness) -> None:
    tenant, user, _ = await new_user(h)
    seen = recorder(h)
    code = await h.c.account_recovery.issue(tenant, user)
    assert await h.c.account_recovery.redeem(tenant, user.username, "wrong" + code) is None  # no event
    assert await h.c.account_recovery.redeem(tenant, user.username, code) == user
    assert await h.c.account_recovery.redeem(tenant, user.username, code) is None  # spent: no event
    assert [(e.type, e.tenant_id, e.principal, dict(e.metadata)) for e in seen] == [
        (EventType.ACCOUNT_RECOVERY_ISSUED, tenant.id, user.lid, {}),
        (EventType.ACCOUNT_RECOVERY_REDEEMED, tenant.id, user.lid, {}),
    ]
    assert_clean(seen, user.username, code)


async def test_signing_out_everywhere_and_signing_out(h: Harness, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="lukhas_id")
    s = await sign_in_rp(h)
    session = await h.c.sessions.get(s.tenant, s.session_cookie)
    assert session is not None
    seen = recorder(h)
    # A second session of the same user (another browser), then "sign out everywhere" on the account page.
    other = await h.c.sessions.create(s.tenant, await _user(h, s.tenant, session.user_lid), ["pwd"], "pwd")
    page = await h.http.get("/account")
    everywhere = await h.http.post(
        "/account", data={"action": "signout_everywhere", "csrf_token": hidden(page.text, "csrf_token")}
    )
    assert everywhere.status_code == 200, everywhere.text
    # Another user signs in in this browser and signs out at the logout endpoint.
    again = await sign_in_rp(h, again=s)
    second = await h.c.sessions.get(s.tenant, again.session_cookie)
    assert second is not None
    page = await h.http.get("/oauth2/logout")
    done = await h.http.post("/oauth2/logout", data={"confirm": "yes", "csrf_token": hidden(page.text, "csrf_token")})
    assert done.status_code == 200, done.text
    ended = of(seen, EventType.SESSION_ENDED)
    assert [(e.tenant_id, e.principal) for e in ended] == [
        (s.tenant.id, session.user_lid),
        (s.tenant.id, second.user_lid),
    ]
    assert [dict(e.metadata) for e in ended] == [
        {"reason": "everywhere", "count": "2"},
        {"reason": "logout", "sid": second.sid},
    ]
    # The routes write no line of their own: the subscriber writes one per event.
    lines = [r for r in caplog.records if r.getMessage().startswith(("sign-out", "signed out"))]
    assert [(r.name, r.getMessage()) for r in lines] == [("lukhas_id.events", "sign-out")] * 2
    assert_clean(seen, s.session_cookie, again.session_cookie, other.id, s.id_token, again.id_token)


async def _user(h: Harness, tenant: Tenant, lid: str) -> User:
    user = await h.c.users.by_lid(tenant, lid)
    assert user is not None
    return user


async def test_consent_granted_denied_and_withdrawn(h: Harness, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="lukhas_id")
    seen = recorder(h)
    s = await sign_in_rp(h)  # signs a new user in and allows the RP
    session = await h.c.sessions.get(s.tenant, s.session_cookie)
    assert session is not None
    # Another application asks; the user denies it.
    other, _ = await h.c.clients.create(
        s.tenant,
        name="Other RP",
        grant_types=s.client.grant_types,
        scopes=s.client.scopes,
        redirect_uris=s.client.redirect_uris,
        post_logout_redirect_uris=(BYE,),
    )
    consent = await h.http.get(authorize_url(other, pkce_pair()[1]))
    assert consent.status_code == 200 and 'value="deny"' in consent.text, consent.text
    denied = await h.http.post(
        "/oauth2/consent",
        data={
            "csrf_token": hidden(consent.text, "csrf_token"),
            "interaction": hidden(consent.text, "interaction"),
            "decision": "deny",
        },
    )
    assert rp_params(denied.headers["location"])["error"] == "access_denied"
    page = await h.http.get("/account")
    form = {"action": "withdraw", "csrf_token": hidden(page.text, "csrf_token"), "client_id": s.client.client_id}
    assert (await h.http.post("/account", data=form)).status_code == 303
    assert (await h.http.post("/account", data=form)).status_code == 303  # nothing left to withdraw: no event
    consents = of(seen, EventType.CONSENT_GRANTED, EventType.CONSENT_DENIED, EventType.CONSENT_WITHDRAWN)
    assert [(e.type, e.metadata["client_id"]) for e in consents] == [
        (EventType.CONSENT_GRANTED, s.client.client_id),
        (EventType.CONSENT_DENIED, other.client_id),
        (EventType.CONSENT_WITHDRAWN, s.client.client_id),
    ]
    assert all(e.tenant_id == s.tenant.id and e.principal == session.user_lid for e in consents)
    assert consents[0].metadata["scope"] == "openid profile" == consents[1].metadata["scope"]
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("consent")]
    assert lines == ["consent allow", "consent deny", "consent withdrawn"]
    assert_clean(seen, s.session_cookie, s.id_token)


async def test_no_event_of_an_account_carries_the_users_own_values(hc: Harness, clock: FixedClock) -> None:
    """One user's whole account life; every event is checked against the metadata allow-list and the user's
    username, addresses, password and codes."""
    tenant, user, password = await new_user(hc)
    seen = recorder(hc)
    new_password = secrets.token_urlsafe(18)
    await hc.c.users.set_password(tenant, user.username, new_password)
    await hc.c.users.change_email(tenant, user.lid, "ada.lovelace@example.net")
    enrolment = await hc.c.totp.begin_enrolment(tenant, user)
    code = pyotp.TOTP(enrolment.secret).at(clock.now())
    assert await hc.c.totp.confirm(tenant, user.lid, code)
    codes = await hc.c.recovery_codes.generate(tenant, user.lid)
    recovery = await hc.c.account_recovery.issue(tenant, user)
    assert await hc.c.account_recovery.redeem(tenant, user.username, recovery) is not None
    options = await hc.c.passkeys.begin_registration(tenant, user.lid, "sid-1")
    a = authenticator()
    passkey = await hc.c.passkeys.complete_registration(tenant, user.lid, "sid-1", a.register(options), "Mine")
    assert await hc.c.passkeys.rename(tenant, user.lid, passkey.handle, "Ours")
    assert await hc.c.passkeys.delete(tenant, user.lid, passkey.handle)
    await hc.c.recovery_codes.remove(tenant, user.lid)
    assert await hc.c.totp.remove(tenant, user.lid)
    await hc.c.users.disable(tenant, user.username)
    assert len(seen) == 12 and len({e.type for e in seen}) == 12
    private = [user.username, "ada@example.com", "ada.lovelace@example.net", password, new_password, "Ada"]
    private += [enrolment.secret, code, recovery, "Mine", "Ours", b64u(a.credentials[0].id), *codes]
    assert_clean(seen, *private)
    assert not any(re.fullmatch(r"[0-9]{6}", v) for e in seen for v in e.metadata.values())
