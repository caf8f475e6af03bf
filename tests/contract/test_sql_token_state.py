"""Contract suite for SqlTokenStateStore (TokenStateStore on SQL), on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import event, func, select

from lukhas_id.adapters.sql import Database, SqlTokenStateStore
from lukhas_id.adapters.sql.models import NotBeforeMarkerRow, OpaqueTokenRow, RevokedJtiRow
from lukhas_id.adapters.sql.token_state import JTI_MARGIN
from lukhas_id.clock import FixedClock
from lukhas_id.domain.token import AccessTokenRecord, MarkerKind
from lukhas_id.ports.state import TokenStateStore

T1 = "tenant-one"
T2 = "tenant-two"


@dataclass
class Env:
    store: SqlTokenStateStore
    clock: FixedClock
    database: Database

    def now(self) -> float:
        return self.clock.now()


@pytest.fixture
def sql_token_state(sql_database: Database) -> Env:
    clock = FixedClock()
    return Env(SqlTokenStateStore(sql_database, clock), clock, sql_database)


def record(
    now: float, *, ttl: int = 300, jti: str = "jti-1", aud: tuple[str, ...] = ("api", "other")
) -> AccessTokenRecord:
    return AccessTokenRecord(
        tenant_id=T1,
        jti=jti,
        client_id="client-1",
        sub="USR-abc",
        lid_type="USR",
        scope="openid profile",
        aud=aud,
        iat=int(now),
        exp=int(now) + ttl,
    )


async def revoked(
    s: TokenStateStore, iat: int, *, tenant: str = T1, jti: str = "j", client: str = "c", sub: str = "u"
) -> bool:
    return await s.is_revoked(tenant, jti, client, sub, iat)


def ident_of(kind: MarkerKind) -> str:
    return "c" if kind is MarkerKind.CLIENT else "u"


async def count_rows(database: Database, model: type[Any]) -> int:
    async with database.read() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


def test_is_a_token_state_store(sql_token_state: Env) -> None:
    store: TokenStateStore = sql_token_state.store
    assert store is sql_token_state.store


# --- opaque tokens ---------------------------------------------------------------------------------


async def test_opaque_put_get_roundtrip(sql_token_state: Env) -> None:
    e = sql_token_state
    rec = record(e.now())
    await e.store.put_opaque("hash-1", rec)
    assert await e.store.get_opaque("hash-1", e.now()) == rec


@pytest.mark.parametrize("aud", [(), ("one",), ("c", "a", "b")])
async def test_opaque_keeps_aud_as_tuple_in_order(sql_token_state: Env, aud: tuple[str, ...]) -> None:
    e = sql_token_state
    rec = record(e.now(), aud=aud)
    await e.store.put_opaque("hash-aud", rec)
    got = await e.store.get_opaque("hash-aud", e.now())
    assert got == rec
    assert got is not None and isinstance(got.aud, tuple)


async def test_opaque_unknown_is_none(sql_token_state: Env) -> None:
    assert await sql_token_state.store.get_opaque("nope", sql_token_state.now()) is None


async def test_opaque_put_replaces(sql_token_state: Env) -> None:
    e = sql_token_state
    await e.store.put_opaque("hash-1", record(e.now(), jti="first"))
    second = record(e.now(), jti="second", ttl=900)
    await e.store.put_opaque("hash-1", second)
    assert await e.store.get_opaque("hash-1", e.now()) == second


async def test_opaque_delete(sql_token_state: Env) -> None:
    e = sql_token_state
    await e.store.put_opaque("hash-1", record(e.now()))
    assert await e.store.delete_opaque("hash-1") is True
    assert await e.store.get_opaque("hash-1", e.now()) is None
    assert await e.store.delete_opaque("hash-1") is False


async def test_opaque_keys_are_independent(sql_token_state: Env) -> None:
    e = sql_token_state
    a, b = record(e.now(), jti="a"), record(e.now(), jti="b")
    await e.store.put_opaque("hash-a", a)
    await e.store.put_opaque("hash-b", b)
    await e.store.delete_opaque("hash-a")
    assert await e.store.get_opaque("hash-b", e.now()) == b


async def test_get_opaque_with_now_past_exp_is_none(sql_token_state: Env) -> None:
    e = sql_token_state
    rec = record(e.now())
    await e.store.put_opaque("hash-1", rec)
    assert await e.store.get_opaque("hash-1", rec.exp - 1) == rec
    assert await e.store.get_opaque("hash-1", rec.exp) is None
    assert await e.store.get_opaque("hash-1", rec.exp + 10) is None


async def test_opaque_already_expired_is_not_stored(sql_token_state: Env) -> None:
    e = sql_token_state
    rec = record(e.now() - 600)  # exp 300 s ago
    await e.store.put_opaque("hash-old", rec)
    assert await e.store.get_opaque("hash-old", rec.exp - 1) is None
    assert await count_rows(e.database, OpaqueTokenRow) == 0


async def test_opaque_expires_with_the_store_clock(sql_token_state: Env) -> None:
    e = sql_token_state
    rec = record(e.now(), ttl=10)
    await e.store.put_opaque("hash-x", rec)
    e.clock.advance(10)
    # Asked with a `now` before exp: only the store's own expiry can make this None.
    assert await e.store.get_opaque("hash-x", rec.exp - 1) is None
    assert await e.store.delete_opaque("hash-x") is False


# --- revoked jti -----------------------------------------------------------------------------------


async def test_revoke_jti(sql_token_state: Env) -> None:
    e = sql_token_state
    now = int(e.now())
    await e.store.revoke_jti(T1, "j1", now + 300)
    assert await revoked(e.store, now, jti="j1") is True
    assert await revoked(e.store, now, jti="j2") is False
    assert await revoked(e.store, now, jti="j1", tenant=T2) is False


async def test_revoke_jti_is_idempotent(sql_token_state: Env) -> None:
    e = sql_token_state
    now = int(e.now())
    await e.store.revoke_jti(T1, "j1", now + 300)
    await e.store.revoke_jti(T1, "j1", now + 300)
    assert await revoked(e.store, now, jti="j1") is True
    assert await count_rows(e.database, RevokedJtiRow) == 1


async def test_revoked_jti_outlives_exp_by_a_margin(sql_token_state: Env) -> None:
    e = sql_token_state
    now = int(e.now())
    await e.store.revoke_jti(T1, "recent", now - 30)  # expired, but within the margin
    await e.store.revoke_jti(T1, "ancient", now - 3600)  # long gone: nothing to remember
    assert await revoked(e.store, now - 100, jti="recent") is True
    assert await revoked(e.store, now - 4000, jti="ancient") is False
    e.clock.advance(JTI_MARGIN)
    assert await revoked(e.store, now - 100, jti="recent") is False


async def test_revoke_jti_never_shortens(sql_token_state: Env) -> None:
    e = sql_token_state
    now = int(e.now())
    await e.store.revoke_jti(T1, "j1", now + 1000)
    await e.store.revoke_jti(T1, "j1", now + 10)
    e.clock.advance(10 + JTI_MARGIN + 1)
    assert await revoked(e.store, now, jti="j1") is True


# --- not-before markers ----------------------------------------------------------------------------


@pytest.fixture(params=[MarkerKind.CLIENT, MarkerKind.SUBJECT])
def marker_kind(request: pytest.FixtureRequest) -> MarkerKind:
    return MarkerKind(request.param)


async def test_marker_covers_iat_up_to_at(sql_token_state: Env, marker_kind: MarkerKind) -> None:
    s = sql_token_state.store
    await s.set_not_before(T1, marker_kind, ident_of(marker_kind), 1000, 3600)
    assert await revoked(s, 1000) is True  # iat == at
    assert await revoked(s, 999) is True  # iat < at
    assert await revoked(s, 1001) is False  # iat > at
    assert await revoked(s, 999, tenant=T2) is False  # another tenant is unaffected


async def test_marker_only_covers_its_own_ident(sql_token_state: Env, marker_kind: MarkerKind) -> None:
    s = sql_token_state.store
    await s.set_not_before(T1, marker_kind, "someone-else", 1000, 3600)
    assert await revoked(s, 500) is False


async def test_later_marker_replaces_earlier(sql_token_state: Env, marker_kind: MarkerKind) -> None:
    s = sql_token_state.store
    await s.set_not_before(T1, marker_kind, ident_of(marker_kind), 100, 3600)
    await s.set_not_before(T1, marker_kind, ident_of(marker_kind), 200, 3600)
    assert await revoked(s, 150) is True
    assert await revoked(s, 200) is True
    assert await revoked(s, 201) is False


async def test_earlier_marker_never_replaces_later(sql_token_state: Env, marker_kind: MarkerKind) -> None:
    s = sql_token_state.store
    await s.set_not_before(T1, marker_kind, ident_of(marker_kind), 200, 3600)
    await s.set_not_before(T1, marker_kind, ident_of(marker_kind), 100, 3600)
    assert await revoked(s, 150) is True
    assert await revoked(s, 200) is True
    assert await revoked(s, 201) is False


async def test_concurrent_markers_keep_the_latest(sql_token_state: Env) -> None:
    s = sql_token_state.store
    ats = list(range(1, 31))
    random.shuffle(ats)
    await asyncio.gather(*(s.set_not_before(T1, MarkerKind.CLIENT, "c", at, 3600) for at in ats))
    assert await revoked(s, 30) is True
    assert await revoked(s, 31) is False


async def test_client_and_subject_markers_are_independent(sql_token_state: Env) -> None:
    s = sql_token_state.store
    # The same identifier string as a client id and as a subject must not collide.
    await s.set_not_before(T1, MarkerKind.CLIENT, "x", 1000, 3600)
    assert await s.is_revoked(T1, "j", "x", "u", 500) is True
    assert await s.is_revoked(T1, "j", "c", "x", 500) is False
    await s.set_not_before(T1, MarkerKind.SUBJECT, "y", 2000, 3600)
    assert await s.is_revoked(T1, "j", "c", "y", 1500) is True
    assert await s.is_revoked(T1, "j", "y", "u", 1500) is False
    assert await s.is_revoked(T1, "j", "x", "y", 1500) is True
    assert await s.is_revoked(T1, "j", "x", "y", 2001) is False


async def test_marker_expires_and_an_earlier_marker_extends_it(sql_token_state: Env) -> None:
    e = sql_token_state
    now = int(e.now())
    await e.store.set_not_before(T1, MarkerKind.SUBJECT, "u", now, 1)
    await e.store.set_not_before(T1, MarkerKind.CLIENT, "c", now + 100, 1)
    await e.store.set_not_before(T1, MarkerKind.CLIENT, "c", now - 100, 3600)  # keeps now+100, lives longer
    assert await e.store.is_revoked(T1, "j", "other", "u", now) is True
    e.clock.advance(1.1)
    assert await e.store.is_revoked(T1, "j", "other", "u", now) is False
    assert await e.store.is_revoked(T1, "j", "c", "other", now + 50) is True


async def test_an_expired_marker_is_replaced_outright(sql_token_state: Env) -> None:
    e = sql_token_state
    await e.store.set_not_before(T1, MarkerKind.CLIENT, "c", 500, 10)
    e.clock.advance(10)
    await e.store.set_not_before(T1, MarkerKind.CLIENT, "c", 100, 3600)
    assert await revoked(e.store, 100) is True
    assert await revoked(e.store, 101) is False


async def test_marker_with_non_positive_ttl_stores_nothing(sql_token_state: Env) -> None:
    e = sql_token_state
    await e.store.set_not_before(T1, MarkerKind.CLIENT, "c", 500, 0)
    assert await revoked(e.store, 100) is False
    assert await count_rows(e.database, NotBeforeMarkerRow) == 0


# --- one round trip, shared state, purge -----------------------------------------------------------


@contextmanager
def statements_of(database: Database) -> Iterator[list[str]]:
    seen: list[str] = []

    def record_statement(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if not statement.lstrip().upper().startswith("BEGIN"):
            seen.append(statement)

    event.listen(database.engine.sync_engine, "before_cursor_execute", record_statement)
    try:
        yield seen
    finally:
        event.remove(database.engine.sync_engine, "before_cursor_execute", record_statement)


async def test_is_revoked_is_a_single_statement(sql_token_state: Env) -> None:
    e = sql_token_state
    await e.store.ping()  # the pool holds a connection: no connect-time statements below
    with statements_of(e.database) as seen:
        assert await e.store.is_revoked(T1, "j", "c", "u", 100) is False
    assert len(seen) == 1
    assert seen[0].lstrip().upper().startswith("SELECT")


async def test_two_databases_share_revocations(sql_database_url: str, sql_database: Database) -> None:
    # sql_database has migrated the schema; a second process opens its own Database on the same URL.
    other = Database.from_url(sql_database_url)
    try:
        a, b = SqlTokenStateStore(sql_database), SqlTokenStateStore(other)
        now = int(FixedClock().now()) + 10**8  # far in the future relative to the system clock
        await a.revoke_jti(T1, "j1", now)
        assert await b.is_revoked(T1, "j1", "c", "u", 0) is True
        await b.set_not_before(T1, MarkerKind.CLIENT, "c9", 1000, 3600)
        assert await a.is_revoked(T1, "j2", "c9", "u", 1000) is True
        rec = record(now)
        await a.put_opaque("hash-1", rec)
        assert await b.get_opaque("hash-1", now - 1) == rec
        assert await b.delete_opaque("hash-1") is True
        assert await a.get_opaque("hash-1", now - 1) is None
    finally:
        await other.dispose()


async def test_purge_expired(sql_token_state: Env) -> None:
    e = sql_token_state
    now = int(e.now())
    await e.store.put_opaque("short", record(now, ttl=10))
    await e.store.put_opaque("long", record(now, ttl=1000))
    await e.store.revoke_jti(T1, "short", now)  # kept until now + JTI_MARGIN
    await e.store.revoke_jti(T1, "long", now + 1000)
    await e.store.set_not_before(T1, MarkerKind.CLIENT, "short", now, 100)
    await e.store.set_not_before(T1, MarkerKind.SUBJECT, "long", now, 5000)

    assert await e.store.purge_expired(now) == 0
    assert await e.store.purge_expired(now + 10) == 1  # the short opaque token (exp == now + 10)
    assert await e.store.purge_expired(now + 100) == 2  # the short jti and the short marker
    assert await e.store.purge_expired(now + 100) == 0
    assert await count_rows(e.database, OpaqueTokenRow) == 1
    assert await count_rows(e.database, RevokedJtiRow) == 1
    assert await count_rows(e.database, NotBeforeMarkerRow) == 1
    assert await e.store.get_opaque("long", now) is not None
    assert await revoked(e.store, now, jti="long") is True
    assert await revoked(e.store, now, sub="long") is True
    assert await e.store.purge_expired(now + 10**6) == 3


async def test_ping(sql_token_state: Env) -> None:
    await sql_token_state.store.ping()


# --- opaque token introspection in one step ---------------------------------------------------------


async def test_get_active_opaque(sql_token_state: Env) -> None:
    s, now = sql_token_state.store, sql_token_state.now()
    rec = record(now)
    await s.put_opaque("hash-a", rec)
    assert await s.get_active_opaque(T1, "hash-a", now) == rec
    assert await s.get_active_opaque("other-tenant", "hash-a", now) is None
    assert await s.get_active_opaque(T1, "unknown", now) is None
    assert await s.get_active_opaque(T1, "hash-a", rec.exp + 1) is None
    await s.set_not_before(T1, MarkerKind.SUBJECT, rec.sub, rec.iat, 600)
    assert await s.get_active_opaque(T1, "hash-a", now) is None
