"""NATS JetStream: the outbox relay's publisher (ports/outbox.py EventPublisher; docs/events.md).

Stream `IDENTITY` (configurable, for tests that share a server), created when missing with the subjects
`identity.>` and a two-minute duplicate window. Each event is published on
`identity.<tenant id>.<event type>` (the type's dots are subject tokens: `identity.<t>.sign_in.refused`)
with the JSON of `IdentityEvent.as_dict()` as payload and the headers `Nats-Msg-Id` (the event id:
JetStream drops a second publish of it within the duplicate window) and `Lukhas-Seq` (the tenant's
outbox sequence number). Each publish waits for the stream's ack before the next one, so a tenant's
events are stored in order.

The connection is made on first use and again after it was lost; nats-py's own reconnection runs in
between. Its error callbacks are silenced: the relay logs the outage once (observability/outages.py).
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any, Final

import nats
import orjson
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.api import StorageType, StreamConfig
from nats.js.errors import NotFoundError

from lukhas_id.observability import tracing
from lukhas_id.ports.outbox import Acked, OutboxEntry

STORE: Final = "NATS"
DUPLICATE_WINDOW_S: Final = 120.0
MSG_ID: Final = "Nats-Msg-Id"
SEQ_HEADER: Final = "Lukhas-Seq"


def subject(prefix: str, tenant_id: str, event_type: str) -> str:
    return f"{prefix}.{tenant_id}.{event_type}"


async def _quiet(*_: Any) -> None:
    return None


async def connect(url: str, *, name: str = "lukhas-id", connect_timeout: float = 2.0) -> Client:
    """A NATS connection that reconnects on its own, forever, and logs nothing itself."""
    return await nats.connect(
        url,
        name=name,
        connect_timeout=connect_timeout,
        reconnect_time_wait=0.5,
        max_reconnect_attempts=-1,
        allow_reconnect=True,
        error_cb=_quiet,
        disconnected_cb=_quiet,
        reconnected_cb=_quiet,
        closed_cb=_quiet,
    )


async def ensure_stream(js: JetStreamContext, stream: str, prefix: str) -> None:
    """Create `stream` over `<prefix>.>` when it does not exist (an existing stream is left as it is)."""
    try:
        await js.stream_info(stream)
    except NotFoundError:
        config = StreamConfig(
            name=stream,
            subjects=[f"{prefix}.>"],
            storage=StorageType.FILE,
            duplicate_window=DUPLICATE_WINDOW_S,
        )
        await js.add_stream(config)


class NatsPublisher:
    """ports/outbox.py EventPublisher on NATS JetStream (see the module docstring)."""

    name = STORE

    def __init__(self, url: str, *, stream: str = "IDENTITY", prefix: str = "identity", timeout: float = 5.0) -> None:
        self._url = url
        self._stream = stream
        self._prefix = prefix
        self._timeout = timeout
        self._client: Client | None = None
        self._js: JetStreamContext | None = None

    async def _context(self) -> JetStreamContext:
        if self._js is not None and self._client is not None and not self._client.is_closed:
            return self._js
        await self.close()
        client = await connect(self._url, name="lukhas-id relay", connect_timeout=self._timeout)
        try:
            js = client.jetstream(timeout=self._timeout)
            await ensure_stream(js, self._stream, self._prefix)
        except BaseException:
            await client.close()
            raise
        self._client, self._js = client, js
        return js

    async def publish(self, entries: Sequence[OutboxEntry], acked: Acked) -> None:
        # One span per batch (observability/tracing.py; nothing when tracing is off): the relay's own trace.
        attributes: dict[str, tracing.Attribute] = {
            "messaging.system": "nats",
            "messaging.operation.type": "send",
            "messaging.destination.name": self._stream,
            "messaging.batch.message_count": len(entries),
        }
        with tracing.span("events.publish", attributes) as span:
            js = await self._context()
            sent = 0
            try:
                for entry in entries:
                    await js.publish(
                        subject(self._prefix, entry.tenant_id, entry.type),
                        orjson.dumps(entry.payload),
                        timeout=self._timeout,
                        stream=self._stream,
                        headers={MSG_ID: entry.event_id, SEQ_HEADER: str(entry.seq)},
                    )
                    sent += 1
                    acked(entry)
            finally:
                span.set_attribute("lukhas_id.events.acknowledged", sent)

    async def close(self) -> None:
        client, self._client, self._js = self._client, None, None
        if client is not None and not client.is_closed:
            with contextlib.suppress(Exception):
                await client.close()
