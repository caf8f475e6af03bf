"""The unit of work on SQL (ports/unit_of_work.py): one transaction of a `Database` across repositories.

Repositories need no change to take part: `Database.unit()` makes their `transaction()` a savepoint of
the unit's transaction and their reads and single statements run on the unit's connection, for the
task that opened the unit. The events emitted inside are published to the sink after the commit.
"""

from __future__ import annotations

from types import TracebackType

from lukhas_id.adapters.events.in_process import RecordedWork
from lukhas_id.adapters.sql.database import Database
from lukhas_id.ports.unit_of_work import EventSink


class SqlUnitOfWork:
    def __init__(self, database: Database, sink: EventSink) -> None:
        self._database = database
        self._sink = sink

    def __call__(self) -> _SqlWork:
        return _SqlWork(self._database, self._sink)


class _SqlWork:
    """One unit: the Database's unit, then the events published once it committed. A class, not a
    generator-based context manager: units are opened on request paths (revocation)."""

    __slots__ = ("_scope", "_sink", "_work")

    def __init__(self, database: Database, sink: EventSink) -> None:
        self._scope = database.unit()
        self._sink = sink
        self._work = RecordedWork()

    async def __aenter__(self) -> RecordedWork:
        await self._scope.__aenter__()
        return self._work

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self._scope.__aexit__(kind, exc, tb)
        if exc is None and self._work.events:
            await self._sink.publish(self._work.events)
