"""Contract suite for KeyValueStore: the same tests against every adapter (memory, redis, sqlite, postgres)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import orjson
import pytest
import redis.asyncio

from lukhas_id.adapters.memory import MemoryKeyValueStore
from lukhas_id.adapters.redis import RedisKeyValueStore, redis_client
from lukhas_id.adapters.sql import Database
from lukhas_id.adapters.sql.kv import SqlKeyValueStore
from lukhas_id.clock import FixedClock
from lukhas_id.ports.state import KeyValueStore


@dataclass
class Harness:
    """A store plus a way to let its time pass: moves a fixed clock (memory) or waits (redis)."""

    store: KeyValueStore
    advance: Callable[[float], Awaitable[None]]


async def _delete_prefix(client: redis.asyncio.Redis, prefix: str) -> None:
    keys = [key async for key in client.scan_iter(match=f"{prefix}*", count=500)]
    if keys:
        await client.delete(*keys)


@pytest.fixture(
    params=[
        "memory",
        pytest.param("redis", marks=pytest.mark.redis),
        "sqlite",
        pytest.param("postgres", marks=pytest.mark.postgres),
    ]
)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, str] | None:
    """None for memory; (URL, key prefix) for redis; (database URL, "sql") for the SQL adapter."""
    if request.param == "memory":
        return None
    if request.param == "sqlite":
        return str(request.getfixturevalue("sqlite_migrated_url")), "sql"
    if request.param == "postgres":
        return str(request.getfixturevalue("pg_migrated_url")), "sql"
    return request.getfixturevalue("redis_url"), request.getfixturevalue("redis_prefix")


@pytest.fixture
async def h(backend: tuple[str, str] | None) -> AsyncIterator[Harness]:
    if backend is None or backend[1] == "sql":
        clock = FixedClock()

        async def advance_clock(seconds: float) -> None:
            clock.advance(seconds)

        if backend is None:
            yield Harness(MemoryKeyValueStore(clock), advance_clock)
            return
        database = Database.from_url(backend[0])
        try:
            yield Harness(SqlKeyValueStore(database, clock), advance_clock)
        finally:
            await database.dispose()
        return
    url, prefix = backend
    client = redis_client(url)
    try:
        yield Harness(RedisKeyValueStore(client, prefix), asyncio.sleep)
    finally:
        await _delete_prefix(client, prefix)
        await client.aclose()


@pytest.fixture
async def redis_env(redis_url: str, redis_prefix: str) -> AsyncIterator[tuple[redis.asyncio.Redis, str]]:
    """A client on the test Redis and a private prefix; the prefix's keys are deleted afterwards."""
    client = redis_client(redis_url)
    try:
        yield client, redis_prefix
    finally:
        await _delete_prefix(client, redis_prefix)
        await client.aclose()


async def test_get_missing_is_none(h: Harness) -> None:
    assert await h.store.get("missing") is None


async def test_set_get_and_overwrite(h: Harness) -> None:
    await h.store.set("k", b"v1", 60)
    assert await h.store.get("k") == b"v1"
    await h.store.set("k", b"\x00binary\xff", 60)
    assert await h.store.get("k") == b"\x00binary\xff"
    assert await h.store.get("other") is None


async def test_set_expires_after_ttl(h: Harness) -> None:
    await h.store.set("short", b"v", 1.0)
    await h.store.set("long", b"v", 60)
    assert await h.store.get("short") == b"v"
    await h.advance(1.2)
    assert await h.store.get("short") is None
    assert await h.store.get("long") == b"v"


async def test_set_if_absent(h: Harness) -> None:
    assert await h.store.set_if_absent("k", b"first", 60) is True
    assert await h.store.set_if_absent("k", b"second", 60) is False
    assert await h.store.get("k") == b"first"


async def test_set_if_absent_after_expiry(h: Harness) -> None:
    assert await h.store.set_if_absent("k", b"first", 1.0) is True
    await h.advance(1.2)
    assert await h.store.set_if_absent("k", b"second", 60) is True
    assert await h.store.get("k") == b"second"


async def test_concurrent_set_if_absent_has_one_winner(h: Harness) -> None:
    results = await asyncio.gather(*(h.store.set_if_absent("k", b"%d" % i, 60) for i in range(20)))
    assert results.count(True) == 1


async def test_pop_returns_the_value_once(h: Harness) -> None:
    await h.store.set("k", b"v", 60)
    assert await h.store.pop("k") == b"v"
    assert await h.store.pop("k") is None
    assert await h.store.get("k") is None


async def test_pop_missing_and_expired(h: Harness) -> None:
    assert await h.store.pop("missing") is None
    await h.store.set("k", b"v", 1.0)
    await h.advance(1.2)
    assert await h.store.pop("k") is None


async def test_concurrent_pops_have_one_winner(h: Harness) -> None:
    await h.store.set("k", b"single-use", 60)
    results = await asyncio.gather(*(h.store.pop("k") for _ in range(20)))
    assert results.count(b"single-use") == 1
    assert results.count(None) == 19


async def test_delete(h: Harness) -> None:
    await h.store.set("k", b"v", 60)
    assert await h.store.delete("k") is True
    assert await h.store.get("k") is None
    assert await h.store.delete("k") is False


async def test_incr_counts(h: Harness) -> None:
    assert [await h.store.incr("n", 60) for _ in range(3)] == [1, 2, 3]
    assert await h.store.get("n") == b"3"
    assert await h.store.incr("m", 60) == 1


async def test_concurrent_incr_counts_every_hit(h: Harness) -> None:
    results = await asyncio.gather(*(h.store.incr("n", 60) for _ in range(20)))
    assert sorted(results) == list(range(1, 21))


async def test_incr_keeps_the_first_ttl(h: Harness) -> None:
    assert await h.store.incr("n", 1.5) == 1
    await h.advance(0.1)
    assert await h.store.incr("n", 60) == 2  # a later hit must not extend the window
    await h.advance(1.5)
    assert await h.store.get("n") is None
    assert await h.store.incr("n", 0.5) == 1  # a new window


@pytest.mark.parametrize("ttl", [0, -1.0])
async def test_non_positive_ttl_is_rejected(h: Harness, ttl: float) -> None:
    with pytest.raises(ValueError, match="ttl"):
        await h.store.set("k", b"v", ttl)
    with pytest.raises(ValueError, match="ttl"):
        await h.store.set_if_absent("k", b"v", ttl)
    with pytest.raises(ValueError, match="ttl"):
        await h.store.incr("n", ttl)
    assert await h.store.get("k") is None


async def test_ping(h: Harness) -> None:
    await h.store.ping()


# --- Redis only ------------------------------------------------------------------------------------


@pytest.mark.redis
async def test_redis_incr_pttl_does_not_grow(redis_env: tuple[redis.asyncio.Redis, str]) -> None:
    client, prefix = redis_env
    store = RedisKeyValueStore(client, prefix)
    assert await store.incr("n", 10) == 1
    first = await client.pttl(f"{prefix}n")
    assert 9_000 < first <= 10_000
    assert await store.incr("n", 1000) == 2
    assert 0 < await client.pttl(f"{prefix}n") <= first


@pytest.mark.redis
async def test_redis_keys_are_prefixed_and_ttls_in_ms(redis_env: tuple[redis.asyncio.Redis, str]) -> None:
    client, prefix = redis_env
    store = RedisKeyValueStore(client, prefix)
    await store.set("a", b"1", 60)
    await store.set_if_absent("b", b"2", 120)
    assert sorted([k async for k in client.scan_iter(match=f"{prefix}*", count=1000)]) == [
        f"{prefix}a".encode(),
        f"{prefix}b".encode(),
    ]
    # Milliseconds, with slack for a loaded machine (a seconds/milliseconds mix-up is off by 1000x).
    assert 30_000 < await client.pttl(f"{prefix}a") <= 60_000
    assert 90_000 < await client.pttl(f"{prefix}b") <= 120_000


@pytest.mark.redis
async def test_redis_stores_with_other_prefixes_are_separate(
    redis_env: tuple[redis.asyncio.Redis, str],
) -> None:
    client, prefix = redis_env
    a, b = RedisKeyValueStore(client, f"{prefix}a:"), RedisKeyValueStore(client, f"{prefix}b:")
    await a.set("k", b"from-a", 60)
    assert await b.get("k") is None


# --- memory only -----------------------------------------------------------------------------------


async def test_memory_sweep_bounds_growth() -> None:
    clock = FixedClock()
    store = MemoryKeyValueStore(clock)
    for i in range(5000):
        await store.set(f"k{i}", b"v", 1)
        clock.advance(0.01)
    # Only the values of the last second (plus at most one sweep interval) can remain.
    assert len(store._data) <= 100 + 1024


# -- index_add: the sessions of a user -----------------------------------------------------------------


async def test_index_add_appends_caps_and_deletes_what_falls_off(h: Harness) -> None:
    for name in ("a", "b", "c"):
        await h.store.set(f"rec:{name}", b"record", 60)
    assert await h.store.index_add("idx", "a", cap=2, ttl=60, evict_prefix="rec:") == []
    assert await h.store.index_add("idx", "b", cap=2, ttl=60, evict_prefix="rec:") == []
    assert orjson.loads(await h.store.get("idx") or b"") == ["a", "b"]
    # Re-adding moves an entry to the end; `drop` takes one out (a rotated session's old id).
    assert await h.store.index_add("idx", "a", cap=2, ttl=60, evict_prefix="rec:") == []
    assert orjson.loads(await h.store.get("idx") or b"") == ["b", "a"]
    assert await h.store.index_add("idx", "c", cap=2, ttl=60, evict_prefix="rec:") == ["b"]
    assert orjson.loads(await h.store.get("idx") or b"") == ["a", "c"]
    assert await h.store.get("rec:b") is None and await h.store.get("rec:a") == b"record"
    assert await h.store.index_add("idx", "d", cap=2, ttl=60, evict_prefix="rec:", drop="a") == []
    assert orjson.loads(await h.store.get("idx") or b"") == ["c", "d"]
    assert await h.store.get("rec:a") == b"record"  # dropped from the index, not deleted


async def test_index_add_over_a_lower_cap_evicts_several_oldest_first(h: Harness) -> None:
    for name in "abcd":
        await h.store.index_add("idx", name, cap=10, ttl=60, evict_prefix="rec:")
    assert await h.store.index_add("idx", "e", cap=2, ttl=60, evict_prefix="rec:") == ["a", "b", "c"]
    assert orjson.loads(await h.store.get("idx") or b"") == ["d", "e"]


async def test_index_add_starts_over_on_an_expired_or_foreign_value(h: Harness) -> None:
    await h.store.index_add("idx", "old", cap=5, ttl=1.0, evict_prefix="rec:")
    await h.advance(1.2)
    assert await h.store.index_add("idx", "new", cap=5, ttl=60, evict_prefix="rec:") == []
    assert orjson.loads(await h.store.get("idx") or b"") == ["new"]
    for foreign in (b"not json", b'{"a": 1}', b'["x", 3, null, "y"]'):
        await h.store.set("idx2", foreign, 60)
        await h.store.index_add("idx2", "z", cap=5, ttl=60, evict_prefix="rec:")
        expected = ["x", "y", "z"] if foreign.startswith(b"[") else ["z"]
        assert orjson.loads(await h.store.get("idx2") or b"") == expected


async def test_index_add_expires_with_its_ttl(h: Harness) -> None:
    await h.store.index_add("idx", "a", cap=5, ttl=1.0, evict_prefix="rec:")
    await h.advance(1.2)
    assert await h.store.get("idx") is None


async def test_concurrent_index_adds_lose_no_entry(h: Harness) -> None:
    names = [f"s{i:02d}" for i in range(20)]
    await asyncio.gather(*(h.store.index_add("idx", n, cap=50, ttl=60, evict_prefix="rec:") for n in names))
    assert sorted(orjson.loads(await h.store.get("idx") or b"")) == names


# -- index_remove: a session ended -------------------------------------------------------------------------


async def test_index_remove_takes_one_entry_out(h: Harness) -> None:
    for name in "abc":
        await h.store.index_add("idx", name, cap=5, ttl=60, evict_prefix="rec:")
    assert await h.store.index_remove("idx", "b", ttl=60)
    assert orjson.loads(await h.store.get("idx") or b"") == ["a", "c"]
    assert not await h.store.index_remove("idx", "b", ttl=60)  # not there: nothing written
    assert not await h.store.index_remove("nope", "a", ttl=60)
    assert await h.store.get("nope") is None
    # The last entry out: the index is gone (not an empty list, not "{}").
    assert await h.store.index_remove("idx", "a", ttl=60) and await h.store.index_remove("idx", "c", ttl=60)
    assert await h.store.get("idx") is None


async def test_index_remove_renews_the_ttl_and_ignores_expired_or_foreign_values(h: Harness) -> None:
    await h.store.index_add("idx", "a", cap=5, ttl=1.0, evict_prefix="rec:")
    await h.store.index_add("idx", "b", cap=5, ttl=1.0, evict_prefix="rec:")
    assert await h.store.index_remove("idx", "a", ttl=60)
    await h.advance(1.2)
    assert orjson.loads(await h.store.get("idx") or b"") == ["b"]  # lives the new ttl
    await h.store.index_add("old", "a", cap=5, ttl=1.0, evict_prefix="rec:")
    await h.advance(1.2)
    assert not await h.store.index_remove("old", "a", ttl=60)
    assert await h.store.get("old") is None
    for foreign in (b"not json", b'{"a": 1}'):
        await h.store.set("idx2", foreign, 60)
        assert not await h.store.index_remove("idx2", "a", ttl=60)
        assert await h.store.get("idx2") == foreign
    await h.store.set("idx3", b'["x", 3, "a"]', 60)
    assert await h.store.index_remove("idx3", "a", ttl=60)
    assert orjson.loads(await h.store.get("idx3") or b"") == ["x"]


async def test_concurrent_index_adds_and_removes_lose_no_entry(h: Harness) -> None:
    """Sign-outs racing sign-ins of the same user: every added entry that was not removed stays."""
    old = [f"o{i:02d}" for i in range(10)]
    for name in old:
        await h.store.index_add("idx", name, cap=50, ttl=60, evict_prefix="rec:")
    new = [f"n{i:02d}" for i in range(10)]
    await asyncio.gather(
        *(h.store.index_add("idx", n, cap=50, ttl=60, evict_prefix="rec:") for n in new),
        *(h.store.index_remove("idx", o, ttl=60) for o in old),
    )
    assert sorted(orjson.loads(await h.store.get("idx") or b"")) == new
