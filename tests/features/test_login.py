"""The sign-in page (GET/POST /login): CSRF, security headers, sessions, throttling, tenant isolation."""

from __future__ import annotations

import logging
import re

import httpx
import pytest

from lukhas_id.clock import FixedClock
from lukhas_id.domain.authn import AcrNames
from lukhas_id.settings import Settings
from lukhas_id.web.pages import CSP
from lukhas_id.web.routes.login import GENERIC_ERROR
from tests.support.harness import BASE, Harness, running

ACR = AcrNames().password

PASSWORD = "correct horse battery staple"
INTERACTION = "aBcD1234_-efGH5678ijkl"
PAGE_HEADERS = {
    "content-security-policy": CSP,
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "x-content-type-options": "nosniff",
    "cache-control": "no-store",
}
FORM = {"content-type": "application/x-www-form-urlencoded"}


def _csrf(resp: httpx.Response) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', resp.text)
    assert match, resp.text
    return match.group(1)


def _set_cookies(resp: httpx.Response) -> dict[str, str]:
    """Set-Cookie headers by cookie name (the whole header line)."""
    return {line.split("=", 1)[0]: line for line in resp.headers.get_list("set-cookie")}


def _cookie_value(line: str) -> str:
    return line.split("=", 1)[1].split(";", 1)[0]


def _assert_page_headers(resp: httpx.Response) -> None:
    for name, value in PAGE_HEADERS.items():
        assert resp.headers.get(name) == value, (name, resp.status_code)
    assert resp.headers["content-type"].startswith("text/html")


async def _user(h: Harness, username: str = "alice", tenant: str | None = None) -> None:
    await h.c.users.create(await h.tenant(tenant), username, password=PASSWORD)


async def _form(h: Harness, tenant: str | None = None, query: str = "") -> str:
    resp = await h.http.get(f"{h.base(tenant)}/login{query}")
    assert resp.status_code == 200, resp.text
    return _csrf(resp)


async def _login(h: Harness, username: str, password: str, tenant: str | None = None, **extra: str) -> httpx.Response:
    token = await _form(h, tenant)
    data = {"csrf_token": token, "username": username, "password": password, **extra}
    return await h.http.post(f"{h.base(tenant)}/login", data=data)


async def test_get_renders_the_form_with_stable_names(h: Harness) -> None:
    resp = await h.http.get("/login", params={"return_to": INTERACTION})
    assert resp.status_code == 200
    _assert_page_headers(resp)
    html = resp.text
    assert 'name="username"' in html and 'name="password"' in html and 'type="password"' in html
    assert '<button type="submit">' in html
    assert '<label for="username">' in html and '<label for="password">' in html
    assert _csrf(resp)
    assert f'name="return_to" value="{INTERACTION}"' in html
    # The only script is ΛiD's own passkey script; no third-party resource.
    assert re.findall(r"<script[^>]*>", html) == [f'<script src="{BASE}/static/passkey.js" defer>']
    assert "https://" not in html
    assert 'id="passkey-login"' in html
    pre = _set_cookies(resp)["lid_pre"]
    assert "httponly" in pre.lower() and "samesite=lax" in pre.lower() and "secure" not in pre.lower()
    css = await h.http.get("/static/lukhas.css")
    assert css.status_code == 200 and "@import" not in css.text and "url(" not in css.text


async def test_security_headers_on_every_page(h: Harness) -> None:
    responses = [
        await h.http.get("/login"),
        await h.http.get("/login", params={"return_to": "https://evil.example/"}),
        await h.http.get("/t/no-such-tenant/login"),
        await h.http.post("/login", data={"username": "a", "password": "b"}),
        await _login(h, "nobody", "wrong password"),
    ]
    assert [r.status_code for r in responses] == [200, 400, 404, 403, 200]
    for resp in responses:
        _assert_page_headers(resp)


async def test_post_without_or_with_a_wrong_csrf_token_is_403(h: Harness) -> None:
    await _user(h)
    token = await _form(h)
    for data in (
        {"username": "alice", "password": PASSWORD},
        {"csrf_token": "", "username": "alice", "password": PASSWORD},
        {"csrf_token": token[:-2] + "AA", "username": "alice", "password": PASSWORD},
    ):
        resp = await h.http.post("/login", data=data)
        assert resp.status_code == 403
        assert "lid_session" not in _set_cookies(resp)
    # The right token, but without the pre-session cookie it is bound to.
    h.http.cookies.clear()
    resp = await h.http.post("/login", data={"csrf_token": token, "username": "alice", "password": PASSWORD})
    assert resp.status_code == 403
    # A cross-site Origin is refused even with a valid token.
    token = await _form(h)
    resp = await h.http.post(
        "/login",
        data={"csrf_token": token, "username": "alice", "password": PASSWORD},
        headers={"origin": "https://evil.example"},
    )
    assert resp.status_code == 403


async def test_wrong_password_gives_a_generic_error_and_no_session(h: Harness) -> None:
    await _user(h)
    wrong = await _login(h, "alice", "not the password")
    unknown = await _login(h, "nobody-here", "not the password")
    for resp in (wrong, unknown):
        assert resp.status_code == 200
        assert GENERIC_ERROR.replace("'", "&#39;") in resp.text
        assert 'aria-describedby="login-error"' in resp.text and 'id="login-error"' in resp.text
        assert "lid_session" not in _set_cookies(resp)
        assert "not the password" not in resp.text
    # The page is the same whether or not the username exists (besides the echoed username and token).
    assert wrong.text.replace("alice", "X").replace(_csrf(wrong), "T") == unknown.text.replace(
        "nobody-here", "X"
    ).replace(_csrf(unknown), "T")


async def test_right_password_creates_a_new_session_and_redirects_303(h: Harness) -> None:
    await _user(h)
    tenant = await h.tenant()
    user = await h.c.users.get(tenant, "alice")
    assert user is not None
    # A session id the browser already holds (e.g. planted by an attacker) is not reused.
    planted = await h.c.sessions.create(tenant, user, ["pwd"], ACR)
    h.http.cookies.set("lid_session", planted.id)
    resp = await _login(h, "alice", PASSWORD)
    assert resp.status_code == 303
    assert resp.headers["location"] == f"{h.settings.issuer}/account"
    assert resp.headers["x-frame-options"] == "DENY" and resp.headers["cache-control"] == "no-store"
    cookies = _set_cookies(resp)
    line = cookies["lid_session"].lower()
    assert "httponly" in line and "samesite=lax" in line and "path=/" in line and "secure" not in line
    session_id = _cookie_value(cookies["lid_session"])
    assert session_id != planted.id
    session = await h.c.sessions.get(tenant, session_id)
    assert session is not None and session.user_lid == user.lid and session.amr == ("pwd",)
    assert session.sid != session_id
    assert await h.c.sessions.get(tenant, planted.id) is None  # the old one was ended
    assert "lid_pre" in cookies  # the CSRF binding is replaced after sign-in


async def test_return_to_leads_to_the_authorization_resume(h: Harness) -> None:
    await _user(h)
    resp = await _login(h, "alice", PASSWORD, return_to=INTERACTION)
    assert resp.status_code == 303
    assert resp.headers["location"] == f"{h.settings.issuer}/oauth2/authorize/resume?interaction={INTERACTION}"


@pytest.mark.parametrize(
    "value", ["https://evil.example/", "//evil.example", "/account", "short", "a" * 129, "evil.example.com/x"]
)
async def test_return_to_that_is_not_an_interaction_id_is_refused(h: Harness, value: str) -> None:
    await _user(h)
    resp = await h.http.get("/login", params={"return_to": value})
    assert resp.status_code == 400
    resp = await _login(h, "alice", PASSWORD, return_to=value)
    assert resp.status_code == 400
    assert "location" not in resp.headers and "lid_session" not in _set_cookies(resp)


async def test_secure_cookies_when_the_public_url_is_https(prepared: Settings) -> None:
    settings = Settings(**{**prepared.model_dump(), "public_url": "https://id.example.com"})
    async with running(settings) as h:
        await _user(h)
        page = await h.http.get("/login")
        pre_line = _set_cookies(page)["__Host-lid_pre"]
        assert "secure" in pre_line.lower() and "path=/" in pre_line.lower()
        # httpx keeps Secure cookies away from http://testserver: send it by hand.
        pre = _cookie_value(pre_line)
        data = {"csrf_token": _csrf(page), "username": "alice", "password": PASSWORD}
        resp = await h.http.post("/login", data=data, headers={"cookie": f"__Host-lid_pre={pre}"})
        assert resp.status_code == 303
        assert resp.headers["location"] == "https://id.example.com/account"
        line = _set_cookies(resp)["__Host-lid_session"].lower()
        assert "secure" in line and "httponly" in line and "samesite=lax" in line and "path=/" in line


async def test_throttle_per_account_and_it_lifts_after_the_window(hc: Harness, clock: FixedClock) -> None:
    await _user(hc)
    for _ in range(5):
        resp = await _login(hc, "alice", "wrong password!")
        assert resp.status_code == 200
    resp = await _login(hc, "ALICE", PASSWORD)  # the 6th attempt, even with the right password
    assert resp.status_code == 429
    _assert_page_headers(resp)
    retry = int(resp.headers["retry-after"])
    assert 0 < retry <= 60  # a token bucket of 5 per minute: one attempt back every 12 s
    assert "lid_session" not in _set_cookies(resp)
    clock.advance(retry + 1)
    resp = await _login(hc, "alice", PASSWORD)
    assert resp.status_code == 303


async def test_throttle_per_client_address(h: Harness) -> None:
    for i in range(5):
        resp = await _login(h, f"user{i}", "wrong password!")
        assert resp.status_code == 200
    resp = await _login(h, "someone-else", "wrong password!")
    assert resp.status_code == 429 and int(resp.headers["retry-after"]) > 0


async def _spend_the_client_bucket(h: Harness, headers: dict[str, str]) -> None:
    """Five failed sign-ins at five accounts, sent with `headers`."""
    for i in range(5):
        token = await _form(h)
        data = {"csrf_token": token, "username": f"user{i}", "password": "wrong password!"}
        resp = await h.http.post("/login", data=data, headers=headers)
        assert resp.status_code == 200


async def _attempt(h: Harness, headers: dict[str, str], username: str = "alice") -> int:
    token = await _form(h)
    data = {"csrf_token": token, "username": username, "password": PASSWORD}
    return (await h.http.post("/login", data=data, headers=headers)).status_code


async def test_a_new_user_agent_is_the_same_client(h: Harness) -> None:
    """The client's bucket is its address alone: a header the client chooses does not name a new one."""
    await _user(h)
    await _spend_the_client_bucket(h, {"user-agent": "Agent/1"})
    assert await _attempt(h, {"user-agent": "Agent/2"}) == 429
    assert await _attempt(h, {"user-agent": ""}) == 429


async def test_one_client_bucket_across_the_sign_in_pages(h: Harness) -> None:
    await _user(h)
    await _spend_the_client_bucket(h, {})
    page = await h.http.get("/login/recover")
    data = {"csrf_token": _csrf(page), "username": "alice", "code": "x" * 22}
    resp = await h.http.post("/login/recover", data=data)
    assert resp.status_code == 429 and int(resp.headers["retry-after"]) > 0


async def test_behind_a_trusted_proxy_each_forwarded_address_is_a_client(prepared: Settings) -> None:
    # The harness's peer is 127.0.0.1: here it is the trusted proxy in front of ΛiD.
    settings = Settings(**{**prepared.model_dump(), "trusted_proxies": ("127.0.0.1/32",)})
    async with running(settings) as h:
        await _user(h)
        await _spend_the_client_bucket(h, {"x-forwarded-for": "203.0.113.1"})
        assert await _attempt(h, {"x-forwarded-for": "203.0.113.1"}) == 429
        assert await _attempt(h, {"forwarded": "for=203.0.113.1"}) == 429
        # A client cannot pick its address: what it puts left of the proxy's entry is not believed.
        assert await _attempt(h, {"x-forwarded-for": "192.0.2.50, 203.0.113.1"}) == 429
        assert await _attempt(h, {"x-forwarded-for": "203.0.113.2"}) == 303


@pytest.mark.parametrize("proxies", [(), ("10.0.0.0/8",)])
async def test_from_a_peer_that_is_no_trusted_proxy_forwarded_headers_are_ignored(
    prepared: Settings, proxies: tuple[str, ...]
) -> None:
    settings = Settings(**{**prepared.model_dump(), "trusted_proxies": proxies})
    async with running(settings) as h:
        await _user(h)
        await _spend_the_client_bucket(h, {"x-forwarded-for": "203.0.113.1"})
        assert await _attempt(h, {"x-forwarded-for": "203.0.113.2"}) == 429
        assert await _attempt(h, {"forwarded": "for=203.0.113.3"}) == 429


async def test_a_cookie_of_one_tenant_is_not_accepted_by_another(h: Harness) -> None:
    await _user(h)
    await _user(h, "bob", tenant="other")
    default, other = await h.tenant(), await h.tenant("other")
    resp = await _login(h, "alice", PASSWORD)
    session_a = _cookie_value(_set_cookies(resp)["lid_session"])
    assert await h.c.sessions.get(other, session_a) is None
    # Presented under tenant B's cookie name, A's id is not B's session: signing in to B does not end it.
    h.http.cookies.set("lid_session_t_other", session_a)
    resp = await _login(h, "bob", PASSWORD, tenant="other")
    assert resp.status_code == 303
    assert resp.headers["location"] == f"{h.settings.issuer}/t/other/account"
    session_b = _cookie_value(_set_cookies(resp)["lid_session_t_other"])
    assert session_b != session_a
    assert await h.c.sessions.get(default, session_b) is None
    assert await h.c.sessions.get(default, session_a) is not None
    # A CSRF token of tenant A, with A's pre-session id as B's cookie, is refused by B.
    page = await h.http.get("/login")
    pre_a = h.http.cookies.get("lid_pre")
    assert pre_a is not None
    h.http.cookies.set("lid_pre_t_other", pre_a)
    resp = await h.http.post(
        "/t/other/login", data={"csrf_token": _csrf(page), "username": "bob", "password": PASSWORD}
    )
    assert resp.status_code == 403


async def test_bad_input_gets_a_4xx_page(h: Harness) -> None:
    await _user(h)
    token = await _form(h)
    cases = [
        (b"csrf_token=" + token.encode() + b"&username=a&password=" + b"x" * 70000, FORM, 413),
        (b"csrf_token=" + token.encode() + b"&username=%ff&password=x", FORM, 400),
        (b"\xff\xfe", FORM, 400),
        (b'{"username": "alice"}', {"content-type": "application/json"}, 415),
        (b"csrf_token=" + token.encode() + b"&username=alice", {"content-type": "text/plain"}, 415),
        (
            b"csrf_token=" + token.encode() + b"&username=alice&username=bob&password=x",
            FORM,
            400,
        ),
        (b"csrf_token=" + token.encode() + b"&csrf_token=" + token.encode() + b"&username=a&password=b", FORM, 400),
        (b"csrf_token=" + token.encode() + b"&password=x", FORM, 400),
    ]
    for body, headers, status in cases:
        resp = await h.http.post("/login", content=body, headers=headers)
        assert resp.status_code == status, (body[:60], resp.status_code, resp.text)
        _assert_page_headers(resp)
        assert "lid_session" not in _set_cookies(resp)
    resp = await h.http.get("/login", params=[("return_to", INTERACTION), ("return_to", INTERACTION)])
    assert resp.status_code == 400
    resp = await h.http.put("/login")
    assert resp.status_code == 405


async def test_passwords_and_session_ids_never_appear_in_logs(h: Harness, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    await _user(h)
    await _login(h, "alice", "a wrong password 123")
    resp = await _login(h, "alice", PASSWORD)
    session_id = _cookie_value(_set_cookies(resp)["lid_session"])
    assert any("sign-in" in r.getMessage() for r in caplog.records)  # the logger is captured
    logged = "\n".join(r.getMessage() + " " + str(r.__dict__) for r in caplog.records)
    for secret in (PASSWORD, "a wrong password 123", session_id):
        assert secret not in logged
