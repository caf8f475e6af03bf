"""Server-side sign-in sessions over the KeyValueStore port (Redis in production, the SQL store embedded).

Lifetimes (module constants, overridable per SessionService):

- ABSOLUTE_LIFETIME (12 h): a session ends this long after the user authenticated, whatever the activity;
  rotation keeps the original end.
- IDLE_TIMEOUT (1 h): a session not used for this long ends. Use slides the idle deadline, but the record
  is rewritten at most once per TOUCH_INTERVAL (60 s), so reading a session is usually one KV read.

Storage (every key is under the tenant's id, so one tenant never resolves another tenant's session):

- ``sess:{tenant_id}:{sha256(id)}``: the session record (JSON, without the id). The id itself, 256
  random bits, is the cookie value and is never stored or logged; `sid` is a separate random public
  identifier (for ID tokens and logs).
- ``sessu:{tenant_id}:{user_lid}``: the user's index, a JSON list of session-id hashes (at most
  MAX_SESSIONS_PER_USER; signing in once more evicts the oldest session) used by `end_all_for_user`.
- ``sessnb:{tenant_id}:{user_lid}``: a "not before" time written by `end_all_for_user`: a session
  created at or before it is refused. Adding to the index and removing from it are each one atomic store
  operation (KeyValueStore.index_add, which also deletes the evicted records, and index_remove), so
  concurrent sign-ins and sign-outs of one user keep every entry they did not remove.

Known narrow race: a `get` that refreshes the idle deadline at the same moment as an `end` of the same
session can write the record back; the rewrite keeps the absolute end and the idle timeout.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import secrets
from collections.abc import Sequence
from dataclasses import replace
from typing import Any, Final

import orjson

from lukhas_id.clock import Clock
from lukhas_id.domain.session import Session
from lukhas_id.domain.tenant import Tenant
from lukhas_id.domain.user import User
from lukhas_id.ports.state import KeyValueStore, index_entries

ABSOLUTE_LIFETIME: Final = 12 * 3600.0
IDLE_TIMEOUT: Final = 3600.0
TOUCH_INTERVAL: Final = 60.0
MAX_SESSIONS_PER_USER: Final = 32
SESSION_ID_BYTES: Final = 32  # 256 bits
SID_BYTES: Final = 16  # 128 bits: a public identifier, it only needs to be unguessable and unique

# secrets.token_urlsafe(32): 43 characters of unpadded base64url.
_SESSION_ID_RE: Final = re.compile(r"[A-Za-z0-9_-]{43}")


def valid_session_id(value: str) -> bool:
    """Whether `value` has the shape of a session id (checked before any hashing or lookup)."""
    return bool(_SESSION_ID_RE.fullmatch(value))


def _hash(session_id: str) -> str:
    return hashlib.sha256(session_id.encode("ascii")).hexdigest()


class SessionService:
    def __init__(
        self,
        kv: KeyValueStore,
        clock: Clock,
        *,
        lifetime: float = ABSOLUTE_LIFETIME,
        idle_timeout: float = IDLE_TIMEOUT,
        touch_interval: float = TOUCH_INTERVAL,
        max_per_user: int = MAX_SESSIONS_PER_USER,
    ) -> None:
        if not 0 < idle_timeout <= lifetime:
            raise ValueError("need 0 < idle_timeout <= lifetime")
        self._kv = kv
        self._clock = clock
        self.lifetime = lifetime
        self.idle_timeout = idle_timeout
        self._touch_interval = min(touch_interval, idle_timeout / 2)
        self._max_per_user = max_per_user

    async def create(self, tenant: Tenant, user: User, amr: Sequence[str], acr: str) -> Session:
        """A new session for `user`, who has just authenticated with `amr` at level `acr`."""
        now = self._clock.now()
        session = Session(
            id=secrets.token_urlsafe(SESSION_ID_BYTES),
            tenant_id=tenant.id,
            sid=secrets.token_urlsafe(SID_BYTES),
            user_lid=user.lid,
            amr=tuple(amr),
            acr=acr,
            auth_time=now,
            created_at=now,
            last_seen=now,
            expires_at=now + self.lifetime,
        )
        # The record and the user's index are separate keys: written together (one pipelined batch on Redis).
        await asyncio.gather(self._write(session, now), self._index_add(tenant, session.user_lid, _hash(session.id)))
        return session

    async def get(self, tenant: Tenant, session_id: str, *, touch: bool = True) -> Session | None:
        """The live session with this id in this tenant, else None. With `touch`, use slides the idle
        deadline (the record is rewritten at most once per touch interval)."""
        if not valid_session_id(session_id):
            return None
        now = self._clock.now()
        key = self._key(tenant.id, _hash(session_id))
        raw = await self._kv.get(key)
        if raw is None:
            return None
        session = _decode(session_id, raw)
        if session is None or session.tenant_id != tenant.id:
            return None
        if now >= session.expires_at or now - session.last_seen >= self.idle_timeout:
            await self._kv.delete(key)
            return None
        marker = await self._kv.get(self._not_before_key(tenant.id, session.user_lid))
        if marker is not None and session.created_at <= float(marker):
            await self._kv.delete(key)
            return None
        if touch:
            session = await self.touch(session)
        return session

    async def touch(self, session: Session) -> Session:
        """Record use of `session` now (when the last record is older than the touch interval)."""
        now = self._clock.now()
        if now - session.last_seen < self._touch_interval:
            return session
        touched = replace(session, last_seen=now)
        await self._write(touched, now)
        return touched

    async def rotate(self, tenant: Tenant, session: Session) -> Session:
        """The same session (sid, user, auth_time, absolute end) under a new id; the old id stops working."""
        now = self._clock.now()
        rotated = replace(session, id=secrets.token_urlsafe(SESSION_ID_BYTES), last_seen=now)
        old_hash = _hash(session.id)
        await self._write(rotated, now)
        await self._kv.delete(self._key(tenant.id, old_hash))
        await self._index_add(tenant, session.user_lid, _hash(rotated.id), drop=old_hash)
        return rotated

    async def elevate(self, tenant: Tenant, session: Session, amr: Sequence[str], acr: str) -> Session:
        """The user has just proved a factor again in this session ("confirm it's you"): the same session
        (sid, absolute end) under a new id, with `auth_time` now and the methods of both authentications."""
        now = self._clock.now()
        methods = tuple(dict.fromkeys((*session.amr, *amr)))
        elevated = replace(session, amr=methods, acr=acr, auth_time=now)
        return await self.rotate(tenant, elevated)

    async def end(self, tenant: Tenant, session_id: str) -> Session | None:
        """End the session (sign-out); returns what it was, or None when there was no such session."""
        if not valid_session_id(session_id):
            return None
        digest = _hash(session_id)
        raw = await self._kv.pop(self._key(tenant.id, digest))
        if raw is None:
            return None
        session = _decode(session_id, raw)
        if session is not None:
            await self._index_drop(tenant, session.user_lid, digest)
        return session

    async def list_for_user(self, tenant: Tenant, user_lid: str) -> list[Session]:
        """The user's live sessions in the tenant, oldest first, read without touching them. The store
        holds only hashes of session ids, so each listed Session has an empty `id`: tell them apart by
        `sid`."""
        now = self._clock.now()
        marker = await self._kv.get(self._not_before_key(tenant.id, user_lid))
        not_before = float(marker) if marker is not None else None
        live: list[Session] = []
        for digest in index_entries(await self._kv.get(self._index_key(tenant.id, user_lid))):
            raw = await self._kv.get(self._key(tenant.id, digest))
            session = _decode("", raw) if raw is not None else None
            if (
                session is None
                or session.tenant_id != tenant.id
                or session.user_lid != user_lid
                or now >= session.expires_at
                or now - session.last_seen >= self.idle_timeout
                or (not_before is not None and session.created_at <= not_before)
            ):
                continue
            live.append(session)
        return sorted(live, key=lambda s: s.created_at)

    async def end_all_for_user(self, tenant: Tenant, user_lid: str) -> int:
        """End every session of the user in the tenant; returns how many records were deleted."""
        now = self._clock.now()
        await self._kv.set(self._not_before_key(tenant.id, user_lid), repr(now).encode(), self.lifetime)
        raw = await self._kv.pop(self._index_key(tenant.id, user_lid))
        ended = 0
        for digest in index_entries(raw):
            ended += await self._kv.delete(self._key(tenant.id, digest))
        return ended

    # -- storage -----------------------------------------------------------------------------------

    @staticmethod
    def _key(tenant_id: str, digest: str) -> str:
        return f"sess:{tenant_id}:{digest}"

    @staticmethod
    def _index_key(tenant_id: str, user_lid: str) -> str:
        return f"sessu:{tenant_id}:{user_lid}"

    @staticmethod
    def _not_before_key(tenant_id: str, user_lid: str) -> str:
        return f"sessnb:{tenant_id}:{user_lid}"

    async def _write(self, session: Session, now: float) -> None:
        ttl = min(self.idle_timeout, session.expires_at - now)
        if ttl <= 0:
            return
        record: dict[str, Any] = {
            "tenant_id": session.tenant_id,
            "sid": session.sid,
            "user_lid": session.user_lid,
            "amr": list(session.amr),
            "acr": session.acr,
            "auth_time": session.auth_time,
            "created_at": session.created_at,
            "last_seen": session.last_seen,
            "expires_at": session.expires_at,
        }
        await self._kv.set(self._key(session.tenant_id, _hash(session.id)), orjson.dumps(record), ttl)

    async def _index_add(self, tenant: Tenant, user_lid: str, digest: str, drop: str = "") -> None:
        # One atomic step in the store: concurrent sign-ins of one user cannot lose each other's entry, and
        # the records of the sessions beyond the cap are deleted with it.
        await self._kv.index_add(
            self._index_key(tenant.id, user_lid),
            digest,
            cap=self._max_per_user,
            ttl=self.lifetime,
            evict_prefix=self._key(tenant.id, ""),
            drop=drop,
        )

    async def _index_drop(self, tenant: Tenant, user_lid: str, digest: str) -> None:
        # Atomic too: a sign-out racing a sign-in of the same user cannot drop the new session's entry.
        await self._kv.index_remove(self._index_key(tenant.id, user_lid), digest, ttl=self.lifetime)


def _decode(session_id: str, raw: bytes) -> Session | None:
    try:
        data = orjson.loads(raw)
        return Session(
            id=session_id,
            tenant_id=str(data["tenant_id"]),
            sid=str(data["sid"]),
            user_lid=str(data["user_lid"]),
            amr=tuple(str(m) for m in data["amr"]),
            acr=str(data["acr"]),
            auth_time=float(data["auth_time"]),
            created_at=float(data["created_at"]),
            last_seen=float(data["last_seen"]),
            expires_at=float(data["expires_at"]),
        )
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        return None
