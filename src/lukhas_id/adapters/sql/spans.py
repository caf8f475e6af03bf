"""SQL spans (observability/tracing.py): one span per statement an SQLAlchemy engine sends, from its events.

Listeners are added to an engine only when tracing is on (`Database` asks at construction), so an engine
of a process without tracing runs no listener at all. A span is named by the statement's operation (its
first keyword: SELECT, INSERT, BEGIN...) and carries `db.system`, `db.operation` and `lukhas_id.db.lane`
`sqlalchemy`; never the statement's parameters. It is a child of the current span (SQLAlchemy's async
bridge runs the statement in a greenlet that shares the calling task's context), made only under one that
records: the start-up's migrations and unsampled requests make no traces. The direct asyncpg statements
(direct.py) make their spans themselves, by the same rules.
"""

from __future__ import annotations

from typing import Any, Final

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from lukhas_id.observability import tracing

_SPAN: Final = "_lukhas_id_span"
_MAX_OPERATION: Final = 16


def operation(sql: str) -> str:
    """The statement's first keyword, upper-case (SELECT, INSERT, WITH, BEGIN...); SQL when there is none."""
    word = sql.lstrip(" \t\r\n(").split(None, 1)[0] if sql.strip(" \t\r\n(") else ""
    return word.upper() if word.isalpha() and len(word) <= _MAX_OPERATION else "SQL"


def attributes(system: str, sql: str, lane: str) -> dict[str, tracing.Attribute]:
    return {"db.system": system, "db.operation": operation(sql), "lukhas_id.db.lane": lane}


def instrument(engine: AsyncEngine) -> None:
    """Make spans of every statement `engine` runs (and the engines made from it with execution options)."""
    system = engine.dialect.name
    sync = engine.sync_engine

    @event.listens_for(sync, "before_cursor_execute")
    def _before(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        if context is None:
            return
        found = attributes(system, statement, "sqlalchemy")
        span = tracing.start_span(str(found["db.operation"]), found, child_only=True)
        if span is not None:
            setattr(context, _SPAN, span)

    @event.listens_for(sync, "after_cursor_execute")
    def _after(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        span = getattr(context, _SPAN, None)
        if span is not None:
            setattr(context, _SPAN, None)
            span.end()

    @event.listens_for(sync, "handle_error")
    def _error(exception_context: Any) -> None:
        context = exception_context.execution_context
        span = getattr(context, _SPAN, None) if context is not None else None
        if span is not None:
            setattr(context, _SPAN, None)
            span.fail(type(exception_context.original_exception).__name__)
            span.end()
