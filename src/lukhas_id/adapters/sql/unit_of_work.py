"""The unit of work on SQL (ports/unit_of_work.py): one transaction of a `Database` across repositories.

Repositories need no change to take part: `Database.unit()` makes their `transaction()` a savepoint of
the unit's transaction and their reads and single statements run on the unit's connection, for the
task that opened the unit. The events emitted inside are handed to the recorders (the outbox, the audit
log) inside the transaction just before it commits (all but the VOLATILE types of domain/events.py), and
published to the sink after the commit.

A unit that ran no statement of its own (its change lives in Redis: a revocation, a sign-out, a sign-in
attempt) has only events to write. Such units share transactions (group commit, `_EventWriter`): the
events of every such unit waiting meanwhile are recorded in one transaction, and each unit returns once
that transaction committed, exactly as if it had committed alone. Recorders serialize a tenant's writes
(the outbox's and the audit chain's head rows are locked until the commit), so one transaction per event
would cap a tenant's revocations at one commit's latency each; one per batch does not.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from types import TracebackType

from lukhas_id.adapters.events.in_process import RecordedWork
from lukhas_id.adapters.sql.database import Database
from lukhas_id.domain.events import VOLATILE, IdentityEvent
from lukhas_id.ports.unit_of_work import EventRecorder, EventSink


class _EventWriter:
    """Group commit of event-only units (module docstring): one transaction records the events of every
    unit that is waiting; while it runs, the next units wait for the one after it."""

    __slots__ = ("_database", "_pending", "_recorders", "_running")

    def __init__(self, database: Database) -> None:
        self._database = database
        self._recorders: tuple[EventRecorder, ...] = ()
        self._pending: list[tuple[list[IdentityEvent], asyncio.Future[None]]] = []
        self._running: asyncio.Task[None] | None = None

    async def write(self, events: list[IdentityEvent]) -> None:
        """Record `events` in a committed transaction (shared with other units'); raises what it raised."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((events, done))
        if self._running is None:
            self._running = asyncio.create_task(self._run())
        await done

    async def _run(self) -> None:
        try:
            while self._pending:
                batch, self._pending = self._pending, []
                events = [event for unit, _ in batch for event in unit]
                try:
                    async with self._database.unit():
                        for recorder in self._recorders:
                            await recorder.record(events)
                except BaseException as failure:
                    for _, done in batch:
                        if done.done():
                            continue
                        if isinstance(failure, Exception):
                            done.set_exception(failure)
                        else:
                            done.cancel()
                    if not isinstance(failure, Exception):
                        raise
                else:
                    for _, done in batch:
                        if not done.done():
                            done.set_result(None)
        finally:
            self._running = None


class SqlUnitOfWork:
    def __init__(self, database: Database, sink: EventSink, recorders: Sequence[EventRecorder] = ()) -> None:
        self._database = database
        self._sink = sink
        self._writer = _EventWriter(database)
        self._writer._recorders = self._recorders = tuple(recorders)

    def add_recorder(self, recorder: EventRecorder) -> None:
        """Record every later unit's events with `recorder` too (composition root only)."""
        self._writer._recorders = self._recorders = (*self._recorders, recorder)

    def __call__(self) -> _SqlWork:
        return _SqlWork(self._database, self._sink, self._recorders, self._writer)


class _SqlWork:
    """One unit: the Database's unit, then the events published once it committed. A class, not a
    generator-based context manager: units are opened on request paths (revocation)."""

    __slots__ = ("_recorders", "_scope", "_sink", "_work", "_writer")

    def __init__(
        self, database: Database, sink: EventSink, recorders: tuple[EventRecorder, ...], writer: _EventWriter
    ) -> None:
        self._scope = database.unit()
        self._sink = sink
        self._recorders = recorders
        self._writer = writer
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
            if durable and not self._scope.touched:
                await self._scope.__aexit__(kind, exc, tb)  # nothing of its own to commit
                await self._writer.write(durable)
                await self._sink.publish(events)
                return
            try:
                for recorder in self._recorders if durable else ():
                    await recorder.record(durable)
            except BaseException as failure:
                await self._scope.__aexit__(type(failure), failure, failure.__traceback__)
                raise
        await self._scope.__aexit__(kind, exc, tb)
        if exc is None and events:
            await self._sink.publish(self._work.events)
