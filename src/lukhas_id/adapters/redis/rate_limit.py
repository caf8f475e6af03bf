"""Redis token buckets: the RateLimiter port (ports/rate_limit.py), shared by every worker and process.

Key layout (``P`` the prefix, "lid:" by default; the caller's key is opaque and never personal data):

    P <key>    a hash: t = tokens, ts = time of the last refill (the caller's epoch seconds); both as
               %.17g decimal text, which round-trips a double exactly. PEXPIRE = time to refill fully.

One Lua script does the whole read-refill-take-write, so of many concurrent consumers of one bucket
exactly as many take a token as there were tokens. The script is registered once per limiter and run
by EVALSHA in the automatic pipeline (batching.py), loaded on a NOSCRIPT reply. It takes `now` as an
argument instead of calling TIME, so every call uses the caller's Clock. The arithmetic is the in-process
adapter's (adapters/memory/rate_limit.py), step for step in IEEE doubles (Lua numbers), so both give the
same answers to the same calls.
"""

from __future__ import annotations

from typing import Final

import redis.asyncio

from lukhas_id.adapters.redis.batching import AutoPipeline
from lukhas_id.ports.rate_limit import WAIT_TOLERANCE, check_arguments

# KEYS[1] bucket; ARGV: capacity, refill per second, now (seconds), take ("1": consume, "0": check),
# wait tolerance (seconds). Returns the wait in seconds as %.17g text (a Lua number would come back
# truncated to an integer).
_BUCKET_LUA: Final = """
local cap = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local now = tonumber(ARGV[3])
local tolerance = tonumber(ARGV[5])
local tokens = cap
local ts = now
local s = redis.call('HMGET', KEYS[1], 't', 'ts')
if s[1] and s[2] then
  tokens = tonumber(s[1])
  ts = tonumber(s[2])
  if now > ts then
    tokens = math.min(cap, tokens + (now - ts) * rate)
    ts = now
  end
end
local wait = (1 - tokens) / rate
if ARGV[4] == '1' and wait <= tolerance then
  tokens = math.max(0, tokens - 1)
  redis.call('HSET', KEYS[1], 't', string.format('%.17g', tokens), 'ts', string.format('%.17g', ts))
  redis.call('PEXPIRE', KEYS[1], math.max(1, math.ceil((cap - tokens) / rate * 1000)))
  wait = (1 - tokens) / rate
end
if wait <= tolerance then return '0' end
return string.format('%.17g', wait)
"""


class RedisRateLimiter:
    """RateLimiter on Redis: every worker and process sees the same buckets."""

    __slots__ = ("_batch", "_bucket", "_p")

    def __init__(self, client: redis.asyncio.Redis, prefix: str = "lid:") -> None:
        """`client` needs decode_responses=False (see `redis_client`)."""
        if client.connection_pool.connection_kwargs.get("decode_responses"):
            raise ValueError("the Redis state stores need a client with decode_responses=False")
        self._p = prefix
        self._bucket = client.register_script(_BUCKET_LUA)
        self._batch = AutoPipeline(client)

    async def _run(self, key: str, capacity: int, refill_per_second: float, now: float, take: str) -> float:
        check_arguments(capacity, refill_per_second, now)
        args = (capacity, repr(float(refill_per_second)), repr(float(now)), take, repr(WAIT_TOLERANCE))
        reply = await self._batch.evalsha(self._bucket, (self._p + key,), args)
        return float(reply)

    async def check(self, key: str, capacity: int, refill_per_second: float, now: float) -> float:
        return await self._run(key, capacity, refill_per_second, now, "0")

    async def consume(self, key: str, capacity: int, refill_per_second: float, now: float) -> float:
        return await self._run(key, capacity, refill_per_second, now, "1")

    async def reset(self, key: str) -> None:
        await self._batch.execute("DEL", self._p + key)
