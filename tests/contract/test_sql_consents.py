"""ConsentRepository on SQLite and PostgreSQL: remembered per (user, client), scopes accumulate, withdraw."""

from __future__ import annotations

from lukhas_id.adapters.sql import Database
from lukhas_id.adapters.sql.consents import SqlConsentRepository
from tests.support.sql_seed import add, seed, user


async def test_grant_get_accumulate_withdraw(sql_database: Database) -> None:
    await seed(sql_database, "t1", "t2")
    await add(sql_database, user("t1", "USR-1"))
    await add(sql_database, user("t2", "USR-3"))  # ΛIDs are unique across tenants
    repo = SqlConsentRepository(sql_database)
    assert await repo.get("t1", "USR-1", "c1") == frozenset()
    await repo.grant("t1", "USR-1", "c1", frozenset({"openid", "profile"}), 100.0)
    await repo.grant("t1", "USR-1", "c1", frozenset({"email"}), 200.0)
    assert await repo.get("t1", "USR-1", "c1") == {"openid", "profile", "email"}
    # Per client and per tenant.
    assert await repo.get("t1", "USR-1", "c2") == frozenset()
    assert await repo.get("t2", "USR-1", "c1") == frozenset()
    await repo.grant("t1", "USR-1", "c2", frozenset({"openid"}), 300.0)
    assert await repo.list_for_user("t1", "USR-1") == [
        ("c1", frozenset({"openid", "profile", "email"}), 200.0),
        ("c2", frozenset({"openid"}), 300.0),
    ]
    assert await repo.withdraw("t1", "USR-1", "c1") is True
    assert await repo.withdraw("t1", "USR-1", "c1") is False
    assert await repo.get("t1", "USR-1", "c1") == frozenset()
    assert [c for c, _, _ in await repo.list_for_user("t1", "USR-1")] == ["c2"]
