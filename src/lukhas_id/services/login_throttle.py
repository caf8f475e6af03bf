"""Sign-in throttling: failed password sign-ins slow an attacker down; they never lock a user out for good.

Two fixed-window failure counters per tenant, both with the KeyValueStore `incr`:

- per account (the username's lookup key): ACCOUNT_LIMIT (5) failures in WINDOW (15 min);
- per client fingerprint: FINGERPRINT_LIMIT (20) failures in WINDOW.

The failure that reaches a limit blocks that account or fingerprint for WINDOW from then on: attempts
are refused (HTTP 429 with Retry-After) without checking the password. Every key has a TTL, so a
block always lifts by itself; a successful sign-in clears the account's counter. The counter keys
carry the window number (time from the service's Clock), so windows roll over on any store.

Privacy: no raw username or IP address is stored. Both are keyed hashes (HMAC-SHA256, 128 bits kept)
under a per-tenant subkey derived from the tenant's ΛID secret (decrypted under the KEK), so the
hashes are stable across workers and restarts, differ between tenants, and cannot be reversed by
hashing all 2^32 IPv4 addresses without the key. The client address is the TCP peer as the ASGI
server reports it (behind a proxy, configure the server to take it from X-Forwarded-For).

Limitation: with fixed windows an attacker gets at most 2*limit-1 tries around a window edge; and an
attacker who knows a username can keep that account throttled (never locked: a 15 minute slowdown
per 5 tries), which a later "known device" cookie exemption will address.
"""

from __future__ import annotations

import hashlib
import hmac
import math
from typing import Final

from lukhas_id.clock import Clock
from lukhas_id.domain.tenant import Tenant
from lukhas_id.domain.user import InvalidUser, username_key
from lukhas_id.ports.crypto import SecretBox
from lukhas_id.ports.state import KeyValueStore

ACCOUNT_LIMIT: Final = 5
FINGERPRINT_LIMIT: Final = 20
WINDOW: Final = 15 * 60.0

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


def _account_key(username: str) -> str:
    try:
        return username_key(username)
    except InvalidUser:
        return username.casefold()  # no such user can exist, but it is throttled all the same


class LoginThrottle:
    def __init__(
        self,
        kv: KeyValueStore,
        clock: Clock,
        keyring: TenantKeyring,
        *,
        account_limit: int = ACCOUNT_LIMIT,
        fingerprint_limit: int = FINGERPRINT_LIMIT,
        window: float = WINDOW,
    ) -> None:
        self._kv = kv
        self._clock = clock
        self.keyring = keyring
        self._limits = {"a": account_limit, "f": fingerprint_limit}
        self.window = window

    def _subjects(self, tenant: Tenant, username: str, client_ip: str) -> list[tuple[str, str]]:
        key = self.keyring.key(tenant, "login-throttle")
        account = hmac.new(key, b"a\x00" + _account_key(username).encode("utf-8"), hashlib.sha256)
        fingerprint = hmac.new(key, b"f\x00" + client_ip.encode("utf-8"), hashlib.sha256)
        return [("a", account.hexdigest()[:32]), ("f", fingerprint.hexdigest()[:32])]

    async def retry_after(self, tenant: Tenant, username: str, client_ip: str) -> int | None:
        """Seconds until a sign-in attempt for this username from this client is allowed, or None now."""
        now = self._clock.now()
        wait = 0.0
        for kind, digest in self._subjects(tenant, username, client_ip):
            raw = await self._kv.get(f"thrb:{kind}:{tenant.id}:{digest}")
            if raw is not None:
                try:
                    wait = max(wait, float(raw) - now)
                except ValueError:
                    continue
        return math.ceil(wait) if wait > 0 else None

    async def failed(self, tenant: Tenant, username: str, client_ip: str) -> None:
        """Count a failed attempt; the one that reaches a limit starts a block of one window."""
        now = self._clock.now()
        bucket = int(now // self.window)
        for kind, digest in self._subjects(tenant, username, client_ip):
            count = await self._kv.incr(f"thr:{kind}:{tenant.id}:{digest}:{bucket}", self.window)
            if count >= self._limits[kind]:
                await self._kv.set(f"thrb:{kind}:{tenant.id}:{digest}", repr(now + self.window).encode(), self.window)

    async def succeeded(self, tenant: Tenant, username: str, client_ip: str) -> None:
        """A correct password clears the account's failures (not the client's)."""
        bucket = int(self._clock.now() // self.window)
        kind, digest = self._subjects(tenant, username, client_ip)[0]
        await self._kv.delete(f"thr:{kind}:{tenant.id}:{digest}:{bucket}")
