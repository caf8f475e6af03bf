"""The durable event outbox: rows written with their change, a relay that hands them on (ADR 0008).

`OutboxRecorder` (an EventRecorder, ports/unit_of_work.py) writes a unit's events to the outbox inside
the unit's transaction. The relay (services/event_relay.py) reads committed rows in order, hands them to
NATS JetStream (`EventPublisher`) and to the registered `OutboxConsumer`s, then marks them sent.

Guarantees: at least once, in order per tenant. A tenant's rows are numbered `seq` 1, 2, 3... in
commit order with no gap (a rolled-back unit gives back its numbers), and `pending` returns them in that
order. A consumer sees an entry again when the relay stopped before marking it sent: it keeps its own
idempotency by `event_id`.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class OutboxEntry:
    """One committed outbox row: the event as plain data (`IdentityEvent.as_dict()`) and its place."""

    position: int  # global, increasing; orders a tenant's rows like `seq`
    tenant_id: str
    seq: int  # the tenant's own sequence number: 1, 2, 3... in commit order
    event_id: str
    type: str
    at: float
    payload: Mapping[str, object]
    sent_at: float | None = None


# Called by a publisher for each entry once it is safely handed on (the JetStream ack), in order.
Acked = Callable[[OutboxEntry], None]


class Outbox(Protocol):
    async def pending(self, limit: int) -> list[OutboxEntry]:
        """Up to `limit` committed, unsent entries, in `position` order (so in `seq` order per tenant)."""
        ...

    async def mark_sent(self, positions: Collection[int], at: float) -> None:
        """Mark the entries at `positions` sent (idempotent)."""
        ...

    async def backlog(self) -> int:
        """The number of committed, unsent entries."""
        ...

    async def purge_sent(self, before: float) -> int:
        """Delete the entries sent before `before`; the number deleted."""
        ...

    async def after(
        self, position: int, limit: int, *, tenant_id: str | None = None, types: Collection[str] = ()
    ) -> list[OutboxEntry]:
        """Committed entries (sent or not) past `position`, in order, optionally of one tenant and some types."""
        ...

    async def last_position(self) -> int:
        """The highest position written so far (0 when empty)."""
        ...


class RelayLease(Protocol):
    async def hold(self, holder: str, now: float, ttl: float) -> bool:
        """Take or renew the lease for `holder` until `now + ttl`; False while another holder's is unexpired.
        Atomic: two callers never both get True for overlapping terms."""
        ...

    async def release(self, holder: str) -> None:
        """Give the lease up (when `holder` has it), so another relay takes over at once."""
        ...


class EventPublisher(Protocol):
    """A durable message bus (NATS JetStream)."""

    name: str  # for the outage log

    async def publish(self, entries: Sequence[OutboxEntry], acked: Acked) -> None:
        """Publish `entries` in order, calling `acked` for each once the bus acknowledged it; stop at and
        raise the first failure (the entries acknowledged so far stay acknowledged)."""
        ...

    async def close(self) -> None: ...


class OutboxConsumer(Protocol):
    """A durable in-process consumer of committed events (the SSF transmitter): at least once, in order
    per tenant. It must be idempotent by `event_id`; raising makes the relay retry the whole batch later."""

    name: str

    async def deliver(self, entries: Sequence[OutboxEntry]) -> None: ...
