"""SET delivery rules: RFC 8935 (push) §2.2-§2.4, RFC 8936 (poll) §2.4, and the SET itself (RFC 8417 §2.2,
OpenID SSF 1.0 §4.1).

Push: 202 Accepted is delivered; 400 with an RFC 8935 §2.3 error body (`err`, `description`) is refused for
good (the receiver will not take this SET, sending it again would not help); anything else (another status,
a 400 without that body, a network failure, a timeout) is tried again after an exponentially growing delay,
until `max_attempts` or `max_age` is reached. Poll: the request's `ack`, `setErrs`, `maxEvents` and
`returnImmediately` (RFC 8936 §2.4), and its answer `{"sets": {...}, "moreAvailable": ...}`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any, Final

from lukhas_id.protocol.ssf.streams import SsfError

SET_MEDIA_TYPE: Final = "application/secevent+jwt"
MAX_DELAY: Final = 3600.0
MAX_EVENTS: Final = 100  # a poll's answer holds at most this many SETs
MAX_ACKS: Final = 1000
MAX_ERR_TEXT: Final = 256


def set_claims(
    *,
    iss: str,
    aud: str,
    jti: str,
    iat: int,
    txn: str | None,
    sub_id: Mapping[str, str],
    event: str,
    payload: Mapping[str, object],
) -> dict[str, object]:
    """RFC 8417 §2.2 claims with SSF §4.1's profile: `sub_id`, no `sub`, no `exp`, one event (§4.2.1)."""
    claims: dict[str, object] = {"iss": iss, "aud": aud, "jti": jti, "iat": iat, "sub_id": dict(sub_id)}
    if txn is not None:
        claims["txn"] = txn
    claims["events"] = {event: dict(payload)}
    return claims


class PushOutcome(Enum):
    DELIVERED = "delivered"
    REFUSED = "refused"  # permanent: not retried
    RETRY = "retry"


def push_outcome(status: int, body: bytes) -> tuple[PushOutcome, str | None]:
    """What a receiver's answer means (module docstring), and its RFC 8935 §2.3 `err` code when it gave one."""
    if status == 202:
        return PushOutcome.DELIVERED, None
    if status == 400:
        try:
            doc = json.loads(body)
        except ValueError:
            doc = None
        if isinstance(doc, dict) and isinstance(doc.get("err"), str):
            return PushOutcome.REFUSED, _safe(doc["err"])
    return PushOutcome.RETRY, None


def retry_delay(attempts: int, base: float) -> float:
    """The delay before attempt `attempts + 1`: base, 2 base, 4 base... at most an hour."""
    return float(min(MAX_DELAY, base * (2 ** max(0, attempts - 1))))


def give_up(attempts: int, age: float, *, max_attempts: int, max_age: float) -> bool:
    return attempts >= max_attempts or age >= max_age


def _safe(text: str) -> str:
    return "".join(c if c.isascii() and c.isprintable() else "?" for c in text[:MAX_ERR_TEXT])


@dataclass(frozen=True, slots=True)
class PollRequest:
    max_events: int
    return_immediately: bool
    acks: tuple[str, ...]
    errors: Mapping[str, tuple[str, str]]  # jti -> (err, description): RFC 8936 §2.4.4


def parse_poll(doc: Mapping[str, Any]) -> PollRequest:
    """RFC 8936 §2.4: every member optional; maxEvents 0 acknowledges without asking for SETs."""
    max_events = doc.get("maxEvents", MAX_EVENTS)
    if not isinstance(max_events, int) or isinstance(max_events, bool) or max_events < 0:
        raise SsfError.invalid("maxEvents must be a non-negative integer")
    immediately = doc.get("returnImmediately", False)
    if not isinstance(immediately, bool):
        raise SsfError.invalid("returnImmediately must be a boolean")
    acks = doc.get("ack", [])
    if not isinstance(acks, list) or not all(isinstance(a, str) and a for a in acks) or len(acks) > MAX_ACKS:
        raise SsfError.invalid(f"ack must be an array of at most {MAX_ACKS} jti strings")
    raw_errors = doc.get("setErrs", {})
    if not isinstance(raw_errors, dict) or len(raw_errors) > MAX_ACKS:
        raise SsfError.invalid("setErrs must be an object of jti to {err, description}")
    errors: dict[str, tuple[str, str]] = {}
    for jti, value in raw_errors.items():
        if not isinstance(value, dict) or not isinstance(value.get("err"), str):
            raise SsfError.invalid("each setErrs value must be an object with an err string")
        description = value.get("description", "")
        if not isinstance(description, str):
            raise SsfError.invalid("a setErrs description must be a string")
        errors[jti] = (_safe(value["err"]), _safe(description))
    return PollRequest(min(max_events, MAX_EVENTS), immediately, tuple(dict.fromkeys(acks)), errors)


def poll_answer(sets: Mapping[str, str], more: bool) -> dict[str, Any]:
    """RFC 8936 §2.5: the SETs by jti, and whether more wait."""
    return {"sets": dict(sets), "moreAvailable": more}
