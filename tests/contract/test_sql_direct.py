"""Database.fetch_first / Database.execute: prebuilt Core statements, the same answers on SQLite (through
SQLAlchemy) and PostgreSQL (on asyncpg directly, adapters/sql/direct.py)."""

from __future__ import annotations

import asyncio
import secrets
import socket

import pytest
from sqlalchemy import bindparam, select, update

from lukhas_id.adapters.sql import Database
from lukhas_id.adapters.sql.direct import _rowcount
from lukhas_id.adapters.sql.errors import store_error
from lukhas_id.adapters.sql.models import TenantRow, UserRow
from lukhas_id.errors import StoreUnavailable, is_unavailable
from tests.support.sql_seed import add, seed, user

_U = UserRow.__table__.c
BY_LID = select(UserRow.__table__).where(_U.tenant_id == bindparam("t"), _U.lid == bindparam("lid"))
# A literal compared in the statement itself (a bound value SQLAlchemy supplies, not the caller).
ACTIVE_BY_LID = BY_LID.where(_U.status == "active")
SET_VERIFIED = (
    update(UserRow)
    .where(_U.tenant_id == bindparam("t"), _U.lid == bindparam("b_lid"))
    .values(email_verified=bindparam("verified"), updated_at=bindparam("at"))
)


async def test_fetch_first_answers_a_row_by_label_or_none(sql_database: Database) -> None:
    await seed(sql_database, "t1")
    await add(sql_database, user("t1", "USR-1", "alice"))
    row = await sql_database.fetch_first(BY_LID, {"t": "t1", "lid": "USR-1"})
    assert row is not None
    assert (row["tenant_id"], row["lid"], row["username"], row["status"]) == ("t1", "USR-1", "alice", "active")
    assert isinstance(row["created_at"], float) and isinstance(row["email_verified"], bool)
    assert await sql_database.fetch_first(BY_LID, {"t": "t1", "lid": "USR-2"}) is None
    assert await sql_database.fetch_first(ACTIVE_BY_LID, {"t": "t1", "lid": "USR-1"}) is not None


async def test_execute_answers_the_rows_touched_and_commits(sql_database: Database) -> None:
    await seed(sql_database, "t1")
    await add(sql_database, user("t1", "USR-1", "alice"))
    for relaxed in (False, True):
        touched = await sql_database.execute(
            SET_VERIFIED, {"t": "t1", "b_lid": "USR-1", "verified": not relaxed, "at": 5.0}, relaxed=relaxed
        )
        assert touched == 1
        row = await sql_database.fetch_first(BY_LID, {"t": "t1", "lid": "USR-1"})
        assert row is not None and row["email_verified"] is (not relaxed) and row["updated_at"] == 5.0
    assert await sql_database.execute(SET_VERIFIED, {"t": "t1", "b_lid": "nobody", "verified": True, "at": 1.0}) == 0


async def test_pools_are_made_once_under_concurrent_first_use(sql_database: Database) -> None:
    await seed(sql_database, "t1")
    await add(sql_database, user("t1", "USR-1", "alice"))
    rows = await asyncio.gather(*(sql_database.fetch_first(BY_LID, {"t": "t1", "lid": "USR-1"}) for _ in range(30)))
    assert all(row is not None and row["lid"] == "USR-1" for row in rows)
    if sql_database.direct is not None:
        assert len(sql_database.direct._pools) == 1
        await sql_database.dispose()
        assert sql_database.direct._pools == {}


async def test_a_missing_parameter_is_an_error_not_a_null(sql_database: Database) -> None:
    with pytest.raises(Exception, match="lid"):
        await sql_database.fetch_first(BY_LID, {"t": "t1"})


@pytest.mark.postgres
async def test_a_released_connection_is_not_sent_a_reset_query(pg_migrated_url: str) -> None:
    """One round trip per statement: asyncpg's default reset at release (RESET ALL and friends) is not sent."""
    from sqlalchemy import text

    name = f"lid-direct-{secrets.token_hex(4)}"
    database = Database.from_url(f"{pg_migrated_url}&application_name={name}")
    try:
        await seed(database, "t1")
        await add(database, user("t1", "USR-1", "alice"))
        for _ in range(3):
            assert await database.fetch_first(BY_LID, {"t": "t1", "lid": "USR-1"}) is not None
        changed = {"t": "t1", "b_lid": "USR-1", "verified": True, "at": 2.0}
        assert await database.execute(SET_VERIFIED, changed, relaxed=True) == 1
        async with database.statement() as conn:
            last = (
                (
                    await conn.execute(
                        text(
                            "SELECT query FROM pg_stat_activity"
                            " WHERE application_name = :name AND pid <> pg_backend_pid()"
                        ),
                        {"name": name},
                    )
                )
                .scalars()
                .all()
            )
    finally:
        await database.dispose()
    # The two direct connections (and any idle SQLAlchemy one): the last statement of each is not a reset.
    assert len(last) >= 2
    assert not [query for query in last if "RESET ALL" in query], last


def test_rowcount_reads_command_tags() -> None:
    assert [_rowcount(tag) for tag in ("UPDATE 1", "DELETE 0", "INSERT 0 3", "SELECT 12", "BEGIN")] == [1, 0, 3, 12, 0]


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_an_unreachable_server_is_an_outage_not_a_bug() -> None:
    database = Database.from_url(f"postgresql://postgres@127.0.0.1:{_closed_port()}/test")
    try:
        with pytest.raises(StoreUnavailable) as caught:
            await database.fetch_first(select(TenantRow.__table__), {})
        assert is_unavailable(caught.value)
        with pytest.raises(StoreUnavailable) as caught:
            await database.execute(SET_VERIFIED, {"t": "t", "b_lid": "l", "verified": True, "at": 1.0}, relaxed=True)
        assert is_unavailable(caught.value)
    finally:
        await database.dispose()


def test_asyncpg_outage_errors_are_outages() -> None:
    import asyncpg

    for error in (
        asyncpg.exceptions.AdminShutdownError,  # the server is shutting down
        asyncpg.exceptions.CannotConnectNowError,  # ... or starting
        asyncpg.exceptions.ConnectionDoesNotExistError,  # the connection was lost mid-statement
        asyncpg.exceptions.TooManyConnectionsError,
        asyncpg.exceptions.QueryCanceledError,  # statement_timeout
        asyncpg.exceptions.InterfaceError,
    ):
        assert isinstance(store_error(error("gone")), StoreUnavailable), error
    assert store_error(asyncpg.exceptions.UniqueViolationError("duplicate")) is None
