"""In-process token buckets: the RateLimiter port (ports/rate_limit.py) in a dict, for the embedded default.

Each key maps to (tokens, updated_at, expires_at), all in the callers' time (the `now` they pass).
Buckets are per process: with several workers or processes each keeps its own, so configure Redis
there. Safe within one asyncio event loop: no method awaits between reading and writing a bucket, so
every consume is atomic. Not thread-safe.

Memory is bounded. Expired entries are dropped lazily when read and by a sweep after as many writes
as there were entries at the last sweep (at least SWEEP_MIN), which keeps the cost O(1) per write on
average. Under a flood of distinct keys (an attacker rotating fingerprints) live entries can still
pile up, so at most `max_entries` are kept: beyond that the entries that would expire first, the
buckets closest to full and so the least restrictive, are dropped (dropping a bucket refills it).
"""

from __future__ import annotations

import heapq
import math
from typing import Final

from lukhas_id.ports.rate_limit import WAIT_TOLERANCE, check_arguments

SWEEP_MIN: Final = 1024
MAX_ENTRIES: Final = 100_000
"""Default bound on the number of buckets kept (about 200 bytes each with a 60-character key)."""

_Bucket = tuple[float, float, float]  # tokens, updated_at, expires_at


def refill(bucket: _Bucket | None, capacity: int, refill_per_second: float, now: float) -> tuple[float, float]:
    """(tokens, updated_at) of a bucket at `now`: full when unknown or expired. Never moves time back."""
    if bucket is None or bucket[2] <= now:
        return float(capacity), now
    tokens, updated_at, _ = bucket
    if now > updated_at:
        return min(float(capacity), tokens + (now - updated_at) * refill_per_second), now
    return tokens, updated_at


def wait(tokens: float, refill_per_second: float) -> float:
    """Seconds until one token is available when the bucket holds `tokens` (0.0: within the tolerance)."""
    seconds = (1.0 - tokens) / refill_per_second
    return 0.0 if seconds <= WAIT_TOLERANCE else seconds


def ttl_ms(tokens: float, capacity: int, refill_per_second: float) -> int:
    """Milliseconds until a bucket holding `tokens` is full again (at least 1)."""
    return max(1, math.ceil((float(capacity) - tokens) / refill_per_second * 1000.0))


class MemoryRateLimiter:
    """RateLimiter in process memory (one process only: other workers keep their own buckets)."""

    __slots__ = ("_buckets", "_max_entries", "_sweep_after", "_writes")

    def __init__(self, *, max_entries: int = MAX_ENTRIES) -> None:
        if max_entries < 1:
            raise ValueError(f"max_entries must be >= 1, got {max_entries!r}")
        self._buckets: dict[str, _Bucket] = {}
        self._max_entries = max_entries
        self._writes = 0
        self._sweep_after = SWEEP_MIN

    def __len__(self) -> int:
        return len(self._buckets)

    def keys(self) -> list[str]:
        """The keys currently held, expired or not (for operators and tests)."""
        return list(self._buckets)

    def _get(self, key: str, now: float) -> _Bucket | None:
        bucket = self._buckets.get(key)
        if bucket is not None and bucket[2] <= now:
            del self._buckets[key]
            return None
        return bucket

    async def check(self, key: str, capacity: int, refill_per_second: float, now: float) -> float:
        check_arguments(capacity, refill_per_second, now)
        tokens, _ = refill(self._get(key, now), capacity, refill_per_second, now)
        return wait(tokens, refill_per_second)

    async def consume(self, key: str, capacity: int, refill_per_second: float, now: float) -> float:
        check_arguments(capacity, refill_per_second, now)
        tokens, updated_at = refill(self._get(key, now), capacity, refill_per_second, now)
        refused = wait(tokens, refill_per_second)
        if refused > 0.0:
            return refused  # nothing taken, nothing written
        tokens = max(0.0, tokens - 1.0)
        expires_at = updated_at + ttl_ms(tokens, capacity, refill_per_second) / 1000.0
        self._put(key, (tokens, updated_at, expires_at), now)
        return wait(tokens, refill_per_second)

    async def reset(self, key: str) -> None:
        self._buckets.pop(key, None)

    def _put(self, key: str, bucket: _Bucket, now: float) -> None:
        is_new = key not in self._buckets
        self._buckets[key] = bucket
        self._writes += 1
        if self._writes >= self._sweep_after or (is_new and len(self._buckets) > self._max_entries):
            self.sweep(now)

    def sweep(self, now: float) -> int:
        """Drop expired buckets, then the soonest-expiring ones beyond the bound; returns how many went.

        Eviction goes down to 90% of `max_entries`, so a flood of new keys pays for it once per
        tenth of the bound rather than on every insert.
        """
        before = len(self._buckets)
        live = {k: b for k, b in self._buckets.items() if b[2] > now}
        if len(live) > self._max_entries:
            keep = max(1, self._max_entries * 9 // 10)
            drop = heapq.nsmallest(len(live) - keep, live.items(), key=lambda item: item[1][2])
            for k, _ in drop:
                del live[k]
        self._buckets = live  # a new dict also releases the old one's memory
        self._writes = 0
        self._sweep_after = max(SWEEP_MIN, len(live))
        return before - len(live)
