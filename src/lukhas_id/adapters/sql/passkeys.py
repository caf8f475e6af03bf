"""SQL passkeys: the PasskeyRepository port (ports/authn.py) on SQLite or PostgreSQL.

`data_enc` is the SecretBox (KEK, AES-256-GCM) encryption of a JSON object holding the credential id,
the COSE public key (both base64url), AAGUID, transports, attestation format and name, plus the row's
tenant, handle and user, checked on every read so that a blob copied onto another row is refused.
Counters and flags stay in the clear (domain/passkey.py). `record_use` is a compare-and-swap on the
counter: UPDATE ... WHERE sign_count = expected. `record_use_if_current` (a sign-in with a credential the
service already knows) is one conditional UPDATE that also checks the row's identity, the clone flag, the
counter rule and the owner's status, and returns the owner: on PostgreSQL one statement (UPDATE ... FROM
users ... RETURNING); on SQLite, which cannot return the FROM table's columns, the UPDATE (with an EXISTS
for the owner) and the owner's row in one transaction.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from types import SimpleNamespace
from typing import Any

import orjson
from sqlalchemy import and_, bindparam, delete, exists, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from lukhas_id.adapters.sql.constraints import violation
from lukhas_id.adapters.sql.database import Database
from lukhas_id.adapters.sql.mapping import user_from_row
from lukhas_id.adapters.sql.models import PasskeyRow, UserRow
from lukhas_id.domain.passkey import Passkey
from lukhas_id.domain.user import User, UserStatus
from lukhas_id.errors import AlreadyExists, NotFound
from lukhas_id.ports.crypto import SecretBox

_VERSION = 1


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


# The sign-in path's two statements, built once (building a statement's WHERE clause cost more CPU than
# running it: profiled), with bound parameters.
_P, _U = PasskeyRow.__table__.c, UserRow.__table__.c
_USER_COLUMNS = tuple(column.name for column in _U)
_GET_WITH_OWNER = (
    select(PasskeyRow.__table__, *(column.label(f"u_{column.name}") for column in _U))
    .join(UserRow.__table__, (_U.tenant_id == _P.tenant_id) & (_U.lid == _P.user_lid))
    .where(_P.tenant_id == bindparam("b_tenant"), _P.handle == bindparam("b_handle"))
)
_RECORD_USE = (
    update(PasskeyRow)
    .where(
        _P.tenant_id == bindparam("b_tenant"),
        _P.handle == bindparam("b_handle"),
        _P.sign_count == bindparam("b_expected"),
    )
    .values(
        sign_count=bindparam("b_count"),
        backup_state=bindparam("b_backup"),
        last_used_at=bindparam("b_at"),
    )
)

# record_use_if_current: the row must still be the credential the caller verified against (same owner,
# same registration time), not flagged, pass the counter rule (protocol.webauthn.counter_increased: stored
# < new, or both 0) and belong to an active user.
_OWNER_ACTIVE = (_U.tenant_id == _P.tenant_id) & (_U.lid == _P.user_lid) & (_U.status == UserStatus.ACTIVE.value)
_CURRENT = and_(
    _P.tenant_id == bindparam("b_tenant"),
    _P.handle == bindparam("b_handle"),
    _P.user_lid == bindparam("b_owner"),
    _P.created_at == bindparam("b_created"),
    _P.possibly_cloned.is_(False),
    or_(_P.sign_count < bindparam("b_count"), and_(_P.sign_count == 0, bindparam("b_count") == 0)),
)
_USE_VALUES: dict[str, Any] = {
    "sign_count": bindparam("b_count"),
    "backup_state": bindparam("b_backup"),
    "last_used_at": bindparam("b_at"),
}
# PostgreSQL: one statement, the owner's columns returned from the joined users row.
_RECORD_USE_IF_CURRENT = (
    update(PasskeyRow)
    .where(_CURRENT, _OWNER_ACTIVE)
    .values(_USE_VALUES)
    .returning(*(column.label(f"u_{column.name}") for column in _U))
)
# SQLite (RETURNING cannot name a FROM table there): the update, then the owner, in one transaction.
_RECORD_USE_IF_CURRENT_SQLITE = update(PasskeyRow).where(_CURRENT, exists().where(_OWNER_ACTIVE)).values(_USE_VALUES)
_OWNER = select(UserRow.__table__).where(_U.tenant_id == bindparam("b_tenant"), _U.lid == bindparam("b_owner"))


def _owner(row: Mapping[Any, Any], prefix: str = "") -> User:
    owner = SimpleNamespace(**{name: row[f"{prefix}{name}"] for name in _USER_COLUMNS})
    return user_from_row(owner)  # type: ignore[arg-type]  # same column names


class SqlPasskeyRepository:
    def __init__(self, database: Database, box: SecretBox) -> None:
        self._db = database
        self._box = box

    # -- the encrypted blob ---------------------------------------------------------------------

    def _seal(self, passkey: Passkey) -> bytes:
        data = {
            "v": _VERSION,
            "tenant_id": passkey.tenant_id,
            "handle": passkey.handle,
            "user_lid": passkey.user_lid,
            "credential_id": _b64(passkey.credential_id),
            "public_key": _b64(passkey.public_key),
            "aaguid": passkey.aaguid,
            "transports": list(passkey.transports),
            "attestation_format": passkey.attestation_format,
            "name": passkey.name,
        }
        return self._box.encrypt(orjson.dumps(data))

    def _open(self, data_enc: bytes, tenant_id: str, handle: str, user_lid: str) -> dict[str, Any]:
        data = orjson.loads(self._box.decrypt(bytes(data_enc)))
        if (
            not isinstance(data, dict)
            or data.get("v") != _VERSION
            or (data.get("tenant_id"), data.get("handle"), data.get("user_lid")) != (tenant_id, handle, user_lid)
        ):
            raise ValueError("a stored passkey does not belong to its row")
        return data

    def _from_row(self, row: Mapping[Any, Any]) -> Passkey:
        """A passkey from a row of the passkeys table, its values by column name."""
        tenant_id, handle, user_lid = row["tenant_id"], row["handle"], row["user_lid"]
        data = self._open(row["data_enc"], tenant_id, handle, user_lid)
        last_used_at = row["last_used_at"]
        return Passkey(
            tenant_id=tenant_id,
            user_lid=user_lid,
            handle=handle,
            credential_id=_unb64(data["credential_id"]),
            public_key=_unb64(data["public_key"]),
            sign_count=int(row["sign_count"]),
            aaguid=str(data["aaguid"]),
            transports=tuple(str(t) for t in data["transports"]),
            backup_eligible=bool(row["backup_eligible"]),
            backup_state=bool(row["backup_state"]),
            user_verified=bool(row["user_verified"]),
            attestation_format=str(data["attestation_format"]),
            name=str(data["name"]),
            created_at=float(row["created_at"]),
            last_used_at=None if last_used_at is None else float(last_used_at),
            possibly_cloned=bool(row["possibly_cloned"]),
        )

    # -- the port -------------------------------------------------------------------------------

    async def add(self, passkey: Passkey) -> None:
        values = {
            "tenant_id": passkey.tenant_id,
            "handle": passkey.handle,
            "user_lid": passkey.user_lid,
            "data_enc": self._seal(passkey),
            "sign_count": passkey.sign_count,
            "backup_eligible": passkey.backup_eligible,
            "backup_state": passkey.backup_state,
            "user_verified": passkey.user_verified,
            "possibly_cloned": passkey.possibly_cloned,
            "created_at": passkey.created_at,
            "last_used_at": passkey.last_used_at,
        }
        try:
            async with self._db.statement() as conn:
                await conn.execute(insert(PasskeyRow).values(values))
        except IntegrityError as exc:
            match violation(exc):
                case "unique":
                    raise AlreadyExists("a passkey with this credential id already exists") from None
                case "foreign_key":
                    raise NotFound("the user does not exist") from None
                case _:
                    raise

    async def get(self, tenant_id: str, handle: str) -> Passkey | None:
        table = PasskeyRow.__table__.c  # a Core SELECT: see SqlUserRepository.get
        query = select(PasskeyRow.__table__).where(table.tenant_id == tenant_id, table.handle == handle)
        async with self._db.statement() as conn:
            row = (await conn.execute(query)).first()
        return None if row is None else self._from_row(row._mapping)

    async def get_with_owner(self, tenant_id: str, handle: str) -> tuple[Passkey, User] | None:
        # The sign-in path: on asyncpg directly with PostgreSQL (Database.fetch_first).
        row = await self._db.fetch_first(_GET_WITH_OWNER, {"b_tenant": tenant_id, "b_handle": handle})
        if row is None:
            return None
        return self._from_row(row), _owner(row, "u_")

    async def list_for_user(self, tenant_id: str, user_lid: str) -> list[Passkey]:
        table = PasskeyRow.__table__.c
        query = (
            select(PasskeyRow.__table__)
            .where(table.tenant_id == tenant_id, table.user_lid == user_lid)
            .order_by(table.created_at, table.handle)
        )
        async with self._db.statement() as conn:
            return [self._from_row(row._mapping) for row in await conn.execute(query)]

    async def record_use(
        self,
        tenant_id: str,
        handle: str,
        *,
        expected_count: int,
        sign_count: int,
        backup_state: bool,
        at: float,
    ) -> bool:
        params = {
            "b_tenant": tenant_id,
            "b_handle": handle,
            "b_expected": expected_count,
            "b_count": sign_count,
            "b_backup": backup_state,
            "b_at": at,
        }
        # The counter bump need not wait for the WAL flush (a large share of a ceremony's time: see
        # docs/PERFORMANCE.md): a database crash can lose the last moments of bumps, which only lowers a
        # stored counter (no false clone signal), and the single-use challenge still stops replays.
        return await self._db.execute(_RECORD_USE, params, relaxed=True) == 1

    async def record_use_if_current(
        self,
        tenant_id: str,
        handle: str,
        *,
        user_lid: str,
        created_at: float,
        sign_count: int,
        backup_state: bool,
        at: float,
    ) -> User | None:
        params = {
            "b_tenant": tenant_id,
            "b_handle": handle,
            "b_owner": user_lid,
            "b_created": created_at,
            "b_count": sign_count,
            "b_backup": backup_state,
            "b_at": at,
        }
        if self._db.is_sqlite:
            async with self._db.transaction() as session:
                result = await session.execute(_RECORD_USE_IF_CURRENT_SQLITE, params)
                if result.rowcount != 1:  # type: ignore[attr-defined]
                    return None
                owner = (await session.execute(_OWNER, params)).first()
            return None if owner is None else _owner(owner._mapping)
        # Relaxed commit, as record_use: see there.
        row = await self._db.fetch_first(_RECORD_USE_IF_CURRENT, params, relaxed=True)
        return None if row is None else _owner(row, "u_")

    async def flag_cloned(self, tenant_id: str, handle: str) -> None:
        stmt = (
            update(PasskeyRow)
            .where(PasskeyRow.tenant_id == tenant_id, PasskeyRow.handle == handle)
            .values(possibly_cloned=True)
        )
        async with self._db.statement() as conn:
            await conn.execute(stmt)

    async def rename(self, tenant_id: str, user_lid: str, handle: str, name: str) -> bool:
        where = (PasskeyRow.tenant_id == tenant_id, PasskeyRow.handle == handle, PasskeyRow.user_lid == user_lid)
        async with self._db.transaction() as session:
            row = await session.scalar(select(PasskeyRow).where(*where).with_for_update())
            if row is None:
                return False
            data = self._open(row.data_enc, row.tenant_id, row.handle, row.user_lid)
            data["name"] = name
            row.data_enc = self._box.encrypt(orjson.dumps(data))
        return True

    async def delete(self, tenant_id: str, user_lid: str, handle: str) -> bool:
        stmt = delete(PasskeyRow).where(
            PasskeyRow.tenant_id == tenant_id, PasskeyRow.handle == handle, PasskeyRow.user_lid == user_lid
        )
        async with self._db.statement() as conn:
            result = await conn.execute(stmt)
        return result.rowcount > 0
