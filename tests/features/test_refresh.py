"""The refresh_token grant: RFC 6749 §6, OAuth 2.1 §4.3, RFC 9700 §4.14.2, RFC 7009, OIDC Core §12.2.

Rotation on every use, reuse detection (the family and its access tokens are revoked), the per-client
grace window for concurrent refreshes, and code replay / RFC 7009 revocation reaching the family.
"""

from __future__ import annotations

import asyncio
from typing import Any

import jwt
import pytest
from sqlalchemy import update

from lukhas_id.adapters.sql.models import ClientRow
from lukhas_id.clock import FixedClock
from lukhas_id.domain.client import GrantType
from lukhas_id.protocol.oauth2.request import OAuthRequest
from tests.support.harness import Harness, basic
from tests.support.rp import REDIRECT, RP, mint, pkce_pair, redeem

OFFLINE = ("openid", "profile", "offline_access")


async def party(
    h: Harness, *, grace: int = 0, public: bool = False, scopes: str = "openid profile email offline_access"
) -> RP:
    tenant = await h.tenant()
    client, secret = await h.c.clients.create(
        tenant,
        name="relying party",
        grant_types=frozenset({GrantType.AUTHORIZATION_CODE}),
        scopes=frozenset(scopes.split()),
        redirect_uris=(REDIRECT,),
        public=public,
    )
    if grace:
        # No registration option yet: set the column before the client is first read (and cached).
        async with h.c.database.statement() as conn:
            await conn.execute(
                update(ClientRow)
                .where(ClientRow.tenant_id == tenant.id, ClientRow.client_id == client.client_id)
                .values(refresh_grace_seconds=grace)
            )
    return RP(client, secret, tenant)


async def tokens_for(h: Harness, rp: RP, scope: tuple[str, ...] = OFFLINE) -> dict[str, Any]:
    verifier, challenge = pkce_pair()
    code, _ = await mint(h, rp, challenge, scope=scope)
    status, body = await redeem(h, rp, code, verifier)
    assert status == 200, body
    return body


async def refresh(h: Harness, rp: RP, token: str, **form: str) -> tuple[int, dict[str, Any]]:
    data = {"grant_type": "refresh_token", "refresh_token": token, **form}
    headers = {}
    if rp.secret is None:
        data["client_id"] = rp.client.client_id
    else:
        headers = basic(rp.client.client_id, rp.secret)
    resp = await h.http.post("/oauth2/token", data=data, headers=headers)
    return resp.status_code, resp.json()


async def active(h: Harness, rp: RP, token: str) -> bool:
    info = await h.c.tokens.introspect(rp.tenant, rp.client, OAuthRequest({"token": [token]}, None))
    return bool(info["active"])


async def test_offline_access_decides_whether_a_refresh_token_is_issued(h: Harness) -> None:
    rp = await party(h)
    assert "refresh_token" in await tokens_for(h, rp)
    assert "refresh_token" not in await tokens_for(h, rp, ("openid", "profile"))
    # A client that may not ask for offline_access gets none, whatever the code says.
    limited = await party(h, scopes="openid profile")
    assert "refresh_token" not in await tokens_for(h, limited)


async def test_each_use_rotates_and_keeps_the_grant(h: Harness) -> None:
    rp = await party(h)
    first = await tokens_for(h, rp)
    status, body = await refresh(h, rp, first["refresh_token"])
    assert status == 200, body
    assert body["refresh_token"] != first["refresh_token"]
    assert body["scope"] == " ".join(OFFLINE) and body["token_type"] == "Bearer"
    assert await active(h, rp, body["access_token"])
    original = jwt.decode(first["id_token"], options={"verify_signature": False})
    renewed = jwt.decode(body["id_token"], options={"verify_signature": False})
    for claim in ("iss", "sub", "aud", "auth_time", "sid", "acr", "amr"):
        assert renewed[claim] == original[claim], claim
    assert "nonce" not in renewed and "nonce" in original
    access = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert access["auth_time"] == original["auth_time"]
    # The new token works once more; the old one is spent.
    status, again = await refresh(h, rp, body["refresh_token"])
    assert status == 200, again


async def test_reuse_revokes_the_family_and_its_access_tokens(h: Harness) -> None:
    rp = await party(h)
    first = await tokens_for(h, rp)
    _, second = await refresh(h, rp, first["refresh_token"])
    _, third = await refresh(h, rp, second["refresh_token"])
    assert all([await active(h, rp, t["access_token"]) for t in (first, second, third)])
    status, body = await refresh(h, rp, first["refresh_token"])
    assert (status, body["error"]) == (400, "invalid_grant")
    # The current refresh token and every access token of the family are dead.
    status, body = await refresh(h, rp, third["refresh_token"])
    assert (status, body["error"]) == (400, "invalid_grant")
    assert not any([await active(h, rp, t["access_token"]) for t in (first, second, third)])


async def test_scope_may_narrow_but_not_widen(h: Harness) -> None:
    rp = await party(h)
    first = await tokens_for(h, rp)
    status, body = await refresh(h, rp, first["refresh_token"], scope="openid email")
    assert (status, body["error"]) == (400, "invalid_scope")
    status, body = await refresh(h, rp, first["refresh_token"], scope="profile")
    assert status == 200, body
    assert body["scope"] == "profile" and "id_token" not in body
    # The refresh token keeps the original scope.
    status, body = await refresh(h, rp, body["refresh_token"])
    assert status == 200 and body["scope"] == " ".join(OFFLINE) and "id_token" in body


async def test_another_clients_token_and_unknown_tokens_are_invalid_grant(h: Harness) -> None:
    owner, other = await party(h), await party(h)
    first = await tokens_for(h, owner)
    for rp, token in ((other, first["refresh_token"]), (owner, "nope"), (owner, "x" * 20000)):
        status, body = await refresh(h, rp, token)
        assert (status, body["error"]) == (400, "invalid_grant")
    # The other client's attempt did not spend the token.
    status, _ = await refresh(h, owner, first["refresh_token"])
    assert status == 200
    machine = await h.client()
    resp = await h.http.post(
        "/oauth2/token", data={"grant_type": "refresh_token", "refresh_token": "x"}, headers=machine.auth
    )
    assert (resp.status_code, resp.json()["error"]) == (400, "unauthorized_client")


async def test_public_client_refreshes_with_its_client_id(h: Harness) -> None:
    rp = await party(h, public=True)
    first = await tokens_for(h, rp)
    status, body = await refresh(h, rp, first["refresh_token"])
    assert status == 200, body


async def test_grace_window_returns_the_same_successor(h: Harness) -> None:
    rp = await party(h, grace=5)
    first = await tokens_for(h, rp)
    _, a = await refresh(h, rp, first["refresh_token"])
    status, b = await refresh(h, rp, first["refresh_token"])
    assert status == 200, b
    assert b["refresh_token"] == a["refresh_token"]
    assert await active(h, rp, a["access_token"]) and await active(h, rp, b["access_token"])
    status, c = await refresh(h, rp, a["refresh_token"])
    assert status == 200 and c["refresh_token"] not in {a["refresh_token"], first["refresh_token"]}


async def test_concurrent_refreshes_within_the_grace_window_agree(h: Harness) -> None:
    rp = await party(h, grace=5)
    first = await tokens_for(h, rp)
    results = await asyncio.gather(*(refresh(h, rp, first["refresh_token"]) for _ in range(6)))
    assert [status for status, _ in results] == [200] * 6
    assert len({body["refresh_token"] for _, body in results}) == 1


@pytest.mark.parametrize("grace", [0, 5])
async def test_past_the_grace_window_is_reuse(hc: Harness, clock: FixedClock, grace: int) -> None:
    rp = await party(hc, grace=grace)
    first = await tokens_for(hc, rp)
    _, second = await refresh(hc, rp, first["refresh_token"])
    clock.advance(grace + 0.5)
    status, body = await refresh(hc, rp, first["refresh_token"])
    assert (status, body["error"]) == (400, "invalid_grant")
    status, _ = await refresh(hc, rp, second["refresh_token"])
    assert status == 400
    assert not await active(hc, rp, second["access_token"])


async def test_family_expires(hc: Harness, clock: FixedClock) -> None:
    rp = await party(hc)
    first = await tokens_for(hc, rp)
    clock.advance(30 * 24 * 3600 + 1)
    status, body = await refresh(hc, rp, first["refresh_token"])
    assert (status, body["error"]) == (400, "invalid_grant")


async def test_code_replay_revokes_the_family(h: Harness) -> None:
    rp = await party(h)
    verifier, challenge = pkce_pair()
    code, _ = await mint(h, rp, challenge, scope=OFFLINE)
    _, first = await redeem(h, rp, code, verifier)
    _, second = await refresh(h, rp, str(first["refresh_token"]))
    status, _ = await redeem(h, rp, code, verifier)
    assert status == 400
    status, body = await refresh(h, rp, second["refresh_token"])
    assert (status, body["error"]) == (400, "invalid_grant")
    assert not await active(h, rp, second["access_token"])


async def test_rfc7009_revoking_a_refresh_token_revokes_its_family(h: Harness) -> None:
    rp, other = await party(h), await party(h)
    first = await tokens_for(h, rp)
    _, second = await refresh(h, rp, first["refresh_token"])
    assert rp.secret is not None and other.secret is not None
    # Another client may not revoke it.
    resp = await h.http.post(
        "/oauth2/revoke",
        data={"token": second["refresh_token"]},
        headers=basic(other.client.client_id, other.secret),
    )
    assert resp.status_code == 400
    resp = await h.http.post(
        "/oauth2/revoke",
        data={"token": second["refresh_token"], "token_type_hint": "refresh_token"},
        headers=basic(rp.client.client_id, rp.secret),
    )
    assert resp.status_code == 200
    status, body = await refresh(h, rp, second["refresh_token"])
    assert (status, body["error"]) == (400, "invalid_grant")
    assert not await active(h, rp, second["access_token"])
    assert not await active(h, rp, first["access_token"])
    # Revoking it again is a harmless no-op.
    resp = await h.http.post(
        "/oauth2/revoke", data={"token": second["refresh_token"]}, headers=basic(rp.client.client_id, rp.secret)
    )
    assert resp.status_code == 200


async def test_tokens_are_stored_hashed(h: Harness) -> None:
    rp = await party(h)
    first = await tokens_for(h, rp)
    token = str(first["refresh_token"])
    if h.settings.redis_url:
        from lukhas_id.adapters.redis import redis_client

        client = redis_client(h.settings.redis_url)
        try:
            keys = [k async for k in client.scan_iter(match="lid:*", count=1000)]
            values = [await client.get(k) for k in keys if b":rt:" in k]
        finally:
            await client.aclose()
        assert values and not any(token.encode() in (k or b"") for k in [*keys, *values])
    else:
        from sqlalchemy import text

        async with h.c.database.statement() as conn:
            rows = (await conn.execute(text("SELECT * FROM refresh_tokens"))).all()
        assert rows and token not in repr(rows)


async def test_an_idle_refresh_token_expires(hc: Harness, clock: FixedClock) -> None:
    """OAuth 2.1 §4.3.3: a refresh token not used within refresh_token_idle_ttl of its issue is refused; each
    use starts a new idle period (the successor's)."""
    idle = hc.settings.refresh_token_idle_ttl
    rp = await party(hc)
    first = await tokens_for(hc, rp)
    clock.advance(idle - 60)
    status, second = await refresh(hc, rp, first["refresh_token"])
    assert status == 200, second
    clock.advance(idle)  # 28 days in all: the family (30 days) is still alive, the token has been idle
    assert idle * 2 < 30 * 24 * 3600
    status, body = await refresh(hc, rp, second["refresh_token"])
    assert (status, body["error"]) == (400, "invalid_grant")


async def test_a_retired_token_is_reuse_however_long_idle(hc: Harness, clock: FixedClock) -> None:
    from lukhas_id.services.tokens import token_hash

    idle = hc.settings.refresh_token_idle_ttl
    rp = await party(hc)
    first = await tokens_for(hc, rp)
    status, second = await refresh(hc, rp, first["refresh_token"])
    assert status == 200, second
    store = hc.c.refresh._store
    assert await store.get(rp.tenant.id, token_hash(second["refresh_token"]), clock.now()) is not None
    clock.advance(idle + 60)
    status, body = await refresh(hc, rp, first["refresh_token"])
    assert (status, body["error"]) == (400, "invalid_grant")
    # It went on to reuse detection: the family is revoked.
    assert await store.get(rp.tenant.id, token_hash(second["refresh_token"]), clock.now()) is None
