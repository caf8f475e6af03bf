"""ΛIDs unique across tenants (migration 0008), on SQLite and PostgreSQL: the database refuses a second
principal with a ΛID another tenant holds, the repositories report it as AlreadyExists, and the services
that generate ΛIDs draw again."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, text

from lukhas_id import ids
from lukhas_id.adapters.crypto.passwords import Argon2Params, PasswordHasher, check_password_policy
from lukhas_id.adapters.events.in_process import RecordingSink
from lukhas_id.adapters.sql import (
    Database,
    SqlClientRepository,
    SqlPrincipalRepository,
    SqlTenantRepository,
    SqlUserRepository,
)
from lukhas_id.adapters.sql.database import MIGRATIONS_DIR
from lukhas_id.adapters.sql.unit_of_work import SqlUnitOfWork
from lukhas_id.clock import FixedClock
from lukhas_id.domain.client import Client, ClientStatus, GrantType, TokenFormat
from lukhas_id.domain.principal import Principal, PrincipalStatus, PrincipalType
from lukhas_id.domain.tenant import Tenant
from lukhas_id.domain.user import User, UserStatus, username_key
from lukhas_id.errors import AlreadyExists
from lukhas_id.services.clients import ClientService
from lukhas_id.services.users import UserService

SHARED = "SVC-014D2PF2DBSQQG28T5CY4TQKFFP"


def _tenant(tid: str) -> Tenant:
    return Tenant(id=tid, name=f"name-{tid}", id_secret_enc=b"enc", access_token_alg="ES256", created_at=1000.0)


def _principal(tid: str, lid: str, ptype: PrincipalType = PrincipalType.SERVICE) -> Principal:
    return Principal(tid, lid, ptype, f"principal in {tid}", PrincipalStatus.ACTIVE, 1000.0)


def _user(tid: str, lid: str, username: str = "alice") -> User:
    return User(
        tenant_id=tid,
        lid=lid,
        username=username,
        username_key=username_key(username),
        email=None,
        email_verified=False,
        display_name=username,
        status=UserStatus.ACTIVE,
        password_hash=None,
        created_at=1000.0,
        updated_at=1000.0,
    )


def _client(tid: str, client_id: str, lid: str) -> Client:
    return Client(
        tenant_id=tid,
        client_id=client_id,
        name=client_id,
        principal_lid=lid,
        principal_type=PrincipalType.SERVICE,
        secret_hash="hmac-sha256$abc",
        grant_types=frozenset({GrantType.CLIENT_CREDENTIALS}),
        scopes=frozenset({"api"}),
        resources=(),
        token_format=TokenFormat.JWT,
        access_token_ttl=600,
        status=ClientStatus.ACTIVE,
        created_at=1000.0,
    )


async def _tenants(db: Database, *tids: str) -> None:
    for tid in tids:
        await SqlTenantRepository(db).create(_tenant(tid))


# --- repositories ----------------------------------------------------------------------------------


async def test_a_principal_with_another_tenants_lid_is_refused(sql_database: Database) -> None:
    await _tenants(sql_database, "t1", "t2")
    repo = SqlPrincipalRepository(sql_database)
    await repo.create(_principal("t1", SHARED))
    with pytest.raises(AlreadyExists, match="principal") as info:
        await repo.create(_principal("t2", SHARED))
    assert SHARED not in str(info.value)
    assert await repo.get("t1", SHARED) == _principal("t1", SHARED)
    assert await repo.get("t2", SHARED) is None


async def test_a_user_with_another_tenants_lid_stores_nothing(sql_database: Database) -> None:
    await _tenants(sql_database, "t1", "t2")
    lid = SHARED.replace("SVC", "USR")
    users = SqlUserRepository(sql_database)
    await users.create(_user("t1", lid), _principal("t1", lid, PrincipalType.USER))
    # Another username, so that only the ΛID can collide: AlreadyExists, not UsernameTaken.
    with pytest.raises(AlreadyExists, match="principal"):
        await users.create(_user("t2", lid, "bob"), _principal("t2", lid, PrincipalType.USER))
    assert await users.get_by_username("t2", username_key("bob")) is None
    assert await SqlPrincipalRepository(sql_database).get("t2", lid) is None


async def test_a_client_with_another_tenants_lid_stores_nothing(sql_database: Database) -> None:
    await _tenants(sql_database, "t1", "t2")
    clients = SqlClientRepository(sql_database)
    await clients.create(_client("t1", "c1", SHARED), _principal("t1", SHARED))
    with pytest.raises(AlreadyExists, match="principal"):
        await clients.create(_client("t2", "c2", SHARED), _principal("t2", SHARED))
    assert await clients.list("t2") == []
    assert [c.client_id for c in await clients.list("t1")] == ["c1"]


# --- services: a generated ΛID that is taken anywhere is drawn again ------------------------------------


@pytest.fixture
def first_draw_collides(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """ids.generate returns SHARED (re-typed) once, then fresh ΛIDs; yields the ΛIDs it handed out."""
    real = ids.generate
    handed: list[str] = []

    def generate(ptype: PrincipalType) -> str:
        lid = SHARED.replace("SVC", ptype.value) if not handed else real(ptype)
        handed.append(lid)
        return lid

    monkeypatch.setattr(ids, "generate", generate)
    yield handed


async def test_client_creation_draws_again_on_a_cross_tenant_collision(
    sql_database: Database, first_draw_collides: list[str]
) -> None:
    await _tenants(sql_database, "t1", "t2")
    await SqlPrincipalRepository(sql_database).create(_principal("t1", SHARED))
    uow = SqlUnitOfWork(sql_database, RecordingSink())
    service = ClientService(
        SqlClientRepository(sql_database), FixedClock(), uow, cache_ttl=0, default_ttl=600, max_ttl=3600
    )
    client, _ = await service.create(
        _tenant("t2"), name="svc", grant_types=frozenset({GrantType.CLIENT_CREDENTIALS}), scopes=frozenset()
    )
    assert first_draw_collides[0] == SHARED and len(first_draw_collides) == 2
    assert client.principal_lid == first_draw_collides[1] != SHARED
    assert await SqlPrincipalRepository(sql_database).get("t2", client.principal_lid) is not None


async def test_user_creation_draws_again_on_a_cross_tenant_collision(
    sql_database: Database, first_draw_collides: list[str]
) -> None:
    await _tenants(sql_database, "t1", "t2")
    taken = SHARED.replace("SVC", "USR")
    await SqlPrincipalRepository(sql_database).create(_principal("t1", taken, PrincipalType.USER))
    users = UserService(
        SqlUserRepository(sql_database),
        PasswordHasher(Argon2Params(memory_kib=1024, time_cost=1)),
        FixedClock(),
        SqlUnitOfWork(sql_database, RecordingSink()),
        policy=check_password_policy,
    )
    user = await users.create(_tenant("t2"), "alice")
    assert first_draw_collides[0] == taken and len(first_draw_collides) == 2
    assert user.lid == first_draw_collides[1] != taken
    assert await users.get(_tenant("t2"), "alice") == user


# --- the migration ---------------------------------------------------------------------------------


def _alembic(conn: Connection, action: str, revision: str) -> None:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("path_separator", "os")
    cfg.attributes["connection"] = conn
    getattr(command, action)(cfg, revision)


async def _migrate(db: Database, action: str, revision: str) -> None:
    async with db.engine.begin() as conn:
        await conn.run_sync(_alembic, action, revision)


async def test_downgrading_0008_allows_a_shared_lid_again(sql_database: Database) -> None:
    await _tenants(sql_database, "t1", "t2")
    await _migrate(sql_database, "downgrade", "0007")
    repo = SqlPrincipalRepository(sql_database)
    await repo.create(_principal("t1", SHARED))
    await repo.create(_principal("t2", SHARED))  # the constraint of 0007 is per tenant only
    # Upgrading over data that breaks the rule stops with a message, not a driver error.
    with pytest.raises(RuntimeError, match="unique across tenants: 1 ΛID"):
        await _migrate(sql_database, "upgrade", "head")
    assert await sql_database.current_revision() == "0007"
    async with sql_database.transaction() as session:
        await session.execute(text("DELETE FROM principals WHERE tenant_id = 't2'"))
    await _migrate(sql_database, "upgrade", "head")
    assert await sql_database.is_current()
    with pytest.raises(AlreadyExists):
        await repo.create(_principal("t2", SHARED))
