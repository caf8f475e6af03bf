"""SET event types ΛiD transmits: OpenID SSF 1.0 §8.1.4.1 and §8.1.5, CAEP 1.0 §3, RISC 1.0 §2.

`SUPPORTED` is the stream configuration's `events_supported` (SSF §8.1.1): every event type ΛiD can
send, in a stable order. Verification and stream-updated are about the stream itself: they are sent on
every stream whatever it requested (SSF §8.1.4 and §8.1.5 allow it).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final

_SSF: Final = "https://schemas.openid.net/secevent/ssf/event-type/"
_CAEP: Final = "https://schemas.openid.net/secevent/caep/event-type/"
_RISC: Final = "https://schemas.openid.net/secevent/risc/event-type/"


class SetEvent(StrEnum):
    VERIFICATION = _SSF + "verification"
    STREAM_UPDATED = _SSF + "stream-updated"
    SESSION_REVOKED = _CAEP + "session-revoked"
    CREDENTIAL_CHANGE = _CAEP + "credential-change"
    TOKEN_CLAIMS_CHANGE = _CAEP + "token-claims-change"  # noqa: S105 (an event type URI)
    ASSURANCE_LEVEL_CHANGE = _CAEP + "assurance-level-change"
    ACCOUNT_DISABLED = _RISC + "account-disabled"
    ACCOUNT_ENABLED = _RISC + "account-enabled"
    ACCOUNT_PURGED = _RISC + "account-purged"
    CREDENTIAL_COMPROMISE = _RISC + "credential-compromise"


CONTROL: Final = frozenset({SetEvent.VERIFICATION, SetEvent.STREAM_UPDATED})
SUPPORTED: Final[tuple[str, ...]] = tuple(e.value for e in SetEvent)


def delivered(requested: tuple[str, ...] | None) -> tuple[str, ...]:
    """SSF §8.1.1 `events_delivered`: the supported events the receiver requested (values ΛiD does not know
    are ignored, as the spec asks), in SUPPORTED's order; every supported event when it requested none."""
    if requested is None:
        return SUPPORTED
    wanted = set(requested)
    return tuple(e for e in SUPPORTED if e in wanted)
