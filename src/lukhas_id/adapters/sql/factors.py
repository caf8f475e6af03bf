"""SQL storage of the non-passkey factors: TOTP factors and recovery codes (ports/authn.py).

Every check-and-spend is one conditional UPDATE whose row count says whether it won, so two concurrent
uses of one TOTP code (or one recovery code) cannot both succeed, on SQLite as on PostgreSQL. The TOTP
secret is stored encrypted under the KEK (RFC 6238 §5.1); recovery codes arrive here already hashed.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from lukhas_id.adapters.sql.database import Database
from lukhas_id.adapters.sql.models import RecoveryCodeRow, TotpFactorRow
from lukhas_id.domain.passkey import TotpFactor
from lukhas_id.errors import AlreadyExists, NotFound
from lukhas_id.ports.crypto import SecretBox

_NO_USER = "the user does not exist"


class SqlTotpRepository:
    """TotpRepository on SQL: one row per user, keyed by (tenant_id, user_lid)."""

    def __init__(self, database: Database, box: SecretBox) -> None:
        self._db = database
        self._box = box

    def _insert(self) -> Any:
        return sqlite.insert(TotpFactorRow) if self._db.is_sqlite else postgresql.insert(TotpFactorRow)

    async def put(self, factor: TotpFactor) -> None:
        """Insert, or replace an unconfirmed factor, in one statement (an upsert whose update applies
        only while the stored factor is unconfirmed). AlreadyExists when a confirmed factor is there;
        NotFound when the user does not exist."""
        values = {
            "tenant_id": factor.tenant_id,
            "user_lid": factor.user_lid,
            "secret_enc": self._box.encrypt(factor.secret),
            "confirmed": factor.confirmed,
            "last_step": factor.last_step,
            "created_at": factor.created_at,
        }
        stmt = self._insert().values(values)
        stmt = stmt.on_conflict_do_update(
            index_elements=[TotpFactorRow.tenant_id, TotpFactorRow.user_lid],
            set_={name: stmt.excluded[name] for name in ("secret_enc", "confirmed", "last_step", "created_at")},
            where=TotpFactorRow.confirmed.is_(False),
        )
        try:
            async with self._db.statement() as conn:
                result = await conn.execute(stmt)
        except IntegrityError:
            raise NotFound(_NO_USER) from None
        if result.rowcount == 0:
            raise AlreadyExists("a confirmed TOTP factor already exists for this user")

    async def get(self, tenant_id: str, user_lid: str) -> TotpFactor | None:
        async with self._db.read() as session:
            row = await session.get(TotpFactorRow, (tenant_id, user_lid))
        if row is None:
            return None
        return TotpFactor(
            tenant_id=row.tenant_id,
            user_lid=row.user_lid,
            secret=self._box.decrypt(bytes(row.secret_enc)),
            confirmed=bool(row.confirmed),
            last_step=row.last_step,
            created_at=row.created_at,
        )

    async def _advance(self, tenant_id: str, user_lid: str, step: int, *, confirmed: bool) -> bool:
        """Set last_step = step where the factor's confirmation state is `confirmed` and `step` is later
        than the last accepted one; also marks the factor confirmed. True when a row changed."""
        query = (
            update(TotpFactorRow)
            .where(
                TotpFactorRow.tenant_id == tenant_id,
                TotpFactorRow.user_lid == user_lid,
                TotpFactorRow.confirmed.is_(confirmed),
                (TotpFactorRow.last_step.is_(None)) | (TotpFactorRow.last_step < step),
            )
            .values(last_step=step, confirmed=True)
        )
        async with self._db.statement() as conn:
            result = await conn.execute(query)
        return result.rowcount == 1

    async def confirm(self, tenant_id: str, user_lid: str, step: int) -> bool:
        """Confirm an unconfirmed factor, accepting `step`; False when there is none to confirm (absent,
        already confirmed) or `step` is not later than the last accepted one."""
        return await self._advance(tenant_id, user_lid, step, confirmed=False)

    async def accept_step(self, tenant_id: str, user_lid: str, step: int) -> bool:
        """Record `step` on a confirmed factor when it is later than the last accepted one (RFC 6238
        §5.2); False for a replayed or older step, or when the factor is absent or unconfirmed."""
        return await self._advance(tenant_id, user_lid, step, confirmed=True)

    async def delete(self, tenant_id: str, user_lid: str) -> bool:
        query = delete(TotpFactorRow).where(TotpFactorRow.tenant_id == tenant_id, TotpFactorRow.user_lid == user_lid)
        async with self._db.statement() as conn:
            result = await conn.execute(query)
        return result.rowcount > 0


class SqlRecoveryCodeRepository:
    """RecoveryCodeRepository on SQL: one row per code hash; a used code keeps its row (used_at set)
    until the set is replaced or deleted."""

    def __init__(self, database: Database) -> None:
        self._db = database

    async def replace(self, tenant_id: str, user_lid: str, code_hashes: list[str], at: float) -> None:
        """Delete the user's codes and insert the new set in one transaction; NotFound for an unknown user."""
        rows = [
            {"tenant_id": tenant_id, "user_lid": user_lid, "code_hash": code_hash, "created_at": at, "used_at": None}
            for code_hash in dict.fromkeys(code_hashes)
        ]
        try:
            async with self._db.transaction() as session:
                await session.execute(
                    delete(RecoveryCodeRow).where(
                        RecoveryCodeRow.tenant_id == tenant_id, RecoveryCodeRow.user_lid == user_lid
                    )
                )
                if rows:
                    await session.execute(insert(RecoveryCodeRow), rows)
        except IntegrityError:
            raise NotFound(_NO_USER) from None

    async def use(self, tenant_id: str, user_lid: str, code_hash: str, at: float) -> bool:
        query = (
            update(RecoveryCodeRow)
            .where(
                RecoveryCodeRow.tenant_id == tenant_id,
                RecoveryCodeRow.user_lid == user_lid,
                RecoveryCodeRow.code_hash == code_hash,
                RecoveryCodeRow.used_at.is_(None),
            )
            .values(used_at=at)
        )
        async with self._db.statement() as conn:
            result = await conn.execute(query)
        return result.rowcount == 1

    async def remaining(self, tenant_id: str, user_lid: str) -> int:
        query = select(func.count()).where(
            RecoveryCodeRow.tenant_id == tenant_id,
            RecoveryCodeRow.user_lid == user_lid,
            RecoveryCodeRow.used_at.is_(None),
        )
        async with self._db.read() as session:
            return int(await session.scalar(query) or 0)

    async def delete_all(self, tenant_id: str, user_lid: str) -> None:
        query = delete(RecoveryCodeRow).where(
            RecoveryCodeRow.tenant_id == tenant_id, RecoveryCodeRow.user_lid == user_lid
        )
        async with self._db.statement() as conn:
            await conn.execute(query)
