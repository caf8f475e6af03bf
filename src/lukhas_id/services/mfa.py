"""Second factors other than passkeys: TOTP (RFC 6238), recovery codes, administrator account recovery.

TOTP (`TotpService`). A factor is a random 160-bit secret (RFC 6238 §5.1: as long as the HMAC-SHA-1
output) with SHA-1, 6 digits and 30 s steps: the parameters every authenticator app supports. The secret
is stored encrypted under the KEK. A code is accepted for the current step and one step either side
(§5.2, one step of clock drift), and only if its step is later than the last accepted one, recorded with
an atomic compare-and-set: the same code, or an older one, is refused even inside the window (§5.2: an
OTP is never accepted twice), and of two concurrent uses of one code only one succeeds.

Recovery codes (`RecoveryCodeService`). Ten single-use codes of 10 characters of Crockford's base32
(digits and upper-case letters without I, L, O and U: 50 bits each), shown as ``XXXXX-XXXXX``.
Entry is forgiving: case, dashes and spaces do not matter and the look-alikes O, I and L read as 0, 1, 1.
Only HMAC-SHA256 of the normalized code under the tenant subkey "recovery-code" is stored; a new set
replaces the previous one.

Account recovery (`AccountRecoveryService`). When a user has lost every factor, an administrator issues
an account recovery code out of band (`lukhas-id user recovery-code`): 128 random bits, URL-safe, valid
10 minutes, single use, stored only as a keyed hash (tenant subkey "account-recovery") in the key-value
store. Issuing a new code for a user invalidates the previous one. A redeemed code is NOT a sign-in: the
web layer gives it a restricted session whose acr is ``settings.acr_names.recovery`` (domain.authn
AuthLevel.RECOVERY, below a password sign-in) in which the only thing the user may do is enrol a new
passkey. Removing passkeys, changing the e-mail address or any other sensitive action needs a second
factor (a full sign-in at AuthLevel.MFA), which a recovery session never has.

Nothing secret is logged: not the TOTP secret, a code, nor a hash of one. Every failed check counts in
``metrics.second_factor_failures`` with the factor's label (totp, recovery_code, account_recovery).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import re
import secrets
from dataclasses import dataclass, field
from typing import Final
from urllib.parse import quote, urlencode

import pyotp
import segno

from lukhas_id.clock import Clock
from lukhas_id.domain.passkey import TotpFactor
from lukhas_id.domain.tenant import Tenant
from lukhas_id.domain.user import User
from lukhas_id.errors import LukhasIdError
from lukhas_id.metrics import Metrics
from lukhas_id.ports.authn import RecoveryCodeRepository, TotpRepository
from lukhas_id.ports.state import KeyValueStore
from lukhas_id.services.keyring import TenantKeyring
from lukhas_id.services.users import UserService

log = logging.getLogger("lukhas_id.mfa")

# --- TOTP -------------------------------------------------------------------------------------------

TOTP_SECRET_BYTES: Final = 20  # 160 bits, the HMAC-SHA-1 output length (RFC 6238 §5.1)
TOTP_DIGITS: Final = 6
TOTP_PERIOD: Final = 30  # seconds (X in RFC 6238 §4.1); T0 = 0
TOTP_ALGORITHM: Final = "SHA1"
TOTP_WINDOW: Final = 1  # steps accepted either side of the current one (RFC 6238 §5.2)

_DIGESTS: Final = {"SHA1": hashlib.sha1, "SHA256": hashlib.sha256, "SHA512": hashlib.sha512}


def time_step(unix_time: float, period: int = TOTP_PERIOD) -> int:
    """T = floor((unix_time - T0) / X) with T0 = 0 (RFC 6238 §4.2); an arbitrary-size int, so it works
    past 2038 and past 2^32 steps alike."""
    return int(unix_time // 1) // period


def totp_code(secret: bytes, step: int, *, digits: int = TOTP_DIGITS, algorithm: str = TOTP_ALGORITHM) -> str:
    """The TOTP value of time step `step`: HOTP (RFC 4226) over T with HMAC-`algorithm`."""
    otp = pyotp.TOTP(_b32(secret), digits=digits, digest=_DIGESTS[algorithm], interval=TOTP_PERIOD)
    return otp.generate_otp(step)


def _b32(secret: bytes) -> str:
    return base64.b32encode(secret).decode("ascii").rstrip("=")


def _six_digits(code: str) -> bool:
    return len(code) == TOTP_DIGITS and code.isascii() and code.isdigit()


@dataclass(frozen=True, slots=True)
class TotpEnrolment:
    """What the user needs to add the factor to an authenticator app. Show it once, over HTTPS, with
    ``Cache-Control: no-store``; it holds the secret in all three forms."""

    # Base32 (RFC 4648) without padding, for manual entry.
    secret: str = field(repr=False)
    # otpauth://totp/ISSUER:USERNAME?secret=...&issuer=ISSUER&algorithm=SHA1&digits=6&period=30
    uri: str = field(repr=False)
    # The URI as a QR code: an inline <svg> element (no XML declaration, no external reference).
    qr_svg: str = field(repr=False)
    algorithm: str = TOTP_ALGORITHM
    digits: int = TOTP_DIGITS
    period: int = TOTP_PERIOD

    @property
    def secret_groups(self) -> str:
        """The secret in groups of four characters, easier to type."""
        return " ".join(self.secret[i : i + 4] for i in range(0, len(self.secret), 4))


class TotpService:
    """TOTP factors: enrolment (begin, then confirm with a first code), verification, removal."""

    def __init__(
        self,
        repo: TotpRepository,
        clock: Clock,
        metrics: Metrics,
        issuer_name: str,
        *,
        default_tenant: str | None = None,
    ) -> None:
        """`issuer_name` names the service in authenticator apps; for a tenant other than
        `default_tenant` the tenant's name is added ("ΛiD (acme)"), so that the same username in two
        tenants gives two distinguishable entries."""
        self._repo = repo
        self._clock = clock
        self._metrics = metrics
        self._issuer_name = issuer_name
        self._default_tenant = default_tenant

    def issuer(self, tenant: Tenant) -> str:
        """The issuer shown in authenticator apps for this tenant (a colon would break the URI label)."""
        name = self._issuer_name
        if self._default_tenant is not None and tenant.name != self._default_tenant:
            name = f"{name} ({tenant.name})"
        return name.replace(":", " ")

    async def begin_enrolment(self, tenant: Tenant, user: User) -> TotpEnrolment:
        """Store a new unconfirmed factor with a fresh secret, replacing any unconfirmed one.

        Raises AlreadyExists when the user has a confirmed factor (remove it first), NotFound when the
        user does not exist.
        """
        if user.tenant_id != tenant.id:
            raise ValueError("the user must belong to the tenant")
        secret = secrets.token_bytes(TOTP_SECRET_BYTES)
        await self._repo.put(
            TotpFactor(
                tenant_id=tenant.id,
                user_lid=user.lid,
                secret=secret,
                confirmed=False,
                last_step=None,
                created_at=self._clock.now(),
            )
        )
        encoded = _b32(secret)
        uri = self._uri(encoded, self.issuer(tenant), user.username)
        return TotpEnrolment(secret=encoded, uri=uri, qr_svg=_qr_svg(uri))

    @staticmethod
    def _uri(secret: str, issuer: str, account: str) -> str:
        """The Key URI of authenticator apps: label "issuer:account" and an issuer parameter."""
        label = f"{quote(issuer, safe='')}:{quote(account, safe='')}"
        query = urlencode(
            {
                "secret": secret,
                "issuer": issuer,
                "algorithm": TOTP_ALGORITHM,
                "digits": str(TOTP_DIGITS),
                "period": str(TOTP_PERIOD),
            },
            quote_via=quote,
        )
        return f"otpauth://totp/{label}?{query}"

    async def confirm(self, tenant: Tenant, user_lid: str, code: str) -> bool:
        """Confirm the pending factor with a first valid code (same window and replay rule as `verify`).

        False when the code is wrong, or there is no unconfirmed factor. A wrong code here is not
        counted as a second-factor failure: whoever confirms already holds the secret.
        """
        factor = await self._repo.get(tenant.id, user_lid)
        if factor is None or factor.confirmed:
            return False
        step = self._match(factor, code)
        return step is not None and await self._repo.confirm(tenant.id, user_lid, step)

    async def verify(self, tenant: Tenant, user_lid: str, code: str) -> bool:
        """True when `code` is valid for the user's confirmed factor at the current step ±1 and its step
        is later than the last accepted one (then recorded, atomically). Anything else, including a
        code that is not exactly six ASCII digits, is a failure, counted in the metrics."""
        factor = await self._repo.get(tenant.id, user_lid)
        ok = False
        if factor is not None and factor.confirmed:
            step = self._match(factor, code)
            ok = step is not None and await self._repo.accept_step(tenant.id, user_lid, step)
        if not ok:
            self._metrics.second_factor_failures.labels("totp").inc()
        return ok

    def _match(self, factor: TotpFactor, code: str) -> int | None:
        """The earliest step in the window, later than the last accepted one, whose code is `code`."""
        if not _six_digits(code):
            return None
        now = time_step(self._clock.now())
        given = code.encode("ascii")
        matched: int | None = None
        for step in range(now - TOTP_WINDOW, now + TOTP_WINDOW + 1):
            if step < 0:
                continue
            # Every candidate is compared (no early exit), in constant time.
            equal = hmac.compare_digest(totp_code(factor.secret, step).encode("ascii"), given)
            later = factor.last_step is None or step > factor.last_step
            if equal and later and matched is None:
                matched = step
        return matched

    async def enrolled(self, tenant: Tenant, user_lid: str) -> bool:
        """Whether the user has a confirmed TOTP factor."""
        factor = await self._repo.get(tenant.id, user_lid)
        return factor is not None and factor.confirmed

    async def remove(self, tenant: Tenant, user_lid: str) -> bool:
        """Remove the user's factor (confirmed or not); False when there was none."""
        return await self._repo.delete(tenant.id, user_lid)


def _qr_svg(data: str) -> str:
    """`data` as a QR code (error correction M) in an inline SVG element: no XML declaration, no
    namespace or external reference, dark modules on a white background with the 4-module quiet zone."""
    qr = segno.make(data, error="m", micro=False)
    svg: str = qr.svg_inline(scale=4, dark="#000", light="#fff", svgclass="totp-qr", lineclass=None)
    return svg


# --- recovery codes ---------------------------------------------------------------------------------

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

    def __init__(self, repo: RecoveryCodeRepository, keyring: TenantKeyring, clock: Clock, metrics: Metrics) -> None:
        self._repo = repo
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
        await self._repo.replace(tenant.id, user_lid, [self._hash(tenant, code) for code in codes], self._clock.now())
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

    async def remaining(self, tenant: Tenant, user_lid: str) -> int:
        """How many unused codes the user has."""
        return await self._repo.remaining(tenant.id, user_lid)

    async def remove(self, tenant: Tenant, user_lid: str) -> None:
        """Delete every code of the user."""
        await self._repo.delete_all(tenant.id, user_lid)


# --- account recovery (administrator-issued) --------------------------------------------------------

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
        metrics: Metrics,
        users: UserService,
        *,
        ttl: float = ACCOUNT_RECOVERY_TTL,
    ) -> None:
        self._kv = kv
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
        previous = await self._kv.get(user_key)
        if previous is not None:
            await self._kv.delete(self._code_key(tenant, previous.decode("ascii", "replace")))
        await self._kv.set(self._code_key(tenant, digest), f"{user.lid}\n{expires_at!r}".encode(), self.ttl)
        # The user's current code: redeeming any other (an earlier one) fails, even in a race of issues.
        await self._kv.set(user_key, digest.encode("ascii"), self.ttl)
        log.info("account recovery code issued", extra={"tenant": tenant.name, "lid": user.lid})
        return code

    async def redeem(self, tenant: Tenant, username: str, code: str) -> User | None:
        """The user when `code` is the current, unexpired, unused code issued for `username` (who must
        still be active); the code is spent by any presentation. None otherwise, counted in the metrics."""
        user = await self._redeem(tenant, username, code.strip())
        if user is None:
            self._metrics.second_factor_failures.labels("account_recovery").inc()
        else:
            log.info("account recovery code redeemed", extra={"tenant": tenant.name, "lid": user.lid})
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
