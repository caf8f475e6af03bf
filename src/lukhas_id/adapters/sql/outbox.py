"""The event outbox on SQL (ports/outbox.py; ADR 0008): the recorder, the relay's reads and its lease.

`SqlOutboxRecorder.record` runs inside the unit of work, just before it commits. For each tenant of the
unit's events (in name order, so two units never wait on each other crosswise) it bumps the tenant's head
row with one upsert (``INSERT ... ON CONFLICT DO UPDATE ... RETURNING``, on SQLite and PostgreSQL alike),
which locks that row until the unit ends, and numbers the tenant's events with the sequence numbers it
reserved. A second unit writing events of the same tenant waits at that upsert until the first commits
or rolls back: a tenant's rows therefore commit in `seq` order (and in `position` order, assigned after
the lock), and a rolled-back unit gives its numbers back. A relay reading unsent rows in `position`
order can never see a tenant's later row before an earlier one, so it never skips one. SQLite serializes
every writer anyway; on PostgreSQL the lock is held only from the recorder to the commit.

The lease (`SqlRelayLease`) is a row per name with its holder and expiry, taken with one conditional
UPDATE (or the first INSERT), which is atomic on both databases.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from itertools import groupby
from typing import Any, Final

import orjson
from sqlalchemy import Insert, delete, func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from lukhas_id.adapters.sql.database import Database
from lukhas_id.adapters.sql.models import OutboxHeadRow, OutboxRow, RelayLeaseRow
from lukhas_id.domain.events import IdentityEvent
from lukhas_id.ports.outbox import OutboxEntry

RELAY_LEASE: Final = "relay"


def _insert(database: Database, table: Any) -> Any:
    return sqlite_insert(table) if database.is_sqlite else pg_insert(table)


def _entry(row: Any) -> OutboxEntry:
    return OutboxEntry(
        position=row.position,
        tenant_id=row.tenant_id,
        seq=row.seq,
        event_id=row.event_id,
        type=row.type,
        at=row.at,
        payload=orjson.loads(row.payload),
        sent_at=row.sent_at,
    )


_INSERT: Final = insert(OutboxRow.__table__)  # type: ignore[arg-type]  # Core, not the ORM's bulk path: a fifth of the CPU


class SqlOutboxRecorder:
    """The EventRecorder that writes a unit's events to `event_outbox` (see the module docstring)."""

    def __init__(self, database: Database) -> None:
        self._database = database

    async def record(self, events: Sequence[IdentityEvent]) -> None:
        by_tenant = sorted(enumerate(events), key=lambda item: (item[1].tenant_id, item[0]))
        rows: list[dict[str, Any]] = []
        # Always inside the unit (the EventRecorder contract), whose session `read()` yields: no savepoint,
        # since a failure here rolls the whole unit back anyway.
        async with self._database.read() as session:
            for tenant_id, group in groupby(by_tenant, key=lambda item: item[1].tenant_id):
                batch = [event for _, event in group]
                upsert: Insert = _insert(self._database, OutboxHeadRow).values(tenant_id=tenant_id, last_seq=len(batch))
                bump = upsert.on_conflict_do_update(  # type: ignore[attr-defined]
                    index_elements=[OutboxHeadRow.tenant_id],
                    set_={"last_seq": OutboxHeadRow.last_seq + upsert.excluded.last_seq},  # type: ignore[attr-defined]
                ).returning(OutboxHeadRow.last_seq)
                last = int((await session.execute(bump)).scalar_one())
                first = last - len(batch) + 1
                for offset, event in enumerate(batch):
                    rows.append(
                        {
                            "tenant_id": tenant_id,
                            "seq": first + offset,
                            "event_id": event.id,
                            "type": event.type.value,
                            "at": event.at,
                            "payload": orjson.dumps(event.as_dict()).decode(),
                            "sent_at": None,
                        }
                    )
            # In emission order within a tenant (positions follow seq); tenants one after another.
            conn = await session.connection()
            await conn.execute(_INSERT, rows if len(rows) > 1 else rows[0])


_COLUMNS: Final = (
    OutboxRow.position,
    OutboxRow.tenant_id,
    OutboxRow.seq,
    OutboxRow.event_id,
    OutboxRow.type,
    OutboxRow.at,
    OutboxRow.payload,
    OutboxRow.sent_at,
)


class SqlOutbox:
    """The relay's and `events tail`'s side of the outbox (ports/outbox.py Outbox)."""

    def __init__(self, database: Database) -> None:
        self._database = database

    async def pending(self, limit: int) -> list[OutboxEntry]:
        query = select(*_COLUMNS).where(OutboxRow.sent_at.is_(None)).order_by(OutboxRow.position).limit(limit)
        async with self._database.read() as session:
            return [_entry(row) for row in await session.execute(query)]

    async def mark_sent(self, positions: Collection[int], at: float) -> None:
        if not positions:
            return
        statement = (
            update(OutboxRow)
            .where(OutboxRow.position.in_(list(positions)), OutboxRow.sent_at.is_(None))
            .values(sent_at=at)
        )
        async with self._database.statement() as conn:
            await conn.execute(statement)

    async def backlog(self) -> int:
        query = select(func.count()).select_from(OutboxRow).where(OutboxRow.sent_at.is_(None))
        async with self._database.read() as session:
            return int((await session.execute(query)).scalar_one())

    async def purge_sent(self, before: float) -> int:
        statement = delete(OutboxRow).where(OutboxRow.sent_at.is_not(None), OutboxRow.sent_at < before)
        async with self._database.statement() as conn:
            result = await conn.execute(statement)
        return int(result.rowcount)

    async def after(
        self, position: int, limit: int, *, tenant_id: str | None = None, types: Collection[str] = ()
    ) -> list[OutboxEntry]:
        query = select(*_COLUMNS).where(OutboxRow.position > position)
        if tenant_id is not None:
            query = query.where(OutboxRow.tenant_id == tenant_id)
        if types:
            query = query.where(OutboxRow.type.in_(list(types)))
        async with self._database.read() as session:
            return [_entry(row) for row in await session.execute(query.order_by(OutboxRow.position).limit(limit))]

    async def last_position(self) -> int:
        async with self._database.read() as session:
            value = (await session.execute(select(func.max(OutboxRow.position)))).scalar_one()
        return int(value or 0)


class SqlRelayLease:
    """ports/outbox.py RelayLease on a row of `event_relay_leases` (see the module docstring)."""

    def __init__(self, database: Database, name: str = RELAY_LEASE) -> None:
        self._database = database
        self._name = name

    async def hold(self, holder: str, now: float, ttl: float) -> bool:
        renew = (
            update(RelayLeaseRow)
            .where(
                RelayLeaseRow.name == self._name,
                (RelayLeaseRow.holder == holder) | (RelayLeaseRow.expires_at < now),
            )
            .values(holder=holder, expires_at=now + ttl)
        )
        first = (
            _insert(self._database, RelayLeaseRow)
            .values(name=self._name, holder=holder, expires_at=now + ttl)
            .on_conflict_do_nothing(index_elements=[RelayLeaseRow.name])
        )
        async with self._database.statement() as conn:
            if (await conn.execute(renew)).rowcount == 1:
                return True
            return bool((await conn.execute(first)).rowcount == 1)

    async def release(self, holder: str) -> None:
        statement = (
            update(RelayLeaseRow)
            .where(RelayLeaseRow.name == self._name, RelayLeaseRow.holder == holder)
            .values(expires_at=0.0)
        )
        async with self._database.statement() as conn:
            await conn.execute(statement)
