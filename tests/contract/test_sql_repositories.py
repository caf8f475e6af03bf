"""Contract suite for the SQL repositories, Database and migrations, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import sqlite3
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, inspect, text

from lukhas_id.adapters.sql import (
    Database,
    SqlClientRepository,
    SqlEncryptedMaterial,
    SqlPrincipalRepository,
    SqlSigningKeyRepository,
    SqlTenantRepository,
)
from lukhas_id.adapters.sql.database import MIGRATIONS_DIR, _use_wal, normalize_url
from lukhas_id.adapters.sql.models import Base
from lukhas_id.domain.client import Client, ClientStatus, GrantType, TokenFormat
from lukhas_id.domain.keys import KeyState, SigningAlg, SigningKey
from lukhas_id.domain.principal import Principal, PrincipalStatus, PrincipalType
from lukhas_id.domain.tenant import Tenant
from lukhas_id.errors import AlreadyExists, NotFound

# --- factories -------------------------------------------------------------------------------------


def tenant(tid: str = "t1", name: str | None = None, created_at: float = 1000.0) -> Tenant:
    return Tenant(
        id=tid,
        name=name or f"name-{tid}",
        id_secret_enc=b"enc:" + tid.encode(),
        access_token_alg="ES256",
        created_at=created_at,
    )


def principal(tid: str = "t1", lid: str = "SVC-aaaa", ptype: PrincipalType = PrincipalType.SERVICE) -> Principal:
    return Principal(
        tenant_id=tid,
        lid=lid,
        type=ptype,
        display_name=f"principal {lid}",
        status=PrincipalStatus.ACTIVE,
        created_at=1000.0,
    )


def client(tid: str = "t1", client_id: str = "c1", lid: str = "SVC-aaaa", created_at: float = 1000.0) -> Client:
    return Client(
        tenant_id=tid,
        client_id=client_id,
        name=f"client {client_id}",
        principal_lid=lid,
        principal_type=PrincipalType.SERVICE,
        secret_hash="hmac-sha256$abc",
        grant_types=frozenset({GrantType.CLIENT_CREDENTIALS, GrantType.REFRESH_TOKEN}),
        scopes=frozenset({"api:write", "api:read", "openid"}),
        resources=("urn:z", "urn:a", "urn:m"),
        token_format=TokenFormat.JWT,
        access_token_ttl=600,
        status=ClientStatus.ACTIVE,
        created_at=created_at,
    )


def key(
    kid: str,
    state: KeyState,
    *,
    tid: str = "t1",
    alg: SigningAlg = SigningAlg.ES256,
    created_at: float = 1000.0,
) -> SigningKey:
    return SigningKey(
        tenant_id=tid,
        kid=kid,
        alg=alg,
        state=state,
        public_jwk={"kty": "EC", "crv": "P-256", "x": "xx", "y": "yy", "kid": kid, "alg": alg.value},
        private_enc=b"priv:" + kid.encode(),
        created_at=created_at,
        activated_at=created_at + 1 if state is not KeyState.NEXT else None,
        retired_at=created_at + 2 if state is KeyState.RETIRED else None,
        remove_after=created_at + 3 if state is KeyState.RETIRED else None,
    )


def with_state(k: SigningKey, state: KeyState) -> SigningKey:
    return dataclasses.replace(k, state=state)


@asynccontextmanager
async def opened(url: str) -> AsyncIterator[Database]:
    database = Database.from_url(url)
    try:
        yield database
    finally:
        await database.dispose()


async def seed_tenants(db: Database, *tids: str) -> None:
    for tid in tids or ("t1",):
        await SqlTenantRepository(db).create(tenant(tid))


# --- Database.from_url -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    ["mysql://root:hunter2@db/x", "redis://:hunter2@localhost/0", "postgresql+psycopg2://u:hunter2@h/d"],
)
def test_unsupported_scheme_is_a_one_line_error_without_the_password(url: str) -> None:
    with pytest.raises(ValueError, match="unsupported database URL scheme") as info:
        Database.from_url(url)
    assert "hunter2" not in str(info.value)
    assert "\n" not in str(info.value)


def test_unparseable_url_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="invalid database URL") as info:
        Database.from_url("not a url with secret hunter2")
    assert "hunter2" not in str(info.value)


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://u:hunter2@db.example:5433/lid",
        "postgres://u:hunter2@db.example:5433/lid",
        "postgresql+asyncpg://u:hunter2@db.example:5433/lid",
    ],
)
async def test_postgres_urls_use_asyncpg_and_mask_the_password(url: str) -> None:
    database = Database.from_url(url)
    try:
        assert database.engine.url.drivername == "postgresql+asyncpg"
        assert database.engine.url.host == "db.example"
        assert database.engine.url.port == 5433
        assert database.is_sqlite is False
        assert "hunter2" not in database.display_url
        assert "hunter2" not in repr(database)
        assert database.engine.pool.size() == 10  # type: ignore[attr-defined]
    finally:
        await database.dispose()


def test_postgres_query_parameters_become_connect_args() -> None:
    spec = normalize_url("postgres://u@h/d?search_path=tenant_x&sslmode=require&application_name=lid&timeout=5")
    assert spec.url.drivername == "postgresql+asyncpg"
    assert dict(spec.url.query) == {"timeout": "5"}
    assert spec.connect_args == {
        "server_settings": {"search_path": "tenant_x", "application_name": "lid"},
        "ssl": "require",
    }
    assert normalize_url("postgresql://u@h/d").connect_args == {}


@pytest.mark.parametrize(
    ("url", "database"),
    [
        ("sqlite:///relative/lid.db", "relative/lid.db"),
        ("sqlite:////abs/lid.db", "/abs/lid.db"),
        ("sqlite+aiosqlite:////abs/lid.db", "/abs/lid.db"),
    ],
)
def test_sqlite_urls_use_aiosqlite(url: str, database: str) -> None:
    spec = normalize_url(url)
    assert spec.is_sqlite
    assert spec.url.drivername == "sqlite+aiosqlite"
    assert spec.url.database == database


@pytest.mark.postgres
async def test_postgres_search_path_selects_the_schema(pg_schema_url: str) -> None:
    schema = pg_schema_url.rsplit("search_path=", 1)[1]
    async with opened(pg_schema_url) as database:
        await database.upgrade()
        async with database.engine.connect() as conn:
            assert (await conn.execute(text("SELECT current_schema()"))).scalar() == schema
            tables = await conn.execute(
                text("SELECT table_name FROM information_schema.tables WHERE table_schema = :s"),
                {"s": schema},
            )
            assert {"alembic_version", "tenants", "signing_keys"} <= set(tables.scalars())


@pytest.mark.parametrize("scheme", ["sqlite", "sqlite+aiosqlite"])
async def test_sqlite_url_creates_the_directory_and_sets_pragmas(tmp_path: Path, scheme: str) -> None:
    path = tmp_path / "deep" / "er" / "lid.db"
    async with opened(f"{scheme}:///{path}") as database:
        assert database.is_sqlite is True
        assert database.engine.url.drivername == "sqlite+aiosqlite"
        assert path.parent.is_dir()
        async with database.engine.connect() as conn:
            assert (await conn.execute(text("PRAGMA journal_mode"))).scalar() == "wal"
            assert (await conn.execute(text("PRAGMA busy_timeout"))).scalar() == 5000
            assert (await conn.execute(text("PRAGMA foreign_keys"))).scalar() == 1
        await database.ping()


def test_switch_to_wal_waits_out_a_lock_that_busy_timeout_does_not(tmp_path: Path) -> None:
    # Two connections switching a new file to WAL at once can deadlock on its exclusive lock, which SQLite
    # answers with "database is locked" at once, without its busy handler: the switch is retried instead.
    path = tmp_path / "new.db"
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN EXCLUSIVE")
    release = threading.Timer(0.2, holder.execute, ("COMMIT",))
    release.start()
    switching = sqlite3.connect(path, isolation_level=None)
    try:
        cursor = switching.cursor()
        cursor.execute("PRAGMA busy_timeout = 0")  # every lock conflict is refused at once, as in a deadlock
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            cursor.execute("PRAGMA journal_mode = WAL")  # what the connect hook once did, unretried
        _use_wal(cursor)
        assert cursor.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        release.join()
        switching.close()
        holder.close()


async def test_many_connections_opening_a_new_file_at_once(tmp_path: Path) -> None:
    for n in range(10):
        url = f"sqlite:///{tmp_path / f'race-{n}.db'}"
        databases = [Database.from_url(url) for _ in range(4)]
        try:
            await asyncio.gather(*(d.ping() for d in databases))
        finally:
            for d in databases:
                await d.dispose()


async def test_ping(sql_database: Database) -> None:
    await sql_database.ping()


# --- migrations ------------------------------------------------------------------------------------


async def test_fresh_database_is_not_current_until_upgraded(sql_database_url: str) -> None:
    async with opened(sql_database_url) as database:
        head = database.head_revision()
        assert head == "0012"  # the newest shipped migration
        assert await database.current_revision() is None
        assert await database.is_current() is False
        await database.upgrade()
        assert await database.current_revision() == head
        assert await database.is_current() is True
        await database.upgrade()  # a no-op
        assert await database.current_revision() == head


async def test_concurrent_upgrades_both_succeed(sql_database_url: str) -> None:
    async with opened(sql_database_url) as a, opened(sql_database_url) as b:
        await asyncio.gather(a.upgrade(), b.upgrade())
        assert await a.is_current() and await b.is_current()


async def test_downgrade_to_base_and_upgrade_again(sql_database: Database) -> None:
    def downgrade(conn: Connection) -> None:
        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
        cfg.set_main_option("path_separator", "os")
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "base")

    async with sql_database.engine.begin() as conn:
        await conn.run_sync(downgrade)
        tables = await conn.run_sync(lambda c: inspect(c).get_table_names())
    assert tables == ["alembic_version"]
    assert await sql_database.current_revision() is None
    await sql_database.upgrade()
    assert await sql_database.is_current()


async def test_models_and_migrations_agree(sql_database: Database) -> None:
    def diff(conn: Connection) -> list[Any]:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        return list(compare_metadata(context, Base.metadata))

    async with sql_database.engine.connect() as conn:
        assert await conn.run_sync(diff) == []


# --- tenants ---------------------------------------------------------------------------------------


async def test_tenant_roundtrip(sql_database: Database) -> None:
    repo = SqlTenantRepository(sql_database)
    t = tenant("t1", "acme")
    await repo.create(t)
    assert await repo.get("t1") == t
    assert await repo.get_by_name("acme") == t
    assert await repo.get("nope") is None
    assert await repo.get_by_name("nope") is None


async def test_tenant_list_is_ordered_by_name(sql_database: Database) -> None:
    repo = SqlTenantRepository(sql_database)
    assert await repo.list() == []
    for tid, name in [("t1", "zeta"), ("t2", "alpha"), ("t3", "mid")]:
        await repo.create(tenant(tid, name))
    assert [t.name for t in await repo.list()] == ["alpha", "mid", "zeta"]


async def test_duplicate_tenant_name_or_id_raises_already_exists(sql_database: Database) -> None:
    repo = SqlTenantRepository(sql_database)
    await repo.create(tenant("t1", "acme"))
    with pytest.raises(AlreadyExists, match="tenant") as info:
        await repo.create(tenant("t2", "acme"))
    assert "acme" not in str(info.value)
    with pytest.raises(AlreadyExists, match="tenant"):
        await repo.create(tenant("t1", "other"))
    assert [t.id for t in await repo.list()] == ["t1"]


# --- principals ------------------------------------------------------------------------------------


async def test_principal_roundtrip(sql_database: Database) -> None:
    await seed_tenants(sql_database)
    repo = SqlPrincipalRepository(sql_database)
    p = principal(ptype=PrincipalType.USER, lid="USR-1")
    await repo.create(p)
    assert await repo.get("t1", "USR-1") == p
    assert await repo.get("t1", "USR-2") is None
    assert await repo.get("t2", "USR-1") is None


async def test_duplicate_principal_raises_already_exists(sql_database: Database) -> None:
    await seed_tenants(sql_database)
    repo = SqlPrincipalRepository(sql_database)
    await repo.create(principal(lid="USR-1"))
    with pytest.raises(AlreadyExists, match="principal") as info:
        await repo.create(dataclasses.replace(principal(lid="USR-1"), display_name="other"))
    assert "USR-1" not in str(info.value)
    got = await repo.get("t1", "USR-1")
    assert got is not None and got.display_name == "principal USR-1"


async def test_principal_of_unknown_tenant_is_not_found(sql_database: Database) -> None:
    with pytest.raises(NotFound, match="tenant"):
        await SqlPrincipalRepository(sql_database).create(principal("ghost"))


# --- clients ---------------------------------------------------------------------------------------


async def test_client_roundtrip_stores_the_principal_too(sql_database: Database) -> None:
    await seed_tenants(sql_database)
    repo = SqlClientRepository(sql_database)
    c, p = client(), principal()
    await repo.create(c, p)
    got = await repo.get("t1", "c1")
    assert got == c
    assert got is not None and got.resources == ("urn:z", "urn:a", "urn:m")  # order kept
    assert got.default_resource == "urn:z"
    assert await SqlPrincipalRepository(sql_database).get("t1", "SVC-aaaa") == p
    assert await repo.get("t1", "c2") is None
    assert await repo.get("t2", "c1") is None


async def test_client_with_empty_sets(sql_database: Database) -> None:
    await seed_tenants(sql_database)
    repo = SqlClientRepository(sql_database)
    c = dataclasses.replace(client(), scopes=frozenset(), resources=(), grant_types=frozenset())
    await repo.create(c, principal())
    assert await repo.get("t1", "c1") == c


async def test_client_list_is_per_tenant_and_ordered_by_creation(sql_database: Database) -> None:
    await seed_tenants(sql_database, "t1", "t2")
    repo = SqlClientRepository(sql_database)
    assert await repo.list("t1") == []
    await repo.create(client(client_id="late", lid="SVC-1", created_at=3000), principal(lid="SVC-1"))
    await repo.create(client(client_id="b", lid="SVC-2", created_at=1000), principal(lid="SVC-2"))
    await repo.create(client(client_id="a", lid="SVC-3", created_at=1000), principal(lid="SVC-3"))
    await repo.create(client("t2", "other", "SVC-4"), principal("t2", "SVC-4"))
    assert [c.client_id for c in await repo.list("t1")] == ["a", "b", "late"]
    assert [c.client_id for c in await repo.list("t2")] == ["other"]


async def test_duplicate_client_id_stores_neither(sql_database: Database) -> None:
    await seed_tenants(sql_database)
    repo = SqlClientRepository(sql_database)
    await repo.create(client(lid="SVC-1"), principal(lid="SVC-1"))
    with pytest.raises(AlreadyExists, match="client_id"):
        await repo.create(client(lid="SVC-2"), principal(lid="SVC-2"))
    assert await SqlPrincipalRepository(sql_database).get("t1", "SVC-2") is None
    assert [c.principal_lid for c in await repo.list("t1")] == ["SVC-1"]


async def test_colliding_principal_lid_stores_neither(sql_database: Database) -> None:
    await seed_tenants(sql_database)
    await SqlPrincipalRepository(sql_database).create(principal(lid="SVC-1"))
    repo = SqlClientRepository(sql_database)
    with pytest.raises(AlreadyExists, match="principal"):
        await repo.create(client(client_id="new", lid="SVC-1"), principal(lid="SVC-1"))
    assert await repo.get("t1", "new") is None
    assert await repo.list("t1") == []


async def test_client_must_act_as_the_given_principal(sql_database: Database) -> None:
    await seed_tenants(sql_database)
    repo = SqlClientRepository(sql_database)
    with pytest.raises(ValueError, match="principal"):
        await repo.create(client(lid="SVC-1"), principal(lid="SVC-2"))
    with pytest.raises(ValueError, match="principal_type"):
        await repo.create(client(lid="SVC-1"), principal(lid="SVC-1", ptype=PrincipalType.AGENT))
    assert await repo.list("t1") == []


async def test_client_of_unknown_tenant_is_not_found(sql_database: Database) -> None:
    with pytest.raises(NotFound):
        await SqlClientRepository(sql_database).create(client("ghost"), principal("ghost"))


async def test_set_status(sql_database: Database) -> None:
    await seed_tenants(sql_database)
    repo = SqlClientRepository(sql_database)
    await repo.create(client(), principal())
    assert await repo.set_status("t1", "c1", ClientStatus.DISABLED) is True
    got = await repo.get("t1", "c1")
    assert got is not None and got.status is ClientStatus.DISABLED
    assert await repo.set_status("t1", "c1", ClientStatus.DISABLED) is True  # no change, still exists
    assert await repo.set_status("t1", "missing", ClientStatus.ACTIVE) is False
    assert await repo.set_status("t2", "c1", ClientStatus.ACTIVE) is False


async def test_update_and_delete(sql_database: Database) -> None:
    await seed_tenants(sql_database)
    repo = SqlClientRepository(sql_database)
    await repo.create(client(), principal())
    assert (await repo.get("t1", "c1")).registration_token_hash == ""  # type: ignore[union-attr]
    changed = dataclasses.replace(
        client(), name="renamed", scopes=frozenset({"a"}), registration_token_hash="hs256v1$x$y", created_at=5.0
    )
    assert await repo.update(changed) is True
    got = await repo.get("t1", "c1")
    assert got == dataclasses.replace(changed, created_at=1000.0)  # identity and created_at are kept
    assert await repo.update(dataclasses.replace(changed, client_id="missing")) is False
    assert await repo.delete("t2", "c1") is False
    assert await repo.delete("t1", "c1") is True
    assert await repo.get("t1", "c1") is None
    assert await repo.delete("t1", "c1") is False


async def test_rotate_secret_is_a_compare_and_swap_on_the_current_hash(sql_database: Database) -> None:
    await seed_tenants(sql_database, "t1", "t2")
    repo = SqlClientRepository(sql_database)
    await repo.create(client(), principal())
    old = client().secret_hash
    rotate = functools.partial(repo.rotate_secret, "t1", "c1", secret_hash="hs256v1$new$1")
    assert await rotate(expect_hash="hs256v1$other$0", previous_hash=old, previous_expires_at=2000.0) is False
    assert await repo.get("t1", "c1") == client()  # a stale expectation changes nothing
    assert await rotate(expect_hash=old, previous_hash=old, previous_expires_at=2000.5) is True
    got = await repo.get("t1", "c1")
    assert got == dataclasses.replace(
        client(), secret_hash="hs256v1$new$1", previous_secret_hash=old, previous_secret_expires_at=2000.5
    )
    # A second rotation replaces the previous secret; without an overlap none is kept.
    assert await repo.rotate_secret(
        "t1", "c1", expect_hash="hs256v1$new$1", secret_hash="hs256v1$n2$2", previous_hash="", previous_expires_at=9.0
    )
    got = await repo.get("t1", "c1")
    assert got is not None and got.secret_hash == "hs256v1$n2$2"
    assert got.previous_secret_hash == "" and got.previous_secret_expires_at is None
    assert not await repo.rotate_secret(
        "t2", "c1", expect_hash="hs256v1$n2$2", secret_hash="x", previous_hash="", previous_expires_at=None
    )
    assert not await repo.rotate_secret(
        "t1", "missing", expect_hash="hs256v1$n2$2", secret_hash="x", previous_hash="", previous_expires_at=None
    )


async def test_update_never_writes_the_secrets(sql_database: Database) -> None:
    """A record read before a rotation and written back by `update` does not bring the old secret back."""
    await seed_tenants(sql_database)
    repo = SqlClientRepository(sql_database)
    await repo.create(client(), principal())
    stale = await repo.get("t1", "c1")
    assert stale is not None
    assert await repo.rotate_secret(
        "t1",
        "c1",
        expect_hash=stale.secret_hash,
        secret_hash="hs256v1$new$1",
        previous_hash="",
        previous_expires_at=None,
    )
    assert await repo.update(dataclasses.replace(stale, name="renamed", previous_secret_hash="hs256v1$p$q")) is True
    got = await repo.get("t1", "c1")
    assert got is not None and got.name == "renamed"
    assert got.secret_hash == "hs256v1$new$1" and got.previous_secret_hash == ""


# --- signing keys ----------------------------------------------------------------------------------


async def test_signing_keys_add_and_list_oldest_first(sql_database: Database) -> None:
    await seed_tenants(sql_database, "t1", "t2")
    repo = SqlSigningKeyRepository(sql_database)
    assert await repo.list("t1") == []
    k3 = key("k3", KeyState.NEXT, created_at=3000)
    k1 = key("k1", KeyState.RETIRED, created_at=1000)
    k2b = key("k2b", KeyState.ACTIVE, created_at=2000)
    k2a = key("k2a", KeyState.ACTIVE, created_at=2000, alg=SigningAlg.RS256)
    for k in (k3, k1, k2b, k2a, key("other", KeyState.ACTIVE, tid="t2")):
        await repo.add(k)
    assert await repo.list("t1") == [k1, k2a, k2b, k3]
    assert [k.kid for k in await repo.list("t2")] == ["other"]


async def test_duplicate_kid_raises_already_exists(sql_database: Database) -> None:
    await seed_tenants(sql_database)
    repo = SqlSigningKeyRepository(sql_database)
    await repo.add(key("k1", KeyState.ACTIVE))
    with pytest.raises(AlreadyExists, match="signing key"):
        await repo.add(key("k1", KeyState.NEXT))


async def test_key_of_unknown_tenant_is_not_found(sql_database: Database) -> None:
    with pytest.raises(NotFound):
        await SqlSigningKeyRepository(sql_database).add(key("k1", KeyState.ACTIVE, tid="ghost"))


async def test_apply_rotation_first_key_and_stale_expectation(sql_database: Database) -> None:
    await seed_tenants(sql_database)
    repo = SqlSigningKeyRepository(sql_database)
    k1 = key("k1", KeyState.ACTIVE)
    assert await repo.apply_rotation("t1", expect_active_kid=None, upsert=[k1], remove_kids=[]) is True
    assert await repo.list("t1") == [k1]
    # A second process that also saw no active key loses and changes nothing.
    other = key("other", KeyState.ACTIVE)
    assert await repo.apply_rotation("t1", expect_active_kid=None, upsert=[other], remove_kids=[]) is False
    assert await repo.list("t1") == [k1]


async def test_apply_rotation_full_cycle(sql_database: Database) -> None:
    await seed_tenants(sql_database)
    repo = SqlSigningKeyRepository(sql_database)
    k1 = key("k1", KeyState.ACTIVE, created_at=1000)
    old = key("old", KeyState.RETIRED, created_at=500)
    await repo.add(old)
    await repo.add(k1)
    # Step 1: publish a next key.
    k2 = key("k2", KeyState.NEXT, created_at=2000)
    assert await repo.apply_rotation("t1", expect_active_kid="k1", upsert=[k2], remove_kids=[]) is True
    assert await repo.list("t1") == [old, k1, k2]
    # Step 2: activate it, retire the active one, drop the long-retired one.
    k2_active = dataclasses.replace(with_state(k2, KeyState.ACTIVE), activated_at=2500.0)
    k1_retired = dataclasses.replace(with_state(k1, KeyState.RETIRED), retired_at=2500.0, remove_after=9e9)
    upsert, remove = [k1_retired, k2_active], ["old"]
    assert await repo.apply_rotation("t1", expect_active_kid="k1", upsert=upsert, remove_kids=remove) is True
    assert await repo.list("t1") == [k1_retired, k2_active]
    # Replaying the same step (stale expectation) fails and changes nothing.
    assert await repo.apply_rotation("t1", expect_active_kid="k1", upsert=upsert, remove_kids=remove) is False
    assert await repo.list("t1") == [k1_retired, k2_active]
    # Step 3: a removal-only step, checked against the active key of the removed key's algorithm.
    assert await repo.apply_rotation("t1", expect_active_kid="k1", upsert=[], remove_kids=["k1"]) is False
    assert await repo.apply_rotation("t1", expect_active_kid="k2", upsert=[], remove_kids=["k1"]) is True
    assert await repo.list("t1") == [k2_active]


async def test_apply_rotation_failure_changes_nothing(sql_database: Database) -> None:
    await seed_tenants(sql_database)
    repo = SqlSigningKeyRepository(sql_database)
    k1, k0 = key("k1", KeyState.ACTIVE, created_at=2), key("k0", KeyState.RETIRED, created_at=1)
    await repo.add(k0)
    await repo.add(k1)
    before = await repo.list("t1")
    ok = await repo.apply_rotation(
        "t1",
        expect_active_kid="someone-else",
        upsert=[with_state(k1, KeyState.RETIRED), key("k2", KeyState.ACTIVE)],
        remove_kids=["k0"],
    )
    assert ok is False
    assert await repo.list("t1") == before


async def test_apply_rotation_is_per_algorithm(sql_database: Database) -> None:
    await seed_tenants(sql_database)
    repo = SqlSigningKeyRepository(sql_database)
    await repo.add(key("es", KeyState.ACTIVE, alg=SigningAlg.ES256))
    rs = key("rs", KeyState.ACTIVE, alg=SigningAlg.RS256)
    # No active RS256 key yet, although an ES256 key is active.
    assert await repo.apply_rotation("t1", expect_active_kid=None, upsert=[rs], remove_kids=[]) is True
    assert await repo.apply_rotation("t1", expect_active_kid="es", upsert=[rs], remove_kids=[]) is False
    assert sorted(k.kid for k in await repo.list("t1")) == ["es", "rs"]


async def test_apply_rotation_rejects_ambiguous_or_foreign_steps(sql_database: Database) -> None:
    await seed_tenants(sql_database, "t1", "t2")
    repo = SqlSigningKeyRepository(sql_database)
    two_algs = [key("a", KeyState.ACTIVE), key("b", KeyState.ACTIVE, alg=SigningAlg.RS256)]
    with pytest.raises(ValueError, match="one algorithm"):
        await repo.apply_rotation("t1", expect_active_kid=None, upsert=two_algs, remove_kids=[])
    with pytest.raises(ValueError, match="tenant"):
        await repo.apply_rotation(
            "t1", expect_active_kid=None, upsert=[key("x", KeyState.NEXT, tid="t2")], remove_kids=[]
        )
    with pytest.raises(NotFound):
        await repo.apply_rotation("ghost", expect_active_kid=None, upsert=[], remove_kids=[])
    assert await repo.list("t1") == []


async def test_concurrent_rotations_exactly_one_wins(migrated_sql_url: str) -> None:
    async with opened(migrated_sql_url) as setup:
        await seed_tenants(setup)
        await SqlSigningKeyRepository(setup).add(key("k0", KeyState.ACTIVE, created_at=0))
    async with opened(migrated_sql_url) as a, opened(migrated_sql_url) as b:
        repos = SqlSigningKeyRepository(a), SqlSigningKeyRepository(b)
        active = "k0"
        for round_ in range(1, 6):
            current = key(active, KeyState.ACTIVE, created_at=round_ - 1)
            steps = [
                repo.apply_rotation(
                    "t1",
                    expect_active_kid=active,
                    upsert=[with_state(current, KeyState.RETIRED), key(f"{who}{round_}", KeyState.ACTIVE)],
                    remove_kids=[],
                )
                for who, repo in zip("ab", repos, strict=True)
            ]
            results = await asyncio.gather(*steps)
            assert sorted(results) == [False, True]
            keys = await repos[0].list("t1")
            winners = [k.kid for k in keys if k.state is KeyState.ACTIVE]
            assert len(winners) == 1
            active = winners[0]
            assert len(keys) == round_ + 1  # the loser added nothing


# --- encrypted material ----------------------------------------------------------------------------


async def test_rewrap_reencrypts_keys_and_tenant_secrets(sql_database: Database) -> None:
    await seed_tenants(sql_database, "t1", "t2")
    keys = SqlSigningKeyRepository(sql_database)
    await keys.add(key("k1", KeyState.ACTIVE))
    await keys.add(key("k2", KeyState.NEXT, tid="t2"))
    seen: list[bytes] = []

    def transform(blob: bytes) -> bytes:
        seen.append(blob)
        return b"new(" + blob + b")"

    assert await SqlEncryptedMaterial(sql_database).rewrap(transform) == 4
    assert sorted(seen) == [b"enc:t1", b"enc:t2", b"priv:k1", b"priv:k2"]
    tenants = SqlTenantRepository(sql_database)
    assert [t.id_secret_enc for t in await tenants.list()] == [b"new(enc:t1)", b"new(enc:t2)"]
    assert [k.private_enc for k in await keys.list("t1")] == [b"new(priv:k1)"]
    assert [k.private_enc for k in await keys.list("t2")] == [b"new(priv:k2)"]


async def test_rewrap_of_an_empty_database(sql_database: Database) -> None:
    assert await SqlEncryptedMaterial(sql_database).rewrap(lambda b: b) == 0


async def test_rewrap_rolls_back_when_the_transform_raises(sql_database: Database) -> None:
    await seed_tenants(sql_database, "t1", "t2")
    keys = SqlSigningKeyRepository(sql_database)
    await keys.add(key("k1", KeyState.ACTIVE))
    calls = 0

    def transform(blob: bytes) -> bytes:
        nonlocal calls
        calls += 1
        if calls == 3:
            raise RuntimeError("KEK unavailable")
        return b"new(" + blob + b")"

    with pytest.raises(RuntimeError, match="KEK unavailable"):
        await SqlEncryptedMaterial(sql_database).rewrap(transform)
    assert [t.id_secret_enc for t in await SqlTenantRepository(sql_database).list()] == [b"enc:t1", b"enc:t2"]
    assert [k.private_enc for k in await keys.list("t1")] == [b"priv:k1"]
    # The database is still usable afterwards.
    assert await SqlEncryptedMaterial(sql_database).rewrap(lambda b: b) == 3
