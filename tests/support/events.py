"""Recording identity events in tests, and checking that none carries more than identifiers.

`ALLOWED_METADATA` is the allow-list of metadata keys per event type (docs/architecture.md has the same
table); `assert_clean` checks recorded events against it and against the private values of a test.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Final

from lukhas_id.domain.events import EventType, IdentityEvent
from tests.support.harness import Harness

ALLOWED_METADATA: Final[dict[EventType, frozenset[str]]] = {
    EventType.CLIENT_CREATED: frozenset({"client_id"}),
    EventType.CLIENT_UPDATED: frozenset({"client_id"}),
    EventType.CLIENT_DELETED: frozenset({"client_id"}),
    EventType.CLIENT_STATUS_CHANGED: frozenset({"client_id", "status"}),
    EventType.CLIENT_SECRET_ROTATED: frozenset({"client_id", "overlap"}),
    EventType.TOKEN_REVOKED: frozenset({"client_id", "jti"}),
    EventType.REFRESH_FAMILY_REVOKED: frozenset({"client_id"}),
    EventType.REFRESH_REUSE_DETECTED: frozenset({"client_id"}),
    EventType.SIGNING_KEY_ROTATED: frozenset({"alg", "kid"}),
    EventType.SIGNING_KEY_IMPORTED: frozenset({"alg", "kid"}),
    EventType.USER_SIGNED_IN: frozenset({"method", "sid", "amr", "acr"}),
    EventType.USER_STEPPED_UP: frozenset({"method", "sid", "amr", "acr"}),
    EventType.SIGN_IN_SECOND_FACTOR_NEEDED: frozenset({"method"}),
    EventType.SIGN_IN_REFUSED: frozenset({"method", "reason", "detail"}),
    EventType.SIGN_IN_THROTTLED: frozenset({"method"}),
    EventType.USER_CREATED: frozenset(),
    EventType.USER_PASSWORD_CHANGED: frozenset(),
    EventType.USER_EMAIL_CHANGED: frozenset({"change"}),
    EventType.USER_DISABLED: frozenset(),
    EventType.USER_ENABLED: frozenset(),
    EventType.USER_DELETED: frozenset({"sessions", "refresh_families"}),
    EventType.PASSKEY_REGISTERED: frozenset({"handle"}),
    EventType.PASSKEY_RENAMED: frozenset({"handle"}),
    EventType.PASSKEY_REMOVED: frozenset({"handle"}),
    EventType.PASSKEY_CLONE_SUSPECTED: frozenset({"handle"}),
    EventType.TOTP_ENROLLED: frozenset(),
    EventType.TOTP_REMOVED: frozenset(),
    EventType.RECOVERY_CODES_GENERATED: frozenset({"count"}),
    EventType.RECOVERY_CODES_REMOVED: frozenset({"count"}),
    EventType.ACCOUNT_RECOVERY_ISSUED: frozenset(),
    EventType.ACCOUNT_RECOVERY_REDEEMED: frozenset(),
    EventType.SESSION_ENDED: frozenset({"reason", "sid", "count"}),
    EventType.CONSENT_GRANTED: frozenset({"client_id", "scope"}),
    EventType.CONSENT_DENIED: frozenset({"client_id", "scope"}),
    EventType.CONSENT_WITHDRAWN: frozenset({"client_id"}),
    EventType.TENANT_CREATED: frozenset({"tenant_name", "alg"}),
}

_EMAIL: Final = re.compile(r"[^\s@]+@[^\s@]+")
_JWT: Final = re.compile(r"eyJ[A-Za-z0-9_-]+\.")


def recorder(h: Harness) -> list[IdentityEvent]:
    """Every event the harness's server publishes from now on, in order."""
    seen: list[IdentityEvent] = []

    async def record(event: IdentityEvent) -> None:
        seen.append(event)

    h.c.events.subscribe(record)
    return seen


def of(seen: Iterable[IdentityEvent], *kinds: EventType) -> list[IdentityEvent]:
    return [e for e in seen if e.type in kinds]


def assert_clean(seen: Iterable[IdentityEvent], *private: str) -> None:
    """Each event's metadata keys are in its type's allow-list, no value looks like an e-mail address or
    a JWT, and none of `private` (usernames, addresses, passwords, codes, tokens, credential ids) appears
    anywhere in the event."""
    for event in seen:
        assert set(event.metadata) <= ALLOWED_METADATA[event.type], event
        text = repr(event)
        assert not _EMAIL.search(text) and not _JWT.search(text), event
        for value in private:
            assert value and value not in text, (value, event)
