"""RP-Initiated Logout 1.0 over HTTP: id_token_hint, post_logout_redirect_uri, state, confirmation with CSRF.

Both deployments; the browser signs in through the pages (tests/support/sign_in.py) and the RP
gets a real ID token to use as the hint.
"""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

from lukhas_id.clock import FixedClock
from lukhas_id.domain.client import GrantType
from lukhas_id.domain.tenant import Tenant
from lukhas_id.services.id_tokens import ID_TOKEN_TTL
from tests.support.cli import make_cli
from tests.support.harness import BASE, Harness
from tests.support.rp import REDIRECT, hidden
from tests.support.sign_in import (
    BYE,
    assert_cookie_cleared,
    assert_page,
    assert_signed_out,
    sign_in_rp,
)

STATE = "after logout &=é"


def logout_url(base: str = "", **params: str) -> str:
    return f"{base}/oauth2/logout" + (f"?{urlencode(params)}" if params else "")


async def test_valid_hint_and_registered_uri_redirect_with_state(h: Harness) -> None:
    for tenant_name in (None, "acme"):
        s = await sign_in_rp(h, tenant_name)
        resp = await h.http.get(logout_url(s.base, id_token_hint=s.id_token, post_logout_redirect_uri=BYE, state=STATE))
        assert resp.status_code == 303, resp.text
        parts = urlsplit(resp.headers["location"])
        assert f"{parts.scheme}://{parts.netloc}{parts.path}" == BYE
        assert parse_qs(parts.query) == {"state": [STATE]}
        assert resp.headers["cache-control"] == "no-store"
        assert_cookie_cleared(h, resp, s.tenant)
        await assert_signed_out(h, s)


async def test_post_with_client_id_that_agrees(h: Harness) -> None:
    s = await sign_in_rp(h)
    resp = await h.http.post(
        "/oauth2/logout",
        data={"id_token_hint": s.id_token, "client_id": s.client.client_id, "post_logout_redirect_uri": BYE},
    )
    assert resp.status_code == 303 and resp.headers["location"] == BYE
    await assert_signed_out(h, s)


async def test_unregistered_uri_shows_the_logged_out_page(h: Harness) -> None:
    s = await sign_in_rp(h)
    for uri in ("https://evil.example.com/bye", BYE + "/", BYE + "?x=1", "HTTPS://rp.example.com/bye"):
        s = await sign_in_rp(h, again=s)
        resp = await h.http.get(logout_url(id_token_hint=s.id_token, post_logout_redirect_uri=uri, state="s"))
        assert_page(resp, 200)
        assert "You are signed out" in resp.text and "evil" not in resp.text
        assert_cookie_cleared(h, resp, s.tenant)
        await assert_signed_out(h, s)


async def test_forged_or_garbage_hint_is_an_error_page(h: Harness) -> None:
    s = await sign_in_rp(h)
    head, payload, sig = s.id_token.split(".")
    tampered = f"{head}.{payload[:-2]}{'AA' if not payload.endswith('AA') else 'BB'}.{sig}"
    for hint in ("garbage", "a.b.c", tampered, f"{head}.{payload}.", s.id_token + "x"):
        resp = await h.http.get(logout_url(id_token_hint=hint, post_logout_redirect_uri=BYE, state="s"))
        assert_page(resp, 400)
        assert hint not in resp.text
    assert await h.c.sessions.get(s.tenant, s.session_cookie) is not None  # nothing was ended


async def test_client_id_must_agree_with_the_hint(h: Harness) -> None:
    s = await sign_in_rp(h)
    other, _ = await h.c.clients.create(
        s.tenant,
        name="Other RP",
        grant_types=frozenset({GrantType.AUTHORIZATION_CODE}),
        scopes=frozenset({"openid"}),
        redirect_uris=(REDIRECT,),
        post_logout_redirect_uris=(BYE,),
    )
    resp = await h.http.get(
        logout_url(id_token_hint=s.id_token, client_id=other.client_id, post_logout_redirect_uri=BYE)
    )
    assert_page(resp, 400)
    resp = await h.http.get(logout_url(client_id="cl_nobody", post_logout_redirect_uri=BYE))
    assert_page(resp, 400)
    resp = await h.http.get(logout_url() + f"?state=a&state=b&id_token_hint={s.id_token}")
    assert_page(resp, 400)
    assert await h.c.sessions.get(s.tenant, s.session_cookie) is not None


async def test_hint_from_another_tenant_is_rejected(h: Harness) -> None:
    acme = await sign_in_rp(h, "acme")
    await h.tenant("globex")
    for base in ("", "/t/globex"):
        resp = await h.http.get(logout_url(base, id_token_hint=acme.id_token, post_logout_redirect_uri=BYE))
        assert_page(resp, 400)
    assert await h.c.sessions.get(acme.tenant, acme.session_cookie) is not None


async def test_expired_hint_is_accepted(hc: Harness, clock: FixedClock) -> None:
    s = await sign_in_rp(hc)
    clock.advance(ID_TOKEN_TTL + 120)  # the ID token has expired; the session (idle 1 h) has not
    assert await hc.c.sessions.get(s.tenant, s.session_cookie) is not None
    resp = await hc.http.get(logout_url(id_token_hint=s.id_token, post_logout_redirect_uri=BYE, state="x"))
    assert resp.status_code == 303 and resp.headers["location"] == f"{BYE}?state=x"
    await assert_signed_out(hc, s)


async def test_no_hint_asks_for_confirmation_with_csrf(h: Harness) -> None:
    s = await sign_in_rp(h)
    page = await h.http.get(logout_url(client_id=s.client.client_id, post_logout_redirect_uri=BYE, state=STATE))
    assert_page(page, 200)
    assert "Example RP" in page.text and 'name="confirm" value="yes"' in page.text
    form = {
        "client_id": hidden(page.text, "client_id"),
        "post_logout_redirect_uri": hidden(page.text, "post_logout_redirect_uri"),
        "state": STATE,
        "confirm": "yes",
    }
    forged = await h.http.post("/oauth2/logout", data=form)
    assert_page(forged, 403)
    forged = await h.http.post("/oauth2/logout", data={**form, "csrf_token": "x" * 43})
    assert_page(forged, 403)
    assert await h.c.sessions.get(s.tenant, s.session_cookie) is not None
    # A GET cannot confirm.
    again = await h.http.get(logout_url(confirm="yes", csrf_token=hidden(page.text, "csrf_token")))
    assert_page(again, 200)
    assert await h.c.sessions.get(s.tenant, s.session_cookie) is not None
    done = await h.http.post("/oauth2/logout", data={**form, "csrf_token": hidden(page.text, "csrf_token")})
    assert done.status_code == 303
    assert rp_params_bye(done.headers["location"]) == {"state": STATE}
    assert_cookie_cleared(h, done, s.tenant)
    await assert_signed_out(h, s)


def rp_params_bye(location: str) -> dict[str, str]:
    parts = urlsplit(location)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == BYE
    return {k: v[0] for k, v in parse_qs(parts.query).items()}


async def test_without_hint_or_client_id_a_redirect_uri_is_ignored(h: Harness) -> None:
    s = await sign_in_rp(h)
    page = await h.http.get(logout_url(post_logout_redirect_uri=BYE))
    assert_page(page, 200)
    done = await h.http.post(
        "/oauth2/logout",
        data={"post_logout_redirect_uri": BYE, "confirm": "yes", "csrf_token": hidden(page.text, "csrf_token")},
    )
    assert_page(done, 200)
    assert "You are signed out" in done.text
    await assert_signed_out(h, s)


async def test_hint_of_another_session_asks_for_confirmation(h: Harness) -> None:
    old = await sign_in_rp(h)
    new = await sign_in_rp(h, again=old)  # signs in again: a new session, a new sid
    page = await h.http.get(logout_url(id_token_hint=old.id_token, post_logout_redirect_uri=BYE))
    assert_page(page, 200)
    assert 'name="confirm"' in page.text
    assert await h.c.sessions.get(new.tenant, new.session_cookie) is not None
    done = await h.http.post(
        "/oauth2/logout",
        data={
            "id_token_hint": hidden(page.text, "id_token_hint"),
            "post_logout_redirect_uri": BYE,
            "confirm": "yes",
            "csrf_token": hidden(page.text, "csrf_token"),
        },
    )
    assert done.status_code == 303 and done.headers["location"] == BYE
    await assert_signed_out(h, new)


async def test_not_signed_in_is_not_an_error(h: Harness) -> None:
    s = await sign_in_rp(h)
    first = await h.http.get(logout_url(id_token_hint=s.id_token, post_logout_redirect_uri=BYE))
    assert first.status_code == 303
    again = await h.http.get(logout_url(id_token_hint=s.id_token, post_logout_redirect_uri=BYE, state="2"))
    assert again.status_code == 303 and again.headers["location"] == f"{BYE}?state=2"
    plain = await h.http.get("/oauth2/logout")
    assert_page(plain, 200)
    assert "You are signed out" in plain.text


async def test_refresh_tokens_of_the_session_are_revoked_when_the_service_exists(h: Harness) -> None:
    s = await sign_in_rp(h)
    sid = json.loads(httpx_b64(s.id_token.split(".")[1]))["sid"]
    revoked: list[tuple[str, str]] = []

    class FakeRefresh:
        async def revoke_for_session(self, tenant: Tenant, session_sid: str) -> int:
            revoked.append((tenant.id, session_sid))
            return 1

    had = hasattr(h.c, "refresh")
    previous = getattr(h.c, "refresh", None)
    h.c.refresh = FakeRefresh()  # type: ignore[attr-defined]
    try:
        resp = await h.http.get(logout_url(id_token_hint=s.id_token))
        assert_page(resp, 200)
    finally:
        if had:
            h.c.refresh = previous  # type: ignore[attr-defined]
        else:
            del h.c.refresh  # type: ignore[attr-defined]
    assert revoked == [(s.tenant.id, sid)]


def httpx_b64(segment: str) -> bytes:
    import base64

    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def test_cli_registers_post_logout_redirect_uris(tmp_path: Path) -> None:
    cli = make_cli(tmp_path / "var")
    out = json.loads(
        cli(
            "client", "create", "--grant", "authorization_code", "--scope", "openid",
            "--redirect-uri", REDIRECT,
            "--post-logout-redirect-uri", BYE,
            "--post-logout-redirect-uri", "http://127.0.0.1:9000/bye",
            "--json",
        ).stdout
    )  # fmt: skip
    assert out["post_logout_redirect_uris"] == [BYE, "http://127.0.0.1:9000/bye"]
    bad = cli(
        "client", "create", "--grant", "authorization_code", "--scope", "openid", "--redirect-uri", REDIRECT,
        "--post-logout-redirect-uri", "http://rp.example.com/bye", ok=False,
    )  # fmt: skip
    assert "post-logout redirect URI" in bad.stderr


async def test_discovery_documents_the_end_session_endpoint(h: Harness) -> None:
    meta = (await h.http.get("/.well-known/openid-configuration")).json()
    assert meta["end_session_endpoint"] == f"{BASE}/oauth2/logout"
