"""SQL token state: the TokenStateStore port (ports/state.py) on SQLite or PostgreSQL.

The embedded default keeps revocations and opaque tokens in the SQL database, so the CLI and every
server worker see the same state. Each call is one statement (one round trip on PostgreSQL).

Expiry, as in the memory and Redis stores: a row is gone once ``expires_at <= now`` by the store's
clock. An opaque token expires at its ``exp``; a revoked jti is remembered until ``exp + JTI_MARGIN``
(clock skew and verification leeway); a marker lives ``ttl`` seconds, extended by later writes. Reads
ignore expired rows; `purge_expired` deletes them.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, case, delete, exists, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.selectable import Exists

from lukhas_id.adapters import two_step
from lukhas_id.adapters.sql.database import Database
from lukhas_id.adapters.sql.mapping import record_from_json, record_to_json
from lukhas_id.adapters.sql.models import NotBeforeMarkerRow, OpaqueTokenRow, RevokedJtiRow
from lukhas_id.clock import Clock, SystemClock
from lukhas_id.domain.token import JTI_MARGIN, AccessTokenRecord, MarkerKind

# A revoked jti is remembered this long past its exp (the same margin as the memory and Redis stores).


class SqlTokenStateStore:
    """TokenStateStore on SQL; `clock` (default: system time) decides what has expired."""

    def __init__(self, database: Database, clock: Clock | None = None) -> None:
        self._db = database
        self._clock: Clock = clock or SystemClock()

    def _insert(self, model: type[Any]) -> postgresql.Insert | sqlite.Insert:
        return sqlite.insert(model) if self._db.is_sqlite else postgresql.insert(model)

    async def put_opaque(self, token_hash: str, record: AccessTokenRecord) -> None:
        """Store (or replace) the record; a record already expired is not stored."""
        if record.exp <= self._clock.now():
            return
        stmt = self._insert(OpaqueTokenRow).values(
            token_hash=token_hash,
            tenant_id=record.tenant_id,
            record=record_to_json(record),
            expires_at=float(record.exp),
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=[OpaqueTokenRow.token_hash],
            set_={
                "tenant_id": stmt.excluded.tenant_id,
                "record": stmt.excluded.record,
                "expires_at": stmt.excluded.expires_at,
            },
        )
        async with self._db.statement() as conn:
            await conn.execute(stmt)

    async def get_opaque(self, token_hash: str, now: float) -> AccessTokenRecord | None:
        """The record unless it expired at `now` or by the store's clock."""
        query = select(OpaqueTokenRow.record).where(
            OpaqueTokenRow.token_hash == token_hash,
            OpaqueTokenRow.expires_at > max(now, self._clock.now()),
        )
        async with self._db.statement() as conn:
            text = await conn.scalar(query)
        return None if text is None else record_from_json(text)

    async def get_active_opaque(self, tenant_id: str, token_hash: str, now: float) -> AccessTokenRecord | None:
        return await two_step.get_active_opaque(self, tenant_id, token_hash, now)

    async def delete_opaque(self, token_hash: str) -> bool:
        """Delete the record; True when a record that had not yet expired was there."""
        stmt = (
            delete(OpaqueTokenRow).where(OpaqueTokenRow.token_hash == token_hash).returning(OpaqueTokenRow.expires_at)
        )
        async with self._db.statement() as conn:
            expires_at = (await conn.execute(stmt)).scalar()
        return expires_at is not None and expires_at > self._clock.now()

    async def revoke_jti(self, tenant_id: str, jti: str, exp: int) -> None:
        """Remember the jti until exp + JTI_MARGIN (never shortening an earlier revocation)."""
        expires_at = float(exp + JTI_MARGIN)
        if expires_at <= self._clock.now():
            return
        table = RevokedJtiRow.__table__.c
        stmt = self._insert(RevokedJtiRow).values(tenant_id=tenant_id, jti=jti, expires_at=expires_at)
        stmt = stmt.on_conflict_do_update(
            index_elements=[RevokedJtiRow.tenant_id, RevokedJtiRow.jti],
            set_={
                "expires_at": case(
                    (stmt.excluded.expires_at > table.expires_at, stmt.excluded.expires_at),
                    else_=table.expires_at,
                )
            },
        )
        async with self._db.statement() as conn:
            await conn.execute(stmt)

    async def set_not_before(self, tenant_id: str, kind: MarkerKind, ident: str, at: int, ttl: int) -> None:
        """Upsert keeping the larger `at` and the later expiry; an expired row is simply replaced.

        A non-positive `ttl` stores nothing.
        """
        if ttl <= 0:
            return
        now = self._clock.now()
        table = NotBeforeMarkerRow.__table__.c
        stmt = self._insert(NotBeforeMarkerRow).values(
            tenant_id=tenant_id, kind=kind.value, ident=ident, at=at, expires_at=now + ttl
        )
        new = stmt.excluded
        stale = table.expires_at <= now
        stmt = stmt.on_conflict_do_update(
            index_elements=[NotBeforeMarkerRow.tenant_id, NotBeforeMarkerRow.kind, NotBeforeMarkerRow.ident],
            set_={
                "at": case((or_(stale, new.at > table.at), new.at), else_=table.at),
                "expires_at": case(
                    (or_(stale, new.expires_at > table.expires_at), new.expires_at),
                    else_=table.expires_at,
                ),
            },
        )
        async with self._db.statement() as conn:
            await conn.execute(stmt)

    async def is_revoked(self, tenant_id: str, jti: str, client_id: str, sub: str, iat: int) -> bool:
        """One SELECT of three primary-key EXISTS probes: the jti, the client marker, the subject marker."""
        now = self._clock.now()
        jti_revoked = exists().where(
            RevokedJtiRow.tenant_id == tenant_id,
            RevokedJtiRow.jti == jti,
            RevokedJtiRow.expires_at > now,
        )

        def marker_covers(kind: MarkerKind, ident: str) -> Exists:
            return exists().where(
                and_(
                    NotBeforeMarkerRow.tenant_id == tenant_id,
                    NotBeforeMarkerRow.kind == kind.value,
                    NotBeforeMarkerRow.ident == ident,
                    NotBeforeMarkerRow.at >= iat,
                    NotBeforeMarkerRow.expires_at > now,
                )
            )

        query = select(
            or_(
                jti_revoked,
                marker_covers(MarkerKind.CLIENT, client_id),
                marker_covers(MarkerKind.SUBJECT, sub),
            )
        )
        async with self._db.statement() as conn:
            return bool(await conn.scalar(query))

    async def ping(self) -> None:
        await self._db.ping()

    async def purge_expired(self, now: float) -> int:
        """Delete every row expired at `now` (one transaction); returns how many were deleted."""
        statements = (
            delete(OpaqueTokenRow).where(OpaqueTokenRow.expires_at <= now),
            delete(RevokedJtiRow).where(RevokedJtiRow.expires_at <= now),
            delete(NotBeforeMarkerRow).where(NotBeforeMarkerRow.expires_at <= now),
        )
        deleted = 0
        async with self._db.transaction() as session:
            conn = await session.connection()
            for stmt in statements:
                deleted += (await conn.execute(stmt)).rowcount
        return deleted
