"""Account recovery: administrator-issued, out-of-band codes for a user who lost every factor (ADR 0006).

An administrator issues an account recovery code out of band (`lukhas-id user recovery-code`): 128
random bits, URL-safe, valid 10 minutes, single use, stored only as a keyed hash (tenant subkey
"account-recovery") in the key-value store. Issuing a new code for a user invalidates the previous one.
A redeemed code is NOT a sign-in: the web layer gives it a restricted session whose acr is
``settings.acr_names.recovery`` (domain.authn AuthLevel.RECOVERY, below a password sign-in) in which
the only thing the user may do is enrol a new passkey. Removing passkeys, changing the e-mail address
or any other sensitive action needs a second factor (a full sign-in at AuthLevel.MFA), which a recovery
session never has.

Nothing secret is logged: not a code, nor a hash of one. Every failed redemption counts in
``metrics.second_factor_failures`` with the label account_recovery.

Issuing and redeeming emit `account_recovery.issued` and `.redeemed` (the user's ΛID only). The codes
live in the key-value store, so the change is made inside the unit of work: committed with its event
where that store is the SQL database (the embedded deployment), and followed by its event where it is
Redis, which no SQL transaction covers (ADR 0007).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from typing import Final

from lukhas_id.clock import Clock
from lukhas_id.domain.events import EventType, IdentityEvent
from lukhas_id.domain.tenant import Tenant
from lukhas_id.domain.user import User
from lukhas_id.errors import LukhasIdError
from lukhas_id.metrics import Metrics
from lukhas_id.ports.state import KeyValueStore
from lukhas_id.ports.unit_of_work import UnitOfWork
from lukhas_id.services.keyring import TenantKeyring
from lukhas_id.services.users import UserService

ACCOUNT_RECOVERY_TTL: Final = 600.0  # seconds
ACCOUNT_RECOVERY_BYTES: Final = 16  # 128 bits
_ACCOUNT_RECOVERY_CODE: Final = re.compile(r"[A-Za-z0-9_-]{16,128}")
_AR_CODE_PREFIX: Final = "acctrec:"
_AR_USER_PREFIX: Final = "acctrec-user:"


class AccountRecoveryRefused(LukhasIdError):
    """No account recovery code can be issued for this user (the message says why, without values)."""


class AccountRecoveryService:
    """Administrator-issued, out-of-band account recovery codes (see the module docstring for what a
    redeemed code allows)."""

    def __init__(
        self,
        kv: KeyValueStore,
        keyring: TenantKeyring,
        clock: Clock,
        uow: UnitOfWork,
        metrics: Metrics,
        users: UserService,
        *,
        ttl: float = ACCOUNT_RECOVERY_TTL,
    ) -> None:
        self._kv = kv
        self._uow = uow
        self._keyring = keyring
        self._clock = clock
        self._metrics = metrics
        self._users = users
        self.ttl = ttl

    def _digest(self, tenant: Tenant, code: str) -> str:
        key = self._keyring.key(tenant, "account-recovery")
        return hmac.new(key, code.encode("ascii"), hashlib.sha256).hexdigest()

    @staticmethod
    def _code_key(tenant: Tenant, digest: str) -> str:
        return f"{_AR_CODE_PREFIX}{tenant.id}:{digest}"

    @staticmethod
    def _user_key(tenant: Tenant, lid: str) -> str:
        return f"{_AR_USER_PREFIX}{tenant.id}:{lid}"

    async def issue(self, tenant: Tenant, user: User) -> str:
        """A new code for `user`, valid `ttl` seconds (10 minutes); the user's previous code stops
        working. Raises AccountRecoveryRefused for a user who is not active."""
        if user.tenant_id != tenant.id:
            raise ValueError("the user must belong to the tenant")
        if not user.active:
            raise AccountRecoveryRefused(f"the user is {user.status.value}: enable it first")
        code = secrets.token_urlsafe(ACCOUNT_RECOVERY_BYTES)
        digest = self._digest(tenant, code)
        expires_at = self._clock.now() + self.ttl
        user_key = self._user_key(tenant, user.lid)
        async with self._uow() as work:
            previous = await self._kv.get(user_key)
            if previous is not None:
                await self._kv.delete(self._code_key(tenant, previous.decode("ascii", "replace")))
            await self._kv.set(self._code_key(tenant, digest), f"{user.lid}\n{expires_at!r}".encode(), self.ttl)
            # The user's current code: redeeming any other (an earlier one) fails, even in a race of issues.
            await self._kv.set(user_key, digest.encode("ascii"), self.ttl)
            work.emit(IdentityEvent(EventType.ACCOUNT_RECOVERY_ISSUED, tenant.id, user.lid, self._clock.now()))
        return code

    async def redeem(self, tenant: Tenant, username: str, code: str) -> User | None:
        """The user when `code` is the current, unexpired, unused code issued for `username` (who must
        still be active); the code is spent by any presentation. None otherwise, counted in the metrics."""
        async with self._uow() as work:
            user = await self._redeem(tenant, username, code.strip())
            if user is not None:
                work.emit(IdentityEvent(EventType.ACCOUNT_RECOVERY_REDEEMED, tenant.id, user.lid, self._clock.now()))
        if user is None:
            self._metrics.second_factor_failures.labels("account_recovery").inc()
        return user

    async def _redeem(self, tenant: Tenant, username: str, code: str) -> User | None:
        if not _ACCOUNT_RECOVERY_CODE.fullmatch(code):
            return None
        digest = self._digest(tenant, code)
        raw = await self._kv.pop(self._code_key(tenant, digest))  # single use: one pop gets it
        if raw is None:
            return None
        lid, _, expiry = raw.decode("utf-8", "replace").partition("\n")
        try:
            expires_at = float(expiry)
        except ValueError:
            return None
        if self._clock.now() >= expires_at:
            return None
        current = await self._kv.get(self._user_key(tenant, lid))
        if current is None or not hmac.compare_digest(current, digest.encode("ascii")):
            return None  # superseded by a newer code
        user = await self._users.get(tenant, username)
        if user is None or not hmac.compare_digest(user.lid.encode(), lid.encode()) or not user.active:
            return None
        return user
