"""Recovery codes: single-use second-factor codes for when the TOTP device is not at hand (ADR 0006).

Ten single-use codes of 10 characters of Crockford's base32 (digits and upper-case letters without I,
L, O and U: 50 bits each), shown as ``XXXXX-XXXXX``. Entry is forgiving: case, dashes and spaces do not
matter and the look-alikes O, I and L read as 0, 1, 1. Only HMAC-SHA256 of the normalized code under
the tenant subkey "recovery-code" is stored; a new set replaces the previous one.

Nothing secret is logged: not a code, nor a hash of one. Every failed check counts in
``metrics.second_factor_failures`` with the label recovery_code. Generating a set and removing one are
each a unit of work with their event (`recovery_codes.generated`, `.removed`), which carries how many
codes, never a code.

RecoveryCodeService is a second-factor provider of services/sign_in.py (SecondFactor): kind
"recovery_code", `amr` ["otp"] (a code good for one use), any text that normalizes to a code. It does not
confirm a step-up: the codes are kept for a lost device, not spent on the account page. Codes are made
only alongside an authenticator app (account page), so a user who has them also has TOTP.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from typing import Final

from lukhas_id.clock import Clock
from lukhas_id.domain.authn import Amr
from lukhas_id.domain.events import EventType, IdentityEvent
from lukhas_id.domain.tenant import Tenant
from lukhas_id.metrics import Metrics
from lukhas_id.ports.authn import RecoveryCodeRepository
from lukhas_id.ports.unit_of_work import UnitOfWork
from lukhas_id.services.keyring import TenantKeyring

RECOVERY_CODE_COUNT: Final = 10
RECOVERY_CODE_LENGTH: Final = 10  # characters of 5 bits: 50 bits per code
RECOVERY_CODE_ALPHABET: Final = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford's base32
_RECOVERY_LOOKALIKES: Final = str.maketrans({"O": "0", "I": "1", "L": "1"})
_RECOVERY_SEPARATORS: Final = re.compile(r"[\s\-]+")
_MAX_CODE_INPUT: Final = 64


def normalize_recovery_code(code: str) -> str | None:
    """The canonical form of a recovery code as typed (upper case, no dashes or spaces, O/I/L read as
    0/1/1), or None when it cannot be one."""
    if len(code) > _MAX_CODE_INPUT:
        return None
    compact = _RECOVERY_SEPARATORS.sub("", code).upper().translate(_RECOVERY_LOOKALIKES)
    if len(compact) != RECOVERY_CODE_LENGTH or not all(char in RECOVERY_CODE_ALPHABET for char in compact):
        return None
    return compact


def _new_recovery_code() -> str:
    return "".join(secrets.choice(RECOVERY_CODE_ALPHABET) for _ in range(RECOVERY_CODE_LENGTH))


class RecoveryCodeService:
    """Single-use recovery codes, a second factor for when the TOTP device is not at hand."""

    # As a second-factor provider (services/sign_in.py SecondFactor).
    kind = "recovery_code"
    amr: tuple[str, ...] = (Amr.OTP,)
    step_up = False

    def __init__(
        self, repo: RecoveryCodeRepository, keyring: TenantKeyring, clock: Clock, uow: UnitOfWork, metrics: Metrics
    ) -> None:
        self._repo = repo
        self._uow = uow
        self._keyring = keyring
        self._clock = clock
        self._metrics = metrics

    def _hash(self, tenant: Tenant, normalized: str) -> str:
        key = self._keyring.key(tenant, "recovery-code")
        return hmac.new(key, normalized.encode("ascii"), hashlib.sha256).hexdigest()

    async def generate(self, tenant: Tenant, user_lid: str) -> list[str]:
        """Ten new distinct codes as ``XXXXX-XXXXX``, replacing the user's previous set (used or not).

        Show them once; only their keyed hashes are stored. Raises NotFound for an unknown user.
        """
        codes: list[str] = []
        while len(codes) < RECOVERY_CODE_COUNT:
            code = _new_recovery_code()
            if code not in codes:
                codes.append(code)
        hashes = [self._hash(tenant, code) for code in codes]
        async with self._uow() as work:
            await self._repo.replace(tenant.id, user_lid, hashes, self._clock.now())
            work.emit(self._event(EventType.RECOVERY_CODES_GENERATED, tenant, user_lid, len(codes)))
        half = RECOVERY_CODE_LENGTH // 2
        return [f"{code[:half]}-{code[half:]}" for code in codes]

    async def use(self, tenant: Tenant, user_lid: str, code: str) -> bool:
        """Spend one of the user's unused codes (atomically: of two concurrent uses one succeeds).
        A failure is counted in the metrics."""
        normalized = normalize_recovery_code(code)
        ok = normalized is not None and await self._repo.use(
            tenant.id, user_lid, self._hash(tenant, normalized), self._clock.now()
        )
        if not ok:
            self._metrics.second_factor_failures.labels("recovery_code").inc()
        return ok

    def accepts(self, code: str) -> bool:
        """Whether `code` reads as a recovery code (normalize_recovery_code)."""
        return normalize_recovery_code(code) is not None

    async def enrolled(self, tenant: Tenant, user_lid: str) -> bool:
        """Whether the user has an unused code."""
        return await self.remaining(tenant, user_lid) > 0

    async def verify(self, tenant: Tenant, user_lid: str, code: str) -> bool:
        """As a second factor: spend the code (`use`)."""
        return await self.use(tenant, user_lid, code)

    async def remaining(self, tenant: Tenant, user_lid: str) -> int:
        """How many unused codes the user has."""
        return await self._repo.remaining(tenant.id, user_lid)

    async def remove(self, tenant: Tenant, user_lid: str) -> None:
        """Delete every code of the user; the event (with the number of unused codes) only when any was
        unused."""
        async with self._uow() as work:
            unused = await self._repo.remaining(tenant.id, user_lid)
            await self._repo.delete_all(tenant.id, user_lid)
            if unused:
                work.emit(self._event(EventType.RECOVERY_CODES_REMOVED, tenant, user_lid, unused))

    def _event(self, kind: EventType, tenant: Tenant, user_lid: str, count: int) -> IdentityEvent:
        return IdentityEvent(kind, tenant.id, user_lid, self._clock.now(), metadata={"count": str(count)})
