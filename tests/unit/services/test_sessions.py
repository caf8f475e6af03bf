"""SessionService over the in-memory KeyValueStore with a fixed clock."""

from __future__ import annotations

import hashlib

import pytest

from lukhas_id.adapters.memory.state import MemoryKeyValueStore
from lukhas_id.clock import FixedClock
from lukhas_id.domain.authn import AcrNames, Amr
from lukhas_id.domain.tenant import Tenant
from lukhas_id.domain.user import User, UserStatus
from lukhas_id.services.sessions import ABSOLUTE_LIFETIME, IDLE_TIMEOUT, SessionService

ACR = AcrNames().password


def _tenant(tid: str = "t1") -> Tenant:
    return Tenant(id=tid, name=tid, id_secret_enc=b"", access_token_alg="ES256", created_at=0.0)


def _user(lid: str = "USR-1") -> User:
    return User("t1", lid, "alice", "alice", None, False, "Alice", UserStatus.ACTIVE, None, 0.0, 0.0)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(1_800_000_000.0)


@pytest.fixture
def kv(clock: FixedClock) -> MemoryKeyValueStore:
    return MemoryKeyValueStore(clock)


@pytest.fixture
def svc(kv: MemoryKeyValueStore, clock: FixedClock) -> SessionService:
    return SessionService(kv, clock)


async def test_create_and_get(svc: SessionService, kv: MemoryKeyValueStore) -> None:
    t = _tenant()
    s = await svc.create(t, _user(), [Amr.PASSWORD], ACR)
    assert len(s.id) == 43 and s.sid != s.id and len(s.sid) >= 22
    assert s.amr == ("pwd",) and s.acr == ACR and s.user_lid == "USR-1"
    assert s.expires_at - s.created_at == ABSOLUTE_LIFETIME
    got = await svc.get(t, s.id)
    assert got == s
    # Stored under the hash of the id; the id itself is nowhere in the store.
    digest = hashlib.sha256(s.id.encode()).hexdigest()
    raw = await kv.get(f"sess:{t.id}:{digest}")
    assert raw is not None and s.id.encode() not in raw
    assert s.id not in repr(s)


async def test_unknown_malformed_and_other_tenant(svc: SessionService) -> None:
    s = await svc.create(_tenant(), _user(), ["pwd"], ACR)
    assert await svc.get(_tenant(), "x" * 43) is None
    assert await svc.get(_tenant(), "not a session id") is None
    assert await svc.get(_tenant(), s.id + "x") is None
    assert await svc.get(_tenant("t2"), s.id) is None


async def test_rotate(svc: SessionService, clock: FixedClock) -> None:
    t = _tenant()
    s = await svc.create(t, _user(), ["pwd"], ACR)
    clock.advance(100)
    r = await svc.rotate(t, s)
    assert r.id != s.id and r.sid == s.sid and r.auth_time == s.auth_time and r.expires_at == s.expires_at
    assert await svc.get(t, s.id) is None
    got = await svc.get(t, r.id)
    assert got is not None and got.sid == s.sid


async def test_end(svc: SessionService) -> None:
    t = _tenant()
    s = await svc.create(t, _user(), ["pwd"], ACR)
    ended = await svc.end(t, s.id)
    assert ended is not None and ended.sid == s.sid
    assert await svc.get(t, s.id) is None
    assert await svc.end(t, s.id) is None


async def test_end_all_for_user(svc: SessionService, clock: FixedClock) -> None:
    t = _tenant()
    a1 = await svc.create(t, _user(), ["pwd"], ACR)
    a2 = await svc.create(t, _user(), ["pwd"], ACR)
    b = await svc.create(t, _user("USR-2"), ["pwd"], ACR)
    assert await svc.end_all_for_user(t, "USR-1") == 2
    assert await svc.get(t, a1.id) is None and await svc.get(t, a2.id) is None
    assert await svc.get(t, b.id) is not None
    clock.advance(1)
    again = await svc.create(t, _user(), ["pwd"], ACR)  # signing in again afterwards works
    assert await svc.get(t, again.id) is not None


async def test_end_all_covers_a_session_missing_from_the_index(svc: SessionService, kv: MemoryKeyValueStore) -> None:
    t = _tenant()
    s = await svc.create(t, _user(), ["pwd"], ACR)
    await kv.delete(f"sessu:{t.id}:USR-1")  # as if a concurrent sign-in lost the index entry
    await svc.end_all_for_user(t, "USR-1")
    assert await svc.get(t, s.id) is None


async def test_index_is_bounded(kv: MemoryKeyValueStore, clock: FixedClock) -> None:
    svc = SessionService(kv, clock, max_per_user=3)
    t = _tenant()
    sessions = [await svc.create(t, _user(), ["pwd"], ACR) for _ in range(5)]
    assert await svc.get(t, sessions[0].id) is None and await svc.get(t, sessions[1].id) is None
    for s in sessions[2:]:
        assert await svc.get(t, s.id) is not None


async def test_idle_timeout_and_touch(svc: SessionService, clock: FixedClock) -> None:
    t = _tenant()
    s = await svc.create(t, _user(), ["pwd"], ACR)
    clock.advance(IDLE_TIMEOUT - 10)
    touched = await svc.get(t, s.id)  # use slides the idle deadline
    assert touched is not None and touched.last_seen == clock.now()
    clock.advance(IDLE_TIMEOUT - 10)
    assert await svc.get(t, s.id) is not None
    clock.advance(IDLE_TIMEOUT)
    assert await svc.get(t, s.id) is None


async def test_absolute_expiry_despite_activity(svc: SessionService, clock: FixedClock) -> None:
    t = _tenant()
    s = await svc.create(t, _user(), ["pwd"], ACR)
    elapsed = 0.0
    while elapsed + 1800 < ABSOLUTE_LIFETIME:
        clock.advance(1800)
        elapsed += 1800
        assert await svc.get(t, s.id) is not None
    clock.advance(ABSOLUTE_LIFETIME - elapsed)
    assert await svc.get(t, s.id) is None


def test_lifetimes_must_be_consistent(kv: MemoryKeyValueStore, clock: FixedClock) -> None:
    with pytest.raises(ValueError):
        SessionService(kv, clock, lifetime=60, idle_timeout=120)
