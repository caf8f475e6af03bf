"""Sign-in in two steps: a correct password for a user with a second factor is remembered, not a session.

The pending step is kept in the key-value store for PENDING_TTL (5 minutes) under a hash of the
browser's pre-session id (the CSRF cookie), so only the browser that gave the password can finish it,
and only once: the session is made when the second factor is accepted, and the pending record is
deleted then. Failed codes leave it in place (the sign-in rate limit bounds the guessing).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Final

import orjson

from lukhas_id.domain.tenant import Tenant
from lukhas_id.ports.state import KeyValueStore

PENDING_TTL: Final = 300


@dataclass(frozen=True, slots=True)
class PendingSignIn:
    user_lid: str
    return_to: str | None


class PendingSignIns:
    def __init__(self, kv: KeyValueStore) -> None:
        self._kv = kv

    @staticmethod
    def _key(tenant: Tenant, binding: str) -> str:
        return f"2fa:{tenant.id}:{hashlib.sha256(binding.encode('utf-8')).hexdigest()}"

    async def remember(self, tenant: Tenant, binding: str, user_lid: str, return_to: str | None) -> None:
        record = {"user_lid": user_lid, "return_to": return_to}
        await self._kv.set(self._key(tenant, binding), orjson.dumps(record), PENDING_TTL)

    async def recall(self, tenant: Tenant, binding: str) -> PendingSignIn | None:
        raw = await self._kv.get(self._key(tenant, binding))
        if raw is None:
            return None
        try:
            data = orjson.loads(raw)
            return_to = data.get("return_to")
            return PendingSignIn(str(data["user_lid"]), str(return_to) if return_to else None)
        except (orjson.JSONDecodeError, KeyError, TypeError, AttributeError):
            return None

    async def finish(self, tenant: Tenant, binding: str) -> bool:
        """Delete the pending step; False when it was already gone (another request finished it)."""
        return await self._kv.pop(self._key(tenant, binding)) is not None
