"""TOTP second factor: RFC 6238 (SHA-1, 6 digits, 30 s steps, one step of drift, no code accepted twice).

A factor is a random 160-bit secret (RFC 6238 §5.1: as long as the HMAC-SHA-1 output) with SHA-1, 6
digits and 30 s steps: the parameters every authenticator app supports. The secret is stored encrypted
under the KEK. A code is accepted for the current step and one step either side (§5.2, one step of
clock drift), and only if its step is later than the last accepted one, recorded with an atomic
compare-and-set: the same code, or an older one, is refused even inside the window (§5.2: an OTP is
never accepted twice), and of two concurrent uses of one code only one succeeds.

Nothing secret is logged: not the secret, a code, nor a hash of one. Every failed check counts in
``metrics.second_factor_failures`` with the label totp. Confirming a factor and removing one are each a
unit of work with their event (`totp.enrolled`, `totp.removed`: the user's ΛID, nothing else).

TotpService is a second-factor provider of services/sign_in.py (SecondFactor): kind "totp", `amr`
["otp"], a code of exactly six ASCII digits, and it also confirms a step-up on the account page.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass, field
from typing import Final
from urllib.parse import quote, urlencode

import pyotp
import segno

from lukhas_id.clock import Clock
from lukhas_id.domain.authn import Amr
from lukhas_id.domain.events import EventType, IdentityEvent
from lukhas_id.domain.passkey import TotpFactor
from lukhas_id.domain.tenant import Tenant
from lukhas_id.domain.user import User
from lukhas_id.metrics import Metrics
from lukhas_id.ports.authn import TotpRepository
from lukhas_id.ports.unit_of_work import UnitOfWork

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

    # As a second-factor provider (services/sign_in.py SecondFactor).
    kind = "totp"
    amr: tuple[str, ...] = (Amr.OTP,)
    step_up = True

    def __init__(
        self,
        repo: TotpRepository,
        clock: Clock,
        uow: UnitOfWork,
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
        self._uow = uow
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
        if step is None:
            return False
        async with self._uow() as work:
            confirmed = await self._repo.confirm(tenant.id, user_lid, step)
            if confirmed:
                work.emit(IdentityEvent(EventType.TOTP_ENROLLED, tenant.id, user_lid, self._clock.now()))
        return confirmed

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

    def accepts(self, code: str) -> bool:
        """Whether `code` has the form of a TOTP code: exactly six ASCII digits."""
        return _six_digits(code)

    async def enrolled(self, tenant: Tenant, user_lid: str) -> bool:
        """Whether the user has a confirmed TOTP factor."""
        factor = await self._repo.get(tenant.id, user_lid)
        return factor is not None and factor.confirmed

    async def remove(self, tenant: Tenant, user_lid: str) -> bool:
        """Remove the user's factor (confirmed or not); False when there was none."""
        async with self._uow() as work:
            removed = await self._repo.delete(tenant.id, user_lid)
            if removed:
                work.emit(IdentityEvent(EventType.TOTP_REMOVED, tenant.id, user_lid, self._clock.now()))
        return removed


def _qr_svg(data: str) -> str:
    """`data` as a QR code (error correction M) in an inline SVG element: no XML declaration, no
    namespace or external reference, dark modules on a white background with the 4-module quiet zone."""
    qr = segno.make(data, error="m", micro=False)
    svg: str = qr.svg_inline(scale=4, dark="#000", light="#fff", svgclass="totp-qr", lineclass=None)
    return svg
