"""SQL database handle: one async engine and session factory per process, plus the shipped migrations.

`Database.from_url` accepts the URLs an operator writes and picks the async driver:

- ``sqlite:///path``, ``sqlite+aiosqlite:///path`` -> ``sqlite+aiosqlite`` (the embedded default). Every
  connection gets ``journal_mode=WAL``, ``busy_timeout=5000`` and ``foreign_keys=ON``; SQLAlchemy emits
  BEGIN itself (sqlite3's legacy transaction control is switched off), so reads are repeatable and
  write transactions can take the write lock up front (``BEGIN IMMEDIATE``). The parent directory of
  the file is created when missing.
- ``postgresql://``, ``postgres://``, ``postgresql+asyncpg://`` -> ``postgresql+asyncpg``. The query
  parameters ``search_path`` and ``application_name`` become asyncpg ``server_settings`` and ``sslmode``
  becomes asyncpg's ``ssl`` argument. Pool: 10 connections plus 10 overflow per process, no pre-ping
  (a dead pooled connection fails one request and is replaced; pinging would add a round trip to
  every checkout), recycled after 30 minutes. The few hottest statements (`fetch_first`, `execute`)
  run on two small asyncpg pools of their own (adapters/sql/direct.py): at most 8 + 4 connections
  more per process, opened on first use.

Anything else raises a one-line ``ValueError``; messages never contain the URL's password.

Errors: every helper that touches the database (`unit`, `transaction`, `read`, `statement`, `fetch_first`, `execute`,
`ping`, the migration helpers) raises StoreUnavailable when the database cannot be reached and Conflict when a
write lost a race (errors.py; which driver errors are which: adapters/sql/errors.py). Other driver errors,
IntegrityError among them, pass unchanged.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import sqlite3
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Final

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.sql.expression import Executable

import lukhas_id.migrations
from lukhas_id.adapters.sql.direct import DirectStatements
from lukhas_id.adapters.sql.errors import raise_store_error, store_error
from lukhas_id.adapters.sql.spans import instrument
from lukhas_id.observability import tracing

SQLITE_DRIVER: Final = "sqlite+aiosqlite"
POSTGRES_DRIVER: Final = "postgresql+asyncpg"
_SQLITE_SCHEMES: Final = frozenset({"sqlite", "sqlite+aiosqlite"})
_POSTGRES_SCHEMES: Final = frozenset({"postgresql", "postgres", "postgresql+asyncpg"})
_SUPPORTED: Final = "sqlite:///path or postgresql://user@host/db"

SQLITE_BUSY_TIMEOUT_MS: Final = 5000
_SQLITE_WAL_RETRY_S: Final = 0.005
PG_POOL_SIZE: Final = 10
PG_MAX_OVERFLOW: Final = 10
PG_POOL_RECYCLE_S: Final = 1800

# Serializes concurrent upgrades of one schema (held until the migration transaction ends).
_PG_MIGRATION_LOCK: Final = "SELECT pg_advisory_xact_lock(hashtext('lukhas_id.migrations:' || current_schema()))"

MIGRATIONS_DIR: Final = Path(lukhas_id.migrations.__file__).parent

# Execution option read by the SQLite "begin" hook: how to BEGIN ("DEFERRED" or "IMMEDIATE").
_SQLITE_BEGIN_OPTION: Final = "lukhas_sqlite_begin"
_SQLITE_BEGIN_MODES: Final = frozenset({"DEFERRED", "IMMEDIATE"})


def mask_url(url: str | URL) -> str:
    """The URL with its password replaced by ``***`` (safe for logs and error messages)."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<unparseable database URL>"


def _parse(url: str) -> URL:
    try:
        return make_url(url)
    except ArgumentError:
        raise ValueError(f"invalid database URL (expected {_SUPPORTED})") from None


@dataclass(frozen=True, slots=True)
class EngineSpec:
    """What `normalize_url` makes of a URL: the async-driver URL and the driver's connect arguments."""

    url: URL
    connect_args: dict[str, Any]

    @property
    def is_sqlite(self) -> bool:
        return self.url.drivername == SQLITE_DRIVER


def _last(value: str | tuple[str, ...]) -> str:
    return value if isinstance(value, str) else value[-1]


def normalize_url(url: str) -> EngineSpec:
    """Map an operator's database URL to the async driver (see the module docstring).

    Raises ValueError (one line, no password) for anything but SQLite and PostgreSQL URLs.
    """
    parsed = _parse(url)
    scheme = parsed.drivername
    if scheme in _SQLITE_SCHEMES:
        return EngineSpec(parsed.set(drivername=SQLITE_DRIVER), {})
    if scheme not in _POSTGRES_SCHEMES:
        raise ValueError(f"unsupported database URL scheme {scheme!r} (expected {_SUPPORTED})")
    query = dict(parsed.query)
    server_settings: dict[str, str] = {}
    connect_args: dict[str, Any] = {}
    search_path = query.pop("search_path", None)
    if search_path is not None:
        server_settings["search_path"] = ",".join((search_path,) if isinstance(search_path, str) else search_path)
    application_name = query.pop("application_name", None)
    if application_name is not None:
        server_settings["application_name"] = _last(application_name)
    sslmode = query.pop("sslmode", None)
    if sslmode is not None:
        connect_args["ssl"] = _last(sslmode)
    if server_settings:
        connect_args["server_settings"] = server_settings
    return EngineSpec(parsed.set(drivername=POSTGRES_DRIVER, query=query), connect_args)


def _use_wal(cursor: Any) -> None:
    """Put the database file in WAL mode (a persistent property of the file: a no-op once it is).

    Switching a new file to WAL needs its exclusive lock, and two connections switching at once can
    deadlock on it, which SQLite answers at once with "database is locked" without calling the busy
    handler; so the switch is retried for up to the busy timeout. Only a file not yet in WAL mode
    can take that path, so the short blocking sleeps happen when several processes open a new file
    together, never once it is in WAL mode.
    """
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            cursor.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() >= deadline:
                raise
        time.sleep(_SQLITE_WAL_RETRY_S)


def _sqlite_engine(spec: EngineSpec, echo: bool) -> AsyncEngine:
    database = spec.url.database or ""
    in_memory = database in {"", ":memory:"} or database.startswith("file:")
    if not in_memory:
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = create_async_engine(spec.url, echo=echo, connect_args=spec.connect_args)

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy (the "begin" hook below) emit BEGIN instead of sqlite3's legacy control.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
            _use_wal(cursor)
            cursor.execute("PRAGMA foreign_keys = ON")
        finally:
            cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Connection) -> None:
        mode = conn.get_execution_options().get(_SQLITE_BEGIN_OPTION, "DEFERRED")
        if mode not in _SQLITE_BEGIN_MODES:
            raise ValueError(f"unknown SQLite BEGIN mode {mode!r}")
        conn.exec_driver_sql(f"BEGIN {mode}")

    return engine


def _postgres_engine(spec: EngineSpec, echo: bool) -> AsyncEngine:
    return create_async_engine(
        spec.url,
        echo=echo,
        connect_args=spec.connect_args,
        pool_size=PG_POOL_SIZE,
        max_overflow=PG_MAX_OVERFLOW,
        pool_pre_ping=False,
        pool_recycle=PG_POOL_RECYCLE_S,
    )


def _alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("path_separator", "os")
    return cfg


class _Unit:
    """An open unit of work: the task that owns it, and its session once a statement needed one."""

    __slots__ = ("session", "task")

    def __init__(self, task: object) -> None:
        self.task = task
        self.session: AsyncSession | None = None


class _UnitScope:
    """`Database.unit()`: a class rather than a generator-based context manager, since a unit is opened on
    request paths (revocation) where an async generator's set-up and loop bookkeeping show."""

    __slots__ = ("_database", "_token", "_unit")

    def __init__(self, database: Database) -> None:
        self._database = database

    async def __aenter__(self) -> None:
        database = self._database
        if database._open_unit() is not None:
            raise RuntimeError("units of work do not nest")
        self._unit = _Unit(asyncio.current_task())
        self._token = database._unit.set(self._unit)

    @property
    def touched(self) -> bool:
        """Whether a statement ran in this unit (its transaction began)."""
        return self._unit.session is not None

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        session = self._unit.session
        try:
            try:
                if session is not None:
                    if exc is None:
                        await session.commit()
                    else:
                        await session.rollback()
            except Exception as failure:
                raise_store_error(failure)
            if isinstance(exc, Exception):
                typed = store_error(exc)
                if typed is not None:
                    raise typed from exc
        finally:
            self._database._unit.reset(self._token)
            if session is not None:
                await session.close()


class Database:
    """An async engine and its session factories; made once at start, closed with `dispose()`.

    Make it with `from_url`; the constructor takes an engine configured the same way.
    """

    def __init__(self, engine: AsyncEngine, *, connect_args: dict[str, Any] | None = None) -> None:
        self._engine = engine
        self._is_sqlite = engine.dialect.name == "sqlite"
        if tracing.enabled():
            instrument(engine)  # a span per statement (adapters/sql/spans.py)
        self._direct: DirectStatements | None = None
        if engine.dialect.name == "postgresql" and engine.dialect.driver == "asyncpg":
            _, kwargs = engine.dialect.create_connect_args(engine.url)
            self._direct = DirectStatements(engine.dialect, {**kwargs, **(connect_args or {})})
        self._sessions = async_sessionmaker(engine, expire_on_commit=False)
        # The session of the unit of work running in this task, if any (`unit`), and the task that owns it:
        # tasks it starts inherit the variable but never share the session (a session is not concurrent).
        self._unit: contextvars.ContextVar[_Unit | None] = contextvars.ContextVar(
            f"lukhas_id_unit_{id(self)}", default=None
        )
        self._statement_engine: AsyncEngine
        if self._is_sqlite:
            # Writers take SQLite's write lock at BEGIN, so a read-then-write transaction never fails
            # with SQLITE_BUSY halfway (busy_timeout only helps when waiting at the first statement).
            immediate = engine.execution_options(**{_SQLITE_BEGIN_OPTION: "IMMEDIATE"})
            self._write_sessions = async_sessionmaker(immediate, expire_on_commit=False)
            self._ddl_engine = immediate
            self._statement_engine = engine
        else:
            self._write_sessions = self._sessions
            self._ddl_engine = engine
            # A single statement needs no BEGIN/COMMIT round trips: run it in autocommit.
            self._statement_engine = engine.execution_options(isolation_level="AUTOCOMMIT")
        self._read_sessions = async_sessionmaker(self._statement_engine, expire_on_commit=False)

    @classmethod
    def from_url(cls, url: str, *, echo: bool = False) -> Database:
        """A Database for a ``sqlite:`` or ``postgresql:`` URL (see the module docstring)."""
        spec = normalize_url(url)
        if spec.is_sqlite:
            return cls(_sqlite_engine(spec, echo))
        return cls(_postgres_engine(spec, echo), connect_args=spec.connect_args)

    def __repr__(self) -> str:
        return f"Database({self.display_url!r})"

    @property
    def engine(self) -> AsyncEngine:
        return self._engine

    @property
    def sessionmaker(self) -> async_sessionmaker[AsyncSession]:
        """Sessions on plain (deferred) transactions."""
        return self._sessions

    @property
    def is_sqlite(self) -> bool:
        return self._is_sqlite

    @property
    def display_url(self) -> str:
        """The URL with its password masked."""
        return mask_url(self._engine.url)

    def _open_unit(self) -> _Unit | None:
        """The unit of work this task opened, if any."""
        unit = self._unit.get()
        if unit is None or unit.task is not asyncio.current_task():
            return None
        return unit

    async def _joined(self) -> AsyncSession | None:
        """The session of the unit of work this task opened, begun at its first use; None outside one."""
        unit = self._open_unit()
        if unit is None:
            return None
        if unit.session is None:
            session = self._write_sessions()
            await session.begin()
            unit.session = session
        return unit.session

    async def unit_session(self) -> AsyncSession:
        """The session of the unit of work this task opened (begun now if it was not): event recorders write
        through it, with no savepoint of their own. RuntimeError outside a unit."""
        try:
            session = await self._joined()
        except Exception as exc:
            raise_store_error(exc)
        if session is None:
            raise RuntimeError("no unit of work is open in this task")
        return session

    def unit(self) -> _UnitScope:
        """A unit of work (adapters/sql/unit_of_work.py): every `transaction`, `read`, `statement`,
        `fetch_first` and `execute` on this Database in the task that opened it joins one transaction until
        the block ends (tasks started inside get transactions of their own); committed on exit, rolled back
        on an exception. The transaction begins at the first statement: a unit that touches no SQL costs
        no round trip. Units do not nest."""
        return _UnitScope(self)

    @contextlib.asynccontextmanager
    async def transaction(self, *, write: bool = True) -> AsyncIterator[AsyncSession]:
        """A session inside one transaction: committed on exit, rolled back on an exception.

        On SQLite `write=True` begins with ``BEGIN IMMEDIATE`` (writers serialize at BEGIN); use
        `write=False` for read-only work, which then never waits for writers (WAL). Inside a unit of
        work it is a savepoint of the unit's transaction.
        """
        try:
            unit = await self._joined()
            if unit is not None:
                async with unit.begin_nested():
                    yield unit
                return
            maker = self._write_sessions if write else self._sessions
            async with maker() as session, session.begin():
                yield session
        except Exception as exc:
            raise_store_error(exc)

    @contextlib.asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        """A session for reads that need no snapshot across statements (single SELECTs).

        PostgreSQL: autocommit, so each SELECT is one round trip. SQLite: a deferred read transaction.
        Inside a unit of work: the unit's session (its reads see its writes).
        """
        try:
            unit = await self._joined()
            if unit is not None:
                yield unit
                return
            async with self._read_sessions() as session:
                yield session
        except Exception as exc:
            raise_store_error(exc)

    @contextlib.asynccontextmanager
    async def statement(self) -> AsyncIterator[AsyncConnection]:
        """A connection for a single statement that commits on its own.

        PostgreSQL: autocommit, so the statement is one round trip. SQLite: a short transaction.
        Inside a unit of work: the unit's connection, in a savepoint (committed with the unit).
        """
        try:
            unit = await self._joined()
            if unit is not None:
                async with unit.begin_nested():  # a refused statement leaves the unit usable
                    yield await unit.connection()
                return
            async with self._statement_engine.begin() as conn:
                yield conn
        except Exception as exc:
            raise_store_error(exc)

    async def fetch_first(
        self, statement: Executable, params: Mapping[str, Any], *, relaxed: bool = False
    ) -> Mapping[Any, Any] | None:
        """The first row of a prebuilt Core SELECT, or of a write with RETURNING (it commits), with bound
        parameters (values by column label), or None.

        PostgreSQL: on asyncpg directly (adapters/sql/direct.py), for the hottest statements; `relaxed` as
        for `execute`. SQLite: as `statement` does."""
        if self._direct is not None and self._open_unit() is None:
            return await self._direct.fetch_first(statement, params, relaxed=relaxed)
        async with self.statement() as conn:
            row = (await conn.execute(statement, params)).first()
        return None if row is None else row._mapping

    async def execute(self, statement: Executable, params: Mapping[str, Any], *, relaxed: bool = False) -> int:
        """Run a prebuilt Core INSERT/UPDATE/DELETE on its own (it commits); the number of rows it touched.

        PostgreSQL: on asyncpg directly (adapters/sql/direct.py). With `relaxed`, the commit does not wait
        for the WAL flush (``synchronous_commit = off``, a pool of its own: no fsync wait). A database crash
        can lose the last moments of such writes, never corrupt them: use it only where losing a recent
        write is harmless (e.g. a passkey's signature counter). SQLite: as `statement` does (`relaxed` has
        no meaning there)."""
        if self._direct is not None and self._open_unit() is None:
            return await self._direct.execute(statement, params, relaxed=relaxed)
        async with self.statement() as conn:
            result = await conn.execute(statement, params)
        return int(result.rowcount)

    @property
    def direct(self) -> DirectStatements | None:
        """The asyncpg lane on PostgreSQL, None on SQLite."""
        return self._direct

    async def ping(self) -> None:
        """Raise when the database cannot be reached."""
        async with self.statement() as conn:
            await conn.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        """Close every pooled connection."""
        if self._direct is not None:
            await self._direct.close()
        await self._engine.dispose()

    # -- migrations -----------------------------------------------------------------------------

    def head_revision(self) -> str:
        """The newest revision of the shipped migration scripts."""
        head = ScriptDirectory.from_config(_alembic_config()).get_current_head()
        if head is None:
            raise RuntimeError("no migration scripts found")
        return head

    async def current_revision(self) -> str | None:
        """The revision the database is at, or None before the first migration."""

        def read(conn: Connection) -> str | None:
            return MigrationContext.configure(conn).get_current_revision()

        try:
            async with self._engine.connect() as conn:
                return await conn.run_sync(read)
        except Exception as exc:
            raise_store_error(exc)

    async def is_current(self) -> bool:
        return await self.current_revision() == self.head_revision()

    async def upgrade(self, revision: str = "head") -> None:
        """Migrate to `revision` (default: head) in one transaction; a no-op when already there.

        Safe when several processes start at once: SQLite serializes them with BEGIN IMMEDIATE,
        PostgreSQL with a transaction-scoped advisory lock per schema.
        """
        cfg = _alembic_config()

        def run(conn: Connection) -> None:
            if not self._is_sqlite:
                conn.execute(text(_PG_MIGRATION_LOCK))
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, revision)

        try:
            async with self._ddl_engine.begin() as conn:
                await conn.run_sync(run)
        except Exception as exc:
            raise_store_error(exc)
