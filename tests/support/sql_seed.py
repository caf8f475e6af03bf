"""Rows for the SQL contract suites: tenants, principals and users written through the repositories."""

from __future__ import annotations

import dataclasses
from typing import Any

from lukhas_id.adapters.sql import Database, SqlTenantRepository, SqlUserRepository
from lukhas_id.domain.principal import Principal, PrincipalStatus, PrincipalType
from lukhas_id.domain.tenant import Tenant
from lukhas_id.domain.user import User, UserStatus, username_key


def tenant(tid: str = "t1") -> Tenant:
    return Tenant(id=tid, name=f"name-{tid}", id_secret_enc=b"enc", access_token_alg="ES256", created_at=1000.0)


def principal(tid: str = "t1", lid: str = "USR-1", ptype: PrincipalType = PrincipalType.USER) -> Principal:
    return Principal(tid, lid, ptype, f"display {lid}", PrincipalStatus.ACTIVE, 1000.0)


def user(tid: str = "t1", lid: str = "USR-1", username: str = "Alice", **changes: Any) -> User:
    base = User(
        tenant_id=tid,
        lid=lid,
        username=username,
        username_key=username_key(username),
        email="alice@example.com",
        email_verified=False,
        display_name=f"display {lid}",
        status=UserStatus.ACTIVE,
        password_hash="$argon2id$v=19$m=1024,t=1,p=1$c2FsdA$aGFzaA",
        created_at=1000.0,
        updated_at=1000.0,
    )
    return dataclasses.replace(base, **changes)


async def seed(db: Database, *tids: str) -> None:
    for tid in tids or ("t1",):
        await SqlTenantRepository(db).create(tenant(tid))


async def add(db: Database, u: User) -> None:
    await SqlUserRepository(db).create(u, principal(u.tenant_id, u.lid))
