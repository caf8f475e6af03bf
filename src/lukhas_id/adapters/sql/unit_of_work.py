"""The unit of work on SQL (ports/unit_of_work.py): one transaction of a `Database` across repositories.

Repositories need no change to take part: `Database.unit()` makes their `transaction()` a savepoint of
the unit's transaction and their reads and single statements run on the unit's connection, for the
task that opened the unit. The events emitted inside are handed to the recorders (the outbox, the audit
log) inside the transaction just before it commits (all but the VOLATILE types of domain/events.py), and
published to the sink after the commit.
"""

from __future__ import annotations

from collections.abc import Sequence
from types import TracebackType

from lukhas_id.adapters.events.in_process import RecordedWork
from lukhas_id.adapters.sql.database import Database
from lukhas_id.domain.events import VOLATILE
from lukhas_id.ports.unit_of_work import EventRecorder, EventSink


class SqlUnitOfWork:
    def __init__(self, database: Database, sink: EventSink, recorders: Sequence[EventRecorder] = ()) -> None:
        self._database = database
        self._sink = sink
        self._recorders = tuple(recorders)

    def add_recorder(self, recorder: EventRecorder) -> None:
        """Record every later unit's events with `recorder` too (composition root only)."""
        self._recorders = (*self._recorders, recorder)

    def __call__(self) -> _SqlWork:
        return _SqlWork(self._database, self._sink, self._recorders)


class _SqlWork:
    """One unit: the Database's unit, then the events published once it committed. A class, not a
    generator-based context manager: units are opened on request paths (revocation)."""

    __slots__ = ("_recorders", "_scope", "_sink", "_work")

    def __init__(self, database: Database, sink: EventSink, recorders: tuple[EventRecorder, ...]) -> None:
        self._scope = database.unit()
        self._sink = sink
        self._recorders = recorders
        self._work = RecordedWork()

    async def __aenter__(self) -> RecordedWork:
        await self._scope.__aenter__()
        return self._work

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        events = self._work.events
        if exc is None and events and self._recorders:
            durable = [e for e in events if e.type not in VOLATILE]
            try:
                for recorder in self._recorders if durable else ():
                    await recorder.record(durable)
            except BaseException as failure:
                await self._scope.__aexit__(type(failure), failure, failure.__traceback__)
                raise
        await self._scope.__aexit__(kind, exc, tb)
        if exc is None and events:
            await self._sink.publish(self._work.events)
