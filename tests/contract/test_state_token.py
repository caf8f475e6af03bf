"""Contract suite for TokenStateStore: the same tests against every adapter (memory, redis, sqlite, postgres).

The shared helpers (`record`, `revoked`, ...) are imported by the adapter-specific SQL tests in
test_sql_token_state.py. Adapter-specific tests for Redis and memory are at the end of this file.
"""

from __future__ import annotations

import asyncio
import inspect
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis.asyncio

from lukhas_id.adapters.memory import MemoryTokenStateStore
from lukhas_id.adapters.redis import RedisTokenStateStore, redis_client
from lukhas_id.adapters.sql import Database, SqlTokenStateStore
from lukhas_id.clock import FixedClock
from lukhas_id.domain.token import JTI_MARGIN, AccessTokenRecord, MarkerKind
from lukhas_id.ports.state import TokenStateStore
from tests.support.token_state import T1, put_short_and_long_lived, record

T2 = "tenant-two"

# Extra wait past an expiry before checking that an entry is gone (Redis runs on real time).
SLACK = 0.25

PORT_METHODS = sorted(name for name in vars(TokenStateStore) if not name.startswith("_"))


@dataclass(frozen=True)
class Backend:
    """Which adapter to build; `url` and `prefix` for the ones backed by a server or a file."""

    name: str
    url: str = ""
    prefix: str = ""


@dataclass
class Harness:
    """A store plus the clock it runs on: `now()` reads it, `advance()` moves it (FixedClock) or waits (redis).

    `expires_itself`: the store expires entries on its own and `purge_expired` always returns 0.
    """

    name: str
    store: TokenStateStore
    now: Callable[[], float]
    advance: Callable[[float], Awaitable[None]]
    expires_itself: bool = False


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


@pytest.fixture(
    params=[
        "memory",
        pytest.param("redis", marks=pytest.mark.redis),
        "sqlite",
        pytest.param("postgres", marks=pytest.mark.postgres),
    ]
)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    """The adapter to test. Synchronous, because `pg_migrated_url` cannot run inside an event loop."""
    name: str = request.param
    if name == "redis":
        return Backend(name, request.getfixturevalue("redis_url"), request.getfixturevalue("redis_prefix"))
    if name == "sqlite":
        return Backend(name, str(request.getfixturevalue("sqlite_migrated_url")))
    if name == "postgres":
        return Backend(name, str(request.getfixturevalue("pg_migrated_url")))
    return Backend(name)


@pytest.fixture
async def h(backend: Backend) -> AsyncIterator[Harness]:
    if backend.name == "redis":
        client = redis_client(backend.url)
        try:
            store = RedisTokenStateStore(client, backend.prefix)
            yield Harness("redis", store, time.time, asyncio.sleep, expires_itself=True)
        finally:
            await _delete_prefix(client, backend.prefix)
            await client.aclose()
        return

    clock = FixedClock()

    async def advance_clock(seconds: float) -> None:
        clock.advance(seconds)

    if backend.name == "memory":
        yield Harness("memory", MemoryTokenStateStore(clock), clock.now, advance_clock)
        return
    database = Database.from_url(backend.url)
    try:
        yield Harness(backend.name, SqlTokenStateStore(database, clock), clock.now, advance_clock)
    finally:
        await database.dispose()


async def revoked(
    s: TokenStateStore, iat: int, *, tenant: str = T1, jti: str = "j", client: str = "c", sub: str = "u"
) -> bool:
    return await s.is_revoked(tenant, jti, client, sub, iat)


def ident_of(kind: MarkerKind) -> str:
    """The identifier `revoked()` passes for this kind of marker."""
    return "c" if kind is MarkerKind.CLIENT else "u"


async def test_implements_every_port_method(h: Harness) -> None:
    assert PORT_METHODS  # the port's methods were found
    for name in PORT_METHODS:
        assert inspect.iscoroutinefunction(getattr(h.store, name)), name


# --- opaque tokens ---------------------------------------------------------------------------------


async def test_opaque_put_get_roundtrip(h: Harness) -> None:
    rec = record(h.now())
    await h.store.put_opaque("hash-1", rec)
    assert await h.store.get_opaque("hash-1", h.now()) == rec


@pytest.mark.parametrize("aud", [(), ("one",), ("c", "a", "b")])
async def test_opaque_keeps_aud_as_tuple_in_order(h: Harness, aud: tuple[str, ...]) -> None:
    rec = record(h.now(), aud=aud)
    await h.store.put_opaque("hash-aud", rec)
    got = await h.store.get_opaque("hash-aud", h.now())
    assert got == rec
    assert got is not None and isinstance(got.aud, tuple)


async def test_opaque_unknown_is_none(h: Harness) -> None:
    assert await h.store.get_opaque("nope", h.now()) is None


async def test_opaque_put_replaces(h: Harness) -> None:
    await h.store.put_opaque("hash-1", record(h.now(), jti="first"))
    second = record(h.now(), jti="second", ttl=900)
    await h.store.put_opaque("hash-1", second)
    assert await h.store.get_opaque("hash-1", h.now()) == second


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
    assert await h.store.purge_expired(h.now() + 10**6) == 0  # nothing was stored to purge


async def test_opaque_expires_with_the_store_clock(h: Harness) -> None:
    now = h.now()
    exp = int(now) + 3  # at least two seconds ahead, so a loaded machine can still read it back
    rec = AccessTokenRecord(T1, "jti-x", "client-1", "USR-abc", "USR", "openid", ("api",), int(now), exp)
    await h.store.put_opaque("hash-x", rec)
    assert await h.store.get_opaque("hash-x", h.now()) == rec
    await h.advance(exp - h.now() + SLACK)
    # Asked with a `now` before exp: only the store's own expiry can make this None.
    assert await h.store.get_opaque("hash-x", exp - 1) is None
    assert await h.store.delete_opaque("hash-x") is False  # an expired record no longer exists


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
    # One entry, not two (a store that expires entries itself purges nothing).
    assert await h.store.purge_expired(now + 10**6) == (0 if h.expires_itself else 1)


async def test_revoked_jti_outlives_exp_by_a_margin(h: Harness) -> None:
    now = int(h.now())
    exp = now - JTI_MARGIN + 3  # expired, but within the leeway margin for 2-3 more seconds
    await h.store.revoke_jti(T1, "recent", exp)
    await h.store.revoke_jti(T1, "ancient", now - 3600)  # long gone: nothing to remember
    assert await revoked(h.store, exp - 100, jti="recent") is True
    assert await revoked(h.store, now - 4000, jti="ancient") is False
    await h.advance(exp + JTI_MARGIN - h.now() + SLACK)
    assert await revoked(h.store, exp - 100, jti="recent") is False


async def test_revoke_jti_never_shortens(h: Harness) -> None:
    now = int(h.now())
    await h.store.revoke_jti(T1, "j1", now + 300)
    short_exp = now - JTI_MARGIN + 2  # on its own, remembered for only 1-2 more seconds
    await h.store.revoke_jti(T1, "j1", short_exp)
    await h.advance(short_exp + JTI_MARGIN - h.now() + SLACK)
    assert await revoked(h.store, now, jti="j1") is True


# --- not-before markers ----------------------------------------------------------------------------


@pytest.fixture(params=[MarkerKind.CLIENT, MarkerKind.SUBJECT])
def kind(request: pytest.FixtureRequest) -> MarkerKind:
    return MarkerKind(request.param)


async def test_marker_covers_iat_up_to_at(h: Harness, kind: MarkerKind) -> None:
    await h.store.set_not_before(T1, kind, ident_of(kind), 1000, 3600)
    assert await revoked(h.store, 1000) is True  # iat == at
    assert await revoked(h.store, 999) is True  # iat < at
    assert await revoked(h.store, 1001) is False  # iat > at
    assert await revoked(h.store, 999, tenant=T2) is False  # another tenant is unaffected


async def test_marker_only_covers_its_own_ident(h: Harness, kind: MarkerKind) -> None:
    await h.store.set_not_before(T1, kind, "someone-else", 1000, 3600)
    assert await revoked(h.store, 500) is False


async def test_later_marker_replaces_earlier(h: Harness, kind: MarkerKind) -> None:
    await h.store.set_not_before(T1, kind, ident_of(kind), 100, 3600)
    await h.store.set_not_before(T1, kind, ident_of(kind), 200, 3600)
    assert await revoked(h.store, 150) is True
    assert await revoked(h.store, 200) is True
    assert await revoked(h.store, 201) is False


async def test_earlier_marker_never_replaces_later(h: Harness, kind: MarkerKind) -> None:
    await h.store.set_not_before(T1, kind, ident_of(kind), 200, 3600)
    await h.store.set_not_before(T1, kind, ident_of(kind), 100, 3600)
    assert await revoked(h.store, 150) is True
    assert await revoked(h.store, 200) is True
    assert await revoked(h.store, 201) is False


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
    await h.advance(2 + SLACK)
    assert await h.store.is_revoked(T1, "j", "other", "u", now) is False
    assert await h.store.is_revoked(T1, "j", "c", "other", now + 50) is True


async def test_an_expired_marker_is_replaced_outright(h: Harness) -> None:
    await h.store.set_not_before(T1, MarkerKind.CLIENT, "c", 500, 2)
    assert await revoked(h.store, 101) is True
    await h.advance(2 + SLACK)
    await h.store.set_not_before(T1, MarkerKind.CLIENT, "c", 100, 3600)  # the expired `at` 500 must not survive
    assert await revoked(h.store, 100) is True
    assert await revoked(h.store, 101) is False


@pytest.mark.parametrize("ttl", [0, -5])
async def test_marker_with_non_positive_ttl_stores_nothing(h: Harness, ttl: int) -> None:
    await h.store.set_not_before(T1, MarkerKind.CLIENT, "c", 500, ttl)
    assert await revoked(h.store, 100) is False
    assert await h.store.purge_expired(h.now() + 10**6) == 0  # nothing was stored to purge


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


# --- purge, ping -----------------------------------------------------------------------------------


async def test_purge_expired(h: Harness) -> None:
    now = int(h.now())
    await put_short_and_long_lived(h.store, now)
    counts = [await h.store.purge_expired(at) for at in (now, now + 10, now + 100, now + 100)]
    # now+10: the short opaque token (exp == now + 10); now+100: the short jti and the short marker.
    assert counts == ([0, 0, 0, 0] if h.expires_itself else [0, 1, 2, 0])
    assert await h.store.get_opaque("long", now) is not None
    assert await revoked(h.store, now, jti="long") is True
    assert await revoked(h.store, now, sub="long") is True
    assert await h.store.purge_expired(now + 10**6) == (0 if h.expires_itself else 3)


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

    keys = sorted([k async for k in client.scan_iter(match=f"{prefix}*", count=1000)])
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
