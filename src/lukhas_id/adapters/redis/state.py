"""Redis state stores: TokenStateStore (revocations, opaque tokens) and KeyValueStore (generic TTL state).

Key layout (``P`` is the store's prefix, ``T`` the tenant id; the tenant is a Redis Cluster hash tag, so
the three keys that ``is_revoked`` reads in one MGET live in the same slot):

    P at:<token_hash>           opaque access token record, orjson list; PX until record.exp
    P {T}:jti:<jti>             revoked token marker, b"1"; PX until exp + JTI_MARGIN seconds
    P {T}:nbc:<client_id>       client "not before" marker, decimal epoch seconds; PX = max of the TTLs asked
    P {T}:nbs:<sub>             subject "not before" marker, same format
    P' <key>                    KeyValueStore values (P' defaults to "lid:kv:"); the caller scopes the key

Opaque tokens are looked up by the token hash alone (the port carries no tenant there); the hash of a
high-entropy token is globally unique, and the caller checks ``record.tenant_id``.
Tenant ids are server-generated and never contain ``{`` or ``}``.

Every call is one round trip: plain commands where one command is atomic (SET PX NX, GETDEL, MGET), and
Lua scripts (registered once per store, run by EVALSHA) where a read-modify-write must be atomic. Every
command goes through the automatic pipeline (batching.py), so an outage is StoreUnavailable (errors.py).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Final, cast

import orjson
import redis.asyncio

from lukhas_id.adapters.redis.batching import AutoPipeline
from lukhas_id.adapters.redis.client import redis_client
from lukhas_id.clock import Clock
from lukhas_id.domain.token import JTI_MARGIN, AccessTokenRecord, MarkerKind

__all__ = ["JTI_MARGIN", "RedisKeyValueStore", "RedisTokenStateStore", "redis_client"]

# A revoked jti is remembered this long past its exp, to cover verifiers that allow clock leeway.

_RECORD_FORMAT: Final = 1
_MARKER_SEGMENT: Final[dict[MarkerKind, str]] = {MarkerKind.CLIENT: "nbc", MarkerKind.SUBJECT: "nbs"}

# KEYS[1] marker; ARGV[1] at (epoch seconds), ARGV[2] ttl (ms).
# Keeps the larger `at` and the longer remaining lifetime, so neither a late-arriving earlier marker
# nor a shorter TTL can shorten what an earlier call asked for.
_SET_NOT_BEFORE_LUA: Final = """
local at = tonumber(ARGV[1])
local ttl = tonumber(ARGV[2])
local cur = redis.call('GET', KEYS[1])
if not cur then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ttl)
  return 1
end
local pttl = redis.call('PTTL', KEYS[1])
local value = ARGV[1]
if tonumber(cur) >= at then value = cur end
if pttl == -1 then
  redis.call('SET', KEYS[1], value, 'KEEPTTL')
else
  if pttl > ttl then ttl = pttl end
  redis.call('SET', KEYS[1], value, 'PX', ttl)
end
return 1
"""

# KEYS[1] counter; ARGV[1] ttl (ms). The TTL is set only when the counter has none (just created), so a
# fixed window is not extended by every hit.
# One round trip for opaque-token introspection: the record, then its revocation keys (same hash slot).
# Record layout: [format, tenant, jti, client_id, sub, lid_type, scope, aud, iat, exp(, acr, auth_time)].
_GET_ACTIVE_OPAQUE_LUA: Final = """
local raw = redis.call('GET', KEYS[1])
if not raw then return false end
local r = cjson.decode(raw)
if r[2] ~= ARGV[1] then return false end
local base = ARGV[2] .. '{' .. r[2] .. '}:'
local v = redis.call('MGET', base .. 'jti:' .. r[3], base .. 'nbc:' .. r[4], base .. 'nbs:' .. r[5])
if v[1] then return false end
local iat = tonumber(r[9])
if v[2] and iat <= tonumber(v[2]) then return false end
if v[3] and iat <= tonumber(v[3]) then return false end
return raw
"""

# A revocation is kept at least as long as any call asked: never shortened by a later, shorter TTL.
_REVOKE_JTI_LUA: Final = """
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[1]) then
  redis.call('SET', KEYS[1], '1', 'PX', ARGV[1])
end
return 1
"""

_INCR_LUA: Final = """
local n = redis.call('INCR', KEYS[1])
if n == 1 or redis.call('PTTL', KEYS[1]) == -1 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
end
return n
"""


# KeyValueStore.index_add (the same steps as adapters/kv_index.py). KEYS[1] the index; ARGV: member, drop,
# cap, ttl in ms, the prefix of the evicted entries' keys (with the store's own prefix).
_INDEX_ADD_LUA: Final = """
local entries = {}
local raw = redis.call('GET', KEYS[1])
if raw then
  local ok, decoded = pcall(cjson.decode, raw)
  if ok and type(decoded) == 'table' then
    for _, e in ipairs(decoded) do
      if type(e) == 'string' and e ~= ARGV[1] and e ~= ARGV[2] then entries[#entries + 1] = e end
    end
  end
end
entries[#entries + 1] = ARGV[1]
local cap = math.max(1, tonumber(ARGV[3]))
local evicted = {}
while #entries > cap do evicted[#evicted + 1] = table.remove(entries, 1) end
redis.call('SET', KEYS[1], cjson.encode(entries), 'PX', ARGV[4])
for _, e in ipairs(evicted) do redis.call('DEL', ARGV[5] .. e) end
return evicted
"""


# KeyValueStore.index_remove (the same steps as adapters/kv_index.index_without). KEYS[1] the index; ARGV:
# member, ttl in ms. cjson would encode an empty list as {}: an index left empty is deleted instead.
_INDEX_REMOVE_LUA: Final = """
local raw = redis.call('GET', KEYS[1])
if not raw then return 0 end
local ok, decoded = pcall(cjson.decode, raw)
if not ok or type(decoded) ~= 'table' then return 0 end
local entries, found = {}, false
for _, e in ipairs(decoded) do
  if type(e) == 'string' then
    if e == ARGV[1] then found = true else entries[#entries + 1] = e end
  end
end
if not found then return 0 end
if #entries == 0 then
  redis.call('DEL', KEYS[1])
else
  redis.call('SET', KEYS[1], cjson.encode(entries), 'PX', ARGV[2])
end
return 1
"""


def _check_client(client: redis.asyncio.Redis) -> None:
    if client.connection_pool.connection_kwargs.get("decode_responses"):
        raise ValueError("the Redis state stores need a client with decode_responses=False")


def _ttl_ms(ttl: float) -> int:
    if not ttl > 0:
        raise ValueError(f"ttl must be positive, got {ttl!r}")
    return max(1, math.ceil(ttl * 1000))


def _encode_record(r: AccessTokenRecord) -> bytes:
    fields = [_RECORD_FORMAT, r.tenant_id, r.jti, r.client_id, r.sub, r.lid_type, r.scope, r.aud, r.iat, r.exp]
    if r.acr is not None or r.auth_time is not None:
        fields += [r.acr, r.auth_time]  # user tokens only; records written before have ten fields
    return orjson.dumps(fields)


def _decode_record(raw: bytes) -> AccessTokenRecord:
    fields = orjson.loads(raw)
    fmt, tenant_id, jti, client_id, sub, lid_type, scope, aud, iat, exp = fields[:10]
    if fmt != _RECORD_FORMAT:
        raise ValueError(f"unknown opaque token record format {fmt!r}")
    acr, auth_time = fields[10:12] if len(fields) >= 12 else (None, None)
    return AccessTokenRecord(tenant_id, jti, client_id, sub, lid_type, scope, tuple(aud), iat, exp, acr, auth_time)


class RedisTokenStateStore:
    """TokenStateStore on Redis: revocations and opaque tokens shared by every worker and process."""

    __slots__ = ("_batch", "_get_active_opaque", "_now", "_p", "_revoke_jti", "_set_not_before")

    def __init__(self, client: redis.asyncio.Redis, prefix: str = "lid:", *, clock: Clock | None = None) -> None:
        """`client` needs decode_responses=False (see `redis_client`); `clock` computes TTLs from exp."""
        _check_client(client)
        self._p = prefix
        self._now: Callable[[], float] = time.time if clock is None else clock.now
        self._set_not_before = client.register_script(_SET_NOT_BEFORE_LUA)
        self._get_active_opaque = client.register_script(_GET_ACTIVE_OPAQUE_LUA)
        self._revoke_jti = client.register_script(_REVOKE_JTI_LUA)
        # The per-request commands are pipelined automatically (see batching.py).
        self._batch = AutoPipeline(client)

    async def put_opaque(self, token_hash: str, record: AccessTokenRecord) -> None:
        px = int((record.exp - self._now()) * 1000)
        if px <= 0:
            return
        await self._batch.execute("SET", f"{self._p}at:{token_hash}", _encode_record(record), "PX", px)

    async def get_opaque(self, token_hash: str, now: float) -> AccessTokenRecord | None:
        raw = await self._batch.execute("GET", f"{self._p}at:{token_hash}")
        if raw is None:
            return None
        record = _decode_record(cast(bytes, raw))
        return record if record.exp > now else None

    async def get_active_opaque(self, tenant_id: str, token_hash: str, now: float) -> AccessTokenRecord | None:
        raw = await self._batch.evalsha(self._get_active_opaque, (f"{self._p}at:{token_hash}",), (tenant_id, self._p))
        if raw is None:
            return None
        record = _decode_record(cast(bytes, raw))
        return record if record.exp > now else None

    async def delete_opaque(self, token_hash: str) -> bool:
        return int(await self._batch.execute("DEL", f"{self._p}at:{token_hash}")) > 0

    async def revoke_jti(self, tenant_id: str, jti: str, exp: int) -> None:
        px = int((exp + JTI_MARGIN - self._now()) * 1000)
        if px <= 0:
            return
        await self._batch.evalsha(self._revoke_jti, (f"{self._p}{{{tenant_id}}}:jti:{jti}",), (px,))

    async def set_not_before(self, tenant_id: str, kind: MarkerKind, ident: str, at: int, ttl: int) -> None:
        if ttl <= 0:
            return
        key = f"{self._p}{{{tenant_id}}}:{_MARKER_SEGMENT[kind]}:{ident}"
        await self._batch.evalsha(self._set_not_before, (key,), (at, ttl * 1000))

    async def is_revoked(self, tenant_id: str, jti: str, client_id: str, sub: str, iat: int) -> bool:
        base = f"{self._p}{{{tenant_id}}}:"
        revoked, client_nb, sub_nb = await self._batch.execute(
            "MGET", f"{base}jti:{jti}", f"{base}nbc:{client_id}", f"{base}nbs:{sub}"
        )
        return (
            revoked is not None
            or (client_nb is not None and iat <= int(client_nb))
            or (sub_nb is not None and iat <= int(sub_nb))
        )

    async def purge_expired(self, now: float) -> int:
        return 0  # Redis expires keys itself

    async def ping(self) -> None:
        await self._batch.execute("PING")


class RedisKeyValueStore:
    """KeyValueStore on Redis: every key is `prefix + key`; TTLs are kept in milliseconds. Commands are
    pipelined automatically (batching.py), like the token state's: sessions, codes and ceremony state
    are read and written on every sign-in."""

    __slots__ = ("_batch", "_incr", "_index_add", "_index_remove", "_p")

    def __init__(self, client: redis.asyncio.Redis, prefix: str = "lid:kv:") -> None:
        """`client` needs decode_responses=False (see `redis_client`)."""
        _check_client(client)
        self._p = prefix
        self._incr = client.register_script(_INCR_LUA)
        self._index_add = client.register_script(_INDEX_ADD_LUA)
        self._index_remove = client.register_script(_INDEX_REMOVE_LUA)
        self._batch = AutoPipeline(client)

    async def get(self, key: str) -> bytes | None:
        return cast("bytes | None", await self._batch.execute("GET", self._p + key))

    async def set(self, key: str, value: bytes, ttl: float) -> None:
        await self._batch.execute("SET", self._p + key, value, "PX", _ttl_ms(ttl))

    async def set_if_absent(self, key: str, value: bytes, ttl: float) -> bool:
        return await self._batch.execute("SET", self._p + key, value, "PX", _ttl_ms(ttl), "NX") is not None

    async def pop(self, key: str) -> bytes | None:
        return cast("bytes | None", await self._batch.execute("GETDEL", self._p + key))

    async def delete(self, key: str) -> bool:
        return int(await self._batch.execute("DEL", self._p + key)) > 0

    async def incr(self, key: str, ttl: float) -> int:
        return int(await self._batch.evalsha(self._incr, (self._p + key,), (_ttl_ms(ttl),)))

    async def index_add(
        self, key: str, member: str, *, cap: int, ttl: float, evict_prefix: str, drop: str = ""
    ) -> list[str]:
        evicted = await self._batch.evalsha(
            self._index_add, (self._p + key,), (member, drop, cap, _ttl_ms(ttl), self._p + evict_prefix)
        )
        return [e.decode() if isinstance(e, bytes) else str(e) for e in evicted or ()]

    async def index_remove(self, key: str, member: str, *, ttl: float) -> bool:
        removed = await self._batch.evalsha(self._index_remove, (self._p + key,), (member, _ttl_ms(ttl)))
        return int(removed) == 1

    async def purge_expired(self, now: float) -> int:
        return 0  # Redis expires keys itself

    async def ping(self) -> None:
        await self._batch.execute("PING")
