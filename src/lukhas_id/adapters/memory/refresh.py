"""In-process RefreshTokenStore (ports/state.py) for tests and single-process use.

Atomic within one asyncio event loop: no method awaits between reading and writing its state.
Expired families are dropped lazily and by `purge_expired`. What a rotation does is domain/refresh.py's
`decide_rotation`; this store only reads the state it needs and writes what the decision says.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

from lukhas_id.domain.refresh import (
    RefreshTokenRecord,
    Reuse,
    Rotate,
    RotateResult,
    StoredFamily,
    StoredToken,
    decide_rotation,
)


@dataclass
class _Family:
    record: RefreshTokenRecord  # generation 0's view; family data only
    generation: int = 0
    revoked: bool = False
    token_hashes: list[str] = field(default_factory=list)


@dataclass
class _Token:
    family: tuple[str, str]
    generation: int
    issued_at: float
    rotated_at: float | None = None
    successor_hash: str | None = None


class MemoryRefreshTokenStore:
    def __init__(self) -> None:
        self._families: dict[tuple[str, str], _Family] = {}
        self._tokens: dict[str, _Token] = {}

    async def create(self, token_hash: str, record: RefreshTokenRecord) -> None:
        key = (record.tenant_id, record.family_id)
        family = _Family(replace(record, rotated_at=None), record.generation, token_hashes=[token_hash])
        self._families[key] = family
        self._tokens[token_hash] = _Token(key, record.generation, record.created_at)

    def _find(self, tenant_id: str, token_hash: str, now: float) -> tuple[_Token, _Family] | None:
        token = self._tokens.get(token_hash)
        if token is None or token.family[0] != tenant_id:
            return None
        family = self._families.get(token.family)
        if family is None or family.record.expires_at <= now:
            return None
        return token, family

    @staticmethod
    def _view(token: _Token, family: _Family) -> RefreshTokenRecord:
        return replace(family.record, generation=token.generation, rotated_at=token.rotated_at)

    async def get(self, tenant_id: str, token_hash: str, now: float) -> RefreshTokenRecord | None:
        found = self._find(tenant_id, token_hash, now)
        if found is None or found[1].revoked:
            return None
        return replace(self._view(*found), issued_at=found[0].issued_at)

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
        token = self._tokens.get(token_hash)
        family = None if token is None or token.family[0] != tenant_id else self._families.get(token.family)
        if token is None or family is None:
            return decide_rotation(None, None, successor_hash=successor_hash, now=now, grace=grace).result(None)
        decision = decide_rotation(
            StoredToken(token.generation, token.issued_at, token.rotated_at, token.successor_hash),
            StoredFamily(family.generation, family.record.expires_at, family.revoked),
            successor_hash=successor_hash,
            now=now,
            grace=grace,
            idle=idle,
        )
        record = self._view(token, family)
        match decision:
            case Rotate(successor_hash=successor, generation=generation, at=at):
                token.rotated_at, token.successor_hash = at, successor
                family.generation = generation
                family.token_hashes.append(successor)
                self._tokens[successor] = _Token(token.family, generation, at)
            case Reuse():
                family.revoked = True
        return decision.result(record)

    async def revoke_family(self, tenant_id: str, family_id: str) -> int | None:
        family = self._families.get((tenant_id, family_id))
        if family is None:
            return None
        family.revoked = True
        return family.generation

    async def revoke_for_session(self, tenant_id: str, sid: str) -> int:
        return self._revoke_where(tenant_id, lambda record: record.sid == sid)

    async def revoke_for_user(self, tenant_id: str, user_lid: str) -> int:
        return self._revoke_where(tenant_id, lambda record: record.user_lid == user_lid)

    def _revoke_where(self, tenant_id: str, matches: Callable[[RefreshTokenRecord], bool]) -> int:
        count = 0
        for (tenant, _), family in self._families.items():
            if tenant == tenant_id and not family.revoked and matches(family.record):
                family.revoked = True
                count += 1
        return count

    async def purge_expired(self, now: float) -> int:
        expired = [key for key, family in self._families.items() if family.record.expires_at <= now]
        for key in expired:
            for token_hash in self._families.pop(key).token_hashes:
                self._tokens.pop(token_hash, None)
        return len(expired)
