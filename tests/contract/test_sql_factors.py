"""Contract suite for the SQL TOTP and recovery-code repositories (migration 0007), on SQLite and
PostgreSQL: storage, the atomic step and code spending (concurrent uses: exactly one wins), the TOTP
secret encrypted at rest."""

from __future__ import annotations

import asyncio
import dataclasses
import secrets

import pytest
from sqlalchemy import text

from lukhas_id.adapters.crypto.kek import Kek
from lukhas_id.adapters.sql import Database, SqlTenantRepository, SqlUserRepository
from lukhas_id.adapters.sql.factors import SqlRecoveryCodeRepository, SqlTotpRepository
from lukhas_id.domain.passkey import TotpFactor
from lukhas_id.domain.principal import Principal, PrincipalStatus, PrincipalType
from lukhas_id.domain.tenant import Tenant
from lukhas_id.domain.user import User, UserStatus, username_key
from lukhas_id.errors import AlreadyExists, NotFound


async def seed(db: Database, tid: str = "t1", lids: tuple[str, ...] = ("USR-1", "USR-2")) -> None:
    """A tenant and its users (the factor tables have a foreign key to users)."""
    tenant = Tenant(id=tid, name=f"name-{tid}", id_secret_enc=b"enc", access_token_alg="ES256", created_at=1000.0)
    await SqlTenantRepository(db).create(tenant)
    for n, lid in enumerate(lids):
        name = f"user{n}"
        user = User(tid, lid, name, username_key(name), None, False, name, UserStatus.ACTIVE, None, 1000.0, 1000.0)
        await SqlUserRepository(db).create(
            user, Principal(tid, lid, PrincipalType.USER, name, PrincipalStatus.ACTIVE, 1000.0)
        )


def factor(lid: str = "USR-1", tid: str = "t1", **changes: object) -> TotpFactor:
    base = TotpFactor(tid, lid, secrets.token_bytes(20), confirmed=False, last_step=None, created_at=1000.0)
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


@pytest.fixture
def kek() -> Kek:
    return Kek(secrets.token_bytes(32))


# --- TOTP ------------------------------------------------------------------------------------------


async def test_put_get_and_secret_encrypted_at_rest(sql_database: Database, kek: Kek) -> None:
    await seed(sql_database)
    repo = SqlTotpRepository(sql_database, kek)
    f = factor()
    await repo.put(f)
    assert await repo.get("t1", "USR-1") == f
    assert await repo.get("t1", "USR-2") is None
    assert await repo.get("t2", "USR-1") is None
    async with sql_database.read() as session:
        stored = bytes((await session.execute(text("SELECT secret_enc FROM totp_factors"))).scalar_one())
    assert f.secret not in stored and kek.decrypt(stored) == f.secret
    assert "secret" not in repr(f) and f.secret.hex() not in repr(f)  # repr hides it
    # Another KEK cannot read it.
    with pytest.raises(Exception, match="another KEK"):
        await SqlTotpRepository(sql_database, Kek(secrets.token_bytes(32))).get("t1", "USR-1")


async def test_put_replaces_an_unconfirmed_factor_but_not_a_confirmed_one(sql_database: Database, kek: Kek) -> None:
    await seed(sql_database)
    repo = SqlTotpRepository(sql_database, kek)
    await repo.put(factor())
    second = factor(created_at=2000.0)
    await repo.put(second)
    assert await repo.get("t1", "USR-1") == second
    assert await repo.confirm("t1", "USR-1", 100)
    with pytest.raises(AlreadyExists):
        await repo.put(factor(created_at=3000.0))
    stored = await repo.get("t1", "USR-1")
    assert stored == dataclasses.replace(second, confirmed=True, last_step=100)
    # Removed, it can be enrolled again.
    assert await repo.delete("t1", "USR-1")
    assert not await repo.delete("t1", "USR-1")
    assert await repo.get("t1", "USR-1") is None
    await repo.put(factor())


async def test_put_for_an_unknown_user_is_not_found(sql_database: Database, kek: Kek) -> None:
    await seed(sql_database)
    with pytest.raises(NotFound):
        await SqlTotpRepository(sql_database, kek).put(factor("USR-404"))


async def test_confirm_once_and_only_an_unconfirmed_factor(sql_database: Database, kek: Kek) -> None:
    await seed(sql_database)
    repo = SqlTotpRepository(sql_database, kek)
    assert not await repo.confirm("t1", "USR-1", 10)  # nothing to confirm
    await repo.put(factor())
    assert not await repo.accept_step("t1", "USR-1", 10)  # an unconfirmed factor accepts no step
    assert await repo.confirm("t1", "USR-1", 10)
    assert not await repo.confirm("t1", "USR-1", 11)  # already confirmed
    stored = await repo.get("t1", "USR-1")
    assert stored is not None and stored.confirmed and stored.last_step == 10


async def test_accept_step_only_moves_forward(sql_database: Database, kek: Kek) -> None:
    await seed(sql_database)
    repo = SqlTotpRepository(sql_database, kek)
    await repo.put(factor())
    assert await repo.confirm("t1", "USR-1", 100)
    assert not await repo.accept_step("t1", "USR-1", 100)  # the confirming code, replayed
    assert not await repo.accept_step("t1", "USR-1", 99)  # older
    assert await repo.accept_step("t1", "USR-1", 101)
    assert not await repo.accept_step("t1", "USR-1", 101)
    assert await repo.accept_step("t1", "USR-1", 103)  # steps may be skipped
    assert not await repo.accept_step("t1", "USR-1", 102)
    big = (1 << 32) + 5  # BIGINT: steps past 2^32
    assert await repo.accept_step("t1", "USR-1", big)
    stored = await repo.get("t1", "USR-1")
    assert stored is not None and stored.last_step == big
    # Other users and tenants are unaffected; an absent factor accepts nothing.
    assert not await repo.accept_step("t1", "USR-2", 500)
    assert not await repo.accept_step("t2", "USR-1", 500)


async def test_confirmed_factor_without_a_step_accepts_any(sql_database: Database, kek: Kek) -> None:
    await seed(sql_database)
    repo = SqlTotpRepository(sql_database, kek)
    await repo.put(factor(confirmed=True))
    assert await repo.accept_step("t1", "USR-1", 0)
    assert not await repo.accept_step("t1", "USR-1", 0)


async def test_concurrent_uses_of_one_step_exactly_one_wins(sql_database: Database, kek: Kek) -> None:
    await seed(sql_database)
    repo = SqlTotpRepository(sql_database, kek)
    await repo.put(factor())
    assert await repo.confirm("t1", "USR-1", 1000)
    for step in range(1001, 1011):
        results = await asyncio.gather(*(repo.accept_step("t1", "USR-1", step) for _ in range(2)))
        assert sorted(results) == [False, True]
    # And of a newer and an older step racing, the older one never wins after the newer.
    race = await asyncio.gather(repo.accept_step("t1", "USR-1", 1020), repo.accept_step("t1", "USR-1", 1019))
    stored = await repo.get("t1", "USR-1")
    assert stored is not None and stored.last_step == 1020
    assert race[0] is True


# --- recovery codes ------------------------------------------------------------------------------


async def test_recovery_codes_replace_use_remaining(sql_database: Database) -> None:
    await seed(sql_database)
    repo = SqlRecoveryCodeRepository(sql_database)
    assert await repo.remaining("t1", "USR-1") == 0
    await repo.replace("t1", "USR-1", ["h1", "h2", "h3"], 1000.0)
    assert await repo.remaining("t1", "USR-1") == 3
    assert await repo.use("t1", "USR-1", "h1", 1001.0)
    assert not await repo.use("t1", "USR-1", "h1", 1002.0)  # single use
    assert not await repo.use("t1", "USR-1", "nope", 1002.0)
    assert not await repo.use("t1", "USR-2", "h2", 1002.0)  # another user's code
    assert not await repo.use("t2", "USR-1", "h2", 1002.0)
    assert await repo.remaining("t1", "USR-1") == 2
    async with sql_database.read() as session:
        used: float = (
            await session.execute(text("SELECT used_at FROM recovery_codes WHERE code_hash = 'h1'"))
        ).scalar_one()
    assert used == 1001.0
    # A new set: the old codes (used or not) stop working.
    await repo.replace("t1", "USR-1", ["h4", "h5"], 2000.0)
    assert not await repo.use("t1", "USR-1", "h2", 2001.0)
    assert await repo.remaining("t1", "USR-1") == 2
    assert await repo.use("t1", "USR-1", "h4", 2001.0)
    await repo.delete_all("t1", "USR-1")
    assert await repo.remaining("t1", "USR-1") == 0
    assert not await repo.use("t1", "USR-1", "h5", 2002.0)


async def test_recovery_codes_of_users_are_separate(sql_database: Database) -> None:
    await seed(sql_database)
    repo = SqlRecoveryCodeRepository(sql_database)
    await repo.replace("t1", "USR-1", ["same"], 1000.0)
    await repo.replace("t1", "USR-2", ["same", "other"], 1000.0)
    assert await repo.use("t1", "USR-1", "same", 1001.0)
    assert await repo.remaining("t1", "USR-2") == 2
    await repo.replace("t1", "USR-1", [], 1002.0)
    assert await repo.remaining("t1", "USR-2") == 2


async def test_recovery_replace_for_an_unknown_user_changes_nothing(sql_database: Database) -> None:
    await seed(sql_database)
    repo = SqlRecoveryCodeRepository(sql_database)
    with pytest.raises(NotFound):
        await repo.replace("t1", "USR-404", ["h1"], 1000.0)
    assert await repo.remaining("t1", "USR-404") == 0


async def test_concurrent_uses_of_one_recovery_code_exactly_one_wins(sql_database: Database) -> None:
    await seed(sql_database)
    repo = SqlRecoveryCodeRepository(sql_database)
    hashes = [f"h{i}" for i in range(10)]
    await repo.replace("t1", "USR-1", hashes, 1000.0)
    for h in hashes:
        results = await asyncio.gather(*(repo.use("t1", "USR-1", h, 1001.0) for _ in range(2)))
        assert sorted(results) == [False, True]
    assert await repo.remaining("t1", "USR-1") == 0
