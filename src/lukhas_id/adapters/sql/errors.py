"""Driver errors of the SQL adapter as the typed errors of errors.py: StoreUnavailable and Conflict.

`Database`'s transaction, read and statement helpers and the asyncpg lane (direct.py) pass every error through
`store_error`, so a repository never sees an outage as a driver error and the web edge needs no driver import.
What is translated, and what is left alone:

- An outage becomes StoreUnavailable: a refused, lost or timed-out connection (OSError, TimeoutError, an
  invalidated connection, a pool that timed out, asyncpg's InterfaceError); PostgreSQL SQLSTATE class 08
  (connection exception), class 53 (insufficient resources: too many connections, disk full, out of memory),
  57P01-57P03 (shutting down, crashed, starting), 57014 (a statement timeout), 55P03 (a lock timeout), 25006
  (a read-only standby); SQLite's BUSY and LOCKED (the file stays locked past the busy timeout), CANTOPEN
  (the file cannot be opened), IOERR, FULL, READONLY, NOMEM and PROTOCOL.
- A lost race becomes Conflict: PostgreSQL 40001 (serialization failure) and 40P01 (deadlock), SQLite's
  BUSY_SNAPSHOT (a read transaction's snapshot went stale before it could write).
- Everything else is raised unchanged: IntegrityError stays for the repositories, which know which rule was
  broken and raise AlreadyExists (a Conflict) or NotFound; other errors are bugs (a 500).
"""

from __future__ import annotations

import sqlite3
from typing import Final, NoReturn

import asyncpg  # type: ignore[import-untyped]
from sqlalchemy import exc as sa

from lukhas_id.errors import Conflict, LukhasIdError, StoreUnavailable

STORE: Final = "database"

_PG_UNAVAILABLE_CLASSES: Final = frozenset({"08", "53"})
_PG_UNAVAILABLE: Final = frozenset({"57P01", "57P02", "57P03", "57014", "55P03", "25006"})
_PG_CONFLICT: Final = frozenset({"40001", "40P01"})

# SQLite result codes (https://www.sqlite.org/rescode.html): primary codes are the low byte.
_SQLITE_BUSY_SNAPSHOT: Final = 517
_SQLITE_UNAVAILABLE: Final = frozenset({5, 6, 7, 8, 10, 13, 14, 15})  # BUSY LOCKED NOMEM READONLY IOERR FULL
# CANTOPEN PROTOCOL


def _sqlstate(exc: BaseException | None) -> str | None:
    """The SQLSTATE of an asyncpg error, or of the DBAPI error SQLAlchemy made of one (or of its cause)."""
    while exc is not None:
        state = getattr(exc, "sqlstate", None) or getattr(exc, "pgcode", None)
        if isinstance(state, str):
            return state
        exc = exc.__cause__
    return None


def _from_sqlstate(state: str, name: str) -> Conflict | StoreUnavailable | None:
    if state in _PG_CONFLICT:
        return Conflict(f"the write lost a race with another transaction (SQLSTATE {state})")
    if state[:2] in _PG_UNAVAILABLE_CLASSES or state in _PG_UNAVAILABLE:
        return StoreUnavailable(STORE, f"{name}, SQLSTATE {state}")
    return None


def _from_sqlite(error: sqlite3.Error) -> Conflict | StoreUnavailable | None:
    code = getattr(error, "sqlite_errorcode", None)
    if not isinstance(code, int):
        return None
    name = getattr(error, "sqlite_errorname", str(code))
    if code == _SQLITE_BUSY_SNAPSHOT:
        return Conflict(f"the write lost a race with another transaction ({name})")
    if code & 0xFF in _SQLITE_UNAVAILABLE:
        return StoreUnavailable(STORE, name)
    return None


def store_error(exc: BaseException) -> Conflict | StoreUnavailable | None:
    """The typed error to raise in place of driver error `exc` (chain it: ``raise ... from exc``), or None
    when `exc` is to be raised unchanged (see the module docstring)."""
    if isinstance(exc, LukhasIdError | StoreUnavailable | sa.IntegrityError):
        return None
    name = type(exc).__name__
    if isinstance(exc, sa.DBAPIError):
        if isinstance(exc.orig, sqlite3.Error):
            return _from_sqlite(exc.orig)
        state = _sqlstate(exc.orig)
        typed = None if state is None else _from_sqlstate(state, name)
        if typed is None and (exc.connection_invalidated or isinstance(exc, sa.InterfaceError)):
            # PostgreSQL: SQLAlchemy saw the connection die, or asyncpg refused to use a closed one.
            return StoreUnavailable(STORE, name)
        return typed
    if isinstance(exc, sa.TimeoutError | sa.DisconnectionError | OSError | TimeoutError | asyncpg.InterfaceError):
        return StoreUnavailable(STORE, name)
    if isinstance(exc, sqlite3.Error):
        return _from_sqlite(exc)
    state = _sqlstate(exc) if isinstance(exc, asyncpg.PostgresError) else None
    return None if state is None else _from_sqlstate(state, name)


def raise_store_error(exc: Exception) -> NoReturn:
    """Raise the typed error for driver error `exc` (chained to it), or `exc` itself; call it in an except
    block that caught `exc`."""
    typed = store_error(exc)
    if typed is None:
        raise exc
    raise typed from exc
