"""Rate limiting: token buckets kept by key (port RateLimiter).

A bucket holds at most `capacity` tokens and gains `refill_per_second` tokens per second up to that
capacity; a key never seen (or whose state has expired) is a full bucket. Every adapter (Redis for
several workers, in-process for the embedded default) implements exactly these semantics, checked by
one contract suite (tests/contract/test_rate_limiter.py):

- Time is the caller's: `now` (epoch seconds, from the caller's Clock) is an argument of every call,
  so tests use a fixed clock and Redis scripts never call TIME. A call whose `now` is earlier than
  the bucket's last update (a worker with a slower clock) refills nothing and never moves the
  bucket's time backwards.
- A token "is available" when it is at most WAIT_TOLERANCE (1 µs) away: epoch seconds as doubles
  resolve about 0.24 µs today, so `now + wait` can land a hair short of the wait; with the tolerance a
  caller that waits exactly the returned number of seconds finds a token.
- `check` reads and writes nothing: its answer is the wait until one token is available (0.0 now).
- `consume` takes one token when one is available, then answers what `check` would answer right
  after it: 0.0 while tokens remain, else the wait until the next token. When no token was available
  it takes nothing (refusals do not push the wait further out) and answers the same wait. So the
  answer says when the next attempt may come, not whether this one took a token; a caller that
  needs to know asks `check` first.
- Only a taking `consume` writes. It sets the key's state to expire when the bucket would be full
  again ((capacity - tokens) / refill_per_second), so idle keys vanish by themselves and an absent
  key means a full bucket.
- `reset` forgets a key: its bucket is full again.

Arguments: `capacity` >= 1, `refill_per_second` > 0 and finite, `now` finite; otherwise ValueError.
Keys are opaque to the adapters; callers never put personal data (IP addresses, usernames) in them.
"""

from __future__ import annotations

import math
from typing import Final, Protocol

WAIT_TOLERANCE: Final = 1e-6
"""A token at most this many seconds away counts as available now (rounding noise of epoch times)."""


class RateLimiter(Protocol):
    async def check(self, key: str, capacity: int, refill_per_second: float, now: float) -> float:
        """Seconds until one token is available in the bucket `key` (0.0: one is available now).
        Takes nothing and writes nothing."""
        ...

    async def consume(self, key: str, capacity: int, refill_per_second: float, now: float) -> float:
        """Take one token if one is available; atomically across every process sharing the store.

        Returns what `check` would return right after this call: 0.0 when a token is still
        available, else the seconds until the next one. When no token was available, takes nothing
        and returns the wait.
        """
        ...

    async def reset(self, key: str) -> None:
        """Forget the bucket `key`: it is full again."""
        ...


def check_arguments(capacity: int, refill_per_second: float, now: float) -> None:
    """Raise ValueError for arguments outside the port's domain (shared by every adapter)."""
    if isinstance(capacity, bool) or not isinstance(capacity, int) or capacity < 1:
        raise ValueError(f"capacity must be an integer >= 1, got {capacity!r}")
    if not (math.isfinite(refill_per_second) and refill_per_second > 0):
        raise ValueError(f"refill_per_second must be positive and finite, got {refill_per_second!r}")
    if not math.isfinite(now):
        raise ValueError(f"now must be finite, got {now!r}")
