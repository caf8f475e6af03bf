"""Contract suite for TokenStateStore: the same tests against every adapter (memory, redis)."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import pytest
import redis.asyncio

from lukhas_id.adapters.memory import MemoryTokenStateStore
from lukhas_id.adapters.memory.state import JTI_MARGIN
from lukhas_id.adapters.redis import RedisTokenStateStore, redis_client
from lukhas_id.clock import FixedClock
from lukhas_id.domain.token import AccessTokenRecord, MarkerKind
from lukhas_id.ports.state import TokenStateStore

T1 = "tenant-one"
T2 = "tenant-two"


@dataclass
class Harness:
    """A store plus the clock it runs on: `now()` reads it, `advance()` moves it (memory) or waits (redis)."""

    store: TokenStateStore
    now: Callable[[], float]
    advance: Callable[[float], Awaitable[None]]


async def _delete_prefix(client: redis.asyncio.Redis, prefix: str) -> None:
    keys = [key async for key in client.scan_iter(match=f"{prefix}*", count=500)]
    if keys:
        await client.delete(*keys)


@pytest.fixture
async def redis_env(redis_url: str, redis_prefix: str) -> AsyncIterator[tuple[redis.asyncio.Redis, str]]:
    """A client on the test Redis and a private prefix; the prefix's keys are deleted afterwards."""
    client = redis_client(redis_url)
    try:
        yield client, redis_prefix
    finally:
        await _delete_prefix(client, redis_prefix)
        await client.aclose()


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
def backend(request: pytest.FixtureRequest) -> tuple[str, str] | None:
    """None for the memory adapter; the Redis URL and a private key prefix for the redis adapter."""
    if request.param == "memory":
        return None
    return request.getfixturevalue("redis_url"), request.getfixturevalue("redis_prefix")


@pytest.fixture
async def h(backend: tuple[str, str] | None) -> AsyncIterator[Harness]:
    if backend is None:
        clock = FixedClock()

        async def advance_clock(seconds: float) -> None:
            clock.advance(seconds)

        yield Harness(MemoryTokenStateStore(clock), clock.now, advance_clock)
        return
    url, prefix = backend
    client = redis_client(url)
    try:
        yield Harness(RedisTokenStateStore(client, prefix), time.time, asyncio.sleep)
    finally:
        await _delete_prefix(client, prefix)
        await client.aclose()


def record(
    now: float, *, ttl: int = 300, jti: str = "jti-1", aud: tuple[str, ...] = ("api", "other")
) -> AccessTokenRecord:
    return AccessTokenRecord(
        tenant_id=T1,
        jti=jti,
        client_id="client-1",
        sub="USR-abc",
        lid_type="USR",
        scope="openid profile",
        aud=aud,
        iat=int(now),
        exp=int(now) + ttl,
    )


async def revoked(
    s: TokenStateStore, iat: int, *, tenant: str = T1, jti: str = "j", client: str = "c", sub: str = "u"
) -> bool:
    return await s.is_revoked(tenant, jti, client, sub, iat)


# --- opaque tokens ---------------------------------------------------------------------------------


async def test_opaque_put_get_roundtrip(h: Harness) -> None:
    rec = record(h.now())
    await h.store.put_opaque("hash-1", rec)
    assert await h.store.get_opaque("hash-1", h.now()) == rec


@pytest.mark.parametrize("aud", [(), ("one",), ("a", "b", "c")])
async def test_opaque_keeps_aud_as_tuple(h: Harness, aud: tuple[str, ...]) -> None:
    rec = record(h.now(), aud=aud)
    await h.store.put_opaque("hash-aud", rec)
    got = await h.store.get_opaque("hash-aud", h.now())
    assert got == rec
    assert got is not None and isinstance(got.aud, tuple)


async def test_opaque_unknown_is_none(h: Harness) -> None:
    assert await h.store.get_opaque("nope", h.now()) is None


async def test_opaque_delete(h: Harness) -> None:
    await h.store.put_opaque("hash-1", record(h.now()))
    assert await h.store.delete_opaque("hash-1") is True
    assert await h.store.get_opaque("hash-1", h.now()) is None
    assert await h.store.delete_opaque("hash-1") is False


async def test_opaque_keys_are_independent(h: Harness) -> None:
    a, b = record(h.now(), jti="a"), record(h.now(), jti="b")
    await h.store.put_opaque("hash-a", a)
    await h.store.put_opaque("hash-b", b)
    await h.store.delete_opaque("hash-a")
    assert await h.store.get_opaque("hash-b", h.now()) == b


async def test_get_opaque_with_now_past_exp_is_none(h: Harness) -> None:
    rec = record(h.now())
    await h.store.put_opaque("hash-1", rec)
    assert await h.store.get_opaque("hash-1", rec.exp - 1) == rec
    assert await h.store.get_opaque("hash-1", rec.exp) is None
    assert await h.store.get_opaque("hash-1", rec.exp + 10) is None


async def test_opaque_already_expired_is_not_stored(h: Harness) -> None:
    rec = record(h.now() - 600)  # exp 300 s ago
    await h.store.put_opaque("hash-old", rec)
    assert await h.store.get_opaque("hash-old", rec.exp - 1) is None


async def test_opaque_expires_with_time(h: Harness) -> None:
    now = h.now()
    exp = int(now) + 2  # at least a second ahead, so a loaded machine can still read it back
    rec = AccessTokenRecord(T1, "jti-x", "client-1", "USR-abc", "USR", "openid", ("api",), int(now), exp)
    await h.store.put_opaque("hash-x", rec)
    assert await h.store.get_opaque("hash-x", h.now()) == rec
    await h.advance(exp - h.now() + 0.05)
    # Asked with a `now` before exp: only the store's own expiry can make this None.
    assert await h.store.get_opaque("hash-x", exp - 1) is None


# --- revoked jti -----------------------------------------------------------------------------------


async def test_revoke_jti(h: Harness) -> None:
    now = int(h.now())
    await h.store.revoke_jti(T1, "j1", now + 300)
    assert await revoked(h.store, now, jti="j1") is True
    assert await revoked(h.store, now, jti="j2") is False
    assert await revoked(h.store, now, jti="j1", tenant=T2) is False


async def test_revoke_jti_is_idempotent(h: Harness) -> None:
    now = int(h.now())
    await h.store.revoke_jti(T1, "j1", now + 300)
    await h.store.revoke_jti(T1, "j1", now + 300)
    assert await revoked(h.store, now, jti="j1") is True


async def test_revoked_jti_outlives_exp_by_a_margin(h: Harness) -> None:
    now = int(h.now())
    await h.store.revoke_jti(T1, "recent", now - 30)  # expired, but within the leeway margin
    await h.store.revoke_jti(T1, "ancient", now - 3600)  # long gone: nothing to remember
    assert await revoked(h.store, now - 100, jti="recent") is True
    assert await revoked(h.store, now - 4000, jti="ancient") is False


# --- not-before markers ----------------------------------------------------------------------------


@pytest.fixture(params=[MarkerKind.CLIENT, MarkerKind.SUBJECT])
def kind(request: pytest.FixtureRequest) -> MarkerKind:
    return MarkerKind(request.param)


async def test_marker_covers_iat_up_to_at(h: Harness, kind: MarkerKind) -> None:
    ident = "c" if kind is MarkerKind.CLIENT else "u"
    await h.store.set_not_before(T1, kind, ident, 1000, 3600)
    assert await revoked(h.store, 1000) is True  # iat == at
    assert await revoked(h.store, 999) is True  # iat < at
    assert await revoked(h.store, 1001) is False  # iat > at
    assert await revoked(h.store, 999, tenant=T2) is False


async def test_marker_only_covers_its_own_ident(h: Harness, kind: MarkerKind) -> None:
    await h.store.set_not_before(T1, kind, "someone-else", 1000, 3600)
    assert await revoked(h.store, 500) is False


async def test_later_marker_replaces_earlier(h: Harness, kind: MarkerKind) -> None:
    ident = "c" if kind is MarkerKind.CLIENT else "u"
    await h.store.set_not_before(T1, kind, ident, 100, 3600)
    await h.store.set_not_before(T1, kind, ident, 200, 3600)
    assert await revoked(h.store, 150) is True
    assert await revoked(h.store, 200) is True
    assert await revoked(h.store, 201) is False


async def test_earlier_marker_never_replaces_later(h: Harness, kind: MarkerKind) -> None:
    ident = "c" if kind is MarkerKind.CLIENT else "u"
    await h.store.set_not_before(T1, kind, ident, 200, 3600)
    await h.store.set_not_before(T1, kind, ident, 100, 3600)
    assert await revoked(h.store, 150) is True
    assert await revoked(h.store, 200) is True


async def test_concurrent_markers_keep_the_latest(h: Harness) -> None:
    ats = list(range(1, 51))
    random.shuffle(ats)
    await asyncio.gather(*(h.store.set_not_before(T1, MarkerKind.CLIENT, "c", at, 3600) for at in ats))
    assert await revoked(h.store, 50) is True
    assert await revoked(h.store, 51) is False


async def test_client_and_subject_markers_are_independent(h: Harness) -> None:
    # The same identifier string as a client id and as a subject must not collide.
    await h.store.set_not_before(T1, MarkerKind.CLIENT, "x", 1000, 3600)
    assert await h.store.is_revoked(T1, "j", "x", "u", 500) is True
    assert await h.store.is_revoked(T1, "j", "c", "x", 500) is False
    await h.store.set_not_before(T1, MarkerKind.SUBJECT, "y", 2000, 3600)
    assert await h.store.is_revoked(T1, "j", "c", "y", 1500) is True
    assert await h.store.is_revoked(T1, "j", "y", "u", 1500) is False
    # Either marker alone is enough.
    assert await h.store.is_revoked(T1, "j", "x", "y", 1500) is True
    assert await h.store.is_revoked(T1, "j", "x", "y", 2001) is False


async def test_marker_expires_and_an_earlier_marker_extends_it(h: Harness) -> None:
    now = int(h.now())
    await h.store.set_not_before(T1, MarkerKind.SUBJECT, "u", now, 2)
    await h.store.set_not_before(T1, MarkerKind.CLIENT, "c", now + 100, 2)
    await h.store.set_not_before(T1, MarkerKind.CLIENT, "c", now - 100, 3600)  # keeps now+100, lives longer
    assert await h.store.is_revoked(T1, "j", "other", "u", now) is True
    await h.advance(2.1)
    assert await h.store.is_revoked(T1, "j", "other", "u", now) is False
    assert await h.store.is_revoked(T1, "j", "c", "other", now + 50) is True


async def test_ping(h: Harness) -> None:
    await h.store.ping()


# --- Redis only ------------------------------------------------------------------------------------


@pytest.mark.redis
async def test_redis_two_processes_see_each_others_revocations(redis_url: str, redis_prefix: str) -> None:
    a_client, b_client = redis_client(redis_url), redis_client(redis_url)
    try:
        a, b = RedisTokenStateStore(a_client, redis_prefix), RedisTokenStateStore(b_client, redis_prefix)
        now = int(time.time())
        await a.revoke_jti(T1, "j1", now + 300)
        assert await b.is_revoked(T1, "j1", "c", "u", now) is True
        await b.set_not_before(T1, MarkerKind.CLIENT, "c9", now, 3600)
        assert await a.is_revoked(T1, "j2", "c9", "u", now) is True
        rec = record(now)
        await a.put_opaque("hash-1", rec)
        assert await b.get_opaque("hash-1", now) == rec
        assert await b.delete_opaque("hash-1") is True
        assert await a.get_opaque("hash-1", now) is None
    finally:
        await _delete_prefix(a_client, redis_prefix)
        await a_client.aclose()
        await b_client.aclose()


@pytest.mark.redis
async def test_redis_ttls_and_key_layout(redis_env: tuple[redis.asyncio.Redis, str]) -> None:
    client, prefix = redis_env
    store = RedisTokenStateStore(client, prefix)
    now = int(time.time())
    await store.put_opaque("hash-1", record(now, ttl=300))
    await store.revoke_jti(T1, "j1", now + 300)
    await store.set_not_before(T1, MarkerKind.CLIENT, "c", now, 100)
    await store.set_not_before(T1, MarkerKind.SUBJECT, "u", now, 100)

    keys = sorted([k async for k in client.scan_iter(match=f"{prefix}*")])
    p = prefix.encode()
    assert keys == [
        p + b"at:hash-1",
        p + b"{tenant-one}:jti:j1",
        p + b"{tenant-one}:nbc:c",
        p + b"{tenant-one}:nbs:u",
    ]
    # Slack of tens of seconds for a loaded machine; a unit mix-up would be off by 1000x.
    assert 240_000 < await client.pttl(p + b"at:hash-1") <= 300_000
    assert 300_000 < await client.pttl(p + b"{tenant-one}:jti:j1") <= 360_000
    assert 40_000 < await client.pttl(p + b"{tenant-one}:nbc:c") <= 100_000
    assert await client.get(p + b"{tenant-one}:nbc:c") == str(now).encode()

    # A later marker with a shorter TTL keeps the longer remaining lifetime; a longer TTL extends it.
    await store.set_not_before(T1, MarkerKind.CLIENT, "c", now + 5, 10)
    assert await client.get(p + b"{tenant-one}:nbc:c") == str(now + 5).encode()
    assert 40_000 < await client.pttl(p + b"{tenant-one}:nbc:c") <= 100_000
    await store.set_not_before(T1, MarkerKind.CLIENT, "c", now - 5, 1000)
    assert await client.get(p + b"{tenant-one}:nbc:c") == str(now + 5).encode()
    assert 940_000 < await client.pttl(p + b"{tenant-one}:nbc:c") <= 1_000_000


@pytest.mark.redis
async def test_redis_refuses_a_decoding_client(redis_url: str) -> None:
    client = redis.asyncio.Redis.from_url(redis_url, decode_responses=True)
    try:
        with pytest.raises(ValueError, match="decode_responses"):
            RedisTokenStateStore(client)
    finally:
        await client.aclose()


# --- memory only -----------------------------------------------------------------------------------


async def test_memory_sweep_bounds_growth() -> None:
    clock = FixedClock()
    store = MemoryTokenStateStore(clock)
    for i in range(5000):
        await store.revoke_jti(T1, f"j{i}", int(clock.now()) - JTI_MARGIN + 1)  # lives at most 1 s
        clock.advance(0.01)
    # Only the revocations of the last second (plus at most one sweep interval) can remain.
    assert len(store._jti) <= 100 + 1024


# --- opaque token introspection in one step ---------------------------------------------------------


async def test_get_active_opaque(h: Harness) -> None:
    rec = record(h.now())
    await h.store.put_opaque("hash-a", rec)
    assert await h.store.get_active_opaque(T1, "hash-a", h.now()) == rec
    assert await h.store.get_active_opaque("other-tenant", "hash-a", h.now()) is None
    assert await h.store.get_active_opaque(T1, "unknown", h.now()) is None
    assert await h.store.get_active_opaque(T1, "hash-a", rec.exp + 1) is None
    await h.store.revoke_jti(T1, rec.jti, rec.exp)
    assert await h.store.get_active_opaque(T1, "hash-a", h.now()) is None


@pytest.mark.parametrize("kind", [MarkerKind.CLIENT, MarkerKind.SUBJECT])
async def test_get_active_opaque_honours_markers(h: Harness, kind: MarkerKind) -> None:
    rec = record(h.now())
    await h.store.put_opaque("hash-m", rec)
    ident = rec.client_id if kind is MarkerKind.CLIENT else rec.sub
    await h.store.set_not_before(T1, kind, ident, rec.iat - 1, 600)
    assert await h.store.get_active_opaque(T1, "hash-m", h.now()) == rec
    await h.store.set_not_before(T1, kind, ident, rec.iat, 600)
    assert await h.store.get_active_opaque(T1, "hash-m", h.now()) is None
