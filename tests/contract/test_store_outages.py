"""Typed storage failures: every adapter turns a dead or refusing server into StoreUnavailable, a lost race into
Conflict, and leaves other errors alone (errors.py; adapters/sql/errors.py, adapters/redis/errors.py).

Real servers throughout: a SQLite path that cannot be opened or a file locked by another writer, PostgreSQL on a
closed port or with its connection terminated, Redis on a closed port or answering that it is loading.
"""

from __future__ import annotations

import asyncio
import socket
import sqlite3
import threading
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import asyncpg
import pytest
import redis.asyncio
import sqlalchemy.exc
from sqlalchemy import select, text

from lukhas_id.adapters.redis.client import redis_client
from lukhas_id.adapters.redis.rate_limit import RedisRateLimiter
from lukhas_id.adapters.redis.refresh import RedisRefreshTokenStore
from lukhas_id.adapters.redis.state import RedisKeyValueStore, RedisTokenStateStore
from lukhas_id.adapters.sql import Database, SqlTenantRepository, SqlTokenStateStore
from lukhas_id.adapters.sql import database as sql_database
from lukhas_id.adapters.sql.kv import SqlKeyValueStore
from lukhas_id.adapters.sql.models import TenantRow
from lukhas_id.adapters.sql.refresh import SqlRefreshTokenStore
from lukhas_id.domain.refresh import RefreshTokenRecord
from lukhas_id.domain.token import AccessTokenRecord, MarkerKind
from lukhas_id.errors import Conflict, StoreUnavailable, is_unavailable

Call = Callable[[], Awaitable[object]]
NOW = time.time()
LATER = int(NOW) + 365 * 86400  # expiry times that stay in the future however long the suite runs
RECORD = AccessTokenRecord("t", "jti", "cl", "USR-x", "USR", "openid", ("aud",), int(NOW), LATER)
FAMILY = RefreshTokenRecord(
    tenant_id="t",
    family_id="f",
    client_id="cl",
    user_lid="USR-x",
    scope=("openid",),
    sid="s",
    auth_time=int(NOW),
    acr=None,
    amr=(),
    resources=(),
    created_at=NOW,
    expires_at=LATER,
)


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def assert_every_call_is_unavailable(calls: dict[str, Call]) -> None:
    for name, call in calls.items():
        with pytest.raises(StoreUnavailable) as caught:
            await call()
            pytest.fail(f"{name}: no error")
        assert is_unavailable(caught.value), name
        assert caught.value.__cause__ is not None, name  # the driver's error, for the operator's traceback


# --- SQL ------------------------------------------------------------------------------------------------------


def sql_calls(database: Database) -> dict[str, Call]:
    """Every kind of access the SQL adapter makes, through the stores and a repository that do nothing about
    errors themselves."""
    tokens = SqlTokenStateStore(database)
    kv = SqlKeyValueStore(database)
    refresh = SqlRefreshTokenStore(database)

    async def in_unit() -> object:
        async with database.unit():
            return await tokens.is_revoked("t", "jti", "cl", "USR-x", 1)

    return {
        "ping": database.ping,
        "unit of work": in_unit,
        "fetch_first": lambda: database.fetch_first(select(TenantRow.__table__), {}),
        "execute": lambda: database.execute(TenantRow.__table__.delete(), {}, relaxed=True),
        "current_revision": database.current_revision,
        "repository read": lambda: SqlTenantRepository(database).get("t"),
        "token state statement": lambda: tokens.is_revoked("t", "jti", "cl", "USR-x", 1),
        "token state write": lambda: tokens.put_opaque("hash", RECORD),
        "kv transaction": lambda: kv.index_add("k", "m", cap=3, ttl=60, evict_prefix="e:"),
        "refresh transaction": lambda: refresh.rotate("t", "hash", "next", NOW, 0),
        "refresh read": lambda: refresh.get("t", "hash", NOW),
    }


async def test_sqlite_file_that_cannot_be_opened_is_unavailable(tmp_path: Path) -> None:
    (tmp_path / "lukhas-id.db").mkdir()  # a directory where the database file should be
    before = set(threading.enumerate())
    database = Database.from_url(f"sqlite:///{tmp_path / 'lukhas-id.db'}")
    try:
        await assert_every_call_is_unavailable(sql_calls(database))
        with pytest.raises(StoreUnavailable, match="SQLITE_CANTOPEN"):
            await database.upgrade()
    finally:
        await database.dispose()
        # aiosqlite stops the worker thread of a failed connect without waiting for it; let each one finish
        # while this test's event loop still runs (it answers on the loop).
        for thread in set(threading.enumerate()) - before:
            if "_connection_worker_thread" in thread.name:
                await asyncio.to_thread(thread.join, 10)


async def test_sqlite_file_locked_past_the_busy_timeout_is_unavailable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "lukhas-id.db"
    database = Database.from_url(f"sqlite:///{path}")
    await database.upgrade()
    await database.dispose()
    monkeypatch.setattr(sql_database, "SQLITE_BUSY_TIMEOUT_MS", 50)  # wait 50 ms for the lock, not 5 s
    database = Database.from_url(f"sqlite:///{path}")
    holder = sqlite3.connect(path, isolation_level=None)
    try:
        holder.execute("BEGIN EXCLUSIVE")  # another process holds the write lock
        with pytest.raises(StoreUnavailable, match="SQLITE_BUSY"):
            await SqlTokenStateStore(database).revoke_jti("t", "jti", LATER)
        holder.execute("ROLLBACK")
        await SqlTokenStateStore(database).revoke_jti("t", "jti", LATER)  # and it recovers
        assert await SqlTokenStateStore(database).is_revoked("t", "jti", "cl", "USR-x", 1)
    finally:
        holder.close()
        await database.dispose()


async def test_postgres_on_a_closed_port_is_unavailable() -> None:
    database = Database.from_url(f"postgresql://postgres@127.0.0.1:{closed_port()}/test")
    try:
        await assert_every_call_is_unavailable(sql_calls(database))
        assert database.direct is not None
        with pytest.raises(StoreUnavailable):
            await database.direct.setting("synchronous_commit")
    finally:
        await database.dispose()


async def _terminate_when_running(postgres_url: str, application_name: str, query: str) -> None:
    """Wait until a connection with this application_name runs `query`, then terminate its server process (as an
    operator, a restart or a failover would)."""
    conn = await asyncpg.connect(postgres_url)
    try:
        for _ in range(500):
            pid = await conn.fetchval(
                "SELECT pid FROM pg_stat_activity WHERE application_name = $1 AND query = $2 AND state = 'active'",
                application_name,
                query,
            )
            if pid is not None:
                assert await conn.fetchval("SELECT pg_terminate_backend($1)", pid)
                return
            await asyncio.sleep(0.01)
        raise AssertionError("the statement never started")
    finally:
        await conn.close()


@pytest.mark.postgres
@pytest.mark.parametrize("lane", ["sqlalchemy", "asyncpg", "unit of work"])
async def test_postgres_connection_lost_mid_statement_is_unavailable(postgres_url: str, lane: str) -> None:
    name = f"lid-outage-{uuid.uuid4().hex[:8]}"
    database = Database.from_url(f"{postgres_url}?application_name={name}")
    sql = "SELECT pg_sleep(30)"

    async def statement() -> object:
        if lane == "asyncpg":
            return await database.fetch_first(select(text("pg_sleep(30)")), {})
        if lane == "unit of work":
            async with database.unit(), database.read() as session:
                return await session.execute(text(sql))
        async with database.statement() as conn:
            return await conn.execute(text(sql))

    try:
        running = asyncio.ensure_future(statement())
        await _terminate_when_running(postgres_url, name, sql)
        with pytest.raises(StoreUnavailable):
            await running
        # The dead connection is dropped: the next statement gets a new one.
        await database.ping()
        assert await database.fetch_first(select(text("1")), {}) is not None
    finally:
        await database.dispose()


@pytest.mark.postgres
async def test_postgres_lost_race_is_a_conflict(pg_schema_url: str) -> None:
    database = Database.from_url(pg_schema_url)
    try:
        async with database.statement() as conn:
            await conn.execute(text("CREATE TABLE race (id int PRIMARY KEY, v int)"))
            await conn.execute(text("INSERT INTO race VALUES (1, 0)"))
        with pytest.raises(Conflict, match="40001") as caught:
            async with database.transaction() as session:
                await session.execute(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ"))
                await session.execute(text("SELECT v FROM race"))  # the snapshot is taken here
                async with database.statement() as other:
                    await other.execute(text("UPDATE race SET v = 1"))  # another transaction commits first
                await session.execute(text("UPDATE race SET v = 2"))
        assert not is_unavailable(caught.value)
    finally:
        await database.dispose()


async def test_sqlite_stale_snapshot_write_is_a_conflict(tmp_path: Path) -> None:
    database = Database.from_url(f"sqlite:///{tmp_path / 'race.db'}")
    try:
        async with database.transaction() as session:
            await session.execute(text("CREATE TABLE race (id integer PRIMARY KEY, v integer)"))
            await session.execute(text("INSERT INTO race VALUES (1, 0)"))
        with pytest.raises(Conflict, match="SQLITE_BUSY_SNAPSHOT"):
            async with database.transaction(write=False) as session:
                await session.execute(text("SELECT v FROM race"))
                async with database.transaction() as other:
                    await other.execute(text("UPDATE race SET v = 1"))
                await session.execute(text("UPDATE race SET v = 2"))
    finally:
        await database.dispose()


async def test_sql_errors_that_are_not_outages_pass_unchanged(sql_database: Database) -> None:
    with pytest.raises(sqlalchemy.exc.IntegrityError):  # the repositories translate these themselves
        async with sql_database.transaction() as session:
            await session.execute(text("INSERT INTO tenants (id) VALUES (NULL)"))
    with pytest.raises(sqlalchemy.exc.DBAPIError) as caught:  # a bug, not an outage
        async with sql_database.statement() as conn:
            await conn.execute(text("SELECT * FROM no_such_table"))
    assert not isinstance(caught.value, StoreUnavailable) and not is_unavailable(caught.value)
    with pytest.raises(ValueError, match="mine"):  # the caller's own errors too
        async with sql_database.read():
            raise ValueError("mine")


# --- Redis ----------------------------------------------------------------------------------------------------


def redis_calls(client: redis.asyncio.Redis) -> dict[str, Call]:
    tokens = RedisTokenStateStore(client)
    kv = RedisKeyValueStore(client)
    refresh = RedisRefreshTokenStore(client)
    limiter = RedisRateLimiter(client)
    return {
        "put_opaque": lambda: tokens.put_opaque("hash", RECORD),
        "get_opaque": lambda: tokens.get_opaque("hash", NOW),
        "get_active_opaque": lambda: tokens.get_active_opaque("t", "hash", NOW),
        "delete_opaque": lambda: tokens.delete_opaque("hash"),
        "revoke_jti": lambda: tokens.revoke_jti("t", "jti", LATER),
        "set_not_before": lambda: tokens.set_not_before("t", MarkerKind.CLIENT, "cl", int(NOW), 60),
        "is_revoked": lambda: tokens.is_revoked("t", "jti", "cl", "USR-x", 1),
        "token state ping": tokens.ping,
        "kv get": lambda: kv.get("k"),
        "kv set": lambda: kv.set("k", b"v", 60),
        "kv set_if_absent": lambda: kv.set_if_absent("k", b"v", 60),
        "kv pop": lambda: kv.pop("k"),
        "kv delete": lambda: kv.delete("k"),
        "kv incr": lambda: kv.incr("k", 60),
        "kv index_add": lambda: kv.index_add("k", "m", cap=3, ttl=60, evict_prefix="e:"),
        "kv index_remove": lambda: kv.index_remove("k", "m", ttl=60),
        "kv ping": kv.ping,
        "refresh create": lambda: refresh.create("hash", FAMILY),
        "refresh get": lambda: refresh.get("t", "hash", NOW),
        "refresh rotate": lambda: refresh.rotate("t", "hash", "next", NOW, 0),
        "refresh revoke_family": lambda: refresh.revoke_family("t", "f"),
        "refresh revoke_for_session": lambda: refresh.revoke_for_session("t", "s"),
        "rate consume": lambda: limiter.consume("bucket", 5, 1.0, NOW),
        "rate check": lambda: limiter.check("bucket", 5, 1.0, NOW),
        "rate reset": lambda: limiter.reset("bucket"),
    }


@pytest.fixture(params=["lean", "pipeline"])
async def dead_redis(request: pytest.FixtureRequest) -> AsyncIterator[redis.asyncio.Redis]:
    """A client of a Redis that is not there: the lean connection (plain TCP) or redis-py's pipeline (what TLS
    deployments use)."""
    url = f"redis://127.0.0.1:{closed_port()}/0"
    client = redis_client(url) if request.param == "lean" else redis.asyncio.Redis.from_url(url)
    try:
        yield client
    finally:
        await client.aclose()


async def test_redis_on_a_closed_port_is_unavailable(dead_redis: redis.asyncio.Redis) -> None:
    await assert_every_call_is_unavailable(redis_calls(dead_redis))


async def test_redis_answering_that_it_is_loading_is_unavailable(lean: bool) -> None:
    """A server that is starting answers every command with a LOADING error: an outage, not a bug."""

    writers: list[asyncio.StreamWriter] = []

    async def loading(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)
        while await reader.read(4096):
            writer.write(b"-LOADING Redis is loading the dataset in memory\r\n")
            await writer.drain()

    server = await asyncio.start_server(loading, "127.0.0.1", 0)
    url = f"redis://127.0.0.1:{server.sockets[0].getsockname()[1]}/0"
    client = redis_client(url) if lean else redis.asyncio.Redis.from_url(url)
    try:
        kv = RedisKeyValueStore(client)
        with pytest.raises(StoreUnavailable):
            await kv.get("k")
    finally:
        await client.aclose()
        for writer in writers:
            writer.close()
        server.close()
        await server.wait_closed()


@pytest.fixture(params=[True, False], ids=["lean", "pipeline"])
def lean(request: pytest.FixtureRequest) -> bool:
    return bool(request.param)


@pytest.mark.redis
async def test_redis_errors_that_are_not_outages_pass_unchanged(redis_url: str, redis_prefix: str, lean: bool) -> None:
    client = redis_client(redis_url) if lean else redis.asyncio.Redis.from_url(redis_url)
    kv = RedisKeyValueStore(client, prefix=redis_prefix)
    try:
        await kv.set("text", b"abc", 60)
        with pytest.raises(redis.exceptions.ResponseError) as caught:
            await kv.incr("text", 60)  # not an integer: a bug, not an outage
        assert not is_unavailable(caught.value)
    finally:
        await client.delete(f"{redis_prefix}text")
        await client.aclose()


# --- the translation tables -----------------------------------------------------------------------------------


def test_asyncpg_lost_races_are_conflicts_and_other_errors_pass_unchanged() -> None:
    """(The outage errors: tests/contract/test_sql_direct.py.)"""
    from lukhas_id.adapters.sql.errors import store_error

    for error in (asyncpg.exceptions.SerializationError, asyncpg.exceptions.DeadlockDetectedError):
        assert isinstance(store_error(error("lost")), Conflict), error
    assert store_error(asyncpg.exceptions.UniqueViolationError("duplicate")) is None
    assert store_error(asyncpg.exceptions.UndefinedTableError("no such table")) is None
    assert store_error(StoreUnavailable("database")) is None  # already typed
