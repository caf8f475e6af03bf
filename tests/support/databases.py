"""Migrated databases for tests: the migrations run a few times per session, not once per test.

- SQLite: one file is migrated per session (`SqliteTemplate`); each test gets a byte copy of it. The
  template is checkpointed and switched out of WAL mode before it is copied, so the copy is one
  self-contained file (no -wal/-shm beside it) that the app puts back in WAL mode when it opens it.
- PostgreSQL: private schemas migrated by `Database.upgrade()` are lent to one test at a time
  (`PostgresSchemas`). When the test is over every table but `alembic_version` is emptied with DELETE
  and the schema goes back to the pool, so the next test finds a migrated, empty schema, as if new.

Both are seen as current by `Database.is_current()` (their `alembic_version` row is the head), so the
app and `prepare_database` find nothing to do.

Why these and not the alternatives: migrating a new schema per test was most of the suite's set-up time;
replaying the migrations' SQL into a new schema, `TRUNCATE` and `CREATE DATABASE ... TEMPLATE` all change
PostgreSQL's catalog or files (and `DROP DATABASE` forces a checkpoint), while a DELETE of a few rows
changes neither.
"""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

import asyncpg

from lukhas_id.adapters.sql.database import Database
from lukhas_id.adapters.sql.models import Base

T = TypeVar("T")

SQLITE_FILE = "lukhas-id.db"  # the embedded database's file name in the var directory (settings)
VERSION_TABLE = "alembic_version"


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


class SqliteTemplate:
    """A SQLite file migrated to head, copied into each test's directory."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @classmethod
    def build(cls, directory: Path) -> SqliteTemplate:
        path = directory / "template.db"
        database = Database.from_url(sqlite_url(path))

        async def migrate() -> None:
            try:
                await database.upgrade()
            finally:
                await database.dispose()

        asyncio.run(migrate())
        # Fold the write-ahead log into the file and leave WAL mode, so one file is the whole database.
        conn = sqlite3.connect(path, isolation_level=None)
        try:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            conn.execute("PRAGMA journal_mode = DELETE")
        finally:
            conn.close()
        for suffix in ("-wal", "-shm"):
            if Path(f"{path}{suffix}").exists():
                raise RuntimeError(f"the SQLite template left a {suffix} file behind")
        return cls(path)

    def copy_to(self, target: Path) -> Path:
        """A migrated database at `target` (a file path); returns it."""
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(self.path, target)
        return target

    def url_in(self, directory: Path, name: str = SQLITE_FILE) -> str:
        """The URL of a migrated copy named `name` in `directory`."""
        return sqlite_url(self.copy_to(directory / name))


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class PostgresSchemas:
    """Migrated PostgreSQL schemas, lent to one test at a time and emptied when it gives them back.

    Runs its own event loop (tests' loops come and go); use it from synchronous fixtures only.
    """

    def __init__(self, dsn: str) -> None:
        self._dsn = dsn
        self._loop = asyncio.new_event_loop()
        self._conn: asyncpg.Connection | None = None
        self._free: list[str] = []
        self._made: list[str] = []
        self._head = Database.from_url("sqlite://").head_revision()

    def _run(self, step: Callable[[], Awaitable[T]]) -> T:
        return self._loop.run_until_complete(step())

    async def _connection(self) -> asyncpg.Connection:
        if self._conn is None or self._conn.is_closed():
            self._conn = await asyncpg.connect(self._dsn)
            # A test that left a transaction open must not make the next one wait for ever.
            await self._conn.execute("SET lock_timeout = '10s'")
        return self._conn

    def url(self, schema: str) -> str:
        sep = "&" if "?" in self._dsn else "?"
        return f"{self._dsn}{sep}search_path={schema}"

    async def _make(self) -> str:
        schema = f"t_{uuid.uuid4().hex[:12]}"
        conn = await self._connection()
        await conn.execute(f"CREATE SCHEMA {_quote(schema)}")
        self._made.append(schema)
        database = Database.from_url(self.url(schema))
        try:
            await database.upgrade()
        finally:
            await database.dispose()
        return schema

    async def _empty(self, schema: str) -> bool:
        """Delete every row but the migration version; False (left as it is) if the schema is not at head."""
        conn = await self._connection()
        # Identifiers (ours, or read from the catalog) are quoted; no value is spliced into SQL.
        version = await conn.fetchval(f"SELECT max(version_num) FROM {_quote(schema)}.{VERSION_TABLE}")  # noqa: S608
        if version != self._head:
            return False
        names = {
            row["table_name"]
            for row in await conn.fetch(
                "SELECT table_name FROM information_schema.tables"
                " WHERE table_schema = $1 AND table_type = 'BASE TABLE'",
                schema,
            )
        }
        names.discard(VERSION_TABLE)
        # Children before parents (foreign keys); tables the models do not know go first.
        known = [t.name for t in reversed(Base.metadata.sorted_tables) if t.name in names]
        ordered = sorted(names - set(known)) + known
        if ordered:
            statements = "; ".join(f"DELETE FROM {_quote(schema)}.{_quote(t)}" for t in ordered)  # noqa: S608
            async with conn.transaction():
                # The audit tables refuse DELETE by trigger (migration 0010); emptying a lent schema is no
                # tampering: triggers are off for this transaction (the tests' role is a superuser).
                await conn.execute("SET LOCAL session_replication_role = replica")
                await conn.execute(statements)
        return True

    async def _drop(self, schema: str) -> None:
        conn = await self._connection()
        await conn.execute(f"DROP SCHEMA IF EXISTS {_quote(schema)} CASCADE")

    @contextmanager
    def lend(self) -> Iterator[str]:
        """The URL of a migrated, empty schema for the duration of the block."""
        schema = self._free.pop() if self._free else self._run(self._make)
        try:
            yield self.url(schema)
        finally:
            try:
                reusable = self._run(lambda: self._empty(schema))
            except (asyncpg.PostgresError, OSError):
                reusable = False  # e.g. still locked by a connection the test left open
            if reusable:
                self._free.append(schema)
            # Otherwise it is dropped with the others when the session ends.

    def close(self) -> None:
        async def drop_all() -> None:
            for schema in self._made:
                try:
                    await self._drop(schema)
                except (asyncpg.PostgresError, OSError):
                    pass
            if self._conn is not None:
                await self._conn.close()

        try:
            self._run(drop_all)
        finally:
            self._loop.close()
