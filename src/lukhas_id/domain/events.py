"""Identity events: what happened to a principal, a client, a token or a key, as typed records.

Services emit them inside their unit of work (ports/unit_of_work.py); they are handed to the event
sink only once the work's changes are committed, and dropped when it is rolled back. An event carries
no secret and nothing personal: no token, secret, password, code, e-mail address or IP address; the
principal is named by its ΛID, a client by its id, a token by its `jti` (never the token). `metadata`
is a small mapping of such identifiers and enum values (docs/architecture.md lists the keys of each
type). Its keys are never the name of a `logging.LogRecord` attribute (`name`, `message`...): the log
subscriber passes them as `extra`.
"""

from __future__ import annotations

import ipaddress
import re
import uuid
from collections.abc import Mapping
from dataclasses import KW_ONLY, dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import Final


class EventType(StrEnum):
    CLIENT_CREATED = "client.created"
    CLIENT_UPDATED = "client.updated"
    CLIENT_DELETED = "client.deleted"
    CLIENT_STATUS_CHANGED = "client.status_changed"
    TOKEN_REVOKED = "token.revoked"  # noqa: S105  (an event name)
    TOKENS_MASS_REVOKED = "token.mass_revoked"  # noqa: S105  (an event name)
    REFRESH_FAMILY_REVOKED = "refresh_token.family_revoked"  # noqa: S105
    REFRESH_REUSE_DETECTED = "refresh_token.reuse_detected"  # noqa: S105
    SIGNING_KEY_ROTATED = "signing_key.rotated"
    USER_SIGNED_IN = "user.signed_in"
    USER_STEPPED_UP = "user.stepped_up"
    SIGN_IN_SECOND_FACTOR_NEEDED = "sign_in.second_factor_needed"
    SIGN_IN_REFUSED = "sign_in.refused"
    SIGN_IN_THROTTLED = "sign_in.throttled"
    USER_CREATED = "user.created"
    USER_PASSWORD_CHANGED = "user.password_changed"  # noqa: S105  (an event name)
    USER_EMAIL_CHANGED = "user.email_changed"
    USER_DISABLED = "user.disabled"
    USER_ENABLED = "user.enabled"
    USER_DELETED = "user.deleted"
    PASSKEY_REGISTERED = "passkey.registered"
    PASSKEY_RENAMED = "passkey.renamed"
    PASSKEY_REMOVED = "passkey.removed"
    PASSKEY_CLONE_SUSPECTED = "passkey.clone_suspected"
    TOTP_ENROLLED = "totp.enrolled"
    TOTP_REMOVED = "totp.removed"
    RECOVERY_CODES_GENERATED = "recovery_codes.generated"
    RECOVERY_CODES_REMOVED = "recovery_codes.removed"
    ACCOUNT_RECOVERY_ISSUED = "account_recovery.issued"
    ACCOUNT_RECOVERY_REDEEMED = "account_recovery.redeemed"
    SESSION_ENDED = "session.ended"
    CONSENT_GRANTED = "consent.granted"
    CONSENT_DENIED = "consent.denied"
    CONSENT_WITHDRAWN = "consent.withdrawn"
    TENANT_CREATED = "tenant.created"
    RATE_LIMIT_TRIPPED = "rate_limit.tripped"


# The line the log subscriber writes for each event type (the wording of the log lines before events).
LOG_TEXT: Final[Mapping[EventType, str]] = MappingProxyType(
    {
        EventType.CLIENT_CREATED: "client created",
        EventType.CLIENT_UPDATED: "client updated",
        EventType.CLIENT_DELETED: "client deleted",
        EventType.CLIENT_STATUS_CHANGED: "client status changed",
        EventType.TOKEN_REVOKED: "token revoked",
        EventType.TOKENS_MASS_REVOKED: "tokens issued until now revoked",
        EventType.REFRESH_FAMILY_REVOKED: "refresh token family revoked",
        EventType.REFRESH_REUSE_DETECTED: "refresh token reuse: family revoked",
        EventType.SIGNING_KEY_ROTATED: "signing key rotated",
        EventType.USER_SIGNED_IN: "sign-in",
        EventType.USER_STEPPED_UP: "sign-in: step-up",
        EventType.SIGN_IN_SECOND_FACTOR_NEEDED: "sign-in: second factor needed",
        EventType.SIGN_IN_REFUSED: "sign-in refused",
        EventType.SIGN_IN_THROTTLED: "sign-in rate limited",
        EventType.USER_CREATED: "user created",
        EventType.USER_PASSWORD_CHANGED: "password changed",
        EventType.USER_EMAIL_CHANGED: "email changed",
        EventType.USER_DISABLED: "user disabled",
        EventType.USER_ENABLED: "user enabled",
        EventType.USER_DELETED: "user deleted",
        EventType.PASSKEY_REGISTERED: "passkey registered",
        EventType.PASSKEY_RENAMED: "passkey renamed",
        EventType.PASSKEY_REMOVED: "passkey removed",
        EventType.PASSKEY_CLONE_SUSPECTED: "passkey counter did not increase: possible cloned credential",
        EventType.TOTP_ENROLLED: "authenticator app added",
        EventType.TOTP_REMOVED: "authenticator app removed",
        EventType.RECOVERY_CODES_GENERATED: "recovery codes generated",
        EventType.RECOVERY_CODES_REMOVED: "recovery codes removed",
        EventType.ACCOUNT_RECOVERY_ISSUED: "account recovery code issued",
        EventType.ACCOUNT_RECOVERY_REDEEMED: "account recovery code redeemed",
        EventType.SESSION_ENDED: "sign-out",
        EventType.CONSENT_GRANTED: "consent allow",
        EventType.CONSENT_DENIED: "consent deny",
        EventType.CONSENT_WITHDRAWN: "consent withdrawn",
        EventType.TENANT_CREATED: "tenant created",
        EventType.RATE_LIMIT_TRIPPED: "rate limit tripped",
    }
)
# Events that an operator should notice (logged as warnings).
WARNINGS: Final = frozenset(
    {EventType.REFRESH_REUSE_DETECTED, EventType.PASSKEY_CLONE_SUSPECTED, EventType.RATE_LIMIT_TRIPPED}
)
# Events published in process (the log line, metrics) but not written by recorders (the outbox, the audit
# log): one per refused attempt while a limit holds, so a flood of them must cost no write. The durable
# record of a limit is `rate_limit.tripped`, once per bucket that empties.
VOLATILE: Final = frozenset({EventType.SIGN_IN_THROTTLED})


class UnsafeEvent(ValueError):
    """An event that would carry a secret or personal data (see the module docstring): a bug, not input."""


_SECRET_KEYS: Final = frozenset(
    {
        "password", "passphrase", "secret", "client_secret", "token", "access_token", "refresh_token",
        "id_token", "code", "cookie", "authorization", "email", "e_mail", "ip", "ip_address", "remote_addr",
        "phone", "consent", "consent_string", "totp_secret", "private_key",
    }
)  # fmt: skip
_EMAIL: Final = re.compile(r"[^\s@<>]+@[^\s@<>]+\.[A-Za-z]{2,}")
_JWT: Final = re.compile(r"eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*\.")
_LONG_RUN: Final = re.compile(r"[A-Za-z0-9_-]{32,}")
_IP_CANDIDATE: Final = re.compile(r"[0-9A-Fa-f:.]*[.:][0-9A-Fa-f:.]+(?:%\w+)?")
_TOKEN_SPLIT: Final = re.compile(r"[\s,;=\[\]()/]+")
_PRINCIPAL_TYPES: Final = frozenset({"USR", "AGT", "SVC", "SYS"})


def _secret_looking(value: str) -> bool:
    for run in _LONG_RUN.findall(value):
        if any(c.isupper() for c in run) and any(c.islower() for c in run) and any(c.isdigit() for c in run):
            return True
    return False


def _holds_ip(value: str) -> bool:
    for part in _TOKEN_SPLIT.split(value):
        if _IP_CANDIDATE.fullmatch(part) is None:
            continue
        try:
            ipaddress.ip_address(part.split("%", 1)[0])
        except ValueError:
            continue
        return True
    return False


# Keys whose values are public digests that look like secrets: RFC 7638 key thumbprints (a `kid`, a DPoP
# `jkt`), RFC 8705 certificate thumbprints. Only the secret-looking check is skipped for them.
_THUMBPRINT_KEYS: Final = frozenset({"kid", "jkt", "x5t#S256"})


def unsafe_value(value: str, *, thumbprint: bool = False) -> str | None:
    """Why `value` may not be in an event (a short reason, never the value), or None when it may.
    A `thumbprint` (a public digest) is not held to the secret-looking check."""
    if "@" in value and _EMAIL.search(value):
        return "an e-mail address"
    if "eyJ" in value and _JWT.search(value):
        return "a JWT"
    if "-----BEGIN" in value:
        return "a PEM block"
    if not thumbprint and _secret_looking(value):
        return "a secret-looking string"
    if _holds_ip(value):
        return "an IP address"
    return None


def check_event(event: IdentityEvent) -> None:
    """Raise UnsafeEvent when `event` breaks the guard of the module docstring."""
    for key, value in event.metadata.items():
        if key.lower() in _SECRET_KEYS:
            raise UnsafeEvent(f"{event.type.value}: metadata key {key!r} names a secret or personal value")
        if not isinstance(value, str):
            raise UnsafeEvent(f"{event.type.value}: metadata {key!r} is not a string")
        reason = unsafe_value(value, thumbprint=key in _THUMBPRINT_KEYS)
        if reason is not None:
            raise UnsafeEvent(f"{event.type.value}: metadata {key!r} holds {reason}")
    for name, text in (("principal", event.principal), ("tenant_id", event.tenant_id)):
        if text is not None and (reason := unsafe_value(text)) is not None:
            raise UnsafeEvent(f"{event.type.value}: {name} holds {reason}")


@dataclass(frozen=True, slots=True)
class IdentityEvent:
    type: EventType
    tenant_id: str
    principal: str | None
    at: float
    _: KW_ONLY
    trace_id: str | None = None
    metadata: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    id: str = field(default_factory=lambda: str(uuid.uuid4()))

    def __post_init__(self) -> None:
        check_event(self)

    @property
    def principal_type(self) -> str | None:
        """USR, AGT, SVC or SYS, read off the principal's ΛID; None without a principal."""
        if self.principal is None:
            return None
        prefix = self.principal[:3]
        return prefix if prefix in _PRINCIPAL_TYPES else None

    @property
    def client_id(self) -> str | None:
        return self.metadata.get("client_id")

    def as_dict(self) -> dict[str, object]:
        """The event as plain data (the outbox row's payload, the NATS message, `events tail`)."""
        return {
            "id": self.id,
            "type": self.type.value,
            "time": self.at,
            "tenant": self.tenant_id,
            "principal": self.principal,
            "principal_type": self.principal_type,
            "client_id": self.client_id,
            "trace_id": self.trace_id,
            "metadata": dict(self.metadata),
        }
