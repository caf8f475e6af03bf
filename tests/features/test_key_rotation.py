"""Key lifecycle: next -> active -> retired -> removed; rotation never breaks a still-valid token."""

from __future__ import annotations

import jwt
import pytest

from lukhas_id.clock import FixedClock
from lukhas_id.domain.keys import KeyState, SigningAlg
from lukhas_id.services.keys import RETIRE_MARGIN
from lukhas_id.settings import Settings
from lukhas_id.web.app import maintenance_pass
from tests.support.harness import Harness, running


async def _kids(h: Harness) -> set[str]:
    return {k["kid"] for k in (await h.http.get("/.well-known/jwks.json")).json()["keys"]}


async def test_next_key_is_published_before_it_signs(hc: Harness, clock: FixedClock) -> None:
    tenant = await hc.tenant()
    ks = await hc.c.keys.load(tenant.id)
    nxt = next(k for k in ks.keys if k.state is KeyState.NEXT)
    assert nxt.kid in await _kids(hc)
    rc = await hc.client()
    assert jwt.get_unverified_header(await hc.access_token(rc))["kid"] != nxt.kid
    clock.advance(600)
    result = await hc.c.keys.rotate(tenant.id, SigningAlg.ES256)
    assert result.rotated and result.active_kid == nxt.kid
    assert jwt.get_unverified_header(await hc.access_token(rc))["kid"] == nxt.kid


async def test_rotation_never_breaks_a_valid_token(hc: Harness, clock: FixedClock) -> None:
    rc = await hc.client(ttl=3600)
    tenant = rc.tenant
    token = await hc.access_token(rc)
    old_kid = jwt.get_unverified_header(token)["kid"]
    for _ in range(3):
        clock.advance(600)
        assert (await hc.c.keys.rotate(tenant.id, SigningAlg.ES256)).rotated
        assert (await hc.introspect(rc, token))["active"] is True
        assert old_kid in await _kids(hc)
    # Once every token it signed has expired (max lifetime + margin), the retired key goes away.
    clock.advance(hc.settings.max_access_token_ttl + RETIRE_MARGIN)
    assert (await hc.c.keys.rotate(tenant.id, SigningAlg.ES256)).rotated
    kids = await _kids(hc)
    assert old_kid not in kids
    assert await hc.introspect(rc, token) == {"active": False}  # expired long ago anyway


async def test_concurrent_rotations_have_one_winner(h: Harness) -> None:
    import asyncio

    tenant = await h.tenant()
    results = await asyncio.gather(*(h.c.keys.rotate(tenant.id, SigningAlg.ES256) for _ in range(4)))
    assert sum(r.rotated for r in results) >= 1
    ks = await h.c.keys.load(tenant.id)
    assert sum(1 for k in ks.keys if k.state is KeyState.ACTIVE and k.alg is SigningAlg.ES256) == 1


async def test_automatic_rotation_waits_for_the_next_key_to_be_published(hc: Harness, clock: FixedClock) -> None:
    tenant = await hc.tenant()
    ks = await hc.c.keys.load(tenant.id)
    svc = hc.c.keys
    assert not svc.rotation_due(ks.keys, SigningAlg.ES256, 3600, clock.now())
    clock.advance(3600)
    ks = await svc.load(tenant.id)
    assert svc.rotation_due(ks.keys, SigningAlg.ES256, 3600, clock.now())
    await svc.rotate(tenant.id, SigningAlg.ES256)
    clock.advance(3600)
    ks = await svc.load(tenant.id)
    # The new next key was created at the rotation: published for 3600 s, more than max-age + reload.
    assert svc.rotation_due(ks.keys, SigningAlg.ES256, 3600, clock.now())
    assert not svc.rotation_due(ks.keys, SigningAlg.ES256, 7200, clock.now())


@pytest.mark.parametrize("alg", list(SigningAlg))
async def test_every_algorithm_signs_tokens_that_verify(h: Harness, alg: SigningAlg) -> None:
    tenant = await h.c.tenants.create(f"alg-{alg.value.lower()}", alg)
    rc = await h.client(tenant=tenant.name)
    token = await h.access_token(rc)
    header = jwt.get_unverified_header(token)
    assert header["alg"] == alg.value
    keys = (await h.http.get(f"/t/{tenant.name}/.well-known/jwks.json")).json()
    key = jwt.PyJWKSet.from_dict(keys)[header["kid"]]
    claims = jwt.decode(token, key=key, algorithms=[alg.value], audience="urn:example:api")
    assert claims["client_id"] == rc.client_id
    assert (await h.introspect(rc, token))["active"] is True


async def test_maintenance_pass_rotates_when_due(prepared: Settings, clock: FixedClock) -> None:
    settings = prepared.model_copy(update={"key_rotation_interval": 3600})
    async with running(settings, clock) as h:
        tenant = await h.tenant()
        before = {k.kid: k.state for k in (await h.c.keys.load(tenant.id)).keys}
        await maintenance_pass(h.c)
        assert {k.kid: k.state for k in (await h.c.keys.load(tenant.id)).keys} == before
        clock.advance(3601)
        await maintenance_pass(h.c)
        after = {k.kid: k.state for k in (await h.c.keys.load(tenant.id)).keys}
        promoted = next(kid for kid, state in before.items() if state is KeyState.NEXT)
        retired = next(kid for kid, state in before.items() if state is KeyState.ACTIVE)
        assert after[promoted] is KeyState.ACTIVE
        assert after[retired] is KeyState.RETIRED
