"""The outbox relay: committed identity events to NATS JetStream and the durable consumers (ADR 0008).

Each ΛiD process runs one relay (started by the web lifespan; `lukhas-id events relay` runs one alone).
At most one of them works at a time: the one holding the lease (ports/outbox.py RelayLease), renewed once
half its term is gone and taken over by another once it expired (`lease_ttl` after its holder stopped renewing).
The holder reads committed, unsent rows in order, publishes them (when NATS is configured), hands them
to the registered consumers, and marks them sent. It is woken at once after a local commit that wrote
events (`wake`, subscribed to the in-process sink), and polls every `poll_interval` seconds for rows
written by other processes.

At least once, in order per tenant: a row is marked sent only after the bus acknowledged it and every
consumer took it; a relay killed in between publishes it again on restart (JetStream drops the duplicate
by its `Nats-Msg-Id` within the duplicate window). Failures back off exponentially (bounded at
`max_backoff`), and are logged once when the bus goes down, as a count while it stays down, and once
when it is back (observability/outages.py).

Metrics: `identity_event_outbox_backlog` (unsent rows, set by the lease holder) and
`identity_event_delivery_lag_seconds` (ack time minus event time, per event).
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from lukhas_id.clock import Clock
from lukhas_id.domain.events import IdentityEvent
from lukhas_id.metrics import Metrics
from lukhas_id.observability.outages import OutageLog
from lukhas_id.ports.outbox import EventPublisher, Outbox, OutboxConsumer, OutboxEntry, RelayLease

CONSUMERS: Final = "event consumer"
DATABASE: Final = "database (event outbox)"
MIN_BACKOFF_S: Final = 0.1


class DeliveryFailed(Exception):
    """NATS or a consumer refused a batch (logged as an outage of that target; the relay backs off)."""


@dataclass(frozen=True, slots=True)
class RelayConfig:
    poll_interval: float = 1.0
    lease_ttl: float = 15.0
    batch: int = 500
    max_backoff: float = 10.0


class EventRelay:
    def __init__(
        self,
        outbox: Outbox,
        lease: RelayLease,
        clock: Clock,
        metrics: Metrics,
        *,
        publisher: EventPublisher | None = None,
        config: RelayConfig = RelayConfig(),
        outages: OutageLog | None = None,
    ) -> None:
        self._outbox = outbox
        self._lease = lease
        self._clock = clock
        self._metrics = metrics
        self._publisher = publisher
        self._config = config
        self._consumers: list[OutboxConsumer] = []
        self._wake = asyncio.Event()
        self._failures = 0
        # Without a probe, a store counts as back after `quiet` s without a failure: longer than any backoff.
        self._outages = outages or OutageLog(quiet=config.max_backoff * 3 + config.poll_interval)
        self.holder = f"relay-{secrets.token_hex(8)}"
        self.holding = False
        self._held_until = 0.0
        self.published = 0  # entries this relay handed on (tests, bench)

    def add_consumer(self, consumer: OutboxConsumer) -> None:
        """Hand every later committed event to `consumer` too (composition root only)."""
        self._consumers.append(consumer)

    async def wake(self, event: IdentityEvent | None = None) -> None:
        """Run the next step now (an in-process sink subscriber: called after a local commit)."""
        self._wake.set()

    async def step(self) -> int:
        """One round: hold the lease, relay one batch, measure the backlog. The number of entries handed
        on; raises when the database or a target failed (after marking what was handed on)."""
        now = self._clock.now()
        ttl = self._config.lease_ttl
        # Renewed once half its term is gone, not at every step: on SQLite each renewal is a write that
        # other processes' transactions wait for.
        if not self.holding or now >= self._held_until - ttl / 2:
            self.holding = await self._lease.hold(self.holder, now, ttl)
            self._held_until = now + ttl if self.holding else 0.0
        if not self.holding:
            return 0
        entries = await self._outbox.pending(self._config.batch)
        done: list[OutboxEntry] = []
        try:
            if entries:
                await self._deliver(entries, done)
        finally:
            if done:
                await self._outbox.mark_sent([entry.position for entry in done], self._clock.now())
                self.published += len(done)
            self._metrics.event_outbox_backlog.set(await self._outbox.backlog())
        return len(done)

    async def _deliver(self, entries: Sequence[OutboxEntry], done: list[OutboxEntry]) -> None:
        acked: list[OutboxEntry] = []
        lag = self._metrics.event_delivery_lag

        def on_ack(entry: OutboxEntry) -> None:
            acked.append(entry)
            lag.observe(max(0.0, self._clock.now() - entry.at))

        store = self._publisher.name if self._publisher is not None else CONSUMERS
        try:
            if self._publisher is not None:
                try:
                    await self._publisher.publish(entries, on_ack)
                finally:
                    await self._to_consumers(acked, done)
            else:
                await self._to_consumers(entries, done)
                for entry in done:
                    on_ack(entry)
        except Exception as exc:
            self._outages.failed(store, type(exc).__name__)
            raise DeliveryFailed(store) from exc
        self._outages.recovered(store)

    async def _to_consumers(self, entries: Sequence[OutboxEntry], done: list[OutboxEntry]) -> None:
        for consumer in self._consumers:
            if entries:
                await consumer.deliver(entries)
        done.extend(entries)

    async def run(self) -> None:
        """Relay until cancelled; the lease is given up on the way out."""
        try:
            while True:
                try:
                    handed = await self.step()
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    if not isinstance(exc, DeliveryFailed):  # a delivery failure is logged by its target
                        self._outages.failed(DATABASE, type(exc).__name__)
                    self._failures += 1
                    await self._sleep(min(self._config.max_backoff, MIN_BACKOFF_S * 2 ** min(self._failures, 16)))
                    continue
                self._outages.recovered(DATABASE)
                self._failures = 0
                if handed < self._config.batch:
                    await self._wait()
        finally:
            with contextlib.suppress(Exception):
                if self.holding:
                    await asyncio.shield(self._lease.release(self.holder))
            await self._outages.aclose()

    async def _wait(self) -> None:
        """Until woken or `poll_interval` passed (a timer, not wait_for: no inner task to cancel)."""
        timer = asyncio.get_running_loop().call_later(self._config.poll_interval, self._wake.set)
        try:
            await self._wake.wait()
        finally:
            timer.cancel()
            self._wake.clear()

    async def _sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)
        self._wake.clear()

    async def close(self) -> None:
        """Close the bus connection (the Container's closer)."""
        if self._publisher is not None:
            await self._publisher.close()

    async def purge(self, retention: float) -> int:
        """Delete rows sent more than `retention` seconds ago (the maintenance pass)."""
        return await self._outbox.purge_sent(self._clock.now() - retention)
