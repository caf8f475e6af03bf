"""Tenants on SQL: the TenantRepository port (ports/repositories.py) on SQLite and PostgreSQL."""

from __future__ import annotations

from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError

from lukhas_id.adapters.sql.constraints import domain_error
from lukhas_id.adapters.sql.database import Database
from lukhas_id.adapters.sql.mapping import tenant_from_row, tenant_values
from lukhas_id.adapters.sql.models import TenantRow
from lukhas_id.domain.tenant import Tenant


class SqlTenantRepository:
    """TenantRepository on SQL. `list()` is ordered by name."""

    def __init__(self, database: Database) -> None:
        self._db = database

    async def create(self, tenant: Tenant) -> None:
        try:
            async with self._db.statement() as conn:
                await conn.execute(insert(TenantRow).values(tenant_values(tenant)))
        except IntegrityError as exc:
            raise domain_error(exc, "a tenant with this name or id") from None

    async def get(self, tenant_id: str) -> Tenant | None:
        async with self._db.read() as session:
            row = await session.get(TenantRow, tenant_id)
        return None if row is None else tenant_from_row(row)

    async def get_by_name(self, name: str) -> Tenant | None:
        async with self._db.read() as session:
            row = await session.scalar(select(TenantRow).where(TenantRow.name == name))
        return None if row is None else tenant_from_row(row)

    async def list(self) -> list[Tenant]:
        async with self._db.read() as session:
            rows = await session.scalars(select(TenantRow).order_by(TenantRow.name))
            return [tenant_from_row(row) for row in rows]
