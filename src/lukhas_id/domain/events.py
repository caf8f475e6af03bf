"""Identity events: what happened to a principal, a client, a token or a key, as typed records.

Services emit them inside their unit of work (ports/unit_of_work.py); they are handed to the event
sink only once the work's changes are committed, and dropped when it is rolled back. An event carries
no secret and nothing personal: no token, secret, password, code, e-mail address or IP address; the
principal is named by its ΛID, a client by its id, a token by its `jti` (never the token). `metadata`
is a small mapping of such identifiers and enum values, with only the keys its type's entry in
CATALOGUE lists (docs/events-reference.md is generated from it: `python -m
lukhas_id.domain.events_reference`). Its keys are never the name of a `logging.LogRecord` attribute
(`name`, `message`...): the log subscriber passes them as `extra`.
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
    CLIENT_SECRET_ROTATED = "client.secret_rotated"  # noqa: S105  (an event name)
    TOKEN_REVOKED = "token.revoked"  # noqa: S105  (an event name)
    TOKENS_MASS_REVOKED = "token.mass_revoked"  # noqa: S105  (an event name)
    REFRESH_FAMILY_REVOKED = "refresh_token.family_revoked"  # noqa: S105
    REFRESH_REUSE_DETECTED = "refresh_token.reuse_detected"  # noqa: S105
    SIGNING_KEY_ROTATED = "signing_key.rotated"
    SIGNING_KEY_IMPORTED = "signing_key.imported"
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


@dataclass(frozen=True, slots=True)
class EventSpec:
    """What one event type is: the log line its subscriber writes, what it means and who emits it (for the
    generated reference, docs/events-reference.md), the only metadata keys it may carry, and whether it
    is a warning (logged at warning level) or volatile (never handed to recorders: see VOLATILE)."""

    text: str
    about: str
    source: str
    keys: frozenset[str] = frozenset()
    warning: bool = False
    volatile: bool = False


def _spec(text: str, about: str, source: str, *keys: str, warning: bool = False, volatile: bool = False) -> EventSpec:
    return EventSpec(text, about, source, frozenset(keys), warning, volatile)


T = EventType
CATALOGUE: Final[Mapping[EventType, EventSpec]] = MappingProxyType(
    {
        T.CLIENT_CREATED: _spec("client created", "A client was registered.", "ClientService", "client_id"),
        T.CLIENT_UPDATED: _spec("client updated", "A client's settings changed.", "ClientService", "client_id"),
        T.CLIENT_DELETED: _spec(
            "client deleted", "A client was deleted (its tokens were revoked first).", "ClientService", "client_id"
        ),
        T.CLIENT_STATUS_CHANGED: _spec(
            "client status changed",
            "A client was disabled or enabled (`status`: `disabled`, `active`).",
            "ClientService.set_status",
            "client_id",
            "status",
        ),
        T.TOKEN_REVOKED: _spec(
            "token revoked",
            "One access token was revoked by its client (RFC 7009); `jti` names it, never the token.",
            "TokenService.revoke_access_token",
            "client_id",
            "jti",
        ),
        T.TOKENS_MASS_REVOKED: _spec(
            "tokens issued until now revoked",
            "Every token of a client (`kind` `client`, with `client_id`) or of a subject (`kind` `subject`: the "
            "principal) issued up to `not_before` (epoch seconds) became inactive.",
            "TokenService.revoke_all (`lukhas-id revoke`, user disable and delete, client delete)",
            "kind",
            "client_id",
            "not_before",
        ),
        T.REFRESH_FAMILY_REVOKED: _spec(
            "refresh token family revoked",
            "A refresh token and every token rotated from it were revoked.",
            "RefreshTokenService",
            "client_id",
        ),
        T.REFRESH_REUSE_DETECTED: _spec(
            "refresh token reuse: family revoked",
            "A rotated-out refresh token was presented again (RFC 9700 §4.14.2): its whole family was revoked.",
            "RefreshTokenService",
            "client_id",
            warning=True,
        ),
        T.SIGNING_KEY_ROTATED: _spec(
            "signing key rotated",
            "A tenant's signing keys rotated; `kid` and `alg` name the new active key.",
            "KeyService.rotate (the CLI and the maintenance pass)",
            "alg",
            "kid",
        ),
        T.USER_SIGNED_IN: _spec(
            "sign-in",
            "A user signed in and a session started (`sid` is the session's public id, as in ID tokens; "
            "`method` the factor, `amr` and `acr` as in ID tokens).",
            "SignInService",
            "method",
            "sid",
            "amr",
            "acr",
        ),
        T.USER_STEPPED_UP: _spec(
            "sign-in: step-up",
            "A signed-in session was raised to a higher authentication level (`previous_acr`: its level before).",
            "SignInService",
            "method",
            "sid",
            "amr",
            "acr",
            "previous_acr",
        ),
        T.SIGN_IN_SECOND_FACTOR_NEEDED: _spec(
            "sign-in: second factor needed",
            "A right password for a user with a second factor: the second step is pending.",
            "SignInService",
            "method",
        ),
        T.SIGN_IN_REFUSED: _spec(
            "sign-in refused",
            "A sign-in attempt failed (`reason`: `missing`, `wrong`, `expired`, `finished`; `detail` a WebAuthn "
            "reason code). No principal: a failed attempt names nobody.",
            "SignInService",
            "method",
            "reason",
            "detail",
        ),
        T.SIGN_IN_THROTTLED: _spec(
            "sign-in rate limited",
            "A sign-in attempt refused while a limit holds. Volatile: logged and counted, never recorded.",
            "SignInService",
            "method",
            volatile=True,
        ),
        T.USER_CREATED: _spec("user created", "A user was created.", "UserService"),
        T.USER_PASSWORD_CHANGED: _spec("password changed", "A user's password was set or changed.", "UserService"),
        T.USER_EMAIL_CHANGED: _spec(
            "email changed",
            "A user's e-mail address was set or removed (`change`: `set`, `removed`; never the address).",
            "UserService.change_email",
            "change",
        ),
        T.USER_DISABLED: _spec(
            "user disabled", "A user was disabled (sessions, refresh and access tokens ended).", "UserService"
        ),
        T.USER_ENABLED: _spec("user enabled", "A disabled user was enabled again.", "UserService"),
        T.USER_DELETED: _spec(
            "user deleted",
            "A user and their factors were deleted; `sessions` and `refresh_families` say how many were ended.",
            "UserAdministration.delete",
            "sessions",
            "refresh_families",
        ),
        T.PASSKEY_REGISTERED: _spec(
            "passkey registered",
            "A passkey was added (`handle`: a keyed hash, not the credential id).",
            "PasskeyService",
            "handle",
        ),
        T.PASSKEY_RENAMED: _spec("passkey renamed", "A passkey was renamed.", "PasskeyService", "handle"),
        T.PASSKEY_REMOVED: _spec("passkey removed", "A passkey was removed.", "PasskeyService", "handle"),
        T.PASSKEY_CLONE_SUSPECTED: _spec(
            "passkey counter did not increase: possible cloned credential",
            "An assertion's signature counter did not increase (WebAuthn §6.1.1): possibly a cloned authenticator.",
            "PasskeyService",
            "handle",
            warning=True,
        ),
        T.TOTP_ENROLLED: _spec("authenticator app added", "An authenticator app (TOTP) was confirmed.", "TotpService"),
        T.TOTP_REMOVED: _spec("authenticator app removed", "An authenticator app was removed.", "TotpService"),
        T.RECOVERY_CODES_GENERATED: _spec(
            "recovery codes generated", "A new set of `count` recovery codes.", "RecoveryCodeService", "count"
        ),
        T.RECOVERY_CODES_REMOVED: _spec(
            "recovery codes removed", "The `count` unused recovery codes were removed.", "RecoveryCodeService", "count"
        ),
        T.ACCOUNT_RECOVERY_ISSUED: _spec(
            "account recovery code issued",
            "An administrator issued an account recovery code.",
            "AccountRecoveryService",
        ),
        T.ACCOUNT_RECOVERY_REDEEMED: _spec(
            "account recovery code redeemed", "An account recovery code was used.", "AccountRecoveryService"
        ),
        T.SESSION_ENDED: _spec(
            "sign-out",
            "Sessions ended (`reason` `logout` with the session's `sid`, or `everywhere` with their `count`).",
            "LogoutService",
            "reason",
            "sid",
            "count",
        ),
        T.CONSENT_GRANTED: _spec(
            "consent allow", "A user granted a client the `scope`.", "AuthorizationService.decide", "client_id", "scope"
        ),
        T.CONSENT_DENIED: _spec(
            "consent deny", "A user refused a client the `scope`.", "AuthorizationService.decide", "client_id", "scope"
        ),
        T.CONSENT_WITHDRAWN: _spec(
            "consent withdrawn", "A user withdrew a client's consent.", "LogoutService.withdraw", "client_id"
        ),
        T.TENANT_CREATED: _spec(
            "tenant created",
            "A tenant was created with its first signing keys.",
            "TenantService.create",
            "tenant_name",
            "alg",
        ),
        T.RATE_LIMIT_TRIPPED: _spec(
            "rate limit tripped",
            "A limit tripped, once per bucket that empties: `limit` `sign_in` (with `method`) or `client_auth` "
            "(with `client_id` when the client exists; a made-up id is never written).",
            "SignInService, ClientAuthentication",
            "limit",
            "method",
            "client_id",
            warning=True,
        ),
        T.CLIENT_SECRET_ROTATED: _spec(
            "client secret rotated",
            "A client's secret was replaced; the previous one stays accepted for `overlap` seconds.",
            "ClientService.rotate_secret (`lukhas-id client rotate-secret`)",
            "client_id",
            "overlap",
        ),
        T.SIGNING_KEY_IMPORTED: _spec(
            "signing key imported",
            "An operator's private key was imported as the tenant's `next` signing key (`kid`, `alg`).",
            "KeyService.import_key (`lukhas-id keys import`)",
            "alg",
            "kid",
        ),
    }
)
del T

# The line the log subscriber writes for each event type (the wording of the log lines before events).
LOG_TEXT: Final[Mapping[EventType, str]] = MappingProxyType({t: s.text for t, s in CATALOGUE.items()})
# Events that an operator should notice (logged as warnings).
WARNINGS: Final = frozenset(t for t, s in CATALOGUE.items() if s.warning)
# Events published in process (the log line, metrics) but not written by recorders (the outbox, the audit
# log): one per refused attempt while a limit holds, so a flood of them must cost no write. The durable
# record of a limit is `rate_limit.tripped`, once per bucket that empties.
VOLATILE: Final = frozenset(t for t, s in CATALOGUE.items() if s.volatile)


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
    allowed = CATALOGUE[event.type].keys
    for key, value in event.metadata.items():
        if key.lower() in _SECRET_KEYS:
            raise UnsafeEvent(f"{event.type.value}: metadata key {key!r} names a secret or personal value")
        if key not in allowed:
            raise UnsafeEvent(f"{event.type.value}: metadata key {key!r} is not one of its type's keys")
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

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> IdentityEvent:
        """The event `as_dict` made (an outbox row's payload); ValueError for an unknown type or a value of
        the wrong kind, UnsafeEvent when it breaks the guard."""
        metadata = data.get("metadata") or {}
        time, tenant = data.get("time"), data.get("tenant")
        principal, trace, ident = data.get("principal"), data.get("trace_id"), data.get("id")
        if not isinstance(metadata, Mapping) or not isinstance(time, int | float) or not isinstance(tenant, str):
            raise ValueError("not an identity event")
        if not isinstance(ident, str) or not all(isinstance(v, str | None) for v in (principal, trace)):
            raise ValueError("not an identity event")
        return cls(
            EventType(str(data.get("type"))),
            tenant,
            principal if isinstance(principal, str) else None,
            float(time),
            trace_id=trace if isinstance(trace, str) else None,
            metadata=dict(metadata),
            id=ident,
        )

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
