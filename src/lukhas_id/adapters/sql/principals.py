"""Principals on SQL: the PrincipalRepository port (ports/repositories.py) on SQLite and PostgreSQL."""

from __future__ import annotations

from sqlalchemy import insert
from sqlalchemy.exc import IntegrityError

from lukhas_id.adapters.sql.constraints import domain_error
from lukhas_id.adapters.sql.database import Database
from lukhas_id.adapters.sql.mapping import principal_from_row, principal_values
from lukhas_id.adapters.sql.models import PrincipalRow
from lukhas_id.domain.principal import Principal


class SqlPrincipalRepository:
    """PrincipalRepository on SQL: (tenant_id, lid) is the primary key and the ΛID alone is unique (migration
    0008), so a ΛID collides neither within a tenant nor across tenants (AlreadyExists)."""

    def __init__(self, database: Database) -> None:
        self._db = database

    async def create(self, principal: Principal) -> None:
        try:
            async with self._db.statement() as conn:
                await conn.execute(insert(PrincipalRow).values(principal_values(principal)))
        except IntegrityError as exc:
            raise domain_error(exc, "a principal with this ΛID") from None

    async def get(self, tenant_id: str, lid: str) -> Principal | None:
        async with self._db.read() as session:
            row = await session.get(PrincipalRow, (tenant_id, lid))
        return None if row is None else principal_from_row(row)
