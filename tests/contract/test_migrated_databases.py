"""The tests' migrated databases (tests/support/databases.py) are what a new migration would give: current and empty."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import text

from lukhas_id.adapters.sql import Database
from tests.support.databases import PostgresSchemas, SqliteTemplate


async def _state(url: str) -> tuple[bool, int]:
    """(is the database at head, how many tenants it holds) after writing one more tenant row."""
    database = Database.from_url(url)
    try:
        current = await database.is_current()
        async with database.transaction() as session:
            count = int((await session.execute(text("SELECT count(*) FROM tenants"))).scalar_one())
            await session.execute(
                text(
                    "INSERT INTO tenants (id, name, id_secret_enc, access_token_alg, created_at)"
                    " VALUES ('t1', 'one', :secret, 'ES256', 0)"
                ),
                {"secret": b"x"},
            )
        return current, count
    finally:
        await database.dispose()


def test_sqlite_copies_are_current_self_contained_and_independent(tmp_path: Path) -> None:
    template = SqliteTemplate.build(tmp_path / "template")
    assert [p.name for p in template.path.parent.iterdir()] == ["template.db"]  # no -wal or -shm beside it
    first = template.url_in(tmp_path / "a")
    assert asyncio.run(_state(first)) == (True, 0)
    assert asyncio.run(_state(template.url_in(tmp_path / "b"))) == (True, 0)  # the first copy's row is not here


@pytest.mark.postgres
def test_a_lent_schema_comes_back_current_and_empty(postgres_url: str) -> None:
    pool = PostgresSchemas(postgres_url)
    try:
        with pool.lend() as url:
            assert asyncio.run(_state(url)) == (True, 0)
        with pool.lend() as again:
            assert again == url  # the same schema, reused
            assert asyncio.run(_state(again)) == (True, 0)
        with pool.lend() as url, pool.lend() as other:
            assert other != url  # lent to one test at a time
            asyncio.run(_state(other))

            async def downgrade() -> None:
                database = Database.from_url(other)
                try:
                    async with database.transaction() as session:
                        await session.execute(text("UPDATE alembic_version SET version_num = '0001'"))
                finally:
                    await database.dispose()

            asyncio.run(downgrade())
        with pool.lend() as url2, pool.lend() as other2:
            assert url2 == url and other2 not in {url, other}  # a schema not at head is not lent again
            assert asyncio.run(_state(other2)) == (True, 0)
    finally:
        pool.close()
