"""In-process state stores: TokenStateStore and KeyValueStore in dicts with expiry times.

For the embedded default (one process) and for tests. Entries expire lazily when read, and a sweep
runs after as many writes as there were live entries at the last sweep (at least SWEEP_MIN), so the
cost stays O(1) per write on average and memory stays within a small multiple of the live entries.

Safe within one asyncio event loop: no method awaits between reading and writing its state, so every
read-modify-write (pop, set_if_absent, incr, set_not_before) is atomic. Not thread-safe.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable
from typing import Final, Generic, TypeVar

from lukhas_id.adapters import two_step
from lukhas_id.adapters.kv_index import index_without, updated_index
from lukhas_id.clock import Clock
from lukhas_id.domain.token import JTI_MARGIN, AccessTokenRecord, MarkerKind

# A revoked jti is remembered this long past its exp (same as the Redis store).
SWEEP_MIN: Final = 1024

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class _ExpiringMap(Generic[K, V]):
    """A dict of (value, expires_at); an entry is gone once `now >= expires_at`."""

    __slots__ = ("_items", "_sweep_after", "_writes")

    def __init__(self) -> None:
        self._items: dict[K, tuple[V, float]] = {}
        self._writes = 0
        self._sweep_after = SWEEP_MIN

    def __len__(self) -> int:
        return len(self._items)

    def entry(self, key: K, now: float) -> tuple[V, float] | None:
        item = self._items.get(key)
        if item is None:
            return None
        if item[1] <= now:
            del self._items[key]
            return None
        return item

    def get(self, key: K, now: float) -> V | None:
        item = self.entry(key, now)
        return None if item is None else item[0]

    def put(self, key: K, value: V, expires_at: float, now: float) -> None:
        self._items[key] = (value, expires_at)
        self._writes += 1
        if self._writes >= self._sweep_after:
            self.sweep(now)

    def pop(self, key: K, now: float) -> V | None:
        item = self._items.pop(key, None)
        if item is None or item[1] <= now:
            return None
        return item[0]

    def sweep(self, now: float) -> None:
        """Drop every expired entry (rebuilding the dict, which also releases its memory)."""
        self._items = {k: item for k, item in self._items.items() if item[1] > now}
        self._writes = 0
        self._sweep_after = max(SWEEP_MIN, len(self._items))


def _expires_at(now: float, ttl: float) -> float:
    if not ttl > 0:
        raise ValueError(f"ttl must be positive, got {ttl!r}")
    return now + ttl


class MemoryTokenStateStore:
    """TokenStateStore in process memory (one process only: other workers do not see its state)."""

    __slots__ = ("_jti", "_markers", "_now", "_opaque")

    def __init__(self, clock: Clock | None = None) -> None:
        self._now: Callable[[], float] = time.time if clock is None else clock.now
        self._opaque: _ExpiringMap[str, AccessTokenRecord] = _ExpiringMap()
        self._jti: _ExpiringMap[tuple[str, str], None] = _ExpiringMap()
        self._markers: _ExpiringMap[tuple[str, MarkerKind, str], int] = _ExpiringMap()

    async def put_opaque(self, token_hash: str, record: AccessTokenRecord) -> None:
        now = self._now()
        if record.exp > now:
            self._opaque.put(token_hash, record, record.exp, now)

    async def get_opaque(self, token_hash: str, now: float) -> AccessTokenRecord | None:
        record = self._opaque.get(token_hash, self._now())
        return record if record is not None and record.exp > now else None

    async def get_active_opaque(self, tenant_id: str, token_hash: str, now: float) -> AccessTokenRecord | None:
        return await two_step.get_active_opaque(self, tenant_id, token_hash, now)

    async def delete_opaque(self, token_hash: str) -> bool:
        return self._opaque.pop(token_hash, self._now()) is not None

    async def revoke_jti(self, tenant_id: str, jti: str, exp: int) -> None:
        now = self._now()
        key = (tenant_id, jti)
        expires_at: float = exp + JTI_MARGIN
        current = self._jti.entry(key, now)
        if current is not None:
            expires_at = max(expires_at, current[1])
        if expires_at > now:
            self._jti.put(key, None, expires_at, now)

    async def set_not_before(self, tenant_id: str, kind: MarkerKind, ident: str, at: int, ttl: int) -> None:
        if ttl <= 0:
            return
        now = self._now()
        key = (tenant_id, kind, ident)
        expires_at: float = now + ttl
        current = self._markers.entry(key, now)
        if current is not None:
            at = max(at, current[0])
            expires_at = max(expires_at, current[1])
        self._markers.put(key, at, expires_at, now)

    async def is_revoked(self, tenant_id: str, jti: str, client_id: str, sub: str, iat: int) -> bool:
        now = self._now()
        if self._jti.entry((tenant_id, jti), now) is not None:
            return True
        client_nb = self._markers.get((tenant_id, MarkerKind.CLIENT, client_id), now)
        if client_nb is not None and iat <= client_nb:
            return True
        sub_nb = self._markers.get((tenant_id, MarkerKind.SUBJECT, sub), now)
        return sub_nb is not None and iat <= sub_nb

    async def purge_expired(self, now: float) -> int:
        before = len(self._opaque) + len(self._jti) + len(self._markers)
        for store in (self._opaque, self._jti, self._markers):
            store.sweep(now)
        return before - (len(self._opaque) + len(self._jti) + len(self._markers))

    async def ping(self) -> None:
        return None


class MemoryKeyValueStore:
    """KeyValueStore in process memory; counters are stored as decimal bytes, as Redis does."""

    __slots__ = ("_data", "_now")

    def __init__(self, clock: Clock | None = None) -> None:
        self._now: Callable[[], float] = time.time if clock is None else clock.now
        self._data: _ExpiringMap[str, bytes] = _ExpiringMap()

    async def get(self, key: str) -> bytes | None:
        return self._data.get(key, self._now())

    async def set(self, key: str, value: bytes, ttl: float) -> None:
        now = self._now()
        self._data.put(key, value, _expires_at(now, ttl), now)

    async def set_if_absent(self, key: str, value: bytes, ttl: float) -> bool:
        now = self._now()
        expires_at = _expires_at(now, ttl)
        if self._data.entry(key, now) is not None:
            return False
        self._data.put(key, value, expires_at, now)
        return True

    async def pop(self, key: str) -> bytes | None:
        return self._data.pop(key, self._now())

    async def delete(self, key: str) -> bool:
        return self._data.pop(key, self._now()) is not None

    async def purge_expired(self, now: float) -> int:
        before = len(self._data)
        self._data.sweep(now)
        return before - len(self._data)

    async def index_add(
        self, key: str, member: str, *, cap: int, ttl: float, evict_prefix: str, drop: str = ""
    ) -> list[str]:
        now = self._now()
        value, evicted = updated_index(self._data.get(key, now), member, cap, drop)
        self._data.put(key, value, _expires_at(now, ttl), now)
        for entry in evicted:
            self._data.pop(evict_prefix + entry, now)
        return evicted

    async def index_remove(self, key: str, member: str, *, ttl: float) -> bool:
        now = self._now()
        value, removed = index_without(self._data.get(key, now), member)
        if removed:
            if value is None:
                self._data.pop(key, now)
            else:
                self._data.put(key, value, _expires_at(now, ttl), now)
        return removed

    async def incr(self, key: str, ttl: float) -> int:
        now = self._now()
        expires_at = _expires_at(now, ttl)
        current = self._data.entry(key, now)
        if current is None:
            value = 1
        else:
            value = int(current[0]) + 1
            expires_at = current[1]
        self._data.put(key, b"%d" % value, expires_at, now)
        return value

    async def ping(self) -> None:
        return None
