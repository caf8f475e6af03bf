"""SQL fixtures for the contract suites: a migrated Database on SQLite (a tmp file) and on PostgreSQL.

PostgreSQL runs in a private schema per test (`pg_schema_url`); it is skipped outside CI when the
server is unreachable and fails in CI.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from lukhas_id.adapters.sql import Database


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def sql_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of an empty database: a fresh SQLite file, or a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'lukhas-id.db'}"
    return str(request.getfixturevalue("pg_schema_url"))


@pytest_asyncio.fixture
async def sql_database(sql_database_url: str) -> AsyncIterator[Database]:
    """A Database on `sql_database_url`, migrated to head; disposed afterwards."""
    database = Database.from_url(sql_database_url)
    try:
        await database.upgrade()
        yield database
    finally:
        await database.dispose()
