"""Outbox helpers for the event tests: events to write, writing them through units of work, a fast relay."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from lukhas_id.adapters.events.in_process import RecordingSink
from lukhas_id.adapters.sql import Database
from lukhas_id.adapters.sql.outbox import SqlOutbox, SqlOutboxRecorder, SqlRelayLease
from lukhas_id.adapters.sql.unit_of_work import SqlUnitOfWork
from lukhas_id.clock import SystemClock
from lukhas_id.domain.events import CATALOGUE, EventType, IdentityEvent
from lukhas_id.metrics import Metrics
from lukhas_id.services.event_relay import EventRelay, RelayConfig

FAST = RelayConfig(poll_interval=0.05, lease_ttl=2.0, batch=50, max_backoff=0.3)


def events(tenant: str, count: int, kind: EventType = EventType.SIGN_IN_REFUSED) -> list[IdentityEvent]:
    clock = SystemClock()
    metadata = {"client_id": "cl_x"} if "client_id" in CATALOGUE[kind].keys else {}
    return [IdentityEvent(kind, tenant, f"USR-{i}", clock.now(), metadata=metadata) for i in range(count)]


async def write(database: Database, batch: Sequence[IdentityEvent], per_unit: int = 1) -> None:
    """Commit `batch` to the outbox, `per_unit` events per unit of work."""
    uow = SqlUnitOfWork(database, RecordingSink(), [SqlOutboxRecorder(database)])
    for start in range(0, len(batch), per_unit):
        async with uow() as work:
            for event in batch[start : start + per_unit]:
                work.emit(event)


def relay(database: Database, metrics: Metrics | None = None, **kwargs: Any) -> EventRelay:
    return EventRelay(
        SqlOutbox(database), SqlRelayLease(database), SystemClock(), metrics or Metrics(), config=FAST, **kwargs
    )
