"""Per-tenant secret keys for keyed hashes: CSRF tokens, rate-limit keys, passkey handles, codes."""

from __future__ import annotations

import hashlib
import hmac
from typing import Final

from lukhas_id.domain.tenant import Tenant
from lukhas_id.ports.crypto import SecretBox

_SUBKEY_CONTEXT: Final = b"lukhas-id/subkey/v1\x00"


class TenantKeyring:
    """Per-tenant, per-purpose HMAC keys: HMAC-SHA256(tenant ΛID secret, context || purpose).

    The context prefix differs from the ΛID derivation's (ids.derive), so no derived ΛID ever equals a
    subkey. Keys are cached per process (a tenant's secret never changes).
    """

    def __init__(self, box: SecretBox) -> None:
        self._box = box
        self._cache: dict[tuple[str, str], bytes] = {}

    def key(self, tenant: Tenant, purpose: str) -> bytes:
        hit = self._cache.get((tenant.id, purpose))
        if hit is None:
            secret = self._box.decrypt(tenant.id_secret_enc)
            hit = hmac.new(secret, _SUBKEY_CONTEXT + purpose.encode("ascii"), hashlib.sha256).digest()
            self._cache[(tenant.id, purpose)] = hit
        return hit
