"""SQL Shared Signals storage: ports/ssf.py on SQLite or PostgreSQL (migration 0011).

The push authorization header is encrypted under the KEK (a credential of the receiver's); claims are
JSON text. Queuing is INSERT ... ON CONFLICT (jti) DO NOTHING on both databases.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson
from sqlalchemy import and_, delete, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from lukhas_id.adapters.sql.database import Database
from lukhas_id.adapters.sql.models import SsfSetRow, SsfStreamRow, SsfSubjectRow
from lukhas_id.domain.ssf import DefaultSubjects, DeliveryMethod, QueuedSet, Stream, StreamStatus
from lukhas_id.ports.crypto import SecretBox

PENDING = "pending"
DELIVERED = "delivered"
FAILED = "failed"


def _json(value: Any) -> str:
    return orjson.dumps(value).decode()


class SqlSsfStreams:
    def __init__(self, database: Database, box: SecretBox) -> None:
        self._db = database
        self._box = box

    def _row(self, stream: Stream) -> dict[str, Any]:
        header = stream.authorization_header
        return {
            "stream_id": stream.stream_id,
            "tenant_id": stream.tenant_id,
            "client_id": stream.client_id,
            "method": stream.method.value,
            "endpoint_url": stream.endpoint_url,
            "authorization_enc": self._box.encrypt(header.encode()) if header is not None else None,
            "events_requested": _json(list(stream.events_requested)) if stream.events_requested is not None else None,
            "events_delivered": _json(list(stream.events_delivered)),
            "description": stream.description,
            "status": stream.status.value,
            "reason": stream.reason,
            "default_subjects": stream.default_subjects.value,
            "created_at": stream.created_at,
            "updated_at": stream.updated_at,
            "verified_at": stream.verified_at,
        }

    def _stream(self, row: SsfStreamRow) -> Stream:
        requested = row.events_requested
        return Stream(
            stream_id=row.stream_id,
            tenant_id=row.tenant_id,
            client_id=row.client_id,
            method=DeliveryMethod(row.method),
            endpoint_url=row.endpoint_url,
            authorization_header=self._box.decrypt(row.authorization_enc).decode() if row.authorization_enc else None,
            events_requested=tuple(orjson.loads(requested)) if requested is not None else None,
            events_delivered=tuple(orjson.loads(row.events_delivered)),
            description=row.description,
            status=StreamStatus(row.status),
            reason=row.reason,
            default_subjects=DefaultSubjects(row.default_subjects),
            created_at=row.created_at,
            updated_at=row.updated_at,
            verified_at=row.verified_at,
        )

    async def create(self, stream: Stream) -> None:
        async with self._db.transaction() as session:
            session.add(SsfStreamRow(**self._row(stream)))

    async def get(self, tenant_id: str, stream_id: str) -> Stream | None:
        async with self._db.read() as session:
            row = await session.get(SsfStreamRow, stream_id)
        return self._stream(row) if row is not None and row.tenant_id == tenant_id else None

    async def _list(self, *conditions: Any) -> list[Stream]:
        query = select(SsfStreamRow).where(*conditions).order_by(SsfStreamRow.created_at, SsfStreamRow.stream_id)
        async with self._db.read() as session:
            rows = (await session.scalars(query)).all()
        return [self._stream(r) for r in rows]

    async def for_client(self, tenant_id: str, client_id: str) -> list[Stream]:
        return await self._list(SsfStreamRow.tenant_id == tenant_id, SsfStreamRow.client_id == client_id)

    async def for_tenant(self, tenant_id: str) -> list[Stream]:
        return await self._list(SsfStreamRow.tenant_id == tenant_id)

    async def save(self, stream: Stream) -> None:
        values = self._row(stream)
        del values["stream_id"]
        async with self._db.statement() as conn:
            await conn.execute(update(SsfStreamRow).where(SsfStreamRow.stream_id == stream.stream_id).values(values))

    async def touch(self, stream_id: str, at: float) -> None:
        async with self._db.statement() as conn:
            await conn.execute(update(SsfStreamRow).where(SsfStreamRow.stream_id == stream_id).values(updated_at=at))

    async def delete(self, tenant_id: str, stream_id: str) -> bool:
        async with self._db.transaction() as session:
            await session.execute(delete(SsfSetRow).where(SsfSetRow.stream_id == stream_id))
            await session.execute(delete(SsfSubjectRow).where(SsfSubjectRow.stream_id == stream_id))
            result = await session.execute(
                delete(SsfStreamRow).where(SsfStreamRow.stream_id == stream_id, SsfStreamRow.tenant_id == tenant_id)
            )
        return bool(getattr(result, "rowcount", 0))

    async def set_subject(self, stream_id: str, key: str, included: bool) -> None:
        insert = sqlite.insert(SsfSubjectRow) if self._db.is_sqlite else postgresql.insert(SsfSubjectRow)
        stmt = insert.values(stream_id=stream_id, subject_key=key, included=included).on_conflict_do_update(
            index_elements=["stream_id", "subject_key"], set_={"included": included}
        )
        async with self._db.statement() as conn:
            await conn.execute(stmt)

    async def subject_rules(self, stream_id: str, keys: Sequence[str]) -> dict[str, bool]:
        if not keys:
            return {}
        query = select(SsfSubjectRow.subject_key, SsfSubjectRow.included).where(
            SsfSubjectRow.stream_id == stream_id, SsfSubjectRow.subject_key.in_(list(keys))
        )
        async with self._db.read() as session:
            return {key: bool(included) for key, included in (await session.execute(query)).all()}


def _queued(row: SsfSetRow) -> QueuedSet:
    return QueuedSet(
        jti=row.jti,
        stream_id=row.stream_id,
        tenant_id=row.tenant_id,
        claims=orjson.loads(row.claims),
        control=bool(row.control),
        attempts=row.attempts,
        next_attempt_at=row.next_attempt_at,
        created_at=row.created_at,
    )


class SqlSetQueue:
    def __init__(self, database: Database) -> None:
        self._db = database

    async def enqueue(self, sets: Sequence[QueuedSet]) -> int:
        if not sets:
            return 0
        insert = sqlite.insert(SsfSetRow) if self._db.is_sqlite else postgresql.insert(SsfSetRow)
        new = 0
        async with self._db.transaction() as session:
            for s in sets:  # one by one: the order of `seq` is the order given
                stmt = insert.values(
                    jti=s.jti,
                    stream_id=s.stream_id,
                    tenant_id=s.tenant_id,
                    claims=_json(dict(s.claims)),
                    control=s.control,
                    state=PENDING,
                    attempts=s.attempts,
                    next_attempt_at=s.next_attempt_at,
                    created_at=s.created_at,
                    last_error=None,
                ).on_conflict_do_nothing(index_elements=["jti"])
                result = await session.execute(stmt)
                new += int(getattr(result, "rowcount", 0) or 0)
        return new

    async def due_push(self, now: float, limit: int) -> list[QueuedSet]:
        sendable = or_(
            SsfStreamRow.status == StreamStatus.ENABLED.value,
            and_(SsfStreamRow.status == StreamStatus.PAUSED.value, SsfSetRow.control.is_(True)),
        )
        query = (
            select(SsfSetRow)
            .join(SsfStreamRow, SsfStreamRow.stream_id == SsfSetRow.stream_id)
            .where(
                SsfSetRow.state == PENDING,
                SsfSetRow.next_attempt_at <= now,
                SsfStreamRow.method == DeliveryMethod.PUSH.value,
                sendable,
            )
            .order_by(SsfSetRow.seq)
            .limit(limit)
        )
        async with self._db.read() as session:
            return [_queued(r) for r in (await session.scalars(query)).all()]

    async def claim(self, jti: str, expected: float, until: float) -> bool:
        stmt = (
            update(SsfSetRow)
            .where(SsfSetRow.jti == jti, SsfSetRow.state == PENDING, SsfSetRow.next_attempt_at == expected)
            .values(next_attempt_at=until)
        )
        async with self._db.statement() as conn:
            return bool((await conn.execute(stmt)).rowcount)

    async def _set(self, jti: str, **values: Any) -> None:
        async with self._db.statement() as conn:
            await conn.execute(update(SsfSetRow).where(SsfSetRow.jti == jti).values(**values))

    async def delivered(self, jti: str) -> None:
        await self._set(jti, state=DELIVERED, last_error=None)

    async def retry(self, jti: str, attempts: int, at: float, error: str) -> None:
        await self._set(jti, attempts=attempts, next_attempt_at=at, last_error=error)

    async def failed(self, jti: str, attempts: int, error: str) -> None:
        await self._set(jti, state=FAILED, attempts=attempts, last_error=error)

    async def pending(self, stream_id: str, limit: int, *, control_only: bool) -> tuple[list[QueuedSet], bool]:
        conditions = [SsfSetRow.stream_id == stream_id, SsfSetRow.state == PENDING]
        if control_only:
            conditions.append(SsfSetRow.control.is_(True))
        query = select(SsfSetRow).where(*conditions).order_by(SsfSetRow.seq).limit(limit + 1)
        async with self._db.read() as session:
            rows = [_queued(r) for r in (await session.scalars(query)).all()]
        return rows[:limit], len(rows) > limit

    async def acknowledge(self, stream_id: str, jtis: Sequence[str], *, error: str | None = None) -> list[float]:
        if not jtis:
            return []
        values: dict[str, Any] = {"state": FAILED, "last_error": error} if error is not None else {"state": DELIVERED}
        stmt = (
            update(SsfSetRow)
            .where(SsfSetRow.stream_id == stream_id, SsfSetRow.state == PENDING, SsfSetRow.jti.in_(list(jtis)))
            .values(**values)
            .returning(SsfSetRow.created_at)  # SQLite 3.35+ and PostgreSQL
        )
        async with self._db.statement() as conn:
            return [float(at) for at in (await conn.execute(stmt)).scalars().all()]

    async def drop_pending(self, stream_id: str) -> int:
        stmt = (
            update(SsfSetRow)
            .where(SsfSetRow.stream_id == stream_id, SsfSetRow.state == PENDING)
            .values(state=FAILED, last_error="stream disabled")
        )
        async with self._db.statement() as conn:
            return int((await conn.execute(stmt)).rowcount or 0)

    async def purge(self, before: float) -> int:
        stmt = delete(SsfSetRow).where(SsfSetRow.state != PENDING, SsfSetRow.created_at < before)
        async with self._db.statement() as conn:
            return int((await conn.execute(stmt)).rowcount or 0)

    async def pending_counts(self) -> dict[DeliveryMethod, int]:
        query = (
            select(SsfStreamRow.method, func.count())
            .select_from(SsfSetRow)
            .join(SsfStreamRow, SsfStreamRow.stream_id == SsfSetRow.stream_id)
            .where(SsfSetRow.state == PENDING)
            .group_by(SsfStreamRow.method)
        )
        counts = dict.fromkeys(DeliveryMethod, 0)
        async with self._db.read() as session:
            for method, count in (await session.execute(query)).all():
                counts[DeliveryMethod(method)] = int(count)
        return counts
