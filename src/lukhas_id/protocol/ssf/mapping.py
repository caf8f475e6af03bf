"""Which SETs an identity event becomes: CAEP 1.0 §3, RISC 1.0 §2 (docs/ssf.md has the table and the why).

`signals(event)` is pure: each `Signal` is one SET's event type and payload about the event's principal
(SSF §4.2.1: one event per SET; several SETs of one identity event share its `txn`). The subject itself
is made per stream (the receiving client's view of `sub`: services/ssf_delivery.py). Nothing personal is
copied: a changed e-mail address becomes a token-claims-change of `updated_at`, never the address.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

from lukhas_id.domain.events import EventType, IdentityEvent
from lukhas_id.protocol.ssf.events import SetEvent

# Another helper adds this event type; it is mapped by its value so that this module needs nothing new.
CLIENT_SECRET_ROTATED: Final = "client.secret_rotated"  # noqa: S105 (an event name)
# CAEP 1.0 §3.3 allows credential types agreed between the parties beyond its list: these are ΛiD's.
RECOVERY_CODE: Final = "recovery-code"
CLIENT_SECRET: Final = "client-secret"  # noqa: S105 (a credential type name)
REFRESH_TOKEN: Final = "refresh-token"  # noqa: S105 (a credential type name)
PASSKEY: Final = "fido2-platform"  # a passkey: ΛiD does not record the attachment, passkeys are mostly platform
# CAEP 1.0 §3.4 namespace of `acr` values (an alias agreed with the receiver: the issuer's acr_values_supported).
ACR_NAMESPACE: Final = "acr"


@dataclass(frozen=True, slots=True)
class Signal:
    event: SetEvent
    payload: Mapping[str, object]
    principal: str  # the ΛID the SET is about


def _timestamp(event: IdentityEvent) -> dict[str, object]:
    return {"event_timestamp": int(event.at)}


def _credential(kind: str, change: str) -> Callable[[IdentityEvent], dict[str, object]]:
    return lambda e: {"credential_type": kind, "change_type": change, **_timestamp(e)}


def _compromise(kind: str) -> Callable[[IdentityEvent], dict[str, object]]:
    return lambda e: {"credential_type": kind, **_timestamp(e)}


def _session_revoked(event: IdentityEvent) -> dict[str, object]:
    payload = _timestamp(event)
    if event.metadata.get("reason") == "logout":
        payload["initiating_entity"] = "user"
    return payload


def _assurance(event: IdentityEvent) -> dict[str, object] | None:
    """CAEP §3.4.1: `namespace` and `current_level` (REQUIRED); `previous_level` when known, and then
    `change_direction` (SHOULD). A step-up that leaves the level where it was (a session at `mfa` confirming
    again) changes no assurance level: no SET."""
    acr, previous = event.metadata.get("acr"), event.metadata.get("previous_acr")
    if not acr or acr == previous:
        return None
    payload: dict[str, object] = {"namespace": ACR_NAMESPACE, "current_level": acr}
    if previous:
        payload |= {"previous_level": previous, "change_direction": "increase"}  # a step-up only raises
    return payload | _timestamp(event)


def _claims_change(event: IdentityEvent) -> dict[str, object]:
    return {"claims": {"updated_at": int(event.at)}, **_timestamp(event)}


def _empty(event: IdentityEvent) -> dict[str, object]:
    return {}


Payload = Callable[[IdentityEvent], dict[str, object] | None]

TABLE: Final[Mapping[str, tuple[tuple[SetEvent, Payload], ...]]] = MappingProxyType(
    {
        EventType.SESSION_ENDED.value: ((SetEvent.SESSION_REVOKED, _session_revoked),),
        EventType.USER_PASSWORD_CHANGED.value: ((SetEvent.CREDENTIAL_CHANGE, _credential("password", "update")),),
        EventType.PASSKEY_REGISTERED.value: ((SetEvent.CREDENTIAL_CHANGE, _credential(PASSKEY, "create")),),
        EventType.PASSKEY_REMOVED.value: ((SetEvent.CREDENTIAL_CHANGE, _credential(PASSKEY, "delete")),),
        EventType.TOTP_ENROLLED.value: ((SetEvent.CREDENTIAL_CHANGE, _credential("app", "create")),),
        EventType.TOTP_REMOVED.value: ((SetEvent.CREDENTIAL_CHANGE, _credential("app", "delete")),),
        EventType.RECOVERY_CODES_GENERATED.value: ((SetEvent.CREDENTIAL_CHANGE, _credential(RECOVERY_CODE, "create")),),
        EventType.RECOVERY_CODES_REMOVED.value: ((SetEvent.CREDENTIAL_CHANGE, _credential(RECOVERY_CODE, "delete")),),
        CLIENT_SECRET_ROTATED: ((SetEvent.CREDENTIAL_CHANGE, _credential(CLIENT_SECRET, "update")),),
        EventType.USER_EMAIL_CHANGED.value: ((SetEvent.TOKEN_CLAIMS_CHANGE, _claims_change),),
        EventType.USER_STEPPED_UP.value: ((SetEvent.ASSURANCE_LEVEL_CHANGE, _assurance),),
        EventType.USER_DISABLED.value: ((SetEvent.ACCOUNT_DISABLED, _empty),),
        EventType.USER_ENABLED.value: ((SetEvent.ACCOUNT_ENABLED, _empty),),
        EventType.USER_DELETED.value: ((SetEvent.ACCOUNT_PURGED, _empty),),
        EventType.PASSKEY_CLONE_SUSPECTED.value: ((SetEvent.CREDENTIAL_COMPROMISE, _compromise(PASSKEY)),),
        EventType.REFRESH_REUSE_DETECTED.value: ((SetEvent.CREDENTIAL_COMPROMISE, _compromise(REFRESH_TOKEN)),),
    }
)


def signals(event: IdentityEvent) -> tuple[Signal, ...]:
    """The SETs `event` becomes (none for an event without a principal or without a mapping)."""
    rows = TABLE.get(event.type.value)
    if not rows or event.principal is None:
        return ()
    out: list[Signal] = []
    for kind, payload in rows:
        made = payload(event)
        if made is not None:
            out.append(Signal(kind, MappingProxyType(made), event.principal))
    return tuple(out)
