"""Brute-force protection of client authentication (RFC 6749 §2.3.1) at the token, introspection and
revocation endpoints, both deployments: failures per (client address, client id), then 429 before any secret
is checked."""

from __future__ import annotations

import httpx
import pytest

from lukhas_id.adapters.memory.rate_limit import MemoryRateLimiter
from lukhas_id.clock import FixedClock
from lukhas_id.metrics import Metrics
from lukhas_id.services import rate_limit
from lukhas_id.services.rate_limit import ClientAuthLimiter
from lukhas_id.settings import Settings
from tests.support.harness import BASE, Harness, basic, running

FORM = {"content-type": "application/x-www-form-urlencoded"}
GRANT = "grant_type=client_credentials"


async def post(h: Harness, path: str, body: str, auth: dict[str, str], ip: str = "203.0.113.7") -> httpx.Response:
    transport = httpx.ASGITransport(app=h.app, client=(ip, 4711))
    async with httpx.AsyncClient(transport=transport, base_url=BASE) as http:
        return await http.post(path, content=body, headers={**FORM, **auth})


def blocks(h: Harness) -> float:
    value = h.c.metrics.registry.get_sample_value("identity_rate_limit_blocks_total", {"limit": "client_auth"})
    return value or 0.0


async def test_failures_from_one_address_block_it_then_it_recovers(hc: Harness, clock: FixedClock) -> None:
    rc = await hc.client()
    limit = hc.settings.client_auth_rate_limit
    wrong = basic(rc.client_id, rc.secret + "x")
    for _ in range(limit):
        assert (await post(hc, "/oauth2/token", GRANT, wrong)).status_code == 401
    # Blocked: even the right secret is refused, before it is checked; every client-authenticated endpoint.
    for path, body in (("/oauth2/token", GRANT), ("/oauth2/introspect", "token=x"), ("/oauth2/revoke", "token=x")):
        resp = await post(hc, path, body, rc.auth)
        assert resp.status_code == 429, resp.text
        assert resp.json()["error"] == "invalid_client"
        assert "203.0.113" not in resp.text
        wait = int(resp.headers["retry-after"])
        assert 1 <= wait <= hc.settings.client_auth_rate_window
        assert resp.headers["cache-control"] == "no-store"
    assert blocks(hc) == 3
    # Another address, or another client behind the same address (a NAT, a reverse proxy), is not affected;
    # the blocked pair recovers once a token is back.
    assert (await post(hc, "/oauth2/token", GRANT, rc.auth, ip="198.51.100.9")).status_code == 200
    neighbour = await hc.client()
    assert (await post(hc, "/oauth2/token", GRANT, neighbour.auth)).status_code == 200
    clock.advance(wait)
    assert (await post(hc, "/oauth2/token", GRANT, rc.auth)).status_code == 200


async def test_only_presented_credentials_that_fail_count(h: Harness) -> None:
    rc = await h.client()
    limit = h.settings.client_auth_rate_limit
    for _ in range(limit + 5):
        # No credentials at all, and successes: not guesses.
        assert (await post(h, "/oauth2/token", GRANT, {})).status_code == 401
        assert (await post(h, "/oauth2/token", GRANT, rc.auth)).status_code == 200
    assert blocks(h) == 0


async def test_an_ipv6_client_is_counted_by_its_64(hc: Harness) -> None:
    rc = await hc.client()
    wrong = basic(rc.client_id, "nope")
    for i in range(hc.settings.client_auth_rate_limit):
        assert (await post(hc, "/oauth2/token", GRANT, wrong, ip=f"2001:db8:1:2::{i + 1:x}")).status_code == 401
    assert (await post(hc, "/oauth2/token", GRANT, rc.auth, ip="2001:db8:1:2:ffff::1")).status_code == 429
    assert (await post(hc, "/oauth2/token", GRANT, rc.auth, ip="2001:db8:1:3::1")).status_code == 200


async def test_the_blocked_addresses_kept_are_bounded(monkeypatch: pytest.MonkeyPatch, hc: Harness) -> None:
    monkeypatch.setattr(rate_limit, "BLOCKED_PAIRS_CAP", 3)
    tenant = await hc.tenant()
    clock = FixedClock(1000.0)
    limiter = ClientAuthLimiter(MemoryRateLimiter(), hc.c.sign_in_limiter.keyring, clock, Metrics(), limit=1, window=60)
    for i in range(5):
        await limiter.failed(tenant, f"192.0.2.{i}", "cl_x")
        assert limiter.retry_after(tenant, f"192.0.2.{i}", "cl_x") == 60
        clock.advance(1)
    assert len(limiter._blocked) == 3
    assert limiter.retry_after(tenant, "192.0.2.0", "cl_x") is None  # the oldest block was let go
    assert limiter.retry_after(tenant, "192.0.2.4", "cl_x") == 59
    assert limiter.retry_after(tenant, "192.0.2.4", "cl_y") is None  # another client from that address
    # Once every block has ended, the next check forgets them all (the hot path stops hashing).
    clock.advance(60)
    assert limiter.retry_after(tenant, "203.0.113.1", "cl_z") is None
    assert limiter._blocked == {}


async def test_behind_a_trusted_proxy_the_forwarded_address_is_the_key(prepared: Settings, clock: FixedClock) -> None:
    """LUKHAS_ID_TRUSTED_PROXIES: one bucket per forwarded client address, not one for everyone behind the
    proxy; from an untrusted peer the header is ignored, so a client cannot pick a fresh address."""
    settings = prepared.model_copy(update={"trusted_proxies": ("192.0.2.10",)})
    async with running(settings, clock) as h:
        rc = await h.client()
        wrong = basic(rc.client_id, rc.secret + "x")
        limit = h.settings.client_auth_rate_limit
        via = {"x-forwarded-for": "198.51.100.23"}
        for _ in range(limit):
            assert (await post(h, "/oauth2/token", GRANT, {**wrong, **via}, ip="192.0.2.10")).status_code == 401
        assert (await post(h, "/oauth2/token", GRANT, {**rc.auth, **via}, ip="192.0.2.10")).status_code == 429
        other = {"x-forwarded-for": "198.51.100.24"}
        assert (await post(h, "/oauth2/token", GRANT, {**rc.auth, **other}, ip="192.0.2.10")).status_code == 200
        # Not a trusted proxy: the header changes nothing, the peer's own bucket is used.
        for _ in range(limit):
            assert (await post(h, "/oauth2/token", GRANT, {**wrong, **via}, ip="203.0.113.99")).status_code == 401
        resp = await post(h, "/oauth2/token", GRANT, {**rc.auth, "x-forwarded-for": "198.51.100.77"}, ip="203.0.113.99")
        assert resp.status_code == 429
