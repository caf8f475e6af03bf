"""SQL consents: the ConsentRepository port on SQLite or PostgreSQL (one statement per call)."""

from __future__ import annotations

import orjson
from sqlalchemy import delete, select

from lukhas_id.adapters.sql.database import Database
from lukhas_id.adapters.sql.models import ConsentRow


class SqlConsentRepository:
    def __init__(self, database: Database) -> None:
        self._db = database

    async def get(self, tenant_id: str, user_lid: str, client_id: str) -> frozenset[str]:
        query = select(ConsentRow.scopes).where(
            ConsentRow.tenant_id == tenant_id, ConsentRow.user_lid == user_lid, ConsentRow.client_id == client_id
        )
        async with self._db.statement() as conn:
            raw = await conn.scalar(query)
        return frozenset(orjson.loads(raw)) if raw is not None else frozenset()

    async def grant(self, tenant_id: str, user_lid: str, client_id: str, scopes: frozenset[str], at: float) -> None:
        async with self._db.transaction() as session:
            row = await session.get(ConsentRow, (tenant_id, user_lid, client_id))
            if row is None:
                session.add(
                    ConsentRow(
                        tenant_id=tenant_id,
                        user_lid=user_lid,
                        client_id=client_id,
                        scopes=orjson.dumps(sorted(scopes)).decode(),
                        granted_at=at,
                    )
                )
            else:
                row.scopes = orjson.dumps(sorted(frozenset(orjson.loads(row.scopes)) | scopes)).decode()
                row.granted_at = at

    async def withdraw(self, tenant_id: str, user_lid: str, client_id: str) -> bool:
        stmt = (
            delete(ConsentRow)
            .where(
                ConsentRow.tenant_id == tenant_id, ConsentRow.user_lid == user_lid, ConsentRow.client_id == client_id
            )
            .returning(ConsentRow.client_id)
        )
        async with self._db.statement() as conn:
            return (await conn.execute(stmt)).first() is not None

    async def list_for_user(self, tenant_id: str, user_lid: str) -> list[tuple[str, frozenset[str], float]]:
        query = (
            select(ConsentRow.client_id, ConsentRow.scopes, ConsentRow.granted_at)
            .where(ConsentRow.tenant_id == tenant_id, ConsentRow.user_lid == user_lid)
            .order_by(ConsentRow.client_id)
        )
        async with self._db.statement() as conn:
            rows = (await conn.execute(query)).all()
        return [(client_id, frozenset(orjson.loads(scopes)), float(at)) for client_id, scopes, at in rows]
