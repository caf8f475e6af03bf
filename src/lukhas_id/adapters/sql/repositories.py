"""SQL repositories: the durable storage ports (ports/repositories.py) on SQLite and PostgreSQL.

Each method is one short transaction. Constraint violations become domain errors whose messages name
the kind of thing, never a value: a unique violation is `AlreadyExists`, a missing tenant `NotFound`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Literal

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from lukhas_id.adapters.sql.database import Database
from lukhas_id.adapters.sql.mapping import (
    client_from_row,
    client_values,
    principal_from_row,
    principal_values,
    signing_key_from_row,
    signing_key_values,
    tenant_from_row,
    tenant_values,
    user_from_row,
    user_values,
)
from lukhas_id.adapters.sql.models import (
    ClientRow,
    PasskeyRow,
    PrincipalRow,
    SigningKeyRow,
    TenantRow,
    TotpFactorRow,
    UserRow,
)
from lukhas_id.domain.client import Client, ClientStatus
from lukhas_id.domain.keys import KeyState, SigningAlg, SigningKey
from lukhas_id.domain.principal import Principal, PrincipalStatus, PrincipalType
from lukhas_id.domain.tenant import Tenant
from lukhas_id.domain.user import User, UsernameTaken, UserStatus
from lukhas_id.errors import AlreadyExists, LukhasIdError, NotFound

_Violation = Literal["unique", "foreign_key", "other"]

_PG_UNIQUE = "23505"
_PG_FOREIGN_KEY = "23503"
_SQLITE_UNIQUE = frozenset({"SQLITE_CONSTRAINT_UNIQUE", "SQLITE_CONSTRAINT_PRIMARYKEY"})
_SQLITE_FOREIGN_KEY = "SQLITE_CONSTRAINT_FOREIGNKEY"


def _violation(exc: IntegrityError) -> _Violation:
    """Which kind of constraint an IntegrityError broke (asyncpg SQLSTATE or sqlite3 error name)."""
    orig = exc.orig
    sqlstate = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    if sqlstate == _PG_UNIQUE:
        return "unique"
    if sqlstate == _PG_FOREIGN_KEY:
        return "foreign_key"
    name = getattr(orig, "sqlite_errorname", None)
    if name in _SQLITE_UNIQUE:
        return "unique"
    if name == _SQLITE_FOREIGN_KEY:
        return "foreign_key"
    return "other"


def _domain_error(exc: IntegrityError, taken: str) -> LukhasIdError | IntegrityError:
    """The error to raise instead of `exc`; `taken` says what already exists, e.g. "client_id"."""
    match _violation(exc):
        case "unique":
            return AlreadyExists(f"{taken} already exists")
        case "foreign_key":
            return NotFound("the tenant does not exist")
        case _:
            return exc


class SqlTenantRepository:
    """TenantRepository on SQL. `list()` is ordered by name."""

    def __init__(self, database: Database) -> None:
        self._db = database

    async def create(self, tenant: Tenant) -> None:
        try:
            async with self._db.statement() as conn:
                await conn.execute(insert(TenantRow).values(tenant_values(tenant)))
        except IntegrityError as exc:
            raise _domain_error(exc, "a tenant with this name or id") from None

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


class SqlPrincipalRepository:
    """PrincipalRepository on SQL: (tenant_id, lid) is the primary key, so a ΛID cannot collide."""

    def __init__(self, database: Database) -> None:
        self._db = database

    async def create(self, principal: Principal) -> None:
        try:
            async with self._db.statement() as conn:
                await conn.execute(insert(PrincipalRow).values(principal_values(principal)))
        except IntegrityError as exc:
            raise _domain_error(exc, "a principal with this ΛID") from None

    async def get(self, tenant_id: str, lid: str) -> Principal | None:
        async with self._db.read() as session:
            row = await session.get(PrincipalRow, (tenant_id, lid))
        return None if row is None else principal_from_row(row)


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
                raise _domain_error(exc, "a principal with this ΛID") from None
            try:
                await session.execute(insert(ClientRow).values(client_values(client)))
            except IntegrityError as exc:
                raise _domain_error(exc, "a client with this client_id") from None

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
        for kept in ("tenant_id", "client_id", "principal_lid", "principal_type", "created_at"):
            del values[kept]
        query = (
            update(ClientRow)
            .where(ClientRow.tenant_id == client.tenant_id, ClientRow.client_id == client.client_id)
            .values(values)
        )
        async with self._db.statement() as conn:
            result = await conn.execute(query)
        return result.rowcount > 0

    async def delete(self, tenant_id: str, client_id: str) -> bool:
        query = delete(ClientRow).where(ClientRow.tenant_id == tenant_id, ClientRow.client_id == client_id)
        async with self._db.statement() as conn:
            result = await conn.execute(query)
        return result.rowcount > 0


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
            raise _domain_error(exc, "a signing key with this kid") from None

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


class SqlEncryptedMaterial:
    """EncryptedMaterial on SQL: re-encrypts tenants.id_secret_enc, signing_keys.private_enc,
    passkeys.data_enc and totp_factors.secret_enc."""

    def __init__(self, database: Database) -> None:
        self._db = database

    async def rewrap(self, transform: Callable[[bytes], bytes]) -> int:
        """Re-encrypt every value in one transaction; if `transform` raises, nothing changes.

        The tenant rows are locked first (PostgreSQL ``FOR UPDATE``; SQLite: ``BEGIN IMMEDIATE``), so
        no key rotation or key insert interleaves and leaves a value under the old KEK.
        """
        async with self._db.transaction() as session:
            tenants = (
                await session.execute(
                    select(TenantRow.id, TenantRow.id_secret_enc).order_by(TenantRow.id).with_for_update()
                )
            ).all()
            keys = (
                await session.execute(select(SigningKeyRow.tenant_id, SigningKeyRow.kid, SigningKeyRow.private_enc))
            ).all()
            tenant_updates = [{"id": tid, "id_secret_enc": transform(bytes(enc))} for tid, enc in tenants]
            key_updates = [
                {"tenant_id": tid, "kid": kid, "private_enc": transform(bytes(enc))} for tid, kid, enc in keys
            ]
            passkeys = (
                await session.execute(select(PasskeyRow.tenant_id, PasskeyRow.handle, PasskeyRow.data_enc))
            ).all()
            totps = (
                await session.execute(select(TotpFactorRow.tenant_id, TotpFactorRow.user_lid, TotpFactorRow.secret_enc))
            ).all()
            passkey_updates = [
                {"tenant_id": tid, "handle": handle, "data_enc": transform(bytes(enc))} for tid, handle, enc in passkeys
            ]
            totp_updates = [
                {"tenant_id": tid, "user_lid": lid, "secret_enc": transform(bytes(enc))} for tid, lid, enc in totps
            ]
            for row_type, updates in (
                (TenantRow, tenant_updates),
                (SigningKeyRow, key_updates),
                (PasskeyRow, passkey_updates),
                (TotpFactorRow, totp_updates),
            ):
                if updates:
                    await session.execute(update(row_type), updates)
        return len(tenant_updates) + len(key_updates) + len(passkey_updates) + len(totp_updates)


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
                raise _domain_error(exc, "a principal with this ΛID") from None
            try:
                await conn.execute(insert(UserRow).values(user_values(user)))
            except IntegrityError as exc:
                # The principal was inserted just now, so the primary key cannot be what collided.
                if _violation(exc) == "unique":
                    raise UsernameTaken("a user with this username already exists in the tenant") from None
                raise _domain_error(exc, "a user") from None

    async def get(self, tenant_id: str, lid: str) -> User | None:
        # A Core SELECT: on every passkey and second-factor sign-in, the ORM's identity load cost more
        # than the query (profiled: about 1 ms of CPU).
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
