"""SQL refresh-token store: the RefreshTokenStore port (ports/state.py) on SQLite or PostgreSQL.

Two tables (models.py, migration 0005): `refresh_families` (the grant, newest generation, revoked) and
`refresh_tokens` (one row per generation, keyed by the token's hash). A rotation is one transaction that
first locks the family row: ``SELECT ... FOR UPDATE`` on PostgreSQL, ``BEGIN IMMEDIATE`` on SQLite (all
writers serialize). So of two processes rotating the same token, the second sees the first's rotation,
and a family revocation cannot interleave with a rotation. What a rotation does is domain/refresh.py's
`decide_rotation`, applied under that lock. Rows live until the family's expires_at.
"""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy import ColumnElement, delete, select, update
from sqlalchemy.orm import aliased

from lukhas_id.adapters.sql.database import Database
from lukhas_id.adapters.sql.models import RefreshFamilyRow, RefreshTokenRow
from lukhas_id.domain.refresh import (
    RefreshTokenRecord,
    Reuse,
    Rotate,
    RotateResult,
    StoredFamily,
    StoredToken,
    decide_rotation,
)


def _data(record: RefreshTokenRecord) -> str:
    return orjson.dumps(
        {
            "scope": record.scope,
            "auth_time": record.auth_time,
            "acr": record.acr,
            "amr": record.amr,
            "resources": record.resources,
        }
    ).decode()


def _record(family: RefreshFamilyRow, token: RefreshTokenRow, issued_at: float | None = None) -> RefreshTokenRecord:
    data: dict[str, Any] = orjson.loads(family.data)
    return RefreshTokenRecord(
        tenant_id=family.tenant_id,
        family_id=family.family_id,
        client_id=family.client_id,
        user_lid=family.user_lid,
        scope=tuple(data["scope"]),
        sid=family.sid,
        auth_time=int(data["auth_time"]),
        acr=data["acr"],
        amr=tuple(data["amr"]),
        resources=tuple(data["resources"]),
        created_at=family.created_at,
        expires_at=family.expires_at,
        generation=token.generation,
        rotated_at=token.rotated_at,
        issued_at=issued_at,
    )


# A token's predecessor in its family: its rotation is when the token was issued (none: the family's first).
_PREDECESSOR = aliased(RefreshTokenRow)
_IS_PREDECESSOR = (
    (_PREDECESSOR.tenant_id == RefreshTokenRow.tenant_id)
    & (_PREDECESSOR.family_id == RefreshTokenRow.family_id)
    & (_PREDECESSOR.generation == RefreshTokenRow.generation - 1)
)


class SqlRefreshTokenStore:
    def __init__(self, database: Database) -> None:
        self._db = database

    async def create(self, token_hash: str, record: RefreshTokenRecord) -> None:
        async with self._db.transaction() as session:
            session.add(
                RefreshFamilyRow(
                    tenant_id=record.tenant_id,
                    family_id=record.family_id,
                    client_id=record.client_id,
                    user_lid=record.user_lid,
                    sid=record.sid,
                    data=_data(record),
                    generation=record.generation,
                    revoked=False,
                    created_at=record.created_at,
                    expires_at=record.expires_at,
                )
            )
            await session.flush()
            session.add(
                RefreshTokenRow(
                    token_hash=token_hash,
                    tenant_id=record.tenant_id,
                    family_id=record.family_id,
                    generation=record.generation,
                    rotated_at=None,
                    successor_hash=None,
                    expires_at=record.expires_at,
                )
            )

    async def get(self, tenant_id: str, token_hash: str, now: float) -> RefreshTokenRecord | None:
        query = (
            select(RefreshFamilyRow, RefreshTokenRow, _PREDECESSOR.rotated_at)
            .join(
                RefreshFamilyRow,
                (RefreshFamilyRow.tenant_id == RefreshTokenRow.tenant_id)
                & (RefreshFamilyRow.family_id == RefreshTokenRow.family_id),
            )
            .outerjoin(_PREDECESSOR, _IS_PREDECESSOR)
            .where(
                RefreshTokenRow.token_hash == token_hash,
                RefreshTokenRow.tenant_id == tenant_id,
                RefreshFamilyRow.expires_at > now,
                RefreshFamilyRow.revoked.is_(False),
            )
        )
        async with self._db.read() as session:
            row = (await session.execute(query)).first()
        if row is None:
            return None
        family, token, predecessor_rotated_at = row
        return _record(family, token, family.created_at if predecessor_rotated_at is None else predecessor_rotated_at)

    async def rotate(
        self,
        tenant_id: str,
        token_hash: str,
        successor_hash: str,
        now: float,
        grace: float,
        *,
        idle: float | None = None,
    ) -> RotateResult:
        this_token = (RefreshTokenRow.token_hash == token_hash) & (RefreshTokenRow.tenant_id == tenant_id)
        async with self._db.transaction() as session:
            family_id = (await session.execute(select(RefreshTokenRow.family_id).where(this_token))).scalar()
            family = (
                None
                if family_id is None
                else await session.scalar(
                    select(RefreshFamilyRow)
                    .where(RefreshFamilyRow.tenant_id == tenant_id, RefreshFamilyRow.family_id == family_id)
                    .with_for_update()
                )
            )
            if family is None:
                return decide_rotation(None, None, successor_hash=successor_hash, now=now, grace=grace).result(None)
            # Read again under the family's lock: another transaction may have rotated it meanwhile.
            # Its issue time is its predecessor's rotation (none: the family's creation).
            token_query = (
                select(RefreshTokenRow, _PREDECESSOR.rotated_at)
                .outerjoin(_PREDECESSOR, _IS_PREDECESSOR)
                .where(this_token)
                .execution_options(populate_existing=True)
            )
            token, predecessor_rotated_at = (await session.execute(token_query)).one()
            issued_at = family.created_at if predecessor_rotated_at is None else predecessor_rotated_at
            decision = decide_rotation(
                StoredToken(token.generation, issued_at, token.rotated_at, token.successor_hash),
                StoredFamily(family.generation, family.expires_at, family.revoked),
                successor_hash=successor_hash,
                now=now,
                grace=grace,
                idle=idle,
            )
            record = _record(family, token)
            match decision:
                case Rotate(successor_hash=successor, generation=generation, at=at):
                    token.rotated_at, token.successor_hash = at, successor
                    family.generation = generation
                    session.add(
                        RefreshTokenRow(
                            token_hash=successor,
                            tenant_id=tenant_id,
                            family_id=family_id,
                            generation=generation,
                            rotated_at=None,
                            successor_hash=None,
                            expires_at=family.expires_at,
                        )
                    )
                case Reuse():
                    family.revoked = True
            return decision.result(record)

    async def revoke_family(self, tenant_id: str, family_id: str) -> int | None:
        stmt = (
            update(RefreshFamilyRow)
            .where(RefreshFamilyRow.tenant_id == tenant_id, RefreshFamilyRow.family_id == family_id)
            .values(revoked=True)
            .returning(RefreshFamilyRow.generation)
        )
        async with self._db.transaction() as session:
            generation = (await session.execute(stmt)).scalar()
        return None if generation is None else int(generation)

    async def revoke_for_session(self, tenant_id: str, sid: str) -> int:
        return await self._revoke_where(tenant_id, RefreshFamilyRow.sid == sid)

    async def revoke_for_user(self, tenant_id: str, user_lid: str) -> int:
        # No index on user_lid: an operator's rare action, not a request path.
        return await self._revoke_where(tenant_id, RefreshFamilyRow.user_lid == user_lid)

    async def _revoke_where(self, tenant_id: str, condition: ColumnElement[bool]) -> int:
        """Revoke the tenant's live families that meet `condition`; how many."""
        stmt = (
            update(RefreshFamilyRow)
            .where(RefreshFamilyRow.tenant_id == tenant_id, condition, RefreshFamilyRow.revoked.is_(False))
            .values(revoked=True)
        )
        async with self._db.transaction() as session:
            result = await session.execute(stmt)
        return int(result.rowcount or 0)  # type: ignore[attr-defined]

    async def purge_expired(self, now: float) -> int:
        async with self._db.transaction() as session:
            await session.execute(delete(RefreshTokenRow).where(RefreshTokenRow.expires_at <= now))
            result = await session.execute(delete(RefreshFamilyRow).where(RefreshFamilyRow.expires_at <= now))
        return int(result.rowcount or 0)  # type: ignore[attr-defined]
