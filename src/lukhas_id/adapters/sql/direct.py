"""Hot single statements on PostgreSQL through asyncpg pools of their own, past SQLAlchemy's execution layer.

A few statements run on every passkey sign-in (the credential with its owner, the counter bump). Through
SQLAlchemy's async engine each costs about 0.25-0.45 ms of CPU more than the same statement on asyncpg
directly (the greenlet bridge, the pool's events, the result machinery: profiled, see docs/PERFORMANCE.md).
`DirectStatements` runs SQLAlchemy Core statements, written once for both dialects, on asyncpg: each
statement is compiled once by the engine's own dialect (so the SQL, the ``$n`` parameter order and the
bind processors are SQLAlchemy's) and asyncpg prepares and caches it per connection.

Two pools, made on first use in the running event loop with the engine's own connect arguments (host,
user, database, ``server_settings`` such as ``search_path``, ``ssl``): `plain` (autocommit, like
Database.statement) and `relaxed` (``synchronous_commit = off``: a commit does not wait for the WAL
flush; Database.execute(relaxed=True)). Both are small, since each statement is one round trip.

Errors: an unreachable server (OSError, asyncpg's InterfaceError, PostgresConnectionError, a server shutting
down or starting, too many connections) raises StoreUnavailable, a lost race Conflict, as everywhere in the
SQL adapter (adapters/sql/errors.py); other asyncpg errors pass unchanged (none of the direct statements can
break a constraint).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

import asyncpg  # type: ignore[import-untyped]
from sqlalchemy.engine import Dialect
from sqlalchemy.sql.expression import Executable

from lukhas_id.adapters.sql.errors import raise_store_error
from lukhas_id.adapters.sql.spans import attributes
from lukhas_id.observability import tracing

DIRECT_POOL_SIZE: Final = 8
RELAXED_DIRECT_POOL_SIZE: Final = 4


@dataclass(frozen=True, slots=True)
class _Compiled:
    sql: str
    # (name, required, default, bind processor), in the order of the statement's $n parameters
    binds: tuple[tuple[str, bool, Any, Callable[[Any], Any] | None], ...]
    # the statement's span attributes when tracing is on (adapters/sql/spans.py)
    span: Mapping[str, tracing.Attribute]

    def arguments(self, params: Mapping[str, Any]) -> list[Any]:
        values = []
        for name, required, default, process in self.binds:
            if name in params:
                value = params[name]
            elif required:
                raise KeyError(f"a value is required for the bound parameter {name!r}")
            else:
                value = default
            values.append(value if process is None or value is None else process(value))
        return values


async def _no_reset(connection: asyncpg.Connection) -> None:
    """The pools' reset at release: nothing to undo. Their statements are single autocommit statements that
    leave no session state (no SET, LISTEN, cursors or advisory locks), so asyncpg's default reset query
    (``pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET ALL``: one more round trip that every statement
    waited for) is not sent. asyncpg still rolls back a transaction left open before calling this."""


def _rowcount(status: str) -> int:
    """asyncpg's command tag ("UPDATE 1", "DELETE 0", "INSERT 0 1") -> the number of rows."""
    tail = status.rpartition(" ")[2]
    return int(tail) if tail.isdigit() else 0


class DirectStatements:
    """SQLAlchemy Core statements run on asyncpg (PostgreSQL only; see the module docstring)."""

    def __init__(self, dialect: Dialect, connect_kwargs: dict[str, Any]) -> None:
        self._dialect = dialect
        self._connect = connect_kwargs
        self._compiled: dict[Executable, _Compiled] = {}
        self._pools: dict[bool, asyncpg.Pool] = {}
        self._lock = asyncio.Lock()

    def _compile(self, statement: Executable) -> _Compiled:
        compiled = statement.compile(dialect=self._dialect)  # type: ignore[attr-defined]
        names = compiled.positiontup or []
        processors = compiled._bind_processors
        defaults = compiled.params
        binds = tuple((name, compiled.binds[name].required, defaults.get(name), processors.get(name)) for name in names)
        return _Compiled(compiled.string, binds, attributes("postgresql", compiled.string, "asyncpg"))

    def _prepared(self, statement: Executable) -> _Compiled:
        compiled = self._compiled.get(statement)
        if compiled is None:
            compiled = self._compiled[statement] = self._compile(statement)
        return compiled

    async def _open(self, relaxed: bool) -> asyncpg.Pool:
        kwargs = dict(self._connect)
        if relaxed:
            kwargs["server_settings"] = {**kwargs.get("server_settings", {}), "synchronous_commit": "off"}
        size = RELAXED_DIRECT_POOL_SIZE if relaxed else DIRECT_POOL_SIZE
        return await asyncpg.create_pool(min_size=0, max_size=size, reset=_no_reset, **kwargs)

    async def _pool(self, relaxed: bool) -> asyncpg.Pool:
        pool = self._pools.get(relaxed)
        if pool is None:
            async with self._lock:  # one pool however many requests arrive before it exists
                pool = self._pools.get(relaxed)
                if pool is None:
                    pool = self._pools[relaxed] = await self._open(relaxed)
        return pool

    async def fetch_first(
        self, statement: Executable, params: Mapping[str, Any], *, relaxed: bool = False
    ) -> Mapping[Any, Any] | None:
        """The first row of a SELECT, or of an INSERT/UPDATE/DELETE ... RETURNING run in autocommit (columns by
        their labels), or None."""
        compiled = self._prepared(statement)
        with tracing.span(str(compiled.span["db.operation"]), compiled.span, child_only=True):
            try:
                pool = await self._pool(relaxed)
                # asyncpg.Record: values by column label (record["name"]), like a read-only mapping.
                return await pool.fetchrow(compiled.sql, *compiled.arguments(params))  # type: ignore[no-any-return]
            except Exception as exc:
                raise_store_error(exc)

    async def execute(self, statement: Executable, params: Mapping[str, Any], *, relaxed: bool = False) -> int:
        """Run an INSERT/UPDATE/DELETE in autocommit; the number of rows it touched."""
        compiled = self._prepared(statement)
        with tracing.span(str(compiled.span["db.operation"]), compiled.span, child_only=True):
            try:
                pool = await self._pool(relaxed)
                return _rowcount(await pool.execute(compiled.sql, *compiled.arguments(params)))
            except Exception as exc:
                raise_store_error(exc)

    async def setting(self, name: str, *, relaxed: bool = False) -> str:
        """A server setting as one of the pool's connections sees it (tests, diagnostics)."""
        try:
            pool = await self._pool(relaxed)
            value = await pool.fetchval("SELECT current_setting($1)", name)
        except Exception as exc:
            raise_store_error(exc)
        return str(value)

    async def close(self) -> None:
        pools, self._pools = list(self._pools.values()), {}
        for pool in pools:
            await pool.close()
