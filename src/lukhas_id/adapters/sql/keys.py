"""Signing keys on SQL: the SigningKeyRepository port (ports/repositories.py) on SQLite and PostgreSQL.

A rotation step is a compare-and-swap on the tenant's active key of one algorithm, serialized per
tenant (see `SqlSigningKeyRepository.apply_rotation`).
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from lukhas_id.adapters.sql.constraints import domain_error
from lukhas_id.adapters.sql.database import Database
from lukhas_id.adapters.sql.mapping import signing_key_from_row, signing_key_values
from lukhas_id.adapters.sql.models import SigningKeyRow, TenantRow
from lukhas_id.domain.keys import KeyState, SigningAlg, SigningKey
from lukhas_id.errors import NotFound


class SqlSigningKeyRepository:
    """SigningKeyRepository on SQL. `list()` is ordered oldest first (created_at, then kid)."""

    def __init__(self, database: Database) -> None:
        self._db = database

    async def list(self, tenant_id: str) -> list[SigningKey]:
        query = (
            select(SigningKeyRow)
            .where(SigningKeyRow.tenant_id == tenant_id)
            .order_by(SigningKeyRow.created_at, SigningKeyRow.kid)
        )
        async with self._db.read() as session:
            return [signing_key_from_row(row) for row in await session.scalars(query)]

    async def add(self, key: SigningKey) -> None:
        try:
            async with self._db.statement() as conn:
                await conn.execute(insert(SigningKeyRow).values(signing_key_values(key)))
        except IntegrityError as exc:
            raise domain_error(exc, "a signing key with this kid") from None

    async def apply_rotation(
        self,
        tenant_id: str,
        *,
        expect_active_kid: str | None,
        upsert: Sequence[SigningKey],
        remove_kids: Sequence[str],
    ) -> bool:
        """Compare-and-swap one rotation step (see the port).

        The rotated algorithm is the alg of the ACTIVE key in `upsert`; failing that, the alg of the
        `upsert` keys; failing that (a removal-only step), the alg of the removed keys, or else of the
        expected active key. The step is applied only when the tenant's active keys of that algorithm
        are exactly `expect_active_kid` (none for None). A step that leaves the algorithm ambiguous
        (keys of several algorithms) is a ValueError.

        Concurrent steps of one tenant are serialized: on PostgreSQL by locking the tenant's row
        (``SELECT ... FOR NO KEY UPDATE``), on SQLite by ``BEGIN IMMEDIATE``. So of two processes
        rotating from the same active key, exactly one wins. Raises NotFound for an unknown tenant.
        """
        if any(key.tenant_id != tenant_id for key in upsert):
            raise ValueError("every upserted key must belong to the rotated tenant")
        async with self._db.transaction() as session:
            locked = await session.scalar(
                select(TenantRow.id).where(TenantRow.id == tenant_id).with_for_update(key_share=True)
            )
            if locked is None:
                raise NotFound("the tenant does not exist")
            alg = await _rotated_alg(session, tenant_id, expect_active_kid, upsert, remove_kids)
            if alg is None:
                # No upsert and no stored key among the removed or expected ones: nothing to change,
                # and the expectation holds only if it was "no active key".
                return expect_active_kid is None
            active = await session.scalars(
                select(SigningKeyRow.kid).where(
                    SigningKeyRow.tenant_id == tenant_id,
                    SigningKeyRow.state == KeyState.ACTIVE.value,
                    SigningKeyRow.alg == alg.value,
                )
            )
            if sorted(active) != ([] if expect_active_kid is None else [expect_active_kid]):
                return False
            if remove_kids:
                await session.execute(
                    delete(SigningKeyRow).where(
                        SigningKeyRow.tenant_id == tenant_id, SigningKeyRow.kid.in_(list(remove_kids))
                    )
                )
            await _upsert_keys(session, tenant_id, upsert)
        return True


async def _rotated_alg(
    session: AsyncSession,
    tenant_id: str,
    expect_active_kid: str | None,
    upsert: Sequence[SigningKey],
    remove_kids: Sequence[str],
) -> SigningAlg | None:
    algs = {key.alg for key in upsert if key.state is KeyState.ACTIVE} or {key.alg for key in upsert}
    if not algs:
        for kids in (list(remove_kids), [expect_active_kid] if expect_active_kid else []):
            if kids:
                stored = await session.scalars(
                    select(SigningKeyRow.alg)
                    .where(SigningKeyRow.tenant_id == tenant_id, SigningKeyRow.kid.in_(kids))
                    .distinct()
                )
                algs = {SigningAlg(alg) for alg in stored}
            if algs:
                break
    if len(algs) > 1:
        raise ValueError("a rotation step must concern the keys of one algorithm")
    return next(iter(algs), None)


async def _upsert_keys(session: AsyncSession, tenant_id: str, keys: Sequence[SigningKey]) -> None:
    if not keys:
        return
    existing = set(
        await session.scalars(
            select(SigningKeyRow.kid).where(
                SigningKeyRow.tenant_id == tenant_id, SigningKeyRow.kid.in_([key.kid for key in keys])
            )
        )
    )
    new = [signing_key_values(key) for key in keys if key.kid not in existing]
    changed = [signing_key_values(key) for key in keys if key.kid in existing]
    if new:
        await session.execute(insert(SigningKeyRow), new)
    if changed:
        # ORM bulk UPDATE by primary key (tenant_id, kid), one executemany.
        await session.execute(update(SigningKeyRow), changed)
