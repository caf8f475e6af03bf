"""Passkeys through the HTTP edge (POST {base}/webauthn/...): register while signed in, sign in with the
passkey username-first and discoverable, the session it makes, bad input, and tenant isolation.

Both deployments (embedded, and PostgreSQL + Redis); the browser is httpx plus the software
authenticator of tests/support/authenticator.py (origin: the harness's base URL, rp id: its host).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
from cryptography.hazmat.primitives import serialization

from lukhas_id.domain.tenant import Tenant
from lukhas_id.settings import Settings
from tests.support.authenticator import AttestationCA, SoftAuthenticator, b64u, unb64u
from tests.support.harness import BASE, Harness, prepare_database, running

PASSWORD = "correct horse battery staple"
INTERACTION = "aBcD1234_-efGH5678ijkl"
RP_ID = urlsplit(BASE).hostname or ""
ORIGIN = BASE


def authenticator(**kwargs: Any) -> SoftAuthenticator:
    return SoftAuthenticator(origin=ORIGIN, rp_id=RP_ID, **kwargs)


def browser(h: Harness) -> httpx.AsyncClient:
    """Another browser (its own cookie jar) on the same server."""
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=h.app), base_url=BASE)


async def csrf_token(http: httpx.AsyncClient, base: str = "") -> str:
    """The CSRF token bound to this browser's pre-session cookie (the sign-in page sets one if needed)."""
    page = await http.get(f"{base}/login")
    assert page.status_code == 200, page.text
    match = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert match, page.text
    return match.group(1)


async def post(
    http: httpx.AsyncClient, path: str, body: Any, token: str | None, *, origin: str | None = ORIGIN
) -> httpx.Response:
    headers = {"content-type": "application/json"}
    if token is not None:
        headers["x-csrf-token"] = token
    if origin is not None:
        headers["origin"] = origin
    return await http.post(path, content=json.dumps(body).encode(), headers=headers)


async def password_sign_in(h: Harness, http: httpx.AsyncClient, username: str, base: str = "") -> None:
    token = await csrf_token(http, base)
    resp = await http.post(f"{base}/login", data={"csrf_token": token, "username": username, "password": PASSWORD})
    assert resp.status_code == 303, resp.text


async def sign_out(http: httpx.AsyncClient, base: str = "") -> None:
    page = await http.get(f"{base}/oauth2/logout")
    match = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert match, page.text
    done = await http.post(f"{base}/oauth2/logout", data={"confirm": "yes", "csrf_token": match.group(1)})
    assert done.status_code == 200, done.text
    assert (await http.get(f"{base}/account")).status_code == 303


def session_cookie(h: Harness, http: httpx.AsyncClient, tenant: Tenant) -> str:
    name = "lid_session" if tenant.name == h.settings.default_tenant else f"lid_session_t_{tenant.name}"
    value = http.cookies.get(name)
    assert value
    return value


def pre_cookie(h: Harness, http: httpx.AsyncClient, tenant: Tenant) -> str | None:
    name = "lid_pre" if tenant.name == h.settings.default_tenant else f"lid_pre_t_{tenant.name}"
    return http.cookies.get(name)


async def register_passkey(
    h: Harness, http: httpx.AsyncClient, a: SoftAuthenticator, base: str = "", name: str | None = "My laptop"
) -> dict[str, Any]:
    token = await csrf_token(http, base)
    begin = await post(http, f"{base}/webauthn/register/begin", {}, token)
    assert begin.status_code == 200, begin.text
    body = a.register(begin.json())
    if name is not None:
        body["name"] = name
    done = await post(http, f"{base}/webauthn/register/complete", body, token)
    assert done.status_code == 201, done.text
    assert done.headers["cache-control"] == "no-store"
    return done.json()  # type: ignore[no-any-return]


async def test_register_then_sign_in_with_the_passkey(h: Harness) -> None:
    tenant = await h.tenant()
    user = await h.c.users.create(tenant, "alice", password=PASSWORD, display_name="Alice Liddell")
    await password_sign_in(h, h.http, "alice")
    a = authenticator()

    token = await csrf_token(h.http)
    begin = await post(h.http, "/webauthn/register/begin", {}, token)
    assert begin.status_code == 200 and begin.headers["cache-control"] == "no-store"
    pk = begin.json()["publicKey"]
    assert pk["rp"] == {"id": RP_ID, "name": h.settings.webauthn_rp_name}
    assert pk["user"]["name"] == "alice" and pk["user"]["displayName"] == "Alice Liddell"
    assert unb64u(pk["user"]["id"]) == h.c.passkeys.user_handle(tenant, user.lid)
    assert user.lid.encode() not in unb64u(pk["user"]["id"])
    assert pk["excludeCredentials"] == [] and pk["attestation"] == "none"
    done = await post(h.http, "/webauthn/register/complete", {**a.register(begin.json()), "name": " My laptop "}, token)
    assert done.status_code == 201, done.text
    registered = done.json()
    assert registered == {"handle": h.c.passkeys.credential_handle(tenant, a.credentials[0].id), "name": "My laptop"}
    [stored] = await h.c.passkeys.list_for_user(tenant, user.lid)
    assert stored.handle == registered["handle"] and stored.name == "My laptop"

    await sign_out(h.http)

    # Username-first: allowCredentials names the passkey; user verified -> MFA.
    token = await csrf_token(h.http)
    begin = await post(h.http, "/webauthn/authenticate/begin", {"username": "Alice"}, token)
    assert begin.status_code == 200, begin.text
    pk = begin.json()["publicKey"]
    assert pk["rpId"] == RP_ID and [c["id"] for c in pk["allowCredentials"]] == [b64u(a.credentials[0].id)]
    pre_before = pre_cookie(h, h.http, tenant)
    done = await post(h.http, "/webauthn/authenticate/complete", a.assertion(begin.json(), user_handle=None), token)
    assert done.status_code == 200, done.text
    assert done.json() == {"redirect": f"{BASE}/account"}
    assert pre_cookie(h, h.http, tenant) not in (None, pre_before)  # renewed, as after a password sign-in
    cookie = session_cookie(h, h.http, tenant)
    session = await h.c.sessions.get(tenant, cookie)
    assert session is not None and session.user_lid == user.lid
    assert session.amr == ("hwk", "user", "mfa") and session.acr == h.settings.acr_mfa
    account = await h.http.get("/account")
    assert account.status_code == 200 and "alice" in account.text

    await sign_out(h.http)

    # Discoverable (no username), without user verification, back to an authorization request.
    token = await csrf_token(h.http)
    begin = await post(h.http, "/webauthn/authenticate/begin", {}, token)
    assert begin.json()["publicKey"]["allowCredentials"] == []
    body = {**a.assertion(begin.json(), uv=False), "return_to": INTERACTION}
    done = await post(h.http, "/webauthn/authenticate/complete", body, token)
    assert done.status_code == 200, done.text
    assert done.json() == {"redirect": f"{BASE}/oauth2/authorize/resume?interaction={INTERACTION}"}
    session = await h.c.sessions.get(tenant, session_cookie(h, h.http, tenant))
    assert session is not None and session.amr == ("hwk", "user") and session.acr == h.settings.acr_passkey
    assert (await h.http.get("/account")).status_code == 200

    # Signing in again while signed in ends the old session (no fixation).
    old = session_cookie(h, h.http, tenant)
    token = await csrf_token(h.http)
    begin = await post(h.http, "/webauthn/authenticate/begin", {}, token)
    done = await post(h.http, "/webauthn/authenticate/complete", a.assertion(begin.json()), token)
    assert done.status_code == 200
    assert session_cookie(h, h.http, tenant) != old and await h.c.sessions.get(tenant, old) is None

    [used] = await h.c.passkeys.list_for_user(tenant, user.lid)
    assert used.sign_count == 3 and used.last_used_at is not None
    metrics = (await h.http.get("/metrics")).text
    assert 'identity_webauthn_ceremonies_total{kind="authentication",outcome="ok"} 3.0' in metrics
    assert 'identity_webauthn_ceremonies_total{kind="registration",outcome="ok"} 1.0' in metrics


async def test_step_up_begin_requires_user_verification(h: Harness) -> None:
    tenant = await h.tenant()
    await h.c.users.create(tenant, "alice", password=PASSWORD)
    await password_sign_in(h, h.http, "alice")
    a = authenticator()
    await register_passkey(h, h.http, a)
    token = await csrf_token(h.http)
    begin = await post(h.http, "/webauthn/authenticate/begin", {"step_up": True, "return_to": None}, token)
    assert begin.json()["publicKey"]["userVerification"] == "required"
    done = await post(h.http, "/webauthn/authenticate/complete", a.assertion(begin.json(), uv=False), token)
    assert done.status_code == 400
    assert done.json() == {"error": "webauthn_failed", "error_description": "user verification required"}
    bad = await post(h.http, "/webauthn/authenticate/begin", {"step_up": "yes"}, token)
    assert bad.status_code == 400 and bad.json()["error"] == "invalid_request"


async def test_http_bad_input(h: Harness) -> None:
    tenant = await h.tenant()
    await h.c.users.create(tenant, "alice", password=PASSWORD)
    a = authenticator()
    token = await csrf_token(h.http)
    path = "/webauthn/authenticate/begin"

    # Registration needs a session.
    resp = await post(h.http, "/webauthn/register/begin", {}, token)
    assert resp.status_code == 401 and resp.json()["error"] == "login_required"
    resp = await post(h.http, "/webauthn/register/complete", {}, token)
    assert resp.status_code == 401 and resp.json()["error"] == "login_required"

    # Content type, size, JSON.
    resp = await h.http.post(path, content=b"{}", headers={"content-type": "text/plain", "x-csrf-token": token})
    assert resp.status_code == 415 and resp.json()["error"] == "invalid_request"
    resp = await h.http.post(path, data={"username": "alice"}, headers={"x-csrf-token": token})
    assert resp.status_code == 415
    resp = await h.http.post(
        path, content=b"{}", headers={"content-type": "application/json; charset=latin-1", "x-csrf-token": token}
    )
    assert resp.status_code == 415
    resp = await post(h.http, path, {"username": "x" * 17000}, token)
    assert resp.status_code == 413 and resp.json()["error"] == "invalid_request"
    for raw in (b"{not json", b"", b"[]", b'"text"', b"\xff\xfe"):
        resp = await h.http.post(path, content=raw, headers={"content-type": "application/json", "x-csrf-token": token})
        assert resp.status_code == 400, raw
        assert resp.json()["error"] == "invalid_request" and resp.json()["error_description"]
    resp = await post(h.http, path, {"username": 5}, token)
    assert resp.status_code == 400 and resp.json()["error"] == "invalid_request"

    # CSRF: missing, wrong, another browser's, cross-site Origin.
    for bad in (None, "", token[:-2] + "AA"):
        resp = await post(h.http, path, {}, bad)
        assert resp.status_code == 403 and resp.json()["error"] == "forbidden"
    resp = await post(h.http, path, {}, token, origin="https://evil.example")
    assert resp.status_code == 403
    async with browser(h) as other:
        await csrf_token(other)
        resp = await post(other, path, {}, token)  # the token is bound to the first browser's cookie
        assert resp.status_code == 403
    assert (await h.http.get(path)).status_code == 405
    resp = await post(h.http, "/t/no-such-tenant/webauthn/authenticate/begin", {}, token)
    assert resp.status_code == 404

    # Register a passkey to have something to sign in with.
    await password_sign_in(h, h.http, "alice")
    await register_passkey(h, h.http, a)
    await sign_out(h.http)
    token = await csrf_token(h.http)
    complete = "/webauthn/authenticate/complete"

    # No ceremony in progress (never begun).
    begin = await post(h.http, path, {}, token)
    assertion = a.assertion(begin.json())
    async with browser(h) as other:
        other_token = await csrf_token(other)
        resp = await post(other, complete, assertion, other_token)  # another browser's cookie
        assert resp.status_code == 400
        assert resp.json() == {"error": "webauthn_failed", "error_description": "no ceremony in progress"}

    # Missing members are invalid_request, and do not use the ceremony up.
    for broken in (
        {k: v for k, v in assertion.items() if k != "response"},
        {**assertion, "rawId": 5},
        {**assertion, "response": {"clientDataJSON": assertion["response"]["clientDataJSON"]}},
        {**assertion, "return_to": "https://evil.example/"},
        {**assertion, "return_to": 7},
    ):
        resp = await post(h.http, complete, broken, token)
        assert resp.status_code == 400 and resp.json()["error"] == "invalid_request", resp.text
    resp = await post(h.http, complete, assertion, token)
    assert resp.status_code == 200, resp.text

    # Replayed complete.
    token = await csrf_token(h.http)
    resp = await post(h.http, complete, assertion, token)
    assert resp.status_code == 400 and resp.json()["error_description"] == "no ceremony in progress"
    await sign_out(h.http)

    # Wrong origin in the client data; malformed values inside the credential.
    token = await csrf_token(h.http)
    begin = await post(h.http, path, {}, token)
    resp = await post(h.http, complete, a.assertion(begin.json(), origin="https://evil.example"), token)
    assert resp.status_code == 400
    assert resp.json() == {"error": "webauthn_failed", "error_description": "origin not allowed"}
    begin = await post(h.http, path, {}, token)
    garbled = a.assertion(begin.json())
    garbled["response"]["authenticatorData"] = "!!"
    resp = await post(h.http, complete, garbled, token)
    assert resp.status_code == 400 and resp.json()["error"] == "webauthn_failed"
    assert resp.json()["error_description"].startswith("malformed")
    assert "lid_session" not in resp.headers.get("set-cookie", "")

    # Adding a second passkey after a password-only sign-in needs "confirm it's you" first (ADR 0006).
    await password_sign_in(h, h.http, "alice")
    token = await csrf_token(h.http)
    refused = await post(h.http, "/webauthn/register/begin", {}, token)
    assert refused.status_code == 428 and refused.json()["error"] == "step_up_required"
    assert refused.json()["reason"] == "second_factor_required"
    begin = await post(h.http, path, {"step_up": True}, token)
    resp = await post(h.http, complete, a.assertion(begin.json()), token)  # a user-verified passkey
    assert resp.status_code == 200, resp.text

    # Registration: a wrong origin, a bad name, a replay.
    token = await csrf_token(h.http)
    begin = await post(h.http, "/webauthn/register/begin", {}, token)
    assert [c["id"] for c in begin.json()["publicKey"]["excludeCredentials"]] == [b64u(a.credentials[0].id)]
    resp = await post(h.http, "/webauthn/register/complete", a.register(begin.json(), origin="http://evil"), token)
    assert resp.json() == {"error": "webauthn_failed", "error_description": "origin not allowed"}
    begin = await post(h.http, "/webauthn/register/begin", {}, token)
    body = a.register(begin.json())
    for name in ("x" * 65, 12):
        resp = await post(h.http, "/webauthn/register/complete", {**body, "name": name}, token)
        assert resp.status_code == 400 and resp.json()["error"] == "invalid_request"
    resp = await post(h.http, "/webauthn/register/complete", body, token)
    assert resp.status_code == 201 and resp.json()["name"] == "Passkey"
    resp = await post(h.http, "/webauthn/register/complete", body, token)
    assert resp.status_code == 400 and resp.json()["error_description"] == "no ceremony in progress"


def options_shape(options: dict[str, Any]) -> tuple[dict[str, str], set[tuple[Any, ...]]]:
    """The members and their JSON types, and each allowCredentials entry's members, type, id length and
    transports' type: everything but the values."""
    pk = options["publicKey"]
    members = {name: type(value).__name__ for name, value in pk.items()}
    descriptors = {
        (tuple(sorted(c)), c["type"], len(unb64u(c["id"])), type(c["transports"]).__name__, len(c["transports"]) > 0)
        for c in pk["allowCredentials"]
    }
    return members, descriptors


async def test_unknown_username_answers_the_same_shape(h: Harness) -> None:
    """WebAuthn L3 §14.6.2: the options do not tell whether an account exists or has a passkey."""
    tenant = await h.tenant()
    await h.tenant("acme")
    await h.c.users.create(tenant, "alice", password=PASSWORD)
    await h.c.users.create(tenant, "bob", password=PASSWORD)  # no passkey
    a = authenticator()
    await password_sign_in(h, h.http, "alice")
    await register_passkey(h, h.http, a)
    await sign_out(h.http)

    token = await csrf_token(h.http)

    async def begin(username: str, base: str = "", csrf: str = token) -> dict[str, Any]:
        resp = await post(h.http, f"{base}/webauthn/authenticate/begin", {"username": username}, csrf)
        assert resp.status_code == 200, resp.text
        return resp.json()  # type: ignore[no-any-return]

    known, without_passkeys, unknown = await begin("alice"), await begin("bob"), await begin("nobody")
    assert [c["id"] for c in known["publicKey"]["allowCredentials"]] == [b64u(a.credentials[0].id)]
    assert options_shape(known) == options_shape(without_passkeys) == options_shape(unknown)
    assert 1 <= len(unknown["publicKey"]["allowCredentials"]) <= 2
    # Stable per username, in any spelling; another name or another tenant gets other ids.
    assert (await begin("NoBody"))["publicKey"]["allowCredentials"] == unknown["publicKey"]["allowCredentials"]
    assert (await begin("bob"))["publicKey"]["allowCredentials"] == without_passkeys["publicKey"]["allowCredentials"]
    ids = {c["id"] for c in unknown["publicKey"]["allowCredentials"]}
    assert ids.isdisjoint(c["id"] for c in without_passkeys["publicKey"]["allowCredentials"])
    acme_unknown = await begin("nobody", "/t/acme", await csrf_token(h.http, "/t/acme"))
    assert options_shape(acme_unknown) == options_shape(unknown)
    assert ids.isdisjoint(c["id"] for c in acme_unknown["publicKey"]["allowCredentials"])

    # Completing such a ceremony fails as an unknown credential: a real credential that was not
    # offered, or a decoy's id sent back.
    for username in ("nobody", "bob"):
        options = await begin(username)
        resp = await post(
            h.http, "/webauthn/authenticate/complete", a.assertion(options, credential=a.credentials[0]), token
        )
        assert resp.status_code == 400 and resp.json()["error_description"] == "unknown credential"
    options = await begin("nobody")
    decoy = options["publicKey"]["allowCredentials"][0]["id"]
    forged = {**a.assertion(options, credential=a.credentials[0]), "id": decoy, "rawId": decoy}
    resp = await post(h.http, "/webauthn/authenticate/complete", forged, token)
    assert resp.status_code == 400 and resp.json()["error_description"] == "unknown credential"


async def test_ceremonies_and_passkeys_stay_in_their_tenant(h: Harness) -> None:
    default = await h.tenant()
    acme = await h.tenant("acme")
    await h.c.users.create(default, "alice", password=PASSWORD)
    await h.c.users.create(acme, "alice", password=PASSWORD)
    a = authenticator()
    await password_sign_in(h, h.http, "alice")
    await register_passkey(h, h.http, a)

    # The default tenant's session does not register in acme.
    acme_token = await csrf_token(h.http, "/t/acme")
    resp = await post(h.http, "/t/acme/webauthn/register/begin", {}, acme_token)
    assert resp.status_code == 401

    # A ceremony begun in the default tenant cannot be completed in acme, even with the same
    # pre-session id (the cookie value is the client's to choose).
    token = await csrf_token(h.http)
    begin = await post(h.http, "/webauthn/authenticate/begin", {}, token)
    pre = pre_cookie(h, h.http, default)
    assert pre
    h.http.cookies.set("lid_pre_t_acme", pre)
    acme_token = await csrf_token(h.http, "/t/acme")
    assert acme_token != token  # tokens are per tenant too
    resp = await post(h.http, "/t/acme/webauthn/authenticate/complete", a.assertion(begin.json()), acme_token)
    assert resp.status_code == 400 and resp.json()["error_description"] == "no ceremony in progress"
    # Another tenant's CSRF token is refused outright.
    resp = await post(h.http, "/t/acme/webauthn/authenticate/begin", {}, token)
    assert resp.status_code == 403

    # The default tenant's passkey is unknown in acme.
    begin = await post(h.http, "/t/acme/webauthn/authenticate/begin", {}, acme_token)
    assert begin.json()["publicKey"]["rpId"] == RP_ID
    resp = await post(h.http, "/t/acme/webauthn/authenticate/complete", a.assertion(begin.json()), acme_token)
    assert resp.status_code == 400 and resp.json()["error_description"] == "unknown credential"

    # Registered in acme too, it signs in there with acme's session cookie and redirect.
    await password_sign_in(h, h.http, "alice", "/t/acme")
    await register_passkey(h, h.http, a, "/t/acme")
    acme_token = await csrf_token(h.http, "/t/acme")
    begin = await post(h.http, "/t/acme/webauthn/authenticate/begin", {"username": "alice"}, acme_token)
    done = await post(
        h.http,
        "/t/acme/webauthn/authenticate/complete",
        a.assertion(begin.json(), credential=a.credentials[1]),
        acme_token,
    )
    assert done.status_code == 200, done.text
    assert done.json() == {"redirect": f"{BASE}/t/acme/account"}
    session = await h.c.sessions.get(acme, session_cookie(h, h.http, acme))
    assert session is not None and session.tenant_id == acme.id


async def test_failed_passkey_sign_ins_are_rate_limited_per_client(h: Harness) -> None:
    tenant = await h.tenant()
    await h.c.users.create(tenant, "alice", password=PASSWORD)
    await password_sign_in(h, h.http, "alice")
    a = authenticator()
    await register_passkey(h, h.http, a)
    await sign_out(h.http)
    token = await csrf_token(h.http)
    path, complete = "/webauthn/authenticate/begin", "/webauthn/authenticate/complete"
    for _ in range(5):
        begin = await post(h.http, path, {}, token)
        resp = await post(h.http, complete, a.assertion(begin.json(), origin="https://evil.example"), token)
        assert resp.status_code == 400 and resp.json()["error"] == "webauthn_failed"
    begin = await post(h.http, path, {}, token)
    blocked = await post(h.http, complete, a.assertion(begin.json()), token)  # even a good assertion
    assert blocked.status_code == 429 and blocked.json()["error"] == "rate_limited"
    assert 0 < int(blocked.headers["retry-after"]) <= 60
    assert "lid_session" not in blocked.headers.get("set-cookie", "")


async def test_failed_passkey_sign_ins_count_against_the_account_too(h: Harness) -> None:
    """Failures with a known credential count against its owner (5 a minute per user, as the password
    form), from any address; a blocked account's passkey sign-in is 429 like its password form."""
    tenant = await h.tenant()
    await h.c.users.create(tenant, "alice", password=PASSWORD)
    await h.c.users.create(tenant, "bob", password=PASSWORD)
    alice, bob = authenticator(), authenticator()
    for user, a in (("alice", alice), ("bob", bob)):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=h.app), base_url=BASE) as http:
            await password_sign_in(h, http, user)
            await register_passkey(h, http, a)
    path, complete = "/webauthn/authenticate/begin", "/webauthn/authenticate/complete"

    async def passkey_sign_in(address: str, a: SoftAuthenticator, **knobs: Any) -> httpx.Response:
        transport = httpx.ASGITransport(app=h.app, client=(address, 40000))
        async with httpx.AsyncClient(transport=transport, base_url=BASE) as http:
            token = await csrf_token(http)
            begin = await post(http, path, {}, token)
            return await post(http, complete, a.assertion(begin.json(), **knobs), token)

    for i in range(5):  # five clients, one failure each: no client is near its limit
        resp = await passkey_sign_in(f"192.0.2.{i}", alice, origin="https://evil.example")
        assert resp.status_code == 400 and resp.json()["error"] == "webauthn_failed"
    blocked = await passkey_sign_in("198.51.100.7", alice)  # a good assertion, from a sixth client
    assert blocked.status_code == 429 and blocked.json()["error"] == "rate_limited"
    assert 0 < int(blocked.headers["retry-after"]) <= 60
    assert "lid_session" not in blocked.headers.get("set-cookie", "")
    # That client, and other accounts, are not blocked.
    other = await passkey_sign_in("198.51.100.7", bob)
    assert other.status_code == 200, other.text


async def test_a_known_credentials_failures_block_its_owner_the_same_way(h: Harness) -> None:
    """After one sign-in with a passkey, the service names the credential's owner before any I/O
    (PasskeyService.known_owner), so the account's bucket is looked at with the client's: the account
    is blocked after 5 failures all the same, and an unknown or malformed assertion names no one."""
    tenant = await h.tenant()
    user = await h.c.users.create(tenant, "carol", password=PASSWORD)
    carol = authenticator()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=h.app), base_url=BASE) as http:
        await password_sign_in(h, http, "carol")
        await register_passkey(h, http, carol)
    path, complete = "/webauthn/authenticate/begin", "/webauthn/authenticate/complete"

    async def passkey_sign_in(address: str, **knobs: Any) -> httpx.Response:
        transport = httpx.ASGITransport(app=h.app, client=(address, 40000))
        async with httpx.AsyncClient(transport=transport, base_url=BASE) as http:
            token = await csrf_token(http)
            begin = await post(http, path, {}, token)
            return await post(http, complete, carol.assertion(begin.json(), **knobs), token)

    options = {"publicKey": {"challenge": b64u(b"c" * 32), "rpId": urlsplit(BASE).hostname}}
    assert h.c.passkeys.known_owner(tenant, carol.assertion(options)) is None  # not signed in with yet
    assert (await passkey_sign_in("192.0.2.50")).status_code == 200
    assert h.c.passkeys.known_owner(tenant, carol.assertion(options)) == user.lid
    assert h.c.passkeys.known_owner(tenant, {"id": "x", "rawId": "y"}) is None
    for i in range(5):
        resp = await passkey_sign_in(f"192.0.2.{i}", origin="https://evil.example")
        assert resp.status_code == 400 and resp.json()["error"] == "webauthn_failed"
    blocked = await passkey_sign_in("198.51.100.7")
    assert blocked.status_code == 429 and blocked.json()["error"] == "rate_limited"
    assert "lid_session" not in blocked.headers.get("set-cookie", "")


async def test_direct_attestation_with_configured_trust_anchors(backend: dict[str, object], tmp_path: Path) -> None:
    # LUKHAS_ID_WEBAUTHN_ATTESTATION_ROOTS wired end to end: a statement chaining to the configured root
    # registers; one from another CA, or self attestation, is refused and counted.
    root = AttestationCA()
    pem = tmp_path / "roots.pem"
    pem.write_bytes(root.cert.public_bytes(serialization.Encoding.PEM))
    settings = Settings(
        public_url=BASE,
        webauthn_attestation="direct",
        webauthn_attestation_roots=pem,
        **backend,  # type: ignore[arg-type]
    )
    async with running(await prepare_database(settings)) as h:
        tenant = await h.tenant()
        await h.c.users.create(tenant, "alice", password=PASSWORD, display_name="Alice")
        await password_sign_in(h, h.http, "alice")
        a = authenticator()
        token = await csrf_token(h.http)
        for knobs, reason in (
            ({"ca": AttestationCA()}, "attestation not trusted"),
            ({"self_attestation": True}, "attestation not trusted"),
            ({"ca": root, "tamper_attestation": True}, "attestation not accepted"),
        ):
            begin = await post(h.http, "/webauthn/register/begin", {}, token)
            assert begin.json()["publicKey"]["attestation"] == "direct"
            done = await post(
                h.http, "/webauthn/register/complete", a.register(begin.json(), fmt="packed", **knobs), token
            )
            assert done.status_code == 400
            assert done.json() == {"error": "webauthn_failed", "error_description": reason}
        begin = await post(h.http, "/webauthn/register/begin", {}, token)
        done = await post(h.http, "/webauthn/register/complete", a.register(begin.json(), fmt="packed", ca=root), token)
        assert done.status_code == 201, done.text
        metrics = (await h.http.get("/metrics")).text
        assert "identity_webauthn_attestation_failures_total 3.0" in metrics
