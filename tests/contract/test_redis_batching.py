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
from lukhas_id.adapters.redis.wire import RedisWire, pack
from lukhas_id.errors import StoreUnavailable

pytestmark = pytest.mark.redis


@pytest_asyncio.fixture
async def client(redis_url: str, redis_prefix: str) -> AsyncIterator[redis.asyncio.Redis]:
    c = redis_client(redis_url)
    try:
        yield c
    finally:
        keys = [k async for k in c.scan_iter(match=f"{redis_prefix}*", count=1000)]
        if keys:
            await c.delete(*keys)
        await c.aclose()


@pytest.fixture(params=[True, False], ids=["lean", "pipeline"])
def lean(request: pytest.FixtureRequest) -> bool:
    return bool(request.param)


async def test_concurrent_commands_each_get_their_reply(
    client: redis.asyncio.Redis, redis_prefix: str, lean: bool
) -> None:
    batch = AutoPipeline(client, lean=lean)
    n = MAX_BATCH * 2 + 7  # more than one full batch
    await asyncio.gather(*(batch.execute("SET", f"{redis_prefix}{i}", str(i), "PX", 60000) for i in range(n)))
    values = await asyncio.gather(*(batch.execute("GET", f"{redis_prefix}{i}") for i in range(n)))
    assert values == [str(i).encode() for i in range(n)]


async def test_an_error_reaches_only_its_caller(client: redis.asyncio.Redis, redis_prefix: str, lean: bool) -> None:
    batch = AutoPipeline(client, lean=lean)
    await client.set(f"{redis_prefix}text", "abc")
    results = await asyncio.gather(
        batch.execute("INCR", f"{redis_prefix}text"),  # not an integer: a per-command error
        batch.execute("SET", f"{redis_prefix}ok", "1"),
        return_exceptions=True,
    )
    assert isinstance(results[0], ResponseError)
    assert results[1] in (True, b"OK")  # a status reply: raw on the lean connection, True from redis-py


async def test_scripts_reload_after_a_flush(client: redis.asyncio.Redis, redis_prefix: str, lean: bool) -> None:
    batch = AutoPipeline(client, lean=lean)
    script = client.register_script("return redis.call('GET', KEYS[1])")
    await client.set(f"{redis_prefix}s", "v")
    await client.script_flush()  # Redis forgets every script: EVALSHA answers NOSCRIPT
    assert await batch.evalsha(script, [f"{redis_prefix}s"], []) == b"v"


async def test_a_dead_connection_fails_every_caller_of_the_batch() -> None:
    dead = redis_client("redis://127.0.0.1:1/0")
    batch = AutoPipeline(dead)
    try:
        results = await asyncio.gather(*(batch.execute("GET", "k") for _ in range(3)), return_exceptions=True)
        assert all(isinstance(r, StoreUnavailable) for r in results)
    finally:
        await dead.aclose()


async def test_a_server_that_never_answers_times_out() -> None:
    writers: list[asyncio.StreamWriter] = []

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)  # reads nothing, answers nothing

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    wire = RedisWire(host="127.0.0.1", port=port, timeout=0.3)
    try:
        connection = await wire.connection()
        loop = asyncio.get_running_loop()
        futures = [loop.create_future() for _ in range(3)]
        connection.send(pack([("GET", "a"), ("GET", "b"), ("GET", "c")]), futures)
        results = await asyncio.gather(*futures, return_exceptions=True)
        assert all(isinstance(r, StoreUnavailable) for r in results)
    finally:
        await wire.close()
        for writer in writers:
            writer.close()
        server.close()
        await server.wait_closed()


async def test_reconnects_after_the_connection_is_lost(redis_url: str, redis_prefix: str) -> None:
    client = redis_client(redis_url)
    batch = AutoPipeline(client)
    try:
        await batch.execute("SET", f"{redis_prefix}k", "v")
        # Drop the lean connection from the server side; the next command reconnects.
        wire = client.lean_connections[0]  # type: ignore[attr-defined]
        host, port = (await wire.connection()).sockname()
        assert await client.execute_command("CLIENT", "KILL", "ADDR", f"{host}:{port}", "SKIPME", "yes") == 1
        await asyncio.sleep(0.2)
        assert await batch.execute("GET", f"{redis_prefix}k") == b"v"
    finally:
        await client.delete(f"{redis_prefix}k")
        await client.aclose()


async def test_a_failed_handshake_is_reported(redis_url: str) -> None:
    wire = RedisWire(password="not-configured-here", timeout=2.0)
    try:
        with pytest.raises(ResponseError):
            await wire.connection()
    finally:
        await wire.close()


def test_pack_refuses_unknown_types() -> None:
    assert pack([("SET", "k", b"v", 5)]) == b"*4\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n$1\r\n5\r\n"
    with pytest.raises(TypeError):
        pack([("SET", "k", 1.5)])


class _NoLoadThenCall:
    """A registered script that must not be loaded and called again by redis-py (SCRIPT LOAD, then EVALSHA):
    a second flush between the two made that call fail with NOSCRIPT when tests ran in parallel."""

    def __init__(self, script: object) -> None:
        self.sha = script.sha  # type: ignore[attr-defined]
        self.script = script.script  # type: ignore[attr-defined]

    async def __call__(self, *args: object, **kwargs: object) -> object:
        raise AssertionError("NOSCRIPT must be answered with EVAL, not by loading and calling again")


async def test_after_a_flush_the_script_is_sent_whole(
    client: redis.asyncio.Redis, redis_prefix: str, lean: bool
) -> None:
    batch = AutoPipeline(client, lean=lean)
    script = _NoLoadThenCall(client.register_script("return redis.call('GET', KEYS[1])"))
    await client.set(f"{redis_prefix}s", "v")
    await client.script_flush()
    assert await batch.evalsha(script, [f"{redis_prefix}s"], []) == b"v"  # type: ignore[arg-type]
    assert await client.script_exists(script.sha) == [True]  # EVAL cached it: EVALSHA works again
    assert await batch.evalsha(script, [f"{redis_prefix}s"], []) == b"v"  # type: ignore[arg-type]
