"""PasskeyRepository on SQLite and PostgreSQL: add/get/list, one credential id per tenant, the counter
compare-and-swap, the clone flag, rename/delete by owner, and the encrypted blob."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import secrets
from typing import Any

import pytest
from sqlalchemy import select, update

from lukhas_id.adapters.crypto.kek import Kek
from lukhas_id.adapters.sql import Database
from lukhas_id.adapters.sql.models import PasskeyRow
from lukhas_id.adapters.sql.passkeys import SqlPasskeyRepository
from lukhas_id.domain.passkey import Passkey
from lukhas_id.errors import AlreadyExists, KeyUnavailable, NotFound
from tests.support.sql_seed import add, seed, user


def passkey(tid: str = "t1", lid: str = "USR-1", handle: str = "h1", **changes: Any) -> Passkey:
    base = Passkey(
        tenant_id=tid,
        user_lid=lid,
        handle=handle,
        credential_id=secrets.token_bytes(48),
        public_key=b"\xa5\x01\x02\x03\x26" + secrets.token_bytes(64),
        sign_count=0,
        aaguid="01234567-89ab-cdef-0123-456789abcdef",
        transports=("internal", "hybrid"),
        backup_eligible=True,
        backup_state=False,
        user_verified=True,
        attestation_format="none",
        name="My laptop",
        created_at=1000.0,
        last_used_at=None,
    )
    return dataclasses.replace(base, **changes)


@pytest.fixture
def kek() -> Kek:
    return Kek(secrets.token_bytes(32))


async def _world(db: Database) -> None:
    await seed(db, "t1", "t2")
    await add(db, user("t1", "USR-1", "alice"))
    await add(db, user("t1", "USR-2", "bob"))
    await add(db, user("t2", "USR-3", "alice"))  # ΛIDs are unique across tenants


async def test_add_get_list(sql_database: Database, kek: Kek) -> None:
    await _world(sql_database)
    repo = SqlPasskeyRepository(sql_database, kek)
    first = passkey(handle="h1", created_at=1000.0)
    second = passkey(handle="h2", created_at=2000.0, transports=(), backup_eligible=False, user_verified=False)
    await repo.add(second)
    await repo.add(first)
    assert await repo.get("t1", "h1") == first
    assert await repo.get("t1", "h2") == second
    assert await repo.get("t1", "nope") is None
    assert await repo.get("t2", "h1") is None  # per tenant
    assert await repo.list_for_user("t1", "USR-1") == [first, second]  # oldest first
    assert await repo.list_for_user("t1", "USR-2") == []
    assert await repo.list_for_user("t2", "USR-3") == []


async def test_a_credential_id_is_registered_once_per_tenant(sql_database: Database, kek: Kek) -> None:
    await _world(sql_database)
    repo = SqlPasskeyRepository(sql_database, kek)
    await repo.add(passkey(handle="h1"))
    with pytest.raises(AlreadyExists):
        await repo.add(passkey(lid="USR-2", handle="h1"))  # to anyone in the tenant
    await repo.add(passkey(tid="t2", lid="USR-3", handle="h1"))  # another tenant is another namespace
    with pytest.raises(NotFound):
        await repo.add(passkey(lid="USR-9", handle="h9"))  # no such user


async def test_record_use_is_a_compare_and_swap(sql_database: Database, kek: Kek) -> None:
    await _world(sql_database)
    repo = SqlPasskeyRepository(sql_database, kek)
    await repo.add(passkey(sign_count=5, user_verified=False))
    kwargs: dict[str, Any] = {"backup_state": True, "at": 3000.0}
    assert await repo.record_use("t1", "h1", expected_count=5, sign_count=6, **kwargs)
    assert not await repo.record_use("t1", "h1", expected_count=5, sign_count=7, **kwargs)  # lost the race
    assert not await repo.record_use("t1", "nope", expected_count=6, sign_count=7, **kwargs)
    assert not await repo.record_use("t2", "h1", expected_count=6, sign_count=7, **kwargs)
    got = await repo.get("t1", "h1")
    assert got is not None
    # The user-verified flag (uvInitialized) is not raised at sign-in (WebAuthn §7.2 step 24).
    assert (got.sign_count, got.backup_state, got.user_verified, got.last_used_at) == (6, True, False, 3000.0)
    assert got.name == "My laptop"  # the encrypted part is untouched


async def test_concurrent_record_use_has_one_winner(sql_database: Database, kek: Kek) -> None:
    await _world(sql_database)
    repo = SqlPasskeyRepository(sql_database, kek)
    await repo.add(passkey(sign_count=1))
    results = await asyncio.gather(
        *(repo.record_use("t1", "h1", expected_count=1, sign_count=2 + i, backup_state=False, at=1.0) for i in range(5))
    )
    assert sorted(results) == [False, False, False, False, True]


async def test_flag_cloned(sql_database: Database, kek: Kek) -> None:
    await _world(sql_database)
    repo = SqlPasskeyRepository(sql_database, kek)
    await repo.add(passkey())
    await repo.add(passkey(handle="h2"))
    await repo.flag_cloned("t1", "h1")
    await repo.flag_cloned("t1", "nope")  # nothing to flag: no error
    flagged, other = await repo.get("t1", "h1"), await repo.get("t1", "h2")
    assert flagged is not None and flagged.possibly_cloned
    assert other is not None and not other.possibly_cloned


async def test_rename_and_delete_only_by_the_owner(sql_database: Database, kek: Kek) -> None:
    await _world(sql_database)
    repo = SqlPasskeyRepository(sql_database, kek)
    original = passkey()
    await repo.add(original)
    async with sql_database.read() as session:
        blob_before = await session.scalar(select(PasskeyRow.data_enc))
    assert not await repo.rename("t1", "USR-2", "h1", "Stolen")
    assert not await repo.rename("t2", "USR-3", "h1", "Stolen")
    assert not await repo.rename("t1", "USR-1", "nope", "Other")
    assert await repo.rename("t1", "USR-1", "h1", "Phone")
    renamed = await repo.get("t1", "h1")
    assert renamed == dataclasses.replace(original, name="Phone")
    async with sql_database.read() as session:
        assert await session.scalar(select(PasskeyRow.data_enc)) != blob_before  # re-encrypted
    assert not await repo.delete("t1", "USR-2", "h1")
    assert not await repo.delete("t2", "USR-3", "h1")
    assert await repo.delete("t1", "USR-1", "h1")
    assert not await repo.delete("t1", "USR-1", "h1")
    assert await repo.get("t1", "h1") is None


async def test_data_is_encrypted_at_rest(sql_database: Database, kek: Kek) -> None:
    await _world(sql_database)
    repo = SqlPasskeyRepository(sql_database, kek)
    p = passkey(name="Alice's YubiKey")
    await repo.add(p)
    async with sql_database.read() as session:
        row = await session.scalar(select(PasskeyRow))
    assert row is not None
    blob = bytes(row.data_enc)
    for secret in (p.credential_id, p.public_key, p.public_key[5:]):
        assert secret not in blob
        for encoded in (base64.urlsafe_b64encode(secret), base64.b64encode(secret), secret.hex().encode()):
            assert encoded.rstrip(b"=") not in blob
    assert b"YubiKey" not in blob and p.aaguid.encode() not in blob
    # Another KEK cannot read it.
    with pytest.raises(KeyUnavailable):
        await SqlPasskeyRepository(sql_database, Kek(secrets.token_bytes(32))).get("t1", "h1")


async def test_a_blob_moved_to_another_row_is_refused(sql_database: Database, kek: Kek) -> None:
    await _world(sql_database)
    repo = SqlPasskeyRepository(sql_database, kek)
    await repo.add(passkey(handle="h1"))
    await repo.add(passkey(lid="USR-2", handle="h2"))
    async with sql_database.transaction() as session:
        blob = await session.scalar(select(PasskeyRow.data_enc).where(PasskeyRow.handle == "h1"))
        await session.execute(update(PasskeyRow).where(PasskeyRow.handle == "h2").values(data_enc=blob))
    with pytest.raises(ValueError, match="does not belong"):
        await repo.get("t1", "h2")


async def test_kek_rewrap_reencrypts_passkeys_and_totp_secrets(sql_database: Database, kek: Kek) -> None:
    from lukhas_id.adapters.sql.factors import SqlTotpRepository
    from lukhas_id.adapters.sql.material import SqlEncryptedMaterial
    from lukhas_id.domain.passkey import TotpFactor

    await _world(sql_database)
    stored = passkey()
    await SqlPasskeyRepository(sql_database, kek).add(stored)
    factor = TotpFactor("t1", "USR-1", secrets.token_bytes(20), confirmed=True, last_step=7, created_at=1.0)
    await SqlTotpRepository(sql_database, kek).put(factor)
    new = Kek(secrets.token_bytes(32))
    rewrapped: list[bytes] = []

    def transform(blob: bytes) -> bytes:  # `lukhas-id keys rewrap`: old KEK -> new KEK
        if blob == b"enc":
            return blob  # the seeded tenants' placeholder secrets
        rewrapped.append(blob)
        return new.encrypt(kek.decrypt(blob))

    await SqlEncryptedMaterial(sql_database).rewrap(transform)
    assert len(rewrapped) == 2
    assert await SqlPasskeyRepository(sql_database, new).get("t1", "h1") == stored
    totp = await SqlTotpRepository(sql_database, new).get("t1", "USR-1")
    assert totp is not None and totp.secret == factor.secret
    with pytest.raises(KeyUnavailable):
        await SqlPasskeyRepository(sql_database, kek).get("t1", "h1")


async def test_counter_writes_use_relaxed_commits_on_postgresql_only(sql_database: Database, kek: Kek) -> None:
    from sqlalchemy import text

    if sql_database.is_sqlite:
        assert sql_database.direct is None
        return
    direct = sql_database.direct
    assert direct is not None
    assert await direct.setting("synchronous_commit", relaxed=True) == "off"
    assert await direct.setting("synchronous_commit") == "on"
    # The asyncpg pools see the same schema (search_path) as SQLAlchemy's connections.
    async with sql_database.statement() as conn:
        search_path = (await conn.execute(text("SHOW search_path"))).scalar()
    assert await direct.setting("search_path", relaxed=True) == search_path
    assert await direct.setting("search_path") == search_path
    # A bump through the relaxed pool is seen at once by the other connections.
    await _world(sql_database)
    repo = SqlPasskeyRepository(sql_database, kek)
    await repo.add(passkey())
    assert await repo.record_use("t1", "h1", expected_count=0, sign_count=7, backup_state=True, at=2000.0)
    got = await repo.get("t1", "h1")
    assert got is not None and (got.sign_count, got.backup_state, got.last_used_at) == (7, True, 2000.0)


async def test_get_with_owner_reads_the_credential_and_its_user_at_once(sql_database: Database, kek: Kek) -> None:
    await _world(sql_database)
    repo = SqlPasskeyRepository(sql_database, kek)
    stored = passkey(lid="USR-2")
    await repo.add(stored)
    found = await repo.get_with_owner("t1", "h1")
    assert found is not None
    got, owner = found
    assert got == stored
    assert (owner.tenant_id, owner.lid, owner.username) == ("t1", "USR-2", "bob")
    assert await repo.get_with_owner("t1", "nope") is None
    assert await repo.get_with_owner("t2", "h1") is None


# -- record_use_if_current: the sign-in's single statement with a known credential ------------------

_USE: dict[str, Any] = {"backup_state": True, "at": 4000.0}


async def test_record_use_if_current_writes_and_returns_the_owner(sql_database: Database, kek: Kek) -> None:
    await _world(sql_database)
    repo = SqlPasskeyRepository(sql_database, kek)
    stored = passkey(lid="USR-2", sign_count=5, user_verified=True, created_at=1234.5)
    await repo.add(stored)
    owner = await repo.record_use_if_current("t1", "h1", user_lid="USR-2", created_at=1234.5, sign_count=6, **_USE)
    assert owner is not None and (owner.tenant_id, owner.lid, owner.username) == ("t1", "USR-2", "bob")
    got = await repo.get("t1", "h1")
    assert got is not None
    assert (got.sign_count, got.backup_state, got.last_used_at) == (6, True, 4000.0)
    # Nothing else changes, the user-verified flag (uvInitialized, WebAuthn §7.2 step 24) included.
    assert dataclasses.replace(got, sign_count=5, backup_state=False, last_used_at=None) == stored
    await repo.add(passkey(handle="h2", user_verified=False))
    assert await repo.record_use_if_current("t1", "h2", user_lid="USR-1", created_at=1000.0, sign_count=1, **_USE)
    got = await repo.get("t1", "h2")
    assert got is not None and not got.user_verified


async def test_record_use_if_current_applies_the_counter_rule(sql_database: Database, kek: Kek) -> None:
    await _world(sql_database)
    repo = SqlPasskeyRepository(sql_database, kek)
    await repo.add(passkey(handle="h1", sign_count=5))
    await repo.add(passkey(handle="h0", sign_count=0))
    known = {"user_lid": "USR-1", "created_at": 1000.0}
    for count in (5, 4, 0):  # not greater: nothing written
        assert await repo.record_use_if_current("t1", "h1", sign_count=count, **known, **_USE) is None
    got = await repo.get("t1", "h1")
    assert got is not None and (got.sign_count, got.last_used_at) == (5, None)
    # Both 0: an authenticator without a counter signs in every time; 0 -> n > 0 is an increase.
    for _ in range(2):
        assert await repo.record_use_if_current("t1", "h0", sign_count=0, **known, **_USE) is not None
    assert await repo.record_use_if_current("t1", "h0", sign_count=3, **known, **_USE) is not None
    assert await repo.record_use_if_current("t1", "h0", sign_count=0, **known, **_USE) is None  # 3 -> 0
    got = await repo.get("t1", "h0")
    assert got is not None and got.sign_count == 3


async def test_record_use_if_current_writes_nothing_when_anything_changed(sql_database: Database, kek: Kek) -> None:
    from lukhas_id.adapters.sql.users import SqlUserRepository
    from lukhas_id.domain.user import UserStatus

    await _world(sql_database)
    repo = SqlPasskeyRepository(sql_database, kek)
    await repo.add(passkey(handle="h1", sign_count=1))
    await repo.add(passkey(handle="h2", sign_count=1))
    await repo.flag_cloned("t1", "h2")
    known = {"user_lid": "USR-1", "created_at": 1000.0, "sign_count": 2, **_USE}
    assert await repo.record_use_if_current("t1", "nope", **known) is None  # no such credential
    assert await repo.record_use_if_current("t2", "h1", **known) is None  # another tenant's
    assert await repo.record_use_if_current("t1", "h2", **known) is None  # flagged possibly cloned
    assert await repo.record_use_if_current("t1", "h1", **{**known, "user_lid": "USR-2"}) is None  # other owner
    # Removed and registered again under the same id: another registration time, another row.
    assert await repo.record_use_if_current("t1", "h1", **{**known, "created_at": 999.0}) is None
    users = SqlUserRepository(sql_database)
    for status in (UserStatus.DISABLED, UserStatus.LOCKED):  # the owner is not active
        assert await users.update_status("t1", "USR-1", status, 5000.0)
        assert await repo.record_use_if_current("t1", "h1", **known) is None
    got = await repo.get("t1", "h1")
    assert got is not None and (got.sign_count, got.backup_state, got.last_used_at) == (1, False, None)
    assert await users.update_status("t1", "USR-1", UserStatus.ACTIVE, 5001.0)
    owner = await repo.record_use_if_current("t1", "h1", **known)
    assert owner is not None and owner.active and owner.updated_at == 5001.0  # the owner as stored now


async def test_concurrent_record_use_if_current_with_one_count_has_one_winner(sql_database: Database, kek: Kek) -> None:
    await _world(sql_database)
    repo = SqlPasskeyRepository(sql_database, kek)
    await repo.add(passkey(sign_count=1))
    results = await asyncio.gather(
        *(
            repo.record_use_if_current("t1", "h1", user_lid="USR-1", created_at=1000.0, sign_count=2, **_USE)
            for _ in range(5)
        )
    )
    assert sum(result is not None for result in results) == 1
    got = await repo.get("t1", "h1")
    assert got is not None and got.sign_count == 2


async def test_record_use_if_current_is_one_relaxed_statement_on_postgresql(sql_database: Database, kek: Kek) -> None:
    if sql_database.is_sqlite:
        return
    await _world(sql_database)
    repo = SqlPasskeyRepository(sql_database, kek)
    await repo.add(passkey())
    direct = sql_database.direct
    assert direct is not None
    seen: list[tuple[bool, str]] = []
    fetch_first = direct.fetch_first

    async def spy(statement: Any, params: Any, *, relaxed: bool = False) -> Any:
        seen.append((relaxed, str(statement).split()[0]))
        return await fetch_first(statement, params, relaxed=relaxed)

    direct.fetch_first = spy  # type: ignore[method-assign]
    try:
        owner = await repo.record_use_if_current("t1", "h1", user_lid="USR-1", created_at=1000.0, sign_count=1, **_USE)
    finally:
        del direct.fetch_first
    assert owner is not None and seen == [(True, "UPDATE")]
