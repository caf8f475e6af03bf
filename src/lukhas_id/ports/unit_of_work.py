"""The unit of work and the event sink: one transaction across repositories, and the events it records.

A service opens a unit of work for a use case that changes stored state:

    async with self._uow() as work:
        await self._clients.create(client, principal)      # any repositories, one transaction
        work.emit(IdentityEvent(EventType.CLIENT_CREATED, ...))

Atomicity: every SQL write made by any repository inside the block (on the same `Database`) commits
together when the block ends, or none does when it raises. A repository's own `transaction()` inside
the block becomes a savepoint of the unit's transaction, so a repository that catches a constraint
violation (AlreadyExists) leaves the rest of the unit intact. Events emitted inside the block reach the
`EventSink` only after the commit, in emission order; after a rollback they are dropped. So no event
describes a change that did not happen. Event recorders (the durable outbox, the audit log) write the
unit's events inside the same transaction, just before it commits: they commit or roll back with the
change. ADR 0007 says what is and is not transactional with what: state in Redis is not part of a SQL
unit of work.

Units of work do not nest: a use case that calls another service's use case passes its `work` along
or lets the other open its own after it.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from typing import Protocol

from lukhas_id.domain.events import IdentityEvent


class Work(Protocol):
    def emit(self, event: IdentityEvent) -> None:
        """Record an event, delivered once the unit of work commits."""
        ...


class UnitOfWork(Protocol):
    def __call__(self) -> AbstractAsyncContextManager[Work]:
        """A new unit of work (see the module docstring for its atomicity)."""
        ...


class EventSink(Protocol):
    async def publish(self, events: Sequence[IdentityEvent]) -> None:
        """Hand committed events on; must not raise for a subscriber's failure (it is logged)."""
        ...


class EventRecorder(Protocol):
    async def record(self, events: Sequence[IdentityEvent]) -> None:
        """Write the unit's events inside its transaction, before it commits (the statements join the unit
        of work on their own: adapters/sql/database.py). Raising rolls the whole unit back."""
        ...
