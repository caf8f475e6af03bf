"""Automatic pipelining: every caller gets its own reply or error, also when batched together."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
import redis.asyncio
from redis.exceptions import ResponseError

from lukhas_id.adapters.redis.batching import MAX_BATCH, AutoPipeline
from lukhas_id.adapters.redis.client import redis_client

pytestmark = pytest.mark.redis


@pytest_asyncio.fixture
async def client(redis_url: str, redis_prefix: str) -> AsyncIterator[redis.asyncio.Redis]:
    c = redis_client(redis_url)
    try:
        yield c
    finally:
        keys = [k async for k in c.scan_iter(match=f"{redis_prefix}*")]
        if keys:
            await c.delete(*keys)
        await c.aclose()


async def test_concurrent_commands_each_get_their_reply(client: redis.asyncio.Redis, redis_prefix: str) -> None:
    batch = AutoPipeline(client)
    n = MAX_BATCH * 2 + 7  # more than one full batch
    await asyncio.gather(*(batch.execute("SET", f"{redis_prefix}{i}", str(i), "PX", 60000) for i in range(n)))
    values = await asyncio.gather(*(batch.execute("GET", f"{redis_prefix}{i}") for i in range(n)))
    assert values == [str(i).encode() for i in range(n)]


async def test_an_error_reaches_only_its_caller(client: redis.asyncio.Redis, redis_prefix: str) -> None:
    batch = AutoPipeline(client)
    await client.set(f"{redis_prefix}text", "abc")
    results = await asyncio.gather(
        batch.execute("INCR", f"{redis_prefix}text"),  # not an integer: a per-command error
        batch.execute("SET", f"{redis_prefix}ok", "1"),
        return_exceptions=True,
    )
    assert isinstance(results[0], ResponseError)
    assert results[1] is True


async def test_scripts_reload_after_a_flush(client: redis.asyncio.Redis, redis_prefix: str) -> None:
    batch = AutoPipeline(client)
    script = client.register_script("return redis.call('GET', KEYS[1])")
    await client.set(f"{redis_prefix}s", "v")
    await client.script_flush()  # Redis forgets every script: EVALSHA answers NOSCRIPT
    assert await batch.evalsha(script, [f"{redis_prefix}s"], []) == b"v"


async def test_a_dead_connection_fails_every_caller_of_the_batch() -> None:
    dead = redis_client("redis://127.0.0.1:1/0")
    batch = AutoPipeline(dead)
    try:
        results = await asyncio.gather(*(batch.execute("GET", "k") for _ in range(3)), return_exceptions=True)
        assert all(isinstance(r, Exception) for r in results)
    finally:
        await dead.aclose()
