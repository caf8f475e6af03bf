"""The outbox relay (services/event_relay.py) against real NATS JetStream, SQLite and PostgreSQL: in order
per tenant with Nats-Msg-Id, one relay at a time, an outage of the bus seen in the backlog and lag metrics,
the in-process consumers, and what is guaranteed for a change held in Redis (ADR 0008)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from pathlib import Path

import pytest
import pytest_asyncio

from lukhas_id.adapters.events.nats import NatsPublisher
from lukhas_id.adapters.sql import Database
from lukhas_id.adapters.sql.outbox import SqlOutbox
from lukhas_id.domain.events import EventType, IdentityEvent
from lukhas_id.metrics import Metrics
from lukhas_id.ports.outbox import OutboxEntry
from tests.support.harness import Harness
from tests.support.nats import Names, PrivateNats, delete_stream, read_stream, until
from tests.support.outbox import events, relay, write


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def outbox_url(request: pytest.FixtureRequest) -> str:
    fixture = "sqlite_migrated_url" if request.param == "sqlite" else "pg_migrated_url"
    return str(request.getfixturevalue(fixture))


@pytest_asyncio.fixture
async def database(outbox_url: str) -> AsyncIterator[Database]:
    db = Database.from_url(outbox_url)
    try:
        yield db
    finally:
        await db.dispose()


@pytest_asyncio.fixture
async def names(nats_url: str) -> AsyncIterator[Names]:
    made = Names.unique()
    yield made
    await delete_stream(nats_url, made.stream)


def drained(database: Database) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return await SqlOutbox(database).backlog() == 0

    return check


def backlog_is(metrics: Metrics, value: int) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return metrics.registry.get_sample_value("identity_event_outbox_backlog") == value

    return check


def sample(metrics: Metrics, name: str) -> float:
    value = metrics.registry.get_sample_value(name)
    assert value is not None, name
    return value


@pytest.mark.nats
async def test_the_relay_publishes_in_order_with_the_event_id_as_msg_id(
    database: Database, nats_url: str, names: Names
) -> None:
    ta, tb = events("ta", 60), events("tb", 30, EventType.USER_CREATED)
    mixed = [e for pair in zip(ta[:30], tb, strict=True) for e in pair] + ta[30:]
    await write(database, mixed, per_unit=3)
    metrics = Metrics()
    publisher = NatsPublisher(nats_url, stream=names.stream, prefix=names.prefix)
    worker = relay(database, metrics, publisher=publisher)
    try:
        while await worker.step():
            pass
    finally:
        await worker.close()
    messages = await read_stream(nats_url, names, at_least=90)
    assert [m.data["id"] for m in messages if m.data["tenant"] == "ta"] == [e.id for e in ta]
    assert [m.data["id"] for m in messages if m.data["tenant"] == "tb"] == [e.id for e in tb]
    assert all(m.headers["Nats-Msg-Id"] == m.data["id"] for m in messages)
    assert {m.subject for m in messages} == {f"{names.prefix}.ta.sign_in.refused", f"{names.prefix}.tb.user.created"}
    assert [int(m.headers["Lukhas-Seq"]) for m in messages if m.data["tenant"] == "tb"] == list(range(1, 31))
    assert messages[0].data == ta[0].as_dict()
    assert await SqlOutbox(database).backlog() == 0
    assert sample(metrics, "identity_event_outbox_backlog") == 0
    assert sample(metrics, "identity_event_delivery_lag_seconds_count") == 90
    # Published again (a relay killed before marking them sent would do this): JetStream drops them.
    again = NatsPublisher(nats_url, stream=names.stream, prefix=names.prefix)
    try:
        await again.publish(await SqlOutbox(database).after(0, 10), lambda entry: None)
    finally:
        await again.close()
    assert len(await read_stream(nats_url, names, at_least=90)) == 90


@pytest.mark.nats
async def test_two_relays_at_once_publish_each_row_once(database: Database, nats_url: str, names: Names) -> None:
    batch = events("ta", 200)
    workers = [
        relay(database, publisher=NatsPublisher(nats_url, stream=names.stream, prefix=names.prefix)) for _ in range(2)
    ]
    tasks = [asyncio.create_task(w.run()) for w in workers]
    try:
        await write(database, batch, per_unit=5)
        for w in workers:
            await w.wake()
        await until(drained(database), 30)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for w in workers:
            await w.close()
    assert sorted(w.published for w in workers) == [0, 200]  # the lease holder published them all, once
    messages = await read_stream(nats_url, names, at_least=200)
    assert [m.data["id"] for m in messages] == [e.id for e in batch]


@pytest.mark.nats
async def test_an_outage_of_nats_shows_in_the_backlog_and_the_lag_then_recovers(
    database: Database, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    server = PrivateNats(tmp_path / "js")
    server.start()
    names = Names.unique()
    metrics = Metrics()
    worker = relay(
        database, metrics, publisher=NatsPublisher(server.url, stream=names.stream, prefix=names.prefix, timeout=0.5)
    )
    task = asyncio.create_task(worker.run())
    try:
        await write(database, events("ta", 5))
        await worker.wake()
        await until(drained(database), 10)
        server.kill()
        await write(database, events("ta", 20), per_unit=4)
        await worker.wake()
        await until(backlog_is(metrics, 20), 10)
        await asyncio.sleep(1.0)  # the events wait at least this long
        server.start()
        await until(backlog_is(metrics, 0), 20)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await worker.close()
    assert sample(metrics, "identity_event_delivery_lag_seconds_count") == 25
    assert metrics.registry.get_sample_value("identity_event_delivery_lag_seconds_bucket", {"le": "1.0"}) == 5
    messages = await read_stream(server.url, names, at_least=25)
    assert len({m.data["id"] for m in messages}) == len(messages) == 25
    server.kill()
    down = [r for r in caplog.records if r.getMessage().startswith("NATS unavailable")]
    back = [r for r in caplog.records if r.getMessage().startswith("NATS is back")]
    assert len(down) == 1 and len(back) == 1  # once down, once back: not one line per attempt


class Collecting:
    name = "collecting"

    def __init__(self, failures: int = 0) -> None:
        self.failures = failures
        self.seen: list[str] = []

    async def deliver(self, entries: Sequence[OutboxEntry]) -> None:
        if self.failures:
            self.failures -= 1
            raise ConnectionError("consumer down")
        self.seen.extend(e.event_id for e in entries)


async def test_without_nats_the_relay_hands_committed_rows_to_the_consumers(database: Database) -> None:
    first, flaky = Collecting(), Collecting(failures=2)
    worker = relay(database)
    worker.add_consumer(first)
    worker.add_consumer(flaky)
    batch = events("ta", 7)
    await write(database, batch)
    task = asyncio.create_task(worker.run())
    try:
        await until(drained(database), 10)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    ids = [e.id for e in batch]
    assert flaky.seen == ids  # delivered once it took them
    assert first.seen == ids * 3  # at least once: the batch came again after each failure of the other
    assert all(e.sent_at is not None for e in await SqlOutbox(database).after(0, 10))


async def test_a_relay_without_the_lease_hands_nothing_on(database: Database) -> None:
    await write(database, events("ta", 3))
    holder, other = relay(database), relay(database)
    collected = Collecting()
    other.add_consumer(collected)
    assert await holder.step() == 3
    await write(database, events("ta", 2))
    assert await other.step() == 0 and not other.holding and collected.seen == []


class Boom(Exception):
    pass


class FailingRecorder:
    async def record(self, events: Sequence[IdentityEvent]) -> None:
        raise Boom


async def test_a_change_held_in_redis_gets_its_event_at_most_once(h: Harness) -> None:
    """ADR 0008: a revocation is made in Redis (production) or in the SQL unit (embedded); its event is
    written in the unit that follows. When that write fails, the revocation stands and no event exists
    (never an event without its change); when it succeeds, exactly one row exists."""
    outbox = SqlOutbox(h.c.database)
    rc = await h.client()
    tenant = rc.tenant
    kept = await h.access_token(rc)
    assert await h.c.tokens.revoke_access_token(tenant, rc.client, kept)
    rows = [e for e in await outbox.after(0, 100) if e.type == "token.revoked"]
    assert len(rows) == 1 and rows[0].payload["metadata"] == {
        "client_id": rc.client_id,
        "jti": rows[0].payload["metadata"]["jti"],
    }

    lost = await h.access_token(rc)
    h.c.uow.add_recorder(FailingRecorder())  # type: ignore[attr-defined]
    with pytest.raises(Boom):
        await h.c.tokens.revoke_access_token(tenant, rc.client, lost)
    assert len([e for e in await outbox.after(0, 100) if e.type == "token.revoked"]) == 1
    active = (await h.introspect(rc, lost))["active"]
    if h.c.settings.redis_url:
        assert active is False  # the change in Redis stands without its event: at most once
    else:
        assert active is True  # embedded: the change was in the unit and rolled back with its event
