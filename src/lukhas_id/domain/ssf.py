"""Shared Signals streams and queued Security Event Tokens: OpenID SSF 1.0 §8.1.1 (stream configuration),
§8.1.2 (status), RFC 8935 / RFC 8936 (delivery methods).

A stream belongs to one OAuth client of one tenant (the receiver); its SETs wait in a durable queue
(adapters/sql/ssf.py) until delivered (push: the receiver answered 202; poll: the receiver acknowledged)
or given up. A queued SET keeps its claims, not a signature: it is signed when it is sent, with the
tenant's key of the moment (a SET waiting through a key rotation still verifies).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum


class DeliveryMethod(StrEnum):
    """SSF §6.1: the delivery method URNs."""

    PUSH = "urn:ietf:rfc:8935"
    POLL = "urn:ietf:rfc:8936"


class StreamStatus(StrEnum):
    """SSF §8.1.2. enabled: SETs are sent; paused: held and sent once enabled again (SETs about the stream
    itself, verification and stream-updated, still go); disabled: none are sent or held.

    ```mermaid
    stateDiagram-v2
        [*] --> enabled: create
        enabled --> paused
        enabled --> disabled
        paused --> enabled: held SETs go out
        paused --> disabled: held SETs dropped
        disabled --> enabled
    ```
    """

    ENABLED = "enabled"
    PAUSED = "paused"
    DISABLED = "disabled"


class DefaultSubjects(StrEnum):
    """SSF §7.1 `default_subjects`: whether a new stream covers every subject or none until added."""

    ALL = "ALL"
    NONE = "NONE"


@dataclass(frozen=True, slots=True)
class Stream:
    stream_id: str
    tenant_id: str
    client_id: str  # the receiver: the OAuth client that created the stream (also its `aud`)
    method: DeliveryMethod
    endpoint_url: str | None  # push: the receiver's URL; poll: None (the transmitter's URL is derived)
    authorization_header: str | None  # push: sent with every request (stored encrypted under the KEK)
    events_requested: tuple[str, ...] | None  # None: the receiver did not say (every supported event)
    events_delivered: tuple[str, ...]
    description: str | None
    status: StreamStatus
    reason: str | None
    default_subjects: DefaultSubjects
    created_at: float
    # The last change of its configuration or status, or the last call of its receiver on it: SSF §8.1.1
    # `inactivity_timeout` counts from it.
    updated_at: float
    verified_at: float | None = None  # the last verification request (min_verification_interval)


@dataclass(frozen=True, slots=True)
class QueuedSet:
    """One SET waiting for its stream. `control`: about the stream itself (verification, stream-updated),
    so sent while the stream is paused too."""

    jti: str
    stream_id: str
    tenant_id: str
    claims: Mapping[str, object]
    control: bool
    attempts: int
    next_attempt_at: float
    created_at: float
