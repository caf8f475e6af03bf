"""Contract suite for RefreshTokenStore: the same tests against every adapter (memory, redis, sqlite, postgres).

Time is an argument of the port, so every adapter runs on a FixedClock set to real time (Redis keys also
expire by Redis's own clock, at the family's expires_at).
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from lukhas_id.adapters.memory import MemoryRefreshTokenStore
from lukhas_id.adapters.redis import redis_client
from lukhas_id.adapters.redis.refresh import RedisRefreshTokenStore
from lukhas_id.adapters.sql import Database
from lukhas_id.adapters.sql.refresh import SqlRefreshTokenStore
from lukhas_id.clock import FixedClock
from lukhas_id.domain.refresh import (
    RefreshTokenRecord,
    Reuse,
    Rotate,
    RotateOutcome,
    StoredFamily,
    StoredToken,
    decide_rotation,
)
from lukhas_id.ports.state import RefreshTokenStore

T1 = "tenant-one"
T2 = "tenant-two"
LIFETIME = 3600.0


@dataclass
class Harness:
    name: str
    store: RefreshTokenStore
    clock: FixedClock


@pytest.fixture(
    params=[
        "memory",
        pytest.param("redis", marks=pytest.mark.redis),
        "sqlite",
        pytest.param("postgres", marks=pytest.mark.postgres),
    ]
)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, str, str]:
    """(name, url, redis prefix). Synchronous, because `pg_migrated_url` cannot run inside an event loop."""
    name: str = request.param
    if name == "redis":
        return name, request.getfixturevalue("redis_url"), request.getfixturevalue("redis_prefix")
    if name == "sqlite":
        return name, str(request.getfixturevalue("sqlite_migrated_url")), ""
    if name == "postgres":
        return name, str(request.getfixturevalue("pg_migrated_url")), ""
    return name, "", ""


@pytest.fixture
async def h(backend: tuple[str, str, str]) -> AsyncIterator[Harness]:
    name, url, prefix = backend
    clock = FixedClock(time.time())
    if name == "memory":
        yield Harness(name, MemoryRefreshTokenStore(), clock)
        return
    if name == "redis":
        client = redis_client(url)
        try:
            yield Harness(name, RedisRefreshTokenStore(client, prefix), clock)
        finally:
            keys = [key async for key in client.scan_iter(match=f"{prefix}*", count=500)]
            if keys:
                await client.delete(*keys)
            await client.aclose()
        return
    database = Database.from_url(url)
    try:
        yield Harness(name, SqlRefreshTokenStore(database), clock)
    finally:
        await database.dispose()


def digest() -> str:
    return secrets.token_hex(32)


def record(
    h: Harness,
    *,
    tenant: str = T1,
    sid: str | None = "sid-1",
    lifetime: float = LIFETIME,
    user_lid: str = "USR-x",
) -> RefreshTokenRecord:
    now = h.clock.now()
    return RefreshTokenRecord(
        tenant_id=tenant,
        family_id=secrets.token_hex(16),
        client_id="cl_rp",
        user_lid=user_lid,
        scope=("openid", "offline_access"),
        sid=sid,
        auth_time=int(now) - 5,
        acr="urn:acr:pwd",
        amr=("pwd",),
        resources=("urn:example:api",),
        created_at=now,
        expires_at=now + lifetime,
    )


async def started(h: Harness, **kwargs: object) -> tuple[str, RefreshTokenRecord]:
    token, rec = digest(), record(h, **kwargs)  # type: ignore[arg-type]
    await h.store.create(token, rec)
    return token, rec


async def test_create_and_get_round_trip(h: Harness) -> None:
    token, rec = await started(h)
    got = await h.store.get(T1, token, h.clock.now())
    assert got is not None
    assert got == replace(rec, created_at=got.created_at, expires_at=got.expires_at, issued_at=got.issued_at)
    assert got.created_at == pytest.approx(rec.created_at, abs=1e-3)
    assert got.issued_at == pytest.approx(rec.created_at, abs=1e-3)  # the family's first token
    assert got.expires_at == pytest.approx(rec.expires_at, abs=1e-3)
    assert got.rotated_at is None and got.generation == 0
    # Another tenant, or an unknown hash: nothing.
    assert await h.store.get(T2, token, h.clock.now()) is None
    assert await h.store.get(T1, digest(), h.clock.now()) is None
    no_sid, _ = await started(h, sid=None)
    found = await h.store.get(T1, no_sid, h.clock.now())
    assert found is not None and found.sid is None


async def test_rotate_marks_the_token_rotated_and_activates_the_successor(h: Harness) -> None:
    token, rec = await started(h)
    successor = digest()
    result = await h.store.rotate(T1, token, successor, h.clock.now(), 0)
    assert result.outcome is RotateOutcome.ROTATED
    assert result.successor_hash == successor and result.successor_generation == 1 == result.latest_generation
    assert result.record is not None and result.record.family_id == rec.family_id and result.record.generation == 0
    old = await h.store.get(T1, token, h.clock.now())
    assert old is not None and old.rotated_at == pytest.approx(h.clock.now(), abs=1e-3)
    new = await h.store.get(T1, successor, h.clock.now())
    assert new is not None and new.generation == 1 and new.rotated_at is None and new.scope == rec.scope
    # The successor rotates on in turn.
    third = digest()
    h.clock.advance(1)
    result = await h.store.rotate(T1, successor, third, h.clock.now(), 0)
    assert (result.outcome, result.successor_generation) == (RotateOutcome.ROTATED, 2)


async def test_a_token_was_issued_when_its_predecessor_was_rotated(h: Harness) -> None:
    token, rec = await started(h)
    h.clock.advance(100)
    second = digest()
    assert (await h.store.rotate(T1, token, second, h.clock.now(), 0)).outcome is RotateOutcome.ROTATED
    rotated_at = h.clock.now()
    h.clock.advance(50)
    third = digest()
    assert (await h.store.rotate(T1, second, third, h.clock.now(), 0)).outcome is RotateOutcome.ROTATED
    first, middle, last = [await h.store.get(T1, t, h.clock.now()) for t in (token, second, third)]
    assert first is not None and middle is not None and last is not None
    assert first.issued_at == pytest.approx(rec.created_at, abs=1e-3)
    assert middle.issued_at == pytest.approx(rotated_at, abs=1e-3)
    assert last.issued_at == pytest.approx(rotated_at + 50, abs=1e-3)
    # Another family's tokens are not taken for predecessors.
    other, other_rec = await started(h)
    got = await h.store.get(T1, other, h.clock.now())
    assert got is not None and got.issued_at == pytest.approx(other_rec.created_at, abs=1e-3)


async def test_strict_reuse_revokes_the_family(h: Harness) -> None:
    token, rec = await started(h)
    successor = digest()
    await h.store.rotate(T1, token, successor, h.clock.now(), 0)
    result = await h.store.rotate(T1, token, digest(), h.clock.now(), 0)
    assert result.outcome is RotateOutcome.REUSE and result.latest_generation == 1
    assert result.record is not None and result.record.family_id == rec.family_id
    assert await h.store.get(T1, successor, h.clock.now()) is None
    # The active successor of a revoked family is refused (REUSE), and nothing new is created.
    again = digest()
    assert (await h.store.rotate(T1, successor, again, h.clock.now(), 0)).outcome is RotateOutcome.REUSE
    assert await h.store.get(T1, again, h.clock.now()) is None


async def test_grace_window_gives_back_the_same_successor_then_reuse(h: Harness) -> None:
    token, _ = await started(h)
    successor = digest()
    await h.store.rotate(T1, token, successor, h.clock.now(), 5)
    h.clock.advance(4.5)
    result = await h.store.rotate(T1, token, digest(), h.clock.now(), 5)
    assert result.outcome is RotateOutcome.GRACE
    assert (result.successor_hash, result.successor_generation) == (successor, 1)
    assert await h.store.get(T1, successor, h.clock.now()) is not None
    h.clock.advance(1)
    result = await h.store.rotate(T1, token, digest(), h.clock.now(), 5)
    assert result.outcome is RotateOutcome.REUSE
    assert await h.store.get(T1, successor, h.clock.now()) is None


async def test_unknown_other_tenant_and_expired(h: Harness) -> None:
    assert (await h.store.rotate(T1, digest(), digest(), h.clock.now(), 0)).outcome is RotateOutcome.UNKNOWN
    token, _ = await started(h, lifetime=10)
    assert (await h.store.rotate(T2, token, digest(), h.clock.now(), 0)).outcome is RotateOutcome.UNKNOWN
    h.clock.advance(10)
    assert await h.store.get(T1, token, h.clock.now()) is None
    assert (await h.store.rotate(T1, token, digest(), h.clock.now(), 0)).outcome is RotateOutcome.UNKNOWN


async def test_revoke_family(h: Harness) -> None:
    token, rec = await started(h)
    successor = digest()
    await h.store.rotate(T1, token, successor, h.clock.now(), 0)
    assert await h.store.revoke_family(T2, rec.family_id) is None
    assert await h.store.revoke_family(T1, rec.family_id) == 1
    assert await h.store.get(T1, successor, h.clock.now()) is None
    assert (await h.store.rotate(T1, successor, digest(), h.clock.now(), 0)).outcome is RotateOutcome.REUSE
    assert await h.store.revoke_family(T1, "no-such-family") is None


async def test_revoke_for_session(h: Harness) -> None:
    a, _ = await started(h, sid="s-a")
    b, _ = await started(h, sid="s-a")
    other, _ = await started(h, sid="s-b")
    elsewhere, _ = await started(h, tenant=T2, sid="s-a")
    assert await h.store.revoke_for_session(T1, "s-a") == 2
    assert await h.store.revoke_for_session(T1, "s-a") == 0
    assert await h.store.get(T1, a, h.clock.now()) is None
    assert await h.store.get(T1, b, h.clock.now()) is None
    assert await h.store.get(T1, other, h.clock.now()) is not None
    assert await h.store.get(T2, elsewhere, h.clock.now()) is not None


async def test_revoke_for_user(h: Harness) -> None:
    a, _ = await started(h, sid="s-a")
    b, _ = await started(h, sid=None)
    other, _ = await started(h, user_lid="USR-y")
    elsewhere, _ = await started(h, tenant=T2)
    assert await h.store.revoke_for_user(T1, "USR-x") == 2
    assert await h.store.revoke_for_user(T1, "USR-x") == 0
    assert await h.store.get(T1, a, h.clock.now()) is None
    assert await h.store.get(T1, b, h.clock.now()) is None
    assert (await h.store.rotate(T1, b, digest(), h.clock.now(), 0)).outcome is RotateOutcome.REUSE
    assert await h.store.get(T1, other, h.clock.now()) is not None
    assert await h.store.get(T2, elsewhere, h.clock.now()) is not None


async def test_purge_expired(h: Harness) -> None:
    short, _ = await started(h, lifetime=10)
    long, _ = await started(h)
    await h.store.rotate(T1, short, digest(), h.clock.now(), 0)
    purged = await h.store.purge_expired(h.clock.now() + 11)
    assert purged == (0 if h.name == "redis" else 1)
    assert await h.store.get(T1, long, h.clock.now()) is not None


@pytest.mark.parametrize(("grace", "expected"), [(0, RotateOutcome.REUSE), (5, RotateOutcome.GRACE)])
async def test_concurrent_rotations(h: Harness, grace: float, expected: RotateOutcome) -> None:
    """Ten presentations of one token at once: one rotates it. In strict mode (grace 0) the other nine
    are reuse and the family is revoked; with a grace window they all get the same successor."""
    token, _ = await started(h)
    candidates = [digest() for _ in range(10)]
    results = await asyncio.gather(*(h.store.rotate(T1, token, c, h.clock.now(), grace) for c in candidates))
    outcomes = sorted(r.outcome for r in results)
    assert outcomes.count(RotateOutcome.ROTATED) == 1
    assert outcomes.count(expected) == 9
    winner = next(r for r in results if r.outcome is RotateOutcome.ROTATED)
    if expected is RotateOutcome.GRACE:
        assert {r.successor_hash for r in results} == {winner.successor_hash}
        assert await h.store.get(T1, str(winner.successor_hash), h.clock.now()) is not None
    else:
        assert await h.store.get(T1, str(winner.successor_hash), h.clock.now()) is None


async def test_strict_mode_never_grants_grace_even_with_a_clock_behind_the_rotation(h: Harness) -> None:
    """Two processes: the one whose `now` was read before the other's rotation must still see reuse
    (its `now - rotated_at` is negative, which is not "within a grace window of 0")."""
    token, _ = await started(h)
    earlier = h.clock.now()
    h.clock.advance(0.5)
    await h.store.rotate(T1, token, digest(), h.clock.now(), 0)
    assert (await h.store.rotate(T1, token, digest(), earlier, 0)).outcome is RotateOutcome.REUSE


# --- one table of cases: the decision function and every store agree -------------------------------------------
#
# Times are offsets from a whole second, in eighths of a second, so they are exact in binary and in the Redis
# script's milliseconds: the edges (the grace window, the idle time, the family's expiry) are hit exactly.


@dataclass(frozen=True)
class Case:
    """The first token of a family created at B (lifetime LIFETIME_CASE), optionally rotated at B + `rotated`
    to a successor, optionally revoked; then `presented` is presented at B + `at`."""

    name: str
    presented: str  # "first", "second" (the successor), "unknown" or "other tenant" (the first, elsewhere)
    at: float
    grace: float = 0
    idle: float | None = None
    rotated: float | None = None
    revoked: bool = False
    expected: RotateOutcome = RotateOutcome.ROTATED


LIFETIME_CASE = 100.0
CASES = [
    Case("active token", "first", at=1),
    Case("active token with a grace window", "first", at=1, grace=5),
    Case("active token just inside the idle time", "first", at=19.875, idle=20),
    Case("active token exactly at the idle time", "first", at=20, idle=20, expected=RotateOutcome.EXPIRED),
    Case("active token past the idle time", "first", at=50, idle=20, expected=RotateOutcome.EXPIRED),
    Case("successor: idle counts from its own issue", "second", at=29.875, idle=20, rotated=10),
    Case("successor exactly at its idle time", "second", at=30, idle=20, rotated=10, expected=RotateOutcome.EXPIRED),
    Case("successor rotates on", "second", at=11, grace=5, rotated=10),
    Case("retired token, strict mode", "first", at=10, rotated=10, expected=RotateOutcome.REUSE),
    Case("retired token at its rotation instant", "first", at=10, grace=5, rotated=10, expected=RotateOutcome.GRACE),
    Case("retired token inside the window", "first", at=14.875, grace=5, rotated=10, expected=RotateOutcome.GRACE),
    Case(
        "retired token exactly at the window's end", "first", at=15, grace=5, rotated=10, expected=RotateOutcome.REUSE
    ),
    Case(
        "retired token, a clock behind the rotation", "first", at=9.5, grace=5, rotated=10, expected=RotateOutcome.GRACE
    ),
    Case("retired token, a clock behind, strict", "first", at=9.5, rotated=10, expected=RotateOutcome.REUSE),
    Case("retired token: no idle expiry", "first", at=11, grace=5, idle=3, rotated=10, expected=RotateOutcome.GRACE),
    Case("retired token, old and idle", "first", at=60, grace=5, idle=3, rotated=10, expected=RotateOutcome.REUSE),
    Case("revoked family, active token", "first", at=1, grace=5, revoked=True, expected=RotateOutcome.REUSE),
    Case("revoked family, active successor", "second", at=11, rotated=10, revoked=True, expected=RotateOutcome.REUSE),
    Case(
        "revoked family, inside the window",
        "first",
        at=11,
        grace=5,
        rotated=10,
        revoked=True,
        expected=RotateOutcome.REUSE,
    ),
    Case("revoked family, idle token", "first", at=50, idle=20, revoked=True, expected=RotateOutcome.REUSE),
    Case("just inside the family's lifetime", "first", at=99.875),
    Case("exactly at the family's expiry", "first", at=100, expected=RotateOutcome.UNKNOWN),
    Case("expired family, retired token", "first", at=100, grace=5, rotated=10, expected=RotateOutcome.UNKNOWN),
    Case("unknown token", "unknown", at=1, expected=RotateOutcome.UNKNOWN),
    Case("another tenant's token", "other tenant", at=1, expected=RotateOutcome.UNKNOWN),
]


def state(case: Case, base: float, second_hash: str) -> tuple[StoredToken | None, StoredFamily | None]:
    """What a store holds for the presented token in `case`, as the decision function reads it."""
    if case.presented in ("unknown", "other tenant"):
        return None, None
    rotated_at = None if case.rotated is None else base + case.rotated
    family = StoredFamily(0 if rotated_at is None else 1, base + LIFETIME_CASE, case.revoked)
    if case.presented == "second":
        assert rotated_at is not None
        return StoredToken(1, rotated_at), family
    return StoredToken(0, base, rotated_at, None if rotated_at is None else second_hash), family


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_the_decision_table(case: Case) -> None:
    token, family = state(case, 1000.0, "second")
    decision = decide_rotation(
        token, family, successor_hash="new", now=1000.0 + case.at, grace=case.grace, idle=case.idle
    )
    assert decision.outcome is case.expected


async def test_every_store_decides_as_the_decision_function(h: Harness) -> None:
    base = float(int(h.clock.now()))
    for case in CASES:
        first, second, new = digest(), digest(), digest()
        rec = replace(record(h), created_at=base, expires_at=base + LIFETIME_CASE)
        await h.store.create(first, rec)
        if case.rotated is not None:
            rotation = await h.store.rotate(T1, first, second, base + case.rotated, 0)
            assert rotation.outcome is RotateOutcome.ROTATED, case.name
        if case.revoked:
            assert await h.store.revoke_family(T1, rec.family_id) is not None, case.name
        presented = {"first": first, "second": second, "unknown": digest(), "other tenant": first}[case.presented]
        tenant = T2 if case.presented == "other tenant" else T1
        now = base + case.at
        token, family = state(case, base, second)
        decision = decide_rotation(token, family, successor_hash=new, now=now, grace=case.grace, idle=case.idle)
        assert decision.outcome is case.expected, case.name

        result = await h.store.rotate(tenant, presented, new, now, case.grace, idle=case.idle)

        expected = decision.result(None)
        got = (result.outcome, result.successor_hash, result.successor_generation, result.latest_generation)
        assert got == (
            expected.outcome,
            expected.successor_hash,
            expected.successor_generation,
            expected.latest_generation,
        ), case.name
        assert (result.record is None) == (decision.outcome is RotateOutcome.UNKNOWN), case.name
        if result.record is not None:
            assert result.record.family_id == rec.family_id and result.record.generation == token.generation, case.name
        # What the store wrote is what the decision said (read back inside the family's lifetime).
        later = base + 1 if case.at >= LIFETIME_CASE else now
        stored_new = await h.store.get(T1, new, later)
        presented_now = await h.store.get(T1, presented, later)
        match decision:
            case Rotate():
                assert stored_new is not None and stored_new.generation == decision.generation, case.name
                assert stored_new.issued_at == pytest.approx(now, abs=1e-3), case.name
                assert presented_now is not None and presented_now.rotated_at == pytest.approx(now, abs=1e-3)
            case Reuse():
                assert stored_new is None and presented_now is None, case.name  # the family is revoked
            case _:
                assert stored_new is None, case.name  # nothing written
                if token is not None and not case.revoked:  # the presented token is as it was
                    assert presented_now is not None, case.name
                    assert same_time(presented_now.rotated_at, token.rotated_at), case.name


def same_time(a: float | None, b: float | None) -> bool:
    return a is None if b is None else a == pytest.approx(b, abs=1e-3)
