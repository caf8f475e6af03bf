"""Authentication context: how a user proved who they are (RFC 8176 `amr`) and at what level (`acr`).

Levels, weakest first (the `acr` names are configuration; these are their order):

- PASSWORD: a password alone (`amr` ["pwd"]);
- PASSKEY: a WebAuthn passkey with user presence only (`amr` ["hwk" or "swk", "user"]);
- MFA: two factors: a password and a TOTP code or recovery code (`amr` ["pwd", "otp", "mfa"]), or a
  passkey whose authenticator verified the user (PIN or biometric: `amr` ["hwk" or "swk", "user",
  "mfa"]; the authenticator does not say which of PIN or biometric it used, so neither "pin" nor "fpt"
  is claimed).
- RECOVERY (below PASSWORD, not a sign-in level): an administrator-issued recovery code; its session
  may only enrol a new passkey (docs/recovery.md).

A requested `acr_values` entry is met by a session at that level or above.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import IntEnum, StrEnum


class Amr(StrEnum):
    """RFC 8176 §2 authentication method reference values that ΛiD emits."""

    PASSWORD = "pwd"
    OTP = "otp"
    HARDWARE_KEY = "hwk"
    SOFTWARE_KEY = "swk"
    USER_PRESENCE = "user"
    MFA = "mfa"


class AuthLevel(IntEnum):
    RECOVERY = 0
    PASSWORD = 1
    PASSKEY = 2
    MFA = 3


@dataclass(frozen=True, slots=True)
class AcrNames:
    """The configured `acr` value of each level (Settings.acr_*)."""

    password: str = "urn:lukhas:acr:pwd"
    passkey: str = "urn:lukhas:acr:passkey"
    mfa: str = "urn:lukhas:acr:mfa"
    recovery: str = "urn:lukhas:acr:recovery"

    def name(self, level: AuthLevel) -> str:
        return {
            AuthLevel.RECOVERY: self.recovery,
            AuthLevel.PASSWORD: self.password,
            AuthLevel.PASSKEY: self.passkey,
            AuthLevel.MFA: self.mfa,
        }[level]

    def level(self, acr: str | None) -> AuthLevel | None:
        """The level an `acr` value names, or None for a value this server does not define."""
        for level in AuthLevel:
            if acr == self.name(level):
                return level
        return None

    def supported(self) -> list[str]:
        """The values to publish as acr_values_supported (the sign-in levels, weakest first)."""
        return [self.password, self.passkey, self.mfa]

    def required_level(self, acr_values: Iterable[str]) -> AuthLevel | None:
        """The weakest level that meets one of the requested values (OIDC Core: any one of them will
        do); None when none was requested or none is known here."""
        levels = [lvl for lvl in (self.level(v) for v in acr_values) if lvl is not None and lvl > AuthLevel.RECOVERY]
        return min(levels) if levels else None


def passkey_amr(*, backup_eligible: bool, user_verified: bool) -> tuple[str, ...]:
    """`amr` of a passkey sign-in: a key that can be synced (backup eligible) is software-held."""
    key = Amr.SOFTWARE_KEY if backup_eligible else Amr.HARDWARE_KEY
    return (key, Amr.USER_PRESENCE, Amr.MFA) if user_verified else (key, Amr.USER_PRESENCE)


def level_of(amr: Iterable[str]) -> AuthLevel:
    """The level an `amr` list reaches."""
    methods = set(amr)
    if Amr.MFA in methods:
        return AuthLevel.MFA
    if methods & {Amr.HARDWARE_KEY, Amr.SOFTWARE_KEY}:
        return AuthLevel.PASSKEY
    if Amr.PASSWORD in methods:
        return AuthLevel.PASSWORD
    return AuthLevel.RECOVERY


def is_second_factor(amr: Iterable[str]) -> bool:
    """Whether a sign-in counts for sensitive actions: two factors, or a user-verified passkey."""
    return Amr.MFA in set(amr)


def step_up_reason(amr: Iterable[str], auth_time: float, now: float, max_age: int) -> str | None:
    """Why a sensitive account action needs the user to confirm it's them, or None when it doesn't:
    it needs a second factor (or a user-verified passkey) used at most `max_age` seconds ago."""
    if not is_second_factor(amr):
        return "second_factor_required"
    if now - auth_time > max_age:
        return "authentication_too_old"
    return None
