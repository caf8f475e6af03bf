"""Refresh-token families: RFC 6749 §6, OAuth 2.1 §4.3, RFC 9700 §4.14.2 (rotation with reuse detection).

A family is everything issued from one grant (for a code: `family_id` is the code's grant id). Each
refresh turns the presented token into its successor (generation + 1); only the newest is active.

```mermaid
stateDiagram-v2
    [*] --> active: create / rotate (successor)
    active --> rotated: rotate (ROTATED)
    rotated --> rotated: presented again within the client's grace window (GRACE: same successor)
    rotated --> revoked: presented again past the window (REUSE: the whole family)
    active --> revoked: revoke_family / revoke_for_session / RFC 7009
    revoked --> [*]: expires_at (absolute family lifetime)
```
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


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
    expires_at: float  # absolute lifetime of the family (the service adds an idle expiry: issued_at)
    generation: int = 0
    rotated_at: float | None = None  # None: this token is the family's active one
    # When this token was issued (the family's creation, or its predecessor's rotation); filled by
    # RefreshTokenStore.get, None when not known (the records in RotateResult leave it out).
    issued_at: float | None = None


class RotateOutcome(StrEnum):
    ROTATED = "rotated"  # the token was active: it is now rotated and its successor is active
    GRACE = "grace"  # rotated less than `grace` seconds ago: the same successor again
    REUSE = "reuse"  # rotated earlier, or the family was revoked: the family is (now) revoked
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
