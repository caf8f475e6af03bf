"""Constraint violations on SQL: which constraint an IntegrityError broke, as a domain error.

Shared by the SQL repositories, where each method is one short transaction. Constraint violations
become domain errors whose messages name the kind of thing, never a value: a unique violation is
`AlreadyExists`, a missing tenant `NotFound`. The driver's code says which constraint it was: the
SQLSTATE on PostgreSQL (asyncpg), the extended error name on SQLite (sqlite3).
"""

from __future__ import annotations

from typing import Literal

from sqlalchemy.exc import IntegrityError

from lukhas_id.errors import AlreadyExists, LukhasIdError, NotFound

Violation = Literal["unique", "foreign_key", "other"]

_PG_UNIQUE = "23505"
_PG_FOREIGN_KEY = "23503"
_SQLITE_UNIQUE = frozenset({"SQLITE_CONSTRAINT_UNIQUE", "SQLITE_CONSTRAINT_PRIMARYKEY"})
_SQLITE_FOREIGN_KEY = "SQLITE_CONSTRAINT_FOREIGNKEY"


def violation(exc: IntegrityError) -> Violation:
    """Which kind of constraint an IntegrityError broke (asyncpg SQLSTATE or sqlite3 error name)."""
    orig = exc.orig
    sqlstate = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    if sqlstate == _PG_UNIQUE:
        return "unique"
    if sqlstate == _PG_FOREIGN_KEY:
        return "foreign_key"
    name = getattr(orig, "sqlite_errorname", None)
    if name in _SQLITE_UNIQUE:
        return "unique"
    if name == _SQLITE_FOREIGN_KEY:
        return "foreign_key"
    return "other"


def domain_error(exc: IntegrityError, taken: str) -> LukhasIdError | IntegrityError:
    """The error to raise instead of `exc`; `taken` says what already exists, e.g. "client_id"."""
    match violation(exc):
        case "unique":
            return AlreadyExists(f"{taken} already exists")
        case "foreign_key":
            return NotFound("the tenant does not exist")
        case _:
            return exc
