"""Shared Signals storage: streams with their subjects, and the durable queue of SETs (domain/ssf.py).

Atomicity: each method is one transaction of its own (or joins the caller's unit of work). `enqueue` is
idempotent by `jti` (a SET already queued, delivered or given up is not queued again: the source of
identity events delivers at least once). `claim` is a compare-and-set on a SET's schedule, so that of
several ΛiD processes pushing, one sends a due SET and the others skip it. Deleting a stream deletes its
subjects and SETs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from lukhas_id.domain.ssf import DeliveryMethod, QueuedSet, Stream


class SsfStreamRepository(Protocol):
    async def create(self, stream: Stream) -> None: ...

    async def get(self, tenant_id: str, stream_id: str) -> Stream | None: ...

    async def for_client(self, tenant_id: str, client_id: str) -> list[Stream]:
        """The client's streams, oldest first."""
        ...

    async def for_tenant(self, tenant_id: str) -> list[Stream]: ...

    async def save(self, stream: Stream) -> None:
        """Store the stream's new configuration or status (it exists)."""
        ...

    async def delete(self, tenant_id: str, stream_id: str) -> bool: ...

    async def touch(self, stream_id: str, at: float) -> None:
        """Record the receiver's activity on the stream: its `updated_at` becomes `at`."""
        ...

    async def set_subject(self, stream_id: str, key: str, included: bool) -> None:
        """Remember that the receiver added (`included`) or removed a subject."""
        ...

    async def subject_rules(self, stream_id: str, keys: Sequence[str]) -> dict[str, bool]:
        """The added/removed rules of these subject keys on the stream (a key without a rule is absent)."""
        ...


class SetQueue(Protocol):
    async def enqueue(self, sets: Sequence[QueuedSet]) -> int:
        """Queue SETs, in order, skipping any whose jti is known; how many were new."""
        ...

    async def due_push(self, now: float, limit: int) -> list[QueuedSet]:
        """Pending SETs of push streams whose time has come, oldest first: a stream's SETs when it is enabled,
        its control SETs when it is paused too."""
        ...

    async def claim(self, jti: str, expected: float, until: float) -> bool:
        """Move a pending SET's next attempt from `expected` to `until` (a lease); False when another
        process moved it first or it is no longer pending."""
        ...

    async def delivered(self, jti: str) -> None: ...

    async def retry(self, jti: str, attempts: int, at: float, error: str) -> None: ...

    async def failed(self, jti: str, attempts: int, error: str) -> None:
        """Give a SET up (never sent again)."""
        ...

    async def pending(self, stream_id: str, limit: int, *, control_only: bool) -> tuple[list[QueuedSet], bool]:
        """A poll's SETs: the stream's pending SETs (only control ones when `control_only`), oldest first, at
        most `limit`, and whether more wait."""
        ...

    async def acknowledge(self, stream_id: str, jtis: Sequence[str], *, error: str | None = None) -> list[float]:
        """Mark pending SETs of the stream delivered (or given up with `error`); the `created_at` of each SET
        that was pending (the others are left as they are)."""
        ...

    async def drop_pending(self, stream_id: str) -> int:
        """Give up every pending SET of the stream (it was disabled)."""
        ...

    async def pending_counts(self) -> dict[DeliveryMethod, int]:
        """How many SETs wait for delivery, by their stream's delivery method (every method present)."""
        ...

    async def purge(self, before: float) -> int:
        """Delete delivered and given-up SETs queued before `before` (their jti no longer guards a replay)."""
        ...
