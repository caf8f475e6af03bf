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

from collections.abc import Mapping
from dataclasses import dataclass, field
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


# The line the log subscriber writes for each event type (the wording of the log lines before events).
LOG_TEXT: Final[Mapping[EventType, str]] = MappingProxyType(
    {
        EventType.CLIENT_CREATED: "client created",
        EventType.CLIENT_UPDATED: "client updated",
        EventType.CLIENT_DELETED: "client deleted",
        EventType.CLIENT_STATUS_CHANGED: "client status changed",
        EventType.CLIENT_SECRET_ROTATED: "client secret rotated",
        EventType.TOKEN_REVOKED: "token revoked",
        EventType.REFRESH_FAMILY_REVOKED: "refresh token family revoked",
        EventType.REFRESH_REUSE_DETECTED: "refresh token reuse: family revoked",
        EventType.SIGNING_KEY_ROTATED: "signing key rotated",
        EventType.SIGNING_KEY_IMPORTED: "signing key imported",
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
    }
)
# Events that an operator should notice (logged as warnings).
WARNINGS: Final = frozenset({EventType.REFRESH_REUSE_DETECTED, EventType.PASSKEY_CLONE_SUSPECTED})


@dataclass(frozen=True, slots=True)
class IdentityEvent:
    type: EventType
    tenant_id: str
    principal: str | None
    at: float
    trace_id: str | None = None
    metadata: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
