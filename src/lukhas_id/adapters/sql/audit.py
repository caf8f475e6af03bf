"""The audit log on SQL: the recorder that appends a unit's events to each tenant's hash chain, and the
AuditStore port (ports/audit.py) that reads the chain back.

Appending (`SqlAuditRecorder.record`) runs inside the unit's transaction, last before its commit. Per
tenant, in tenant order (two units never wait for each other in opposite orders): one upsert of the
tenant's head row that returns its seq and hash and locks it (PostgreSQL: the row lock of INSERT ... ON
CONFLICT DO UPDATE, held to the commit; SQLite: the unit already holds the database's write lock since
its BEGIN IMMEDIATE), one INSERT of the records, one UPDATE of the head. Everything that does not depend
on the head (the rows' fields, the metadata JSON) is prepared before the lock is taken. Two concurrent
units of one tenant therefore append one after the other, each seeing the other's head: no gap, no fork.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any, cast

from sqlalchemy import Select, Table, and_, bindparam, func, insert, or_, select, union, update
from sqlalchemy.dialects import postgresql, sqlite

from lukhas_id.adapters.sql.database import Database
from lukhas_id.adapters.sql.errors import raise_store_error
from lukhas_id.adapters.sql.models import AuditCheckpointRow, AuditHeadRow, AuditKeyRow, AuditRecordRow
from lukhas_id.domain.audit import AUDITED, GENESIS_HASH, AuditHead, AuditKey, AuditRecord, Checkpoint, record_hash
from lukhas_id.domain.events import IdentityEvent
from lukhas_id.observability.context import current


def request_origin() -> str | None:
    """Where the action came from: the request's route template, or the CLI command / `maintenance`
    (which open a context of their own: cli/common.py, web/app.py)."""
    context = current()
    return context.route if context is not None else None


def _metadata_json(metadata: Any) -> str:
    return json.dumps(dict(metadata), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


class SqlAuditRecorder:
    """EventRecorder: every audited event of a unit becomes the next record of its tenant's chain."""

    def __init__(self, database: Database, origin: Callable[[], str | None] = request_origin) -> None:
        self._db = database
        self._origin = origin
        # Core statements on the tables, built once: the ORM's bulk paths cost more than the round trips.
        dialect = postgresql if not database.is_sqlite else sqlite
        heads, records = cast(Table, AuditHeadRow.__table__), cast(Table, AuditRecordRow.__table__)
        self._upsert_head = (
            dialect.insert(heads)
            .on_conflict_do_update(index_elements=[heads.c.tenant_id], set_={"tenant_id": heads.c.tenant_id})
            .returning(heads.c.seq, heads.c.hash)
        )
        self._insert = insert(records)
        self._move_head = (
            update(heads)
            .where(heads.c.tenant_id == bindparam("head_tenant"))
            .values(seq=bindparam("head_seq"), hash=bindparam("head_hash"))
        )

    async def record(self, events: Sequence[IdentityEvent]) -> None:
        by_tenant: dict[str, list[IdentityEvent]] = {}
        for event in events:
            if event.type in AUDITED:
                by_tenant.setdefault(event.tenant_id, []).append(event)
        if not by_tenant:
            return
        origin = self._origin()
        session = await self._db.unit_session()
        try:
            conn = await session.connection()
            for tenant_id in sorted(by_tenant):
                bodies = [
                    {
                        "tenant": tenant_id,
                        "id": e.id,
                        "type": e.type.value,
                        "time_us": round(e.at * 1_000_000),
                        "principal": e.principal,
                        "principal_type": e.principal_type,
                        "client_id": e.client_id,
                        "trace_id": e.trace_id,
                        "origin": origin,
                        "metadata": dict(e.metadata),
                    }
                    for e in by_tenant[tenant_id]
                ]
                head = (
                    await conn.execute(self._upsert_head, {"tenant_id": tenant_id, "seq": 0, "hash": GENESIS_HASH})
                ).one()
                seq, prev = int(head.seq), str(head.hash)
                rows = []
                for body in bodies:
                    seq += 1
                    record = _record(body, seq, prev)
                    prev = record.hash
                    rows.append(_row(record))
                await conn.execute(self._insert, rows)
                await conn.execute(self._move_head, {"head_tenant": tenant_id, "head_seq": seq, "head_hash": prev})
        except Exception as exc:
            raise_store_error(exc)


def _record(body: dict[str, Any], seq: int, prev_hash: str) -> AuditRecord:
    partial = AuditRecord(
        tenant_id=body["tenant"],
        seq=seq,
        event_id=body["id"],
        type=body["type"],
        time_us=body["time_us"],
        principal=body["principal"],
        principal_type=body["principal_type"],
        client_id=body["client_id"],
        trace_id=body["trace_id"],
        origin=body["origin"],
        metadata=body["metadata"],
        prev_hash=prev_hash,
        hash="",
    )
    return AuditRecord(**{**_fields(partial), "hash": record_hash(partial.body())})


def _fields(record: AuditRecord) -> dict[str, Any]:
    return {name: getattr(record, name) for name in AuditRecord.__slots__}


def _row(record: AuditRecord) -> dict[str, Any]:
    return {
        "tenant_id": record.tenant_id,
        "seq": record.seq,
        "event_id": record.event_id,
        "type": record.type,
        "time_us": record.time_us,
        "principal": record.principal,
        "principal_type": record.principal_type,
        "client_id": record.client_id,
        "trace_id": record.trace_id,
        "origin": record.origin,
        "metadata": _metadata_json(record.metadata),
        "prev_hash": record.prev_hash,
        "hash": record.hash,
    }


def _from_row(row: AuditRecordRow) -> AuditRecord:
    try:
        metadata = json.loads(row.event_metadata)
    except ValueError:
        metadata = {"unreadable": "metadata is not JSON"}  # an edit: the hash check reports it
    if not isinstance(metadata, dict):
        metadata = {"unreadable": "metadata is not a JSON object"}
    return AuditRecord(
        tenant_id=row.tenant_id,
        seq=int(row.seq),
        event_id=row.event_id,
        type=row.type,
        time_us=int(row.time_us),
        principal=row.principal,
        principal_type=row.principal_type,
        client_id=row.client_id,
        trace_id=row.trace_id,
        origin=row.origin,
        metadata=metadata,
        prev_hash=row.prev_hash,
        hash=row.hash,
    )


class SqlAuditStore:
    """AuditStore on SQL."""

    def __init__(self, database: Database) -> None:
        self._db = database

    async def tenant_ids(self) -> list[str]:
        query = union(
            select(AuditHeadRow.tenant_id),
            select(AuditRecordRow.tenant_id).distinct(),
            select(AuditCheckpointRow.tenant_id).distinct(),
        )
        async with self._db.read() as session:
            return sorted(str(t) for t in (await session.execute(query)).scalars())

    async def head(self, tenant_id: str) -> AuditHead | None:
        async with self._db.read() as session:
            row = await session.get(AuditHeadRow, tenant_id)
        return None if row is None else AuditHead(row.tenant_id, int(row.seq), row.hash)

    async def records(self, tenant_id: str, *, after_seq: int, limit: int) -> list[AuditRecord]:
        query = (
            select(AuditRecordRow)
            .where(AuditRecordRow.tenant_id == tenant_id, AuditRecordRow.seq > after_seq)
            .order_by(AuditRecordRow.seq)
            .limit(limit)
        )
        return await self._page(query)

    async def records_in(
        self, *, since_us: int, until_us: int | None, tenant_id: str | None, after: tuple[str, int] | None, limit: int
    ) -> list[AuditRecord]:
        conditions = [AuditRecordRow.time_us >= since_us]
        if until_us is not None:
            conditions.append(AuditRecordRow.time_us < until_us)
        if tenant_id is not None:
            conditions.append(AuditRecordRow.tenant_id == tenant_id)
        if after is not None:
            after_tenant, after_seq = after
            conditions.append(
                or_(
                    AuditRecordRow.tenant_id > after_tenant,
                    and_(AuditRecordRow.tenant_id == after_tenant, AuditRecordRow.seq > after_seq),
                )
            )
        query = (
            select(AuditRecordRow)
            .where(*conditions)
            .order_by(AuditRecordRow.tenant_id, AuditRecordRow.seq)
            .limit(limit)
        )
        return await self._page(query)

    async def _page(self, query: Select[AuditRecordRow]) -> list[AuditRecord]:
        async with self._db.read() as session:
            return [_from_row(row) for row in (await session.execute(query)).scalars()]

    async def checkpoints(self, tenant_id: str) -> list[Checkpoint]:
        query = (
            select(AuditCheckpointRow).where(AuditCheckpointRow.tenant_id == tenant_id).order_by(AuditCheckpointRow.seq)
        )
        async with self._db.read() as session:
            rows = (await session.execute(query)).scalars().all()
        return [Checkpoint(r.tenant_id, int(r.seq), r.hash, r.at, r.jws) for r in rows]

    async def unsealed(self) -> list[AuditHead]:
        sealed = (
            select(func.max(AuditCheckpointRow.seq))
            .where(AuditCheckpointRow.tenant_id == AuditHeadRow.tenant_id)
            .scalar_subquery()
        )
        query = (
            select(AuditHeadRow)
            .where(AuditHeadRow.seq > 0, AuditHeadRow.seq > func.coalesce(sealed, 0))
            .order_by(AuditHeadRow.tenant_id)
        )
        async with self._db.read() as session:
            rows = (await session.execute(query)).scalars().all()
        return [AuditHead(r.tenant_id, int(r.seq), r.hash) for r in rows]

    async def add_checkpoint(self, checkpoint: Checkpoint) -> bool:
        row = {
            "tenant_id": checkpoint.tenant_id,
            "seq": checkpoint.seq,
            "hash": checkpoint.hash,
            "at": checkpoint.at,
            "jws": checkpoint.jws,
        }
        dialect = postgresql if not self._db.is_sqlite else sqlite
        statement = dialect.insert(AuditCheckpointRow).values(row).on_conflict_do_nothing()
        async with self._db.statement() as conn:
            return (await conn.execute(statement)).rowcount == 1

    async def keys(self) -> list[AuditKey]:
        query = select(AuditKeyRow).order_by(AuditKeyRow.created_at.desc(), AuditKeyRow.kid)
        async with self._db.read() as session:
            rows = (await session.execute(query)).scalars().all()
        return [AuditKey(r.kid, r.alg, json.loads(r.public_jwk), bytes(r.private_enc), r.created_at) for r in rows]

    async def add_key(self, key: AuditKey) -> None:
        row = {
            "kid": key.kid,
            "alg": key.alg,
            "public_jwk": json.dumps(dict(key.public_jwk), sort_keys=True),
            "private_enc": key.private_enc,
            "created_at": key.created_at,
        }
        async with self._db.transaction() as session:
            await session.execute(insert(AuditKeyRow), [row])
