"""Short-lived state ports: token state (revocations, opaque tokens) and generic TTL key-value state.

Production: Redis. Embedded default: token state in the SQL database (so the CLI and every worker see
the same revocations), generic key-value state in process.
"""

from __future__ import annotations

from typing import Protocol

import orjson

from lukhas_id.domain.refresh import RefreshTokenRecord, RotateResult
from lukhas_id.domain.token import AccessTokenRecord, MarkerKind


class TokenStateStore(Protocol):
    async def put_opaque(self, token_hash: str, record: AccessTokenRecord) -> None:
        """Store an opaque access token's record (keyed by a hash of the token) until record.exp."""
        ...

    async def get_opaque(self, token_hash: str, now: float) -> AccessTokenRecord | None:
        """The record, or None when unknown, deleted or expired at `now`."""
        ...

    async def get_active_opaque(self, tenant_id: str, token_hash: str, now: float) -> AccessTokenRecord | None:
        """The record when it is this tenant's, unexpired at `now` and not revoked (its jti or a
        client/subject marker). One round trip on Redis."""
        ...

    async def delete_opaque(self, token_hash: str) -> bool:
        """Remove the record; returns whether it existed."""
        ...

    async def revoke_jti(self, tenant_id: str, jti: str, exp: int) -> None:
        """Remember that token `jti` is revoked, at least until its expiry `exp` (epoch seconds)."""
        ...

    async def set_not_before(self, tenant_id: str, kind: MarkerKind, ident: str, at: int, ttl: int) -> None:
        """Tokens of this client / subject with iat <= `at` are inactive; kept at least `ttl` seconds.

        A later marker replaces an earlier one, never the other way round.
        """
        ...

    async def is_revoked(self, tenant_id: str, jti: str, client_id: str, sub: str, iat: int) -> bool:
        """True when `jti` was revoked or a client/subject marker covers `iat`. One round trip."""
        ...

    async def purge_expired(self, now: float) -> int:
        """Delete entries expired at `now`; stores that expire entries themselves (Redis) return 0."""
        ...

    async def ping(self) -> None:
        """Raise when the store cannot be reached."""
        ...


class KeyValueStore(Protocol):
    """Generic TTL state for later features (challenges, rate buckets, sessions). TTLs in seconds."""

    async def get(self, key: str) -> bytes | None: ...

    async def set(self, key: str, value: bytes, ttl: float) -> None: ...

    async def set_if_absent(self, key: str, value: bytes, ttl: float) -> bool:
        """Atomic SET NX: True when this call created the key."""
        ...

    async def pop(self, key: str) -> bytes | None:
        """Atomic get-and-delete (single-use values): of two concurrent pops, one gets the value."""
        ...

    async def delete(self, key: str) -> bool: ...

    async def incr(self, key: str, ttl: float) -> int:
        """Increment a counter, creating it with `ttl` when absent; returns the new value."""
        ...

    async def index_add(
        self, key: str, member: str, *, cap: int, ttl: float, evict_prefix: str, drop: str = ""
    ) -> list[str]:
        """Atomically add `member` to the index at `key`, a JSON list of strings (absent, expired or not
        such a list: empty): `member` and `drop` are taken out, `member` is appended, the oldest entries
        beyond `cap` fall off, and the list is stored with `ttl`. The key `evict_prefix + entry` of every
        entry that fell off is deleted; those entries are returned, oldest first. (The sessions of a user.)"""
        ...

    async def index_remove(self, key: str, member: str, *, ttl: float) -> bool:
        """Atomically take `member` out of the index at `key` (as for index_add), which then lives `ttl` again,
        or is deleted when nothing is left in it; False when `member` was not in it (nothing written)."""
        ...

    async def purge_expired(self, now: float) -> int:
        """Delete entries expired at `now`; stores that expire entries themselves (Redis) return 0."""
        ...

    async def ping(self) -> None: ...


def index_entries(raw: bytes | None) -> list[str]:
    """The entries of an index value (KeyValueStore.index_add / index_remove): None or anything but a JSON
    list is empty; entries that are not strings are dropped."""
    if raw is None:
        return []
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return []
    return [e for e in data if isinstance(e, str)] if isinstance(data, list) else []


class RefreshTokenStore(Protocol):
    """Refresh-token families (domain/refresh.py), keyed by a hash of each token; never the token.

    Every method is atomic across processes sharing the store. Entries live until the family's
    `expires_at`; a revoked family stays known (so its old tokens are still recognised) until then.
    """

    async def create(self, token_hash: str, record: RefreshTokenRecord) -> None:
        """Start a family whose active token (generation `record.generation`) has this hash."""
        ...

    async def get(self, tenant_id: str, token_hash: str, now: float) -> RefreshTokenRecord | None:
        """The token's record (rotated or not; see `rotated_at`) with its `issued_at`, or None when it is
        unknown, of another tenant, expired at `now`, or its family is revoked."""
        ...

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
        """Atomically apply domain/refresh.py's `decide_rotation` to the token and its family: an active token
        becomes rotated and `successor_hash` the family's active token (ROTATED), unless it was issued `idle`
        seconds or more before `now` (EXPIRED, nothing written); a token rotated less than `grace` seconds
        before `now` gives back the successor it was rotated to (GRACE: `successor_hash` is ignored); any
        other rotated token, or a token of a revoked family, revokes the family (REUSE); unknown or expired:
        UNKNOWN. With grace 0, of simultaneous presentations one is ROTATED and every other one is REUSE."""
        ...

    async def revoke_family(self, tenant_id: str, family_id: str) -> int | None:
        """Revoke every token of the family; returns its newest generation (None: no such family)."""
        ...

    async def revoke_for_session(self, tenant_id: str, sid: str) -> int:
        """Revoke every family issued in login session `sid`; returns how many were not yet revoked."""
        ...

    async def revoke_for_user(self, tenant_id: str, user_lid: str) -> int:
        """Revoke every family of the user in the tenant; returns how many were not yet revoked."""
        ...

    async def purge_expired(self, now: float) -> int:
        """Delete families expired at `now`; stores that expire entries themselves (Redis) return 0."""
        ...
