"""Users on SQL: the UserRepository port (ports/repositories.py) on SQLite and PostgreSQL.

A user and its USR principal are created, and their statuses changed, in one transaction. Deleting a
user deletes its row and every row that references it, and keeps the principal as a tombstone (status
deleted, display name cleared): the unique index on principals.lid then keeps the ΛID from ever being
used again, in any tenant.
"""

from __future__ import annotations

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from lukhas_id.adapters.sql.constraints import domain_error, violation
from lukhas_id.adapters.sql.database import Database
from lukhas_id.adapters.sql.mapping import principal_values, user_from_row, user_values
from lukhas_id.adapters.sql.models import (
    ConsentRow,
    PasskeyRow,
    PrincipalRow,
    RecoveryCodeRow,
    TotpFactorRow,
    UserRow,
)
from lukhas_id.domain.principal import Principal, PrincipalStatus, PrincipalType
from lukhas_id.domain.user import User, UsernameTaken, UserStatus


class SqlUserRepository:
    """UserRepository on SQL. UNIQUE (tenant_id, username_key) makes usernames unique per tenant;
    `list()` is ordered by username_key."""

    def __init__(self, database: Database) -> None:
        self._db = database

    async def create(self, user: User, principal: Principal) -> None:
        if (user.tenant_id, user.lid) != (principal.tenant_id, principal.lid):
            raise ValueError("the user must be the given principal (same tenant and ΛID)")
        if principal.type is not PrincipalType.USER:
            raise ValueError("a user's principal has type USR")
        async with self._db.transaction() as session:
            conn = await session.connection()
            try:
                await conn.execute(insert(PrincipalRow).values(principal_values(principal)))
            except IntegrityError as exc:
                raise domain_error(exc, "a principal with this ΛID") from None
            try:
                await conn.execute(insert(UserRow).values(user_values(user)))
            except IntegrityError as exc:
                # The principal was inserted just now, so the primary key cannot be what collided.
                if violation(exc) == "unique":
                    raise UsernameTaken("a user with this username already exists in the tenant") from None
                raise domain_error(exc, "a user") from None

    async def get(self, tenant_id: str, lid: str) -> User | None:
        # A Core SELECT: on every passkey and second-factor sign-in, the ORM's identity load cost more
        # than the query (profiled: docs/PERFORMANCE.md).
        table = UserRow.__table__.c
        query = select(UserRow.__table__).where(table.tenant_id == tenant_id, table.lid == lid)
        async with self._db.statement() as conn:
            row = (await conn.execute(query)).first()
        return None if row is None else user_from_row(row)  # type: ignore[arg-type]  # same column names

    async def get_by_username(self, tenant_id: str, username_key: str) -> User | None:
        query = select(UserRow).where(UserRow.tenant_id == tenant_id, UserRow.username_key == username_key)
        async with self._db.read() as session:
            row = await session.scalar(query)
        return None if row is None else user_from_row(row)

    async def list(self, tenant_id: str) -> list[User]:
        query = select(UserRow).where(UserRow.tenant_id == tenant_id).order_by(UserRow.username_key)
        async with self._db.read() as session:
            return [user_from_row(row) for row in await session.scalars(query)]

    async def update_status(self, tenant_id: str, lid: str, status: UserStatus, updated_at: float) -> bool:
        principal_status = PrincipalStatus.ACTIVE if status is UserStatus.ACTIVE else PrincipalStatus.DISABLED
        async with self._db.transaction() as session:
            conn = await session.connection()
            result = await conn.execute(
                update(UserRow)
                .where(UserRow.tenant_id == tenant_id, UserRow.lid == lid)
                .values(status=status.value, updated_at=updated_at)
            )
            if result.rowcount == 0:
                return False
            await conn.execute(
                update(PrincipalRow)
                .where(PrincipalRow.tenant_id == tenant_id, PrincipalRow.lid == lid)
                .values(status=principal_status.value)
            )
        return True

    async def delete(self, tenant_id: str, lid: str) -> bool:
        owned = (PasskeyRow, TotpFactorRow, RecoveryCodeRow, ConsentRow)
        async with self._db.transaction() as session:
            conn = await session.connection()
            for row in owned:  # the rows that reference the user (foreign keys) go first
                await conn.execute(delete(row).where(row.tenant_id == tenant_id, row.user_lid == lid))
            result = await conn.execute(delete(UserRow).where(UserRow.tenant_id == tenant_id, UserRow.lid == lid))
            if result.rowcount == 0:
                return False
            await conn.execute(
                update(PrincipalRow)
                .where(PrincipalRow.tenant_id == tenant_id, PrincipalRow.lid == lid)
                .values(status=PrincipalStatus.DELETED.value, display_name="")
            )
        return True

    async def set_password_hash(
        self,
        tenant_id: str,
        lid: str,
        password_hash: str | None,
        updated_at: float,
        *,
        replaces: str | None = None,
    ) -> bool:
        query = update(UserRow).where(UserRow.tenant_id == tenant_id, UserRow.lid == lid)
        if replaces is not None:
            query = query.where(UserRow.password_hash == replaces)
        async with self._db.statement() as conn:
            result = await conn.execute(query.values(password_hash=password_hash, updated_at=updated_at))
        return result.rowcount > 0

    async def set_email(self, tenant_id: str, lid: str, email: str | None, verified: bool, updated_at: float) -> bool:
        query = update(UserRow).where(UserRow.tenant_id == tenant_id, UserRow.lid == lid)
        async with self._db.statement() as conn:
            result = await conn.execute(query.values(email=email, email_verified=verified, updated_at=updated_at))
        return result.rowcount > 0
