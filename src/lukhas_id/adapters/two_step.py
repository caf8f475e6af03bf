"""Shared by the token-state adapters that have no single-round-trip form of a composite read."""

from __future__ import annotations

from lukhas_id.domain.token import AccessTokenRecord
from lukhas_id.ports.state import TokenStateStore


async def get_active_opaque(
    store: TokenStateStore, tenant_id: str, token_hash: str, now: float
) -> AccessTokenRecord | None:
    """`TokenStateStore.get_active_opaque` as get_opaque followed by is_revoked."""
    record = await store.get_opaque(token_hash, now)
    if record is None or record.tenant_id != tenant_id:
        return None
    if await store.is_revoked(tenant_id, record.jti, record.client_id, record.sub, record.iat):
        return None
    return record
