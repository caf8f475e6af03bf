"""SQL-only tests for SqlTokenStateStore, on SQLite and PostgreSQL.

The TokenStateStore behaviour suite in test_state_token.py runs against the SQL store too; this file
checks only what is particular to SQL: the rows `purge_expired` deletes, the number of statements,
and several Database objects (processes) on one database.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import event, func, select

from lukhas_id.adapters.sql import Database, SqlTokenStateStore
from lukhas_id.adapters.sql.models import NotBeforeMarkerRow, OpaqueTokenRow, RevokedJtiRow
from lukhas_id.clock import FixedClock
from lukhas_id.domain.token import MarkerKind
from tests.support.token_state import T1, put_short_and_long_lived, record

TABLES = (OpaqueTokenRow, RevokedJtiRow, NotBeforeMarkerRow)


@dataclass
class Env:
    store: SqlTokenStateStore
    clock: FixedClock
    database: Database


@pytest.fixture
def sql_token_state(sql_database: Database) -> Env:
    clock = FixedClock()
    return Env(SqlTokenStateStore(sql_database, clock), clock, sql_database)


async def count_rows(database: Database, model: type[Any]) -> int:
    async with database.read() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


@contextmanager
def statements_of(database: Database) -> Iterator[list[str]]:
    seen: list[str] = []

    def record_statement(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if not statement.lstrip().upper().startswith("BEGIN"):
            seen.append(statement)

    event.listen(database.engine.sync_engine, "before_cursor_execute", record_statement)
    try:
        yield seen
    finally:
        event.remove(database.engine.sync_engine, "before_cursor_execute", record_statement)


async def test_is_revoked_is_a_single_statement(sql_token_state: Env) -> None:
    e = sql_token_state
    await e.store.ping()  # the pool holds a connection: no connect-time statements below
    with statements_of(e.database) as seen:
        assert await e.store.is_revoked(T1, "j", "c", "u", 100) is False
    assert len(seen) == 1
    assert seen[0].lstrip().upper().startswith("SELECT")


async def test_two_databases_share_revocations(migrated_sql_url: str, sql_database: Database) -> None:
    # A second process opens its own Database on the same URL.
    other = Database.from_url(migrated_sql_url)
    try:
        a, b = SqlTokenStateStore(sql_database), SqlTokenStateStore(other)
        now = int(FixedClock().now()) + 10**8  # far in the future relative to the system clock
        await a.revoke_jti(T1, "j1", now)
        assert await b.is_revoked(T1, "j1", "c", "u", 0) is True
        await b.set_not_before(T1, MarkerKind.CLIENT, "c9", 1000, 3600)
        assert await a.is_revoked(T1, "j2", "c9", "u", 1000) is True
        rec = record(now)
        await a.put_opaque("hash-1", rec)
        assert await b.get_opaque("hash-1", now - 1) == rec
        assert await b.delete_opaque("hash-1") is True
        assert await a.get_opaque("hash-1", now - 1) is None
    finally:
        await other.dispose()


async def test_purge_expired_deletes_the_rows(sql_token_state: Env) -> None:
    # The counts purge_expired returns are checked by the shared suite; here, the rows themselves.
    e = sql_token_state
    now = int(e.clock.now())
    await put_short_and_long_lived(e.store, now)
    assert [await count_rows(e.database, table) for table in TABLES] == [2, 2, 2]
    assert await e.store.purge_expired(now + 100) == 3
    assert [await count_rows(e.database, table) for table in TABLES] == [1, 1, 1]
    assert await e.store.purge_expired(now + 10**6) == 3
    assert [await count_rows(e.database, table) for table in TABLES] == [0, 0, 0]
