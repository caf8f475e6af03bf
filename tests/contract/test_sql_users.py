"""Contract suite for the SQL user repository (and migration 0002), on SQLite and PostgreSQL, plus
UserService over it: sign-in, re-hashing, timing-safe unknown users, disabling."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import insert, text

from lukhas_id.adapters.crypto.passwords import Argon2Params, PasswordHasher, check_password_policy
from lukhas_id.adapters.events.in_process import RecordingSink
from lukhas_id.adapters.sql import (
    Database,
    SqlClientRepository,
    SqlPrincipalRepository,
    SqlUserRepository,
)
from lukhas_id.adapters.sql.unit_of_work import SqlUnitOfWork
from lukhas_id.clock import FixedClock
from lukhas_id.domain.client import Client, ClientAuthMethod, ClientStatus, GrantType, SubjectType, TokenFormat
from lukhas_id.domain.principal import PrincipalStatus, PrincipalType
from lukhas_id.domain.user import InvalidUser, UsernameTaken, UserStatus, WeakPassword
from lukhas_id.errors import AlreadyExists, NotFound
from lukhas_id.services.users import UserService
from tests.support.sql_seed import add, principal, seed, tenant, user

PASSWORD = "correct horse battery staple"
FAST = Argon2Params(memory_kib=1024, time_cost=1)


# --- repository ------------------------------------------------------------------------------------


async def test_user_roundtrip_stores_the_principal_too(sql_database: Database) -> None:
    await seed(sql_database)
    repo = SqlUserRepository(sql_database)
    u = user()
    await repo.create(u, principal())
    assert await repo.get("t1", "USR-1") == u
    assert await repo.get_by_username("t1", "alice") == u
    assert await repo.get_by_username("t1", "Alice") is None  # lookups take the key
    assert await repo.get("t1", "USR-2") is None
    assert await repo.get("t2", "USR-1") is None
    stored = await SqlPrincipalRepository(sql_database).get("t1", "USR-1")
    assert stored == principal()


async def test_optional_fields_roundtrip(sql_database: Database) -> None:
    await seed(sql_database)
    bare = user(email=None, password_hash=None, display_name="Ünïcødé ✓")
    verified = user(lid="USR-2", username="bob", email="b@x", email_verified=True, status=UserStatus.LOCKED)
    await add(sql_database, bare)
    await add(sql_database, verified)
    repo = SqlUserRepository(sql_database)
    assert await repo.get("t1", "USR-1") == bare
    assert await repo.get("t1", "USR-2") == verified


@pytest.mark.parametrize("other", ["alice", "ALICE", "ＡＬＩＣＥ", "aLiCe"])
async def test_username_is_unique_per_tenant_ignoring_case(sql_database: Database, other: str) -> None:
    await seed(sql_database)
    await add(sql_database, user(username="Alice"))
    with pytest.raises(UsernameTaken, match="username") as info:
        await add(sql_database, user(lid="USR-2", username=other))
    assert isinstance(info.value, AlreadyExists)
    assert "lice" not in str(info.value).lower().replace("already", "")
    # Atomic: the second user's principal was not stored either.
    assert await SqlPrincipalRepository(sql_database).get("t1", "USR-2") is None
    assert [u.lid for u in await SqlUserRepository(sql_database).list("t1")] == ["USR-1"]


async def test_unicode_case_folding_decides_what_collides(sql_database: Database) -> None:
    await seed(sql_database)
    await add(sql_database, user(lid="USR-1", username="Straße"))
    with pytest.raises(UsernameTaken):
        await add(sql_database, user(lid="USR-2", username="STRASSE"))
    await add(sql_database, user(lid="USR-3", username="alice"))
    # Dotted capital I folds to "i" + U+0307 and the dotless "ı" stays itself: both are other names.
    await add(sql_database, user(lid="USR-4", username="ALİCE"))
    await add(sql_database, user(lid="USR-5", username="alıce"))
    assert len(await SqlUserRepository(sql_database).list("t1")) == 4


async def test_same_username_in_two_tenants_is_allowed(sql_database: Database) -> None:
    await seed(sql_database, "t1", "t2")
    await add(sql_database, user("t1", "USR-1"))
    await add(sql_database, user("t2", "USR-3"))  # same username, another ΛID (ΛIDs are global)
    await add(sql_database, user("t2", "USR-2", username="bob"))
    repo = SqlUserRepository(sql_database)
    one, two = await repo.get_by_username("t1", "alice"), await repo.get_by_username("t2", "alice")
    assert one is not None and two is not None and one.tenant_id == "t1" and two.tenant_id == "t2"


async def test_taken_lid_stores_neither(sql_database: Database) -> None:
    await seed(sql_database)
    await SqlPrincipalRepository(sql_database).create(principal(lid="USR-1", ptype=PrincipalType.USER))
    repo = SqlUserRepository(sql_database)
    with pytest.raises(AlreadyExists, match="principal") as info:
        await repo.create(user(), principal())
    assert not isinstance(info.value, UsernameTaken)
    assert await repo.list("t1") == []


async def test_unknown_tenant_is_not_found(sql_database: Database) -> None:
    with pytest.raises(NotFound, match="tenant"):
        await SqlUserRepository(sql_database).create(user("ghost"), principal("ghost"))


async def test_user_must_be_its_principal(sql_database: Database) -> None:
    await seed(sql_database)
    repo = SqlUserRepository(sql_database)
    with pytest.raises(ValueError, match="principal"):
        await repo.create(user(lid="USR-1"), principal(lid="USR-2"))
    with pytest.raises(ValueError, match="USR"):
        await repo.create(user(lid="USR-1"), principal(lid="USR-1", ptype=PrincipalType.SERVICE))
    assert await repo.list("t1") == []


async def test_list_is_per_tenant_and_ordered_by_username_key(sql_database: Database) -> None:
    await seed(sql_database, "t1", "t2")
    for i, name in enumerate(["carol", "Bob", "alice"], start=1):
        await add(sql_database, user(lid=f"USR-{i}", username=name))
    await add(sql_database, user("t2", "USR-9", username="zed"))
    repo = SqlUserRepository(sql_database)
    assert [u.username for u in await repo.list("t1")] == ["alice", "Bob", "carol"]
    assert [u.username for u in await repo.list("t2")] == ["zed"]
    assert await repo.list("t3") == []


async def test_update_status_changes_the_user_and_its_principal(sql_database: Database) -> None:
    await seed(sql_database)
    await add(sql_database, user())
    repo, principals = SqlUserRepository(sql_database), SqlPrincipalRepository(sql_database)
    assert await repo.update_status("t1", "USR-1", UserStatus.DISABLED, 2000.0) is True
    got = await repo.get("t1", "USR-1")
    assert got is not None and got.status is UserStatus.DISABLED and got.updated_at == 2000.0
    assert got.created_at == 1000.0
    p = await principals.get("t1", "USR-1")
    assert p is not None and p.status is PrincipalStatus.DISABLED
    assert await repo.update_status("t1", "USR-1", UserStatus.LOCKED, 2500.0) is True
    p = await principals.get("t1", "USR-1")
    assert p is not None and p.status is PrincipalStatus.DISABLED
    assert await repo.update_status("t1", "USR-1", UserStatus.ACTIVE, 3000.0) is True
    p = await principals.get("t1", "USR-1")
    assert p is not None and p.status is PrincipalStatus.ACTIVE
    assert await repo.update_status("t1", "USR-2", UserStatus.ACTIVE, 3000.0) is False
    assert await repo.update_status("t2", "USR-1", UserStatus.ACTIVE, 3000.0) is False


async def test_set_password_hash_and_compare_and_swap(sql_database: Database) -> None:
    await seed(sql_database)
    u = user()
    await add(sql_database, u)
    repo = SqlUserRepository(sql_database)
    assert await repo.set_password_hash("t1", "USR-1", "h2", 2000.0) is True
    got = await repo.get("t1", "USR-1")
    assert got is not None and got.password_hash == "h2" and got.updated_at == 2000.0
    # A re-hash computed from the old hash must not overwrite the newer password.
    assert await repo.set_password_hash("t1", "USR-1", "h3", 3000.0, replaces=u.password_hash) is False
    assert await repo.set_password_hash("t1", "USR-1", "h3", 3000.0, replaces="h2") is True
    got = await repo.get("t1", "USR-1")
    assert got is not None and got.password_hash == "h3"
    assert await repo.set_password_hash("t1", "USR-1", None, 4000.0) is True
    got = await repo.get("t1", "USR-1")
    assert got is not None and got.password_hash is None
    assert await repo.set_password_hash("t1", "nobody", "h", 5000.0) is False


# --- clients: the columns of migration 0002 --------------------------------------------------------


def rp_client(tid: str = "t1", client_id: str = "rp", lid: str = "SVC-1") -> Client:
    return Client(
        tenant_id=tid,
        client_id=client_id,
        name="web app",
        principal_lid=lid,
        principal_type=PrincipalType.SERVICE,
        secret_hash="",
        grant_types=frozenset({GrantType.AUTHORIZATION_CODE, GrantType.REFRESH_TOKEN}),
        scopes=frozenset({"openid", "profile"}),
        resources=(),
        token_format=TokenFormat.JWT,
        access_token_ttl=600,
        status=ClientStatus.ACTIVE,
        created_at=1000.0,
        redirect_uris=("https://app.example/cb", "http://127.0.0.1/cb", "com.example.app:/cb"),
        post_logout_redirect_uris=("https://app.example/bye",),
        token_endpoint_auth_method=ClientAuthMethod.NONE,
        id_token_signed_response_alg="ES256",
        subject_type=SubjectType.PAIRWISE,
        first_party=True,
        refresh_grace_seconds=30,
    )


async def test_relying_party_client_fields_roundtrip(sql_database: Database) -> None:
    await seed(sql_database)
    repo = SqlClientRepository(sql_database)
    c = rp_client()
    await repo.create(c, principal(lid="SVC-1", ptype=PrincipalType.SERVICE))
    got = await repo.get("t1", "rp")
    assert got == c
    assert got is not None and got.public and got.redirect_uris[0] == "https://app.example/cb"


async def test_clients_stored_before_0002_read_back_with_machine_defaults(sql_database_url: str) -> None:
    database = Database.from_url(sql_database_url)
    try:
        await database.upgrade("0001")
        await seed(database)
        async with database.transaction() as session:
            await session.execute(
                text(
                    "INSERT INTO principals (tenant_id, lid, type, display_name, status, created_at) "
                    "VALUES ('t1', 'SVC-1', 'SVC', 'old', 'active', 1000.0)"
                )
            )
            await session.execute(
                text(
                    "INSERT INTO clients (tenant_id, client_id, name, principal_lid, principal_type, secret_hash, "
                    "grant_types, scopes, resources, token_format, access_token_ttl, status, created_at) "
                    "VALUES ('t1', 'old', 'old', 'SVC-1', 'SVC', 'h', '[\"client_credentials\"]', '[]', '[]', "
                    "'jwt', 600, 'active', 1000.0)"
                )
            )
        await database.upgrade()
        assert await database.current_revision() == database.head_revision()
        got = await SqlClientRepository(database).get("t1", "old")
        assert got is not None
        assert got.redirect_uris == () and got.post_logout_redirect_uris == ()
        assert got.token_endpoint_auth_method is ClientAuthMethod.CLIENT_SECRET_BASIC
        assert got.id_token_signed_response_alg == "RS256"
        assert got.subject_type is SubjectType.PUBLIC
        assert got.first_party is False and got.refresh_grace_seconds == 0
        assert not got.public
    finally:
        await database.dispose()


# --- UserService over SQL --------------------------------------------------------------------------


class CountingHasher(PasswordHasher):
    def __init__(self, params: Argon2Params) -> None:
        super().__init__(params)
        self.verified: list[str] = []
        self.hashed = 0

    def verify(self, password_hash: str, password: str) -> bool:
        self.verified.append(password_hash)
        return super().verify(password_hash, password)

    def hash(self, password: str) -> str:
        self.hashed += 1
        return super().hash(password)


def service(db: Database, hasher: PasswordHasher | None = None, clock: FixedClock | None = None) -> UserService:
    return UserService(
        SqlUserRepository(db),
        hasher or PasswordHasher(FAST),
        clock or FixedClock(),
        SqlUnitOfWork(db, RecordingSink()),
        policy=check_password_policy,
    )


async def test_create_and_authenticate(sql_database: Database) -> None:
    await seed(sql_database)
    users = service(sql_database)
    created = await users.create(tenant(), "Alice", email="alice@example.com", password=PASSWORD)
    assert created.lid.startswith("USR-") and created.username == "Alice" and created.username_key == "alice"
    assert created.display_name == "Alice" and created.email_verified is False
    assert created.password_hash is not None and PASSWORD not in created.password_hash
    assert await SqlUserRepository(sql_database).get("t1", created.lid) == created
    p = await SqlPrincipalRepository(sql_database).get("t1", created.lid)
    assert p is not None and p.type is PrincipalType.USER and p.display_name == "Alice"

    assert await users.authenticate(tenant(), "alice", PASSWORD) == created
    assert await users.authenticate(tenant(), "ＡＬＩＣＥ", PASSWORD) == created
    assert await users.authenticate(tenant(), "alice", PASSWORD + "!") is None
    assert await users.authenticate(tenant(), "alice", "") is None
    assert await users.authenticate(tenant(), "alice", "x" * 100_000) is None
    assert await users.authenticate(tenant("t2"), "alice", PASSWORD) is None


async def test_create_rejects_bad_input_and_taken_usernames(sql_database: Database) -> None:
    await seed(sql_database)
    users = service(sql_database)
    await users.create(tenant(), "alice", password=PASSWORD)
    with pytest.raises(UsernameTaken):
        await users.create(tenant(), "ALICE", password=PASSWORD)
    with pytest.raises(InvalidUser, match="username"):
        await users.create(tenant(), "bad name", password=PASSWORD)
    with pytest.raises(InvalidUser, match="@"):
        await users.create(tenant(), "bob", email="bob", password=PASSWORD)
    with pytest.raises(WeakPassword, match="username"):
        await users.create(tenant(), "bobby", password="bobby's password")
    with pytest.raises(WeakPassword, match="common"):
        await users.create(tenant(), "bob", password="qwerty123456")
    assert [u.username for u in await users.list(tenant())] == ["alice"]
    no_password = await users.create(tenant(), "carol", display_name="Carol C.")
    assert no_password.password_hash is None
    assert await users.authenticate(tenant(), "carol", "") is None


async def test_unknown_users_cost_a_dummy_verification(sql_database: Database) -> None:
    await seed(sql_database)
    hasher = CountingHasher(FAST)
    users = service(sql_database, hasher)
    await users.create(tenant(), "alice", password=PASSWORD)
    hasher.verified.clear()
    assert await users.authenticate(tenant(), "nobody", PASSWORD) is None
    assert await users.authenticate(tenant(), "not a valid name!", PASSWORD) is None
    await users.create(tenant(), "carol")  # no password
    assert await users.authenticate(tenant(), "carol", PASSWORD) is None
    assert len(hasher.verified) == 3
    assert len(set(hasher.verified)) == 1  # one dummy hash, made once, with the current parameters
    assert hasher.needs_rehash(hasher.verified[0]) is False


async def test_disabled_and_locked_users_fail_even_with_the_right_password(sql_database: Database) -> None:
    await seed(sql_database)
    clock = FixedClock(5000.0)
    users = service(sql_database, clock=clock)
    created = await users.create(tenant(), "alice", password=PASSWORD)
    clock.advance(10)
    disabled = await users.disable(tenant(), "Alice")
    assert disabled.status is UserStatus.DISABLED and disabled.updated_at == 5010.0
    assert await users.authenticate(tenant(), "alice", PASSWORD) is None
    await users.enable(tenant(), "alice")
    assert await users.authenticate(tenant(), "alice", PASSWORD) is not None
    await SqlUserRepository(sql_database).update_status("t1", created.lid, UserStatus.LOCKED, 6000.0)
    assert await users.authenticate(tenant(), "alice", PASSWORD) is None
    with pytest.raises(NotFound, match="no user"):
        await users.disable(tenant(), "nobody")


async def test_set_password(sql_database: Database) -> None:
    await seed(sql_database)
    users = service(sql_database)
    await users.create(tenant(), "alice", email="wonderland@example.com", password=PASSWORD)
    new = "a completely different passphrase"
    changed = await users.set_password(tenant(), "ALICE", new)
    assert changed.password_hash is not None and new not in changed.password_hash
    assert await users.authenticate(tenant(), "alice", PASSWORD) is None
    assert await users.authenticate(tenant(), "alice", new) is not None
    with pytest.raises(WeakPassword, match="e-mail"):
        await users.set_password(tenant(), "alice", "down to Wonderland!")
    with pytest.raises(WeakPassword, match="at least 12"):
        await users.set_password(tenant(), "alice", "short")
    with pytest.raises(NotFound):
        await users.set_password(tenant(), "nobody", new)


async def test_authenticate_rehashes_when_the_parameters_changed(sql_database: Database) -> None:
    await seed(sql_database)
    clock = FixedClock(5000.0)
    old_hasher = PasswordHasher(FAST)
    created = await service(sql_database, old_hasher, clock).create(tenant(), "alice", password=PASSWORD)
    assert created.password_hash is not None and "m=1024,t=1" in created.password_hash

    new_hasher = CountingHasher(Argon2Params(memory_kib=2048, time_cost=2))
    users = service(sql_database, new_hasher, clock)
    await users.authenticate(tenant(), "nobody", "warm up the dummy hash")
    new_hasher.hashed = 0
    clock.advance(60)
    signed_in = await users.authenticate(tenant(), "alice", PASSWORD)
    assert signed_in is not None and signed_in.password_hash is not None
    assert "m=2048,t=2" in signed_in.password_hash and signed_in.updated_at == 5060.0
    assert new_hasher.hashed == 1
    stored = await SqlUserRepository(sql_database).get("t1", created.lid)
    assert stored == signed_in
    # The next sign-in verifies the new hash and does not hash again.
    assert await users.authenticate(tenant(), "alice", PASSWORD) == stored
    assert new_hasher.hashed == 1
    # The old hasher still verifies (a rolled-back deployment keeps working) and would re-hash back.
    assert await service(sql_database, old_hasher, clock).authenticate(tenant(), "alice", PASSWORD) is not None


async def test_rehash_never_overwrites_a_password_changed_meanwhile(sql_database: Database) -> None:
    await seed(sql_database)
    created = await service(sql_database, PasswordHasher(FAST)).create(tenant(), "alice", password=PASSWORD)
    stronger = PasswordHasher(Argon2Params(memory_kib=2048, time_cost=2))
    repo = SqlUserRepository(sql_database)

    class ChangedMeanwhile(SqlUserRepository):
        async def set_password_hash(self, *args: Any, **kwargs: Any) -> bool:
            # An operator sets a new password between the verification and the re-hash.
            await repo.set_password_hash("t1", created.lid, "$argon2id$newer", 9000.0)
            return await super().set_password_hash(*args, **kwargs)

    users = UserService(
        ChangedMeanwhile(sql_database),
        stronger,
        FixedClock(),
        SqlUnitOfWork(sql_database, RecordingSink()),
        policy=check_password_policy,
    )
    assert await users.authenticate(tenant(), "alice", PASSWORD) is not None
    stored = await repo.get("t1", created.lid)
    assert stored is not None and stored.password_hash == "$argon2id$newer"


async def test_delete_removes_the_user_and_what_it_owns_and_tombstones_the_principal(sql_database: Database) -> None:
    from lukhas_id.adapters.crypto.kek import Kek
    from lukhas_id.adapters.sql.consents import SqlConsentRepository
    from lukhas_id.adapters.sql.factors import SqlRecoveryCodeRepository, SqlTotpRepository
    from lukhas_id.adapters.sql.models import PasskeyRow
    from lukhas_id.domain.passkey import TotpFactor

    await seed(sql_database, "t1", "t2")
    owners = [user(), user(lid="USR-2", username="bob"), user(tid="t2", lid="USR-3")]
    for u in owners:
        await add(sql_database, u)
    totp = SqlTotpRepository(sql_database, Kek(bytes(32)))
    codes, consents = SqlRecoveryCodeRepository(sql_database), SqlConsentRepository(sql_database)
    for n, u in enumerate(owners):
        await totp.put(TotpFactor(u.tenant_id, u.lid, b"s" * 20, confirmed=True, last_step=None, created_at=1.0))
        await codes.replace(u.tenant_id, u.lid, [f"h{n}a", f"h{n}b"], 1.0)
        await consents.grant(u.tenant_id, u.lid, "cl_rp", frozenset({"openid"}), 1.0)
        async with sql_database.statement() as conn:
            await conn.execute(
                insert(PasskeyRow).values(
                    tenant_id=u.tenant_id, handle=f"p{n}", user_lid=u.lid, data_enc=b"x", sign_count=0,
                    backup_eligible=False, backup_state=False, user_verified=True, possibly_cloned=False,
                    created_at=1.0, last_used_at=None,
                )
            )  # fmt: skip
    repo, principals = SqlUserRepository(sql_database), SqlPrincipalRepository(sql_database)
    assert await repo.delete("t2", "USR-1") is False  # another tenant's ΛID: nothing changes
    assert await repo.delete("t1", "USR-1") is True
    assert await repo.get("t1", "USR-1") is None
    assert await repo.get_by_username("t1", "alice") is None
    tomb = await principals.get("t1", "USR-1")
    assert tomb is not None and tomb.status is PrincipalStatus.DELETED and tomb.display_name == ""
    counts: dict[str, list[int]] = {}
    async with sql_database.statement() as conn:
        for table in ("passkeys", "totp_factors", "recovery_codes", "consents"):
            rows = (await conn.execute(text(f"SELECT user_lid FROM {table} ORDER BY user_lid"))).scalars().all()  # noqa: S608
            counts[table] = [rows.count(lid) for lid in ("USR-1", "USR-2", "USR-3")]
    assert counts == {
        "passkeys": [0, 1, 1],
        "totp_factors": [0, 1, 1],
        "recovery_codes": [0, 2, 2],
        "consents": [0, 1, 1],
    }
    assert await repo.delete("t1", "USR-1") is False
    # The username is free again; the ΛID never is, in any tenant.
    await add(sql_database, user(lid="USR-9"))
    with pytest.raises(AlreadyExists):
        await repo.create(user(tid="t2", lid="USR-1", username="carol"), principal("t2", "USR-1"))
    with pytest.raises(AlreadyExists):
        await repo.create(user(lid="USR-1", username="dave"), principal("t1", "USR-1"))
