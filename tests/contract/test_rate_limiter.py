"""Contract suite for RateLimiter (token buckets): the same tests against every adapter (memory, redis).

Times are fixed `now` values (the port takes the caller's time), and rates are binary fractions where a
test compares waits exactly, so every adapter must give exactly the same numbers.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator

import pytest
import redis.asyncio

from lukhas_id.adapters.memory.rate_limit import MemoryRateLimiter
from lukhas_id.adapters.redis import redis_client
from lukhas_id.adapters.redis.rate_limit import RedisRateLimiter
from lukhas_id.ports.rate_limit import RateLimiter

T = 1_800_000_000.0


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
    """None for memory; (URL, key prefix) for redis."""
    if request.param == "memory":
        return None
    return request.getfixturevalue("redis_url"), request.getfixturevalue("redis_prefix")


@pytest.fixture
async def limiter(backend: tuple[str, str] | None) -> AsyncIterator[RateLimiter]:
    if backend is None:
        yield MemoryRateLimiter()
        return
    url, prefix = backend
    client = redis_client(url)
    try:
        yield RedisRateLimiter(client, prefix)
    finally:
        await _delete_prefix(client, prefix)
        await client.aclose()


async def test_unknown_key_is_a_full_bucket(limiter: RateLimiter) -> None:
    assert await limiter.check("k", 3, 0.5, T) == 0.0


async def test_capacity_is_honoured(limiter: RateLimiter) -> None:
    # capacity 3, one token every 2 s
    assert [await limiter.consume("k", 3, 0.5, T) for _ in range(3)] == [0.0, 0.0, 2.0]
    assert await limiter.check("k", 3, 0.5, T) == 2.0
    # Refused consumes take nothing and do not push the wait further out.
    assert [await limiter.consume("k", 3, 0.5, T) for _ in range(3)] == [2.0, 2.0, 2.0]
    assert await limiter.check("k", 3, 0.5, T) == 2.0


async def test_exact_waits_while_refilling(limiter: RateLimiter) -> None:
    for _ in range(2):
        await limiter.consume("k", 2, 0.25, T)  # one token every 4 s
    assert await limiter.check("k", 2, 0.25, T) == 4.0
    assert await limiter.check("k", 2, 0.25, T + 1) == 3.0
    assert await limiter.check("k", 2, 0.25, T + 3.5) == 0.5
    assert await limiter.check("k", 2, 0.25, T + 4) == 0.0


async def test_refill_after_time(limiter: RateLimiter) -> None:
    for _ in range(3):
        await limiter.consume("k", 3, 0.5, T)
    assert await limiter.consume("k", 3, 0.5, T + 2) == 2.0  # the one refilled token, taken
    assert await limiter.consume("k", 3, 0.5, T + 3) == 1.0  # half a token: refused
    # 4 s later: the half token plus 2 more; capacity caps nothing yet.
    assert await limiter.consume("k", 3, 0.5, T + 7) == 0.0
    assert await limiter.consume("k", 3, 0.5, T + 7) == 1.0
    assert await limiter.check("k", 3, 0.5, T + 8) == 0.0


async def test_refill_stops_at_capacity(limiter: RateLimiter) -> None:
    await limiter.consume("k", 3, 0.5, T)
    # Long idle (the key's TTL is real time on Redis; it may still exist): never more than 3 tokens.
    later = T + 1000
    assert [await limiter.consume("k", 3, 0.5, later) for _ in range(4)] == [0.0, 0.0, 2.0, 2.0]


async def test_consume_returns_the_wait_until_the_next_token(limiter: RateLimiter) -> None:
    assert await limiter.consume("k", 1, 0.125, T) == 8.0
    assert await limiter.consume("k", 1, 0.125, T + 2) == 6.0
    assert await limiter.consume("k", 1, 0.125, T + 8) == 8.0


@pytest.mark.parametrize(("capacity", "rate"), [(5, 5 / 60), (7, 7 / 60), (3, 3 / 7), (10, 10 / 3600)])
async def test_waiting_the_returned_time_is_enough(limiter: RateLimiter, capacity: int, rate: float) -> None:
    now = T
    for _ in range(capacity):
        wait = await limiter.consume("k", capacity, rate, now)
    assert wait == pytest.approx(1 / rate)
    for _ in range(3):
        assert await limiter.consume("k", capacity, rate, now) == wait  # refused
        now += wait
        assert await limiter.check("k", capacity, rate, now) == 0.0
        wait = await limiter.consume("k", capacity, rate, now)
        assert wait == pytest.approx(1 / rate)


async def test_check_takes_nothing(limiter: RateLimiter) -> None:
    for _ in range(10):
        assert await limiter.check("k", 2, 0.5, T) == 0.0
    assert [await limiter.consume("k", 2, 0.5, T) for _ in range(3)] == [0.0, 2.0, 2.0]


async def test_keys_are_independent(limiter: RateLimiter) -> None:
    for _ in range(2):
        await limiter.consume("a", 2, 0.5, T)
    assert await limiter.check("a", 2, 0.5, T) == 2.0
    assert await limiter.check("b", 2, 0.5, T) == 0.0
    assert await limiter.consume("b", 2, 0.5, T) == 0.0


async def test_reset_refills(limiter: RateLimiter) -> None:
    for _ in range(2):
        await limiter.consume("k", 2, 0.5, T)
    await limiter.reset("k")
    assert await limiter.check("k", 2, 0.5, T) == 0.0
    assert [await limiter.consume("k", 2, 0.5, T) for _ in range(2)] == [0.0, 2.0]
    await limiter.reset("never-used")


async def test_an_earlier_now_refills_nothing_and_keeps_the_bucket_time(limiter: RateLimiter) -> None:
    for _ in range(2):
        await limiter.consume("k", 2, 0.5, T)
    # A worker whose clock is 10 s behind: no negative refill, nothing taken.
    assert await limiter.check("k", 2, 0.5, T - 10) == 2.0
    assert await limiter.consume("k", 2, 0.5, T - 10) == 2.0
    assert await limiter.check("k", 2, 0.5, T + 2) == 0.0


async def test_concurrent_consumes_take_exactly_capacity(limiter: RateLimiter) -> None:
    results = await asyncio.gather(*(limiter.consume("k", 10, 0.5, T) for _ in range(50)))
    # Nine takes leave a token (0.0); the tenth empties the bucket and every later one is refused, all
    # answering the 2 s wait. Had two consumers taken the same token, more than nine would answer 0.0.
    assert results.count(0.0) == 9
    assert results.count(2.0) == 41
    # And exactly 10 tokens are gone: the bucket holds 0, not less (the wait would be longer) nor more.
    assert await limiter.check("k", 10, 0.5, T) == 2.0
    assert await limiter.check("k", 10, 0.5, T + 1.5) == 0.5


@pytest.mark.parametrize(
    ("capacity", "rate", "now"),
    [(0, 1.0, T), (-1, 1.0, T), (1, 0.0, T), (1, -1.0, T), (1, math.inf, T), (1, math.nan, T), (1, 1.0, math.nan)],
)
async def test_invalid_arguments_are_rejected(limiter: RateLimiter, capacity: int, rate: float, now: float) -> None:
    with pytest.raises(ValueError, match="capacity|refill_per_second|now"):
        await limiter.check("k", capacity, rate, now)
    with pytest.raises(ValueError, match="capacity|refill_per_second|now"):
        await limiter.consume("k", capacity, rate, now)


# --- Redis only ------------------------------------------------------------------------------------


@pytest.mark.redis
async def test_redis_state_expires_when_full_again(redis_env: tuple[redis.asyncio.Redis, str]) -> None:
    client, prefix = redis_env
    limiter = RedisRateLimiter(client, prefix)
    key = f"{prefix}k"
    await limiter.check("k", 5, 5 / 60, T)
    assert await client.exists(key) == 0  # check writes nothing
    await limiter.consume("k", 5, 5 / 60, T)
    # One token short of full: full again in 12 s. Milliseconds, with slack for a loaded machine.
    assert 6_000 < await client.pttl(key) <= 12_000
    await limiter.consume("k", 5, 5 / 60, T)
    assert 18_000 < await client.pttl(key) <= 24_000
    assert await client.hgetall(key) == {b"t": b"3", b"ts": b"1800000000"}


@pytest.mark.redis
async def test_redis_idle_keys_vanish(redis_env: tuple[redis.asyncio.Redis, str]) -> None:
    client, prefix = redis_env
    limiter = RedisRateLimiter(client, prefix)
    await limiter.consume("k", 2, 20.0, T)  # full again after 50 ms
    assert 0 < await client.pttl(f"{prefix}k") <= 50
    await asyncio.sleep(0.3)
    assert await client.exists(f"{prefix}k") == 0


@pytest.mark.redis
async def test_redis_script_is_reloaded_after_a_flush(redis_env: tuple[redis.asyncio.Redis, str]) -> None:
    client, prefix = redis_env
    limiter = RedisRateLimiter(client, prefix)
    await client.script_flush()
    assert await limiter.consume("k", 2, 0.5, T) == 0.0
    assert await limiter.consume("k", 2, 0.5, T) == 2.0


@pytest.mark.redis
async def test_redis_limiters_share_buckets(redis_env: tuple[redis.asyncio.Redis, str], redis_url: str) -> None:
    client, prefix = redis_env
    other = redis_client(redis_url)  # another worker's client
    try:
        a, b = RedisRateLimiter(client, prefix), RedisRateLimiter(other, prefix)
        results = await asyncio.gather(*(x.consume("k", 4, 0.5, T) for x in [a, b] * 10))
        assert results.count(0.0) == 3
        assert await b.check("k", 4, 0.5, T) == 2.0
    finally:
        await other.aclose()


# --- memory only -----------------------------------------------------------------------------------


async def test_memory_expired_buckets_are_swept() -> None:
    limiter = MemoryRateLimiter()
    now = T
    for i in range(5000):
        await limiter.consume(f"k{i}", 1, 1.0, now)  # full again after 1 s
        now += 0.01
    # Only the buckets of the last second (plus at most one sweep interval) can remain.
    assert len(limiter) <= 100 + 1024


async def test_memory_is_bounded_under_a_flood_of_live_keys() -> None:
    limiter = MemoryRateLimiter(max_entries=100)
    for _ in range(3):
        await limiter.consume("victim", 5, 5 / 60, T)  # 36 s from full: the longest-lived bucket
    for i in range(1000):
        await limiter.consume(f"flood{i}", 5, 5 / 60, T)  # 12 s from full
        assert len(limiter) <= 101
    # The buckets closest to full go first; the victim's limit holds.
    assert "victim" in limiter.keys()
    assert await limiter.check("victim", 5, 5 / 60, T) == 0.0
    assert await limiter.consume("victim", 5, 5 / 60, T) == 0.0
    assert await limiter.consume("victim", 5, 5 / 60, T) == pytest.approx(12.0)


async def test_memory_expired_bucket_is_full() -> None:
    limiter = MemoryRateLimiter()
    await limiter.consume("k", 1, 0.5, T)
    assert await limiter.check("k", 1, 0.5, T + 1.999) > 0
    assert await limiter.check("k", 1, 0.5, T + 2) == 0.0
    assert await limiter.consume("k", 1, 0.5, T + 2) == 2.0
    assert limiter.keys() == ["k"]
    await limiter.consume("other", 1, 0.5, T + 10)
    limiter.sweep(T + 10)
    assert limiter.keys() == ["other"]
