"""The unit of work on SQL (ports/unit_of_work.py): one transaction of a `Database` across repositories.

Repositories need no change to take part: `Database.unit()` makes their `transaction()` a savepoint of
the unit's transaction and their reads and single statements run on the unit's connection, for the
task that opened the unit. The events emitted inside are published to the sink after the commit.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from lukhas_id.adapters.events.in_process import RecordedWork
from lukhas_id.adapters.sql.database import Database
from lukhas_id.ports.unit_of_work import EventSink


class SqlUnitOfWork:
    def __init__(self, database: Database, sink: EventSink) -> None:
        self._database = database
        self._sink = sink

    @contextlib.asynccontextmanager
    async def __call__(self) -> AsyncIterator[RecordedWork]:
        work = RecordedWork()
        async with self._database.unit():
            yield work
        if work.events:
            await self._sink.publish(work.events)
