"""SQL fixtures for the contract suites: databases on SQLite (a tmp file) and on PostgreSQL.

PostgreSQL runs in a private schema per test; it is skipped outside CI when the server is
unreachable and fails in CI. A migrated database is a copy of the session's template
(tests/support/databases.py), not a new migration per test.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from lukhas_id.adapters.sql import Database

SQL_BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


@pytest.fixture(params=SQL_BACKENDS)
def sql_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of an empty database (never migrated): a fresh SQLite file, or a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'empty.db'}"
    return str(request.getfixturevalue("pg_schema_url"))


@pytest.fixture(params=SQL_BACKENDS)
def migrated_sql_url(request: pytest.FixtureRequest) -> str:
    """The URL of a database migrated to head and empty: a SQLite file, or a PostgreSQL schema."""
    if request.param == "sqlite":
        return str(request.getfixturevalue("sqlite_migrated_url"))
    return str(request.getfixturevalue("pg_migrated_url"))


@pytest_asyncio.fixture
async def sql_database(migrated_sql_url: str) -> AsyncIterator[Database]:
    """A Database on `migrated_sql_url`; disposed afterwards."""
    database = Database.from_url(migrated_sql_url)
    try:
        yield database
    finally:
        await database.dispose()
