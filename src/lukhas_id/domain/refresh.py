"""Refresh-token families: RFC 6749 §6, OAuth 2.1 §4.3, RFC 9700 §4.14.2 (rotation with reuse detection).

A family is everything issued from one grant (for a code: `family_id` is the code's grant id). Each
refresh turns the presented token into its successor (generation + 1); only the newest is active.

```mermaid
stateDiagram-v2
    [*] --> active: create / rotate (successor)
    active --> rotated: rotate (ROTATED)
    active --> active: presented after the idle time (EXPIRED: refused, nothing written)
    rotated --> rotated: presented again within the client's grace window (GRACE: same successor)
    rotated --> revoked: presented again past the window (REUSE: the whole family)
    active --> revoked: revoke_family / revoke_for_session / RFC 7009
    revoked --> [*]: expires_at (absolute family lifetime)
```

`decide_rotation` is the one statement of these rules: the memory and SQL stores call it under their lock,
and the Redis store's Lua script (adapters/redis/refresh.py) mirrors it step for step;
tests/contract/test_refresh_store.py drives one table of cases through the function and every store.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import ClassVar


@dataclass(frozen=True, slots=True)
class RefreshTokenRecord:
    """What a refresh token grants. Family data is shared by every generation; `generation` and
    `rotated_at` are the presented token's own."""

    tenant_id: str
    family_id: str
    client_id: str
    user_lid: str
    scope: tuple[str, ...]
    sid: str | None
    auth_time: int
    acr: str | None
    amr: tuple[str, ...]
    resources: tuple[str, ...]
    created_at: float  # when the family was created
    expires_at: float  # absolute lifetime of the family (an unused active token also expires: issued_at)
    generation: int = 0
    rotated_at: float | None = None  # None: this token is the family's active one
    # When this token was issued (the family's creation, or its predecessor's rotation); filled by
    # RefreshTokenStore.get, None when not known (the records in RotateResult leave it out).
    issued_at: float | None = None


class RotateOutcome(StrEnum):
    ROTATED = "rotated"  # the token was active: it is now rotated and its successor is active
    GRACE = "grace"  # rotated less than `grace` seconds ago: the same successor again
    REUSE = "reuse"  # rotated earlier, or the family was revoked: the family is (now) revoked
    EXPIRED = "expired"  # the active token was not used within the idle time: refused, nothing written
    UNKNOWN = "unknown"  # no such token, or its family expired


@dataclass(frozen=True, slots=True)
class RotateResult:
    outcome: RotateOutcome
    # The presented token's record (None when UNKNOWN).
    record: RefreshTokenRecord | None = None
    # ROTATED / GRACE: the successor's hash and generation.
    successor_hash: str | None = None
    successor_generation: int = 0
    # The family's newest generation (REUSE: every generation's access tokens are to be revoked).
    latest_generation: int = 0


# --- the rotation decision -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StoredToken:
    """What a store keeps of the presented token (one generation of its family)."""

    generation: int
    issued_at: float | None  # None: not recorded (then the token has no idle expiry)
    rotated_at: float | None = None  # None: the family's active token
    successor_hash: str | None = None  # the hash it was rotated to


@dataclass(frozen=True, slots=True)
class StoredFamily:
    """What a store keeps of the presented token's family."""

    generation: int  # the newest generation
    expires_at: float
    revoked: bool = False


@dataclass(frozen=True, slots=True)
class Rotate:
    """Write: the presented token is rotated at `at` to `successor_hash`; the successor, generation `generation`
    issued at `at`, becomes the family's active token and newest generation."""

    successor_hash: str
    generation: int
    at: float
    outcome: ClassVar[RotateOutcome] = RotateOutcome.ROTATED

    def result(self, record: RefreshTokenRecord | None) -> RotateResult:
        return RotateResult(self.outcome, record, self.successor_hash, self.generation, self.generation)


@dataclass(frozen=True, slots=True)
class GraceReplay:
    """Nothing written: the successor the token was rotated to is given back (a tolerated replay)."""

    successor_hash: str | None
    generation: int  # the successor's
    latest_generation: int
    outcome: ClassVar[RotateOutcome] = RotateOutcome.GRACE

    def result(self, record: RefreshTokenRecord | None) -> RotateResult:
        return RotateResult(self.outcome, record, self.successor_hash, self.generation, self.latest_generation)


@dataclass(frozen=True, slots=True)
class Reuse:
    """Write: the family is revoked (again, when it already was); every generation up to `latest_generation`
    had access tokens, which the service revokes."""

    latest_generation: int
    outcome: ClassVar[RotateOutcome] = RotateOutcome.REUSE

    def result(self, record: RefreshTokenRecord | None) -> RotateResult:
        return RotateResult(self.outcome, record, latest_generation=self.latest_generation)


@dataclass(frozen=True, slots=True)
class Expired:
    """Nothing written: the active token was not used within the idle time (OAuth 2.1 §4.3.3)."""

    outcome: ClassVar[RotateOutcome] = RotateOutcome.EXPIRED

    def result(self, record: RefreshTokenRecord | None) -> RotateResult:
        return RotateResult(self.outcome, record)


@dataclass(frozen=True, slots=True)
class Unknown:
    """Nothing written: no such token (in this tenant), or its family outlived its absolute lifetime (a store
    that expires entries itself cannot tell the two apart)."""

    outcome: ClassVar[RotateOutcome] = RotateOutcome.UNKNOWN

    def result(self, record: RefreshTokenRecord | None) -> RotateResult:
        return RotateResult(self.outcome)


RotationDecision = Rotate | GraceReplay | Reuse | Expired | Unknown


def idle_expired(issued_at: float | None, now: float, idle: float | None) -> bool:
    """An active token issued at `issued_at` is refused from `idle` seconds later (OAuth 2.1 §4.3.3); no idle
    time, or no recorded issue time: never."""
    return idle is not None and issued_at is not None and now - issued_at >= idle


def decide_rotation(
    token: StoredToken | None,
    family: StoredFamily | None,
    *,
    successor_hash: str,
    now: float,
    grace: float,
    idle: float | None = None,
) -> RotationDecision:
    """What presenting a refresh token at `now` does (RFC 9700 §4.14.2; the port: RefreshTokenStore.rotate).

    In this order: unknown, or a family past its `expires_at` (at exactly `expires_at` included): Unknown. A
    revoked family: Reuse. The active token: Expired when `idle_expired`, else Rotate to `successor_hash`. A
    rotated token: GraceReplay when `grace` > 0 and `now` is less than `grace` seconds after its rotation (also
    when `now` is before it: another process's clock), else Reuse. A rotated token has no idle expiry: however
    old, presenting it again is reuse.
    """
    if token is None or family is None or family.expires_at <= now:
        return Unknown()
    if family.revoked:
        return Reuse(family.generation)
    if token.rotated_at is None:
        if idle_expired(token.issued_at, now, idle):
            return Expired()
        return Rotate(successor_hash, token.generation + 1, now)
    if grace > 0 and now - token.rotated_at < grace:
        return GraceReplay(token.successor_hash, token.generation + 1, family.generation)
    return Reuse(family.generation)
