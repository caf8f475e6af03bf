"""Redis refresh-token store: the RefreshTokenStore port (ports/state.py), shared by every process.

Key layout (``P`` the prefix, ``T`` the tenant id as a Redis Cluster hash tag, so that every key a script
touches lives in one slot; times in epoch milliseconds):

    P {T}:rt:<token_hash>    one generation, JSON {f: family, g: generation, r: rotated_at or 0, s: successor,
                             i: issued at (absent in tokens stored before it was recorded)}
    P {T}:rtf:<family_id>    the family, a hash: d (the grant, JSON), gen (newest), rev ("1": revoked), exp
    P {T}:rts:<sid>          the set of family ids issued in login session <sid>
    P {T}:rtu:<user_lid>     the set of family ids of user <user_lid> (families created before this set
                             existed are not in it: `revoke_for_user` misses them; they expire on their own)

Every key expires with its family (PXAT expires_at). Rotation and revocation are Lua scripts, so of two
processes rotating the same token the second sees the first's rotation. The rotation script mirrors
domain/refresh.py's `decide_rotation` step for step, in epoch milliseconds (tests/contract/test_refresh_store.py
runs one table of cases through both).
"""

from __future__ import annotations

import math
from typing import Any, Final

import orjson
import redis.asyncio

from lukhas_id.adapters.redis.batching import AutoPipeline
from lukhas_id.domain.refresh import (
    Expired,
    GraceReplay,
    RefreshTokenRecord,
    Reuse,
    Rotate,
    RotateResult,
    RotationDecision,
    Unknown,
)

# KEYS[1] token, KEYS[2] family, KEYS[3] session set (or the family key again), KEYS[4] user set; ARGV: token
# JSON, data JSON, expires_at ms, sid ("" for none), generation, family id. The session and user sets live as
# long as their longest family.
_CREATE_LUA: Final = """
local exp = ARGV[3]
redis.call('HSET', KEYS[2], 'd', ARGV[2], 'gen', ARGV[5], 'rev', '0', 'exp', exp)
redis.call('PEXPIREAT', KEYS[2], exp)
redis.call('SET', KEYS[1], ARGV[1], 'PXAT', exp)
if ARGV[4] ~= '' then
  redis.call('SADD', KEYS[3], ARGV[6])
  local cur = redis.call('PEXPIRETIME', KEYS[3])
  if cur < tonumber(exp) then redis.call('PEXPIREAT', KEYS[3], exp) end
end
redis.call('SADD', KEYS[4], ARGV[6])
if redis.call('PEXPIRETIME', KEYS[4]) < tonumber(exp) then redis.call('PEXPIREAT', KEYS[4], exp) end
return 1
"""

# KEYS[1] presented token, KEYS[2] successor; ARGV: family key prefix, now ms, grace ms, successor hash, idle ms
# (-1: none). Returns {outcome, data, generation, rotated_at, family_id, expires_at, successor_hash,
# successor_generation, latest_generation}; outcome 0 unknown, 1 rotate, 2 grace replay, 3 reuse, 4 expired.
# The steps of domain/refresh.py's decide_rotation, in its order.
_ROTATE_LUA: Final = """
local raw = redis.call('GET', KEYS[1])
if not raw then return {0} end
local t = cjson.decode(raw)
local fk = ARGV[1] .. t.f
local fam = redis.call('HMGET', fk, 'd', 'gen', 'rev', 'exp')
local now = tonumber(ARGV[2])
if not fam[1] or tonumber(fam[4]) <= now then return {0} end
local gen = tonumber(fam[2])
local d, g, r, f, e = fam[1], tostring(t.g), tostring(t.r), t.f, fam[4]
if fam[3] == '1' then
  redis.call('HSET', fk, 'rev', '1')
  return {3, d, g, r, f, e, '', 0, gen}
end
if t.r == 0 then
  local idle = tonumber(ARGV[5])
  if idle >= 0 and t.i and now - t.i >= idle then return {4, d, g, r, f, e, '', 0, gen} end
  t.r = now
  t.s = ARGV[4]
  redis.call('SET', KEYS[1], cjson.encode(t), 'KEEPTTL')
  gen = t.g + 1
  redis.call('SET', KEYS[2], cjson.encode({f = t.f, g = gen, r = 0, s = '', i = now}), 'PXAT', e)
  redis.call('HSET', fk, 'gen', gen)
  return {1, d, g, r, f, e, ARGV[4], gen, gen}
end
local grace = tonumber(ARGV[3])
if grace > 0 and now - t.r < grace then return {2, d, g, r, f, e, t.s, t.g + 1, gen} end
redis.call('HSET', fk, 'rev', '1')
return {3, d, g, r, f, e, '', 0, gen}
"""

# KEYS[1] token; ARGV: family key prefix, now ms. {data, generation, rotated_at, family_id, expires_at, issued_at
# (0: not recorded)} or false.
_GET_LUA: Final = """
local raw = redis.call('GET', KEYS[1])
if not raw then return false end
local t = cjson.decode(raw)
local fam = redis.call('HMGET', ARGV[1] .. t.f, 'd', 'rev', 'exp')
if not fam[1] or fam[2] == '1' or tonumber(fam[3]) <= tonumber(ARGV[2]) then return false end
return {fam[1], tostring(t.g), tostring(t.r), t.f, fam[3], tostring(t.i or 0)}
"""

# KEYS[1] family. Returns the newest generation, or false when there is no such family.
_REVOKE_FAMILY_LUA: Final = """
local gen = redis.call('HGET', KEYS[1], 'gen')
if not gen then return false end
redis.call('HSET', KEYS[1], 'rev', '1')
return tonumber(gen)
"""

# KEYS[1] session (or user) set; ARGV[1] family key prefix. Returns how many families were not yet revoked.
_REVOKE_SESSION_LUA: Final = """
local n = 0
for _, f in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local k = ARGV[1] .. f
  local rev = redis.call('HGET', k, 'rev')
  if rev == '0' then
    redis.call('HSET', k, 'rev', '1')
    n = n + 1
  end
end
return n
"""


def _ms(t: float) -> int:
    return math.floor(t * 1000)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _record(
    tenant_id: str, data: bytes, generation: Any, rotated_at: Any, family: Any, expires: Any, issued: Any = 0
) -> RefreshTokenRecord:
    d = orjson.loads(data)
    rotated = int(_text(rotated_at))
    issued_ms = int(_text(issued))
    return RefreshTokenRecord(
        tenant_id=tenant_id,
        family_id=_text(family),
        client_id=d["client_id"],
        user_lid=d["user_lid"],
        scope=tuple(d["scope"]),
        sid=d["sid"],
        auth_time=int(d["auth_time"]),
        acr=d["acr"],
        amr=tuple(d["amr"]),
        resources=tuple(d["resources"]),
        created_at=float(d["created_at"]),
        expires_at=int(_text(expires)) / 1000,
        generation=int(_text(generation)),
        rotated_at=rotated / 1000 if rotated else None,
        issued_at=issued_ms / 1000 if issued_ms else None,
    )


class RedisRefreshTokenStore:
    __slots__ = ("_batch", "_create", "_get", "_p", "_revoke_family", "_revoke_session", "_rotate")

    def __init__(self, client: redis.asyncio.Redis, prefix: str = "lid:") -> None:
        """`client` needs decode_responses=False (see `redis_client`)."""
        if client.connection_pool.connection_kwargs.get("decode_responses"):
            raise ValueError("the Redis state stores need a client with decode_responses=False")
        self._p = prefix
        self._create = client.register_script(_CREATE_LUA)
        self._rotate = client.register_script(_ROTATE_LUA)
        self._get = client.register_script(_GET_LUA)
        self._revoke_family = client.register_script(_REVOKE_FAMILY_LUA)
        self._revoke_session = client.register_script(_REVOKE_SESSION_LUA)
        self._batch = AutoPipeline(client)

    def _base(self, tenant_id: str) -> str:
        return f"{self._p}{{{tenant_id}}}:"

    async def create(self, token_hash: str, record: RefreshTokenRecord) -> None:
        base = self._base(record.tenant_id)
        data = orjson.dumps(
            {
                "client_id": record.client_id,
                "user_lid": record.user_lid,
                "scope": record.scope,
                "sid": record.sid,
                "auth_time": record.auth_time,
                "acr": record.acr,
                "amr": record.amr,
                "resources": record.resources,
                "created_at": record.created_at,
            }
        )
        token = orjson.dumps(
            {"f": record.family_id, "g": record.generation, "r": 0, "s": "", "i": _ms(record.created_at)}
        )
        family_key = f"{base}rtf:{record.family_id}"
        session_key = f"{base}rts:{record.sid}" if record.sid else family_key
        await self._batch.evalsha(
            self._create,
            (f"{base}rt:{token_hash}", family_key, session_key, f"{base}rtu:{record.user_lid}"),
            (token, data, _ms(record.expires_at), record.sid or "", record.generation, record.family_id),
        )

    async def get(self, tenant_id: str, token_hash: str, now: float) -> RefreshTokenRecord | None:
        base = self._base(tenant_id)
        found = await self._batch.evalsha(self._get, (f"{base}rt:{token_hash}",), (f"{base}rtf:", _ms(now)))
        if not found:
            return None
        return _record(tenant_id, *found)

    async def rotate(
        self,
        tenant_id: str,
        token_hash: str,
        successor_hash: str,
        now: float,
        grace: float,
        *,
        idle: float | None = None,
    ) -> RotateResult:
        base = self._base(tenant_id)
        reply = await self._batch.evalsha(
            self._rotate,
            (f"{base}rt:{token_hash}", f"{base}rt:{successor_hash}"),
            (f"{base}rtf:", _ms(now), _ms(grace), successor_hash, -1 if idle is None else _ms(idle)),
        )
        outcome = int(reply[0])
        if outcome == 0:
            return Unknown().result(None)
        _, data, generation, rotated_at, family, expires, successor, successor_gen, latest = reply
        decision: RotationDecision
        match outcome:
            case 1:
                decision = Rotate(_text(successor), int(successor_gen), now)
            case 2:
                decision = GraceReplay(_text(successor) or None, int(successor_gen), int(latest))
            case 3:
                decision = Reuse(int(latest))
            case _:
                decision = Expired()
        return decision.result(_record(tenant_id, data, generation, rotated_at, family, expires))

    async def revoke_family(self, tenant_id: str, family_id: str) -> int | None:
        generation = await self._batch.evalsha(self._revoke_family, (f"{self._base(tenant_id)}rtf:{family_id}",), ())
        return None if generation is None else int(generation)

    async def revoke_for_session(self, tenant_id: str, sid: str) -> int:
        base = self._base(tenant_id)
        return int(await self._batch.evalsha(self._revoke_session, (f"{base}rts:{sid}",), (f"{base}rtf:",)))

    async def revoke_for_user(self, tenant_id: str, user_lid: str) -> int:
        base = self._base(tenant_id)
        return int(await self._batch.evalsha(self._revoke_session, (f"{base}rtu:{user_lid}",), (f"{base}rtf:",)))

    async def purge_expired(self, now: float) -> int:
        return 0  # Redis expires keys itself
