"""OAuth clients on SQL: the ClientRepository port (ports/repositories.py) on SQLite and PostgreSQL.

A client and the principal it acts as are created in one transaction.
"""

from __future__ import annotations

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from lukhas_id.adapters.sql.constraints import domain_error
from lukhas_id.adapters.sql.database import Database
from lukhas_id.adapters.sql.mapping import client_from_row, client_values, principal_values
from lukhas_id.adapters.sql.models import ClientRow, PrincipalRow
from lukhas_id.domain.client import Client, ClientStatus
from lukhas_id.domain.principal import Principal

# Written only by rotate_secret (and create): an update made from a record read before a rotation must not
# bring the old secret back.
_SECRETS = ("secret_hash", "previous_secret_hash", "previous_secret_expires_at")


class SqlClientRepository:
    """ClientRepository on SQL. `list()` is ordered by creation time, then client_id."""

    def __init__(self, database: Database) -> None:
        self._db = database

    async def create(self, client: Client, principal: Principal) -> None:
        if (client.tenant_id, client.principal_lid) != (principal.tenant_id, principal.lid):
            raise ValueError("the client must act as the given principal (same tenant and ΛID)")
        if client.principal_type != principal.type:
            raise ValueError("the client's principal_type must be the principal's type")
        async with self._db.transaction() as session:
            # Two statements so that a violation tells which of the two was taken; the transaction
            # rolls both back.
            try:
                await session.execute(insert(PrincipalRow).values(principal_values(principal)))
            except IntegrityError as exc:
                raise domain_error(exc, "a principal with this ΛID") from None
            try:
                await session.execute(insert(ClientRow).values(client_values(client)))
            except IntegrityError as exc:
                raise domain_error(exc, "a client with this client_id") from None

    async def get(self, tenant_id: str, client_id: str) -> Client | None:
        async with self._db.read() as session:
            row = await session.get(ClientRow, (tenant_id, client_id))
        return None if row is None else client_from_row(row)

    async def list(self, tenant_id: str) -> list[Client]:
        query = (
            select(ClientRow)
            .where(ClientRow.tenant_id == tenant_id)
            .order_by(ClientRow.created_at, ClientRow.client_id)
        )
        async with self._db.read() as session:
            return [client_from_row(row) for row in await session.scalars(query)]

    async def set_status(self, tenant_id: str, client_id: str, status: ClientStatus) -> bool:
        query = (
            update(ClientRow)
            .where(ClientRow.tenant_id == tenant_id, ClientRow.client_id == client_id)
            .values(status=status.value)
        )
        async with self._db.statement() as conn:
            result = await conn.execute(query)
        return result.rowcount > 0

    async def update(self, client: Client) -> bool:
        values = client_values(client)
        for kept in ("tenant_id", "client_id", "principal_lid", "principal_type", "created_at", *_SECRETS):
            del values[kept]
        query = (
            update(ClientRow)
            .where(ClientRow.tenant_id == client.tenant_id, ClientRow.client_id == client.client_id)
            .values(values)
        )
        async with self._db.statement() as conn:
            result = await conn.execute(query)
        return result.rowcount > 0

    async def rotate_secret(
        self,
        tenant_id: str,
        client_id: str,
        *,
        expect_hash: str,
        secret_hash: str,
        previous_hash: str,
        previous_expires_at: float | None,
    ) -> bool:
        query = (
            update(ClientRow)
            .where(
                ClientRow.tenant_id == tenant_id,
                ClientRow.client_id == client_id,
                ClientRow.secret_hash == expect_hash,
            )
            .values(
                secret_hash=secret_hash,
                previous_secret_hash=previous_hash or None,
                previous_secret_expires_at=previous_expires_at if previous_hash else None,
            )
        )
        async with self._db.statement() as conn:
            result = await conn.execute(query)
        return result.rowcount > 0

    async def delete(self, tenant_id: str, client_id: str) -> bool:
        query = delete(ClientRow).where(ClientRow.tenant_id == tenant_id, ClientRow.client_id == client_id)
        async with self._db.statement() as conn:
            result = await conn.execute(query)
        return result.rowcount > 0
