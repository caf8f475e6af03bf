"""The in-process event sink: committed events handed to subscribers in order, in this process.

Subscribers are plain async callables. The first one is `log_event`, which writes the line each event
type had before events existed (domain/events.py LOG_TEXT), with the event's fields as `extra`; none of
them is secret or personal by construction. `RecordingSink` keeps events in memory for tests. A
subscriber that raises is logged by its error class and does not stop the others: the change is
already committed.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from types import TracebackType

from lukhas_id.domain.events import LOG_TEXT, WARNINGS, IdentityEvent
from lukhas_id.observability import LogEvent, write
from lukhas_id.observability.context import trace_id
from lukhas_id.ports.unit_of_work import EventSink

log = logging.getLogger("lukhas_id.events")

Subscriber = Callable[[IdentityEvent], Awaitable[None]]


async def log_event(event: IdentityEvent) -> None:
    level = logging.WARNING if event.type in WARNINGS else logging.INFO
    if not log.isEnabledFor(level):
        return
    fields = {"tenant_id": event.tenant_id, "principal": event.principal, **event.metadata}
    log.log(level, LOG_TEXT[event.type], extra={"event": event.type.value, "fields": fields})


class InProcessSink:
    def __init__(self, subscribers: Sequence[Subscriber] = (log_event,)) -> None:
        self._subscribers = list(subscribers)

    def subscribe(self, subscriber: Subscriber) -> None:
        self._subscribers.append(subscriber)

    async def publish(self, events: Sequence[IdentityEvent]) -> None:
        for event in events:
            for subscriber in self._subscribers:
                try:
                    await subscriber(event)
                except Exception as exc:  # the change is committed; one subscriber must not stop the rest
                    write(LogEvent.SUBSCRIBER_FAILED, error=type(exc).__name__)


class RecordingSink:
    """Keeps every published event (tests read `events`)."""

    def __init__(self) -> None:
        self.events: list[IdentityEvent] = []

    async def publish(self, events: Sequence[IdentityEvent]) -> None:
        self.events.extend(events)


class RecordedWork:
    """The `Work` of a unit of work: the events emitted in it, in order (published after it commits). An
    event made without a trace id gets the current request's (observability/context.py)."""

    __slots__ = ("events",)

    def __init__(self) -> None:
        self.events: list[IdentityEvent] = []

    def emit(self, event: IdentityEvent) -> None:
        if event.trace_id is None:
            trace = trace_id()
            if trace is not None:
                event = replace(event, trace_id=trace)
        self.events.append(event)


class InProcessUnitOfWork:
    """The unit of work without a database (ports/unit_of_work.py), for services tested without SQL: events
    published after the block, dropped when it raises."""

    def __init__(self, sink: EventSink) -> None:
        self._sink = sink

    def __call__(self) -> _PublishAfter:
        return _PublishAfter(self._sink)


class _PublishAfter:
    """One in-process unit: the events are published when the block ends without an exception."""

    __slots__ = ("_sink", "_work")

    def __init__(self, sink: EventSink) -> None:
        self._sink = sink
        self._work = RecordedWork()

    async def __aenter__(self) -> RecordedWork:
        return self._work

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc is None and self._work.events:
            await self._sink.publish(self._work.events)
