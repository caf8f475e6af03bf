"""Contract suite of the event outbox (ports/outbox.py, adapters/sql/outbox.py) on SQLite and PostgreSQL.

Rows written in the unit's transaction and rolled back with it; a tenant's rows numbered without a gap
in commit order, even when two units of one tenant overlap; the relay's reads; the lease."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from lukhas_id.adapters.events.in_process import RecordingSink
from lukhas_id.adapters.sql import Database, SqlTenantRepository
from lukhas_id.adapters.sql.outbox import SqlOutbox, SqlOutboxRecorder, SqlRelayLease
from lukhas_id.adapters.sql.unit_of_work import SqlUnitOfWork
from lukhas_id.domain.events import CATALOGUE, EventType, IdentityEvent
from lukhas_id.domain.tenant import Tenant


def event(tenant: str, lid: str = "USR-1", kind: EventType = EventType.USER_CREATED) -> IdentityEvent:
    metadata = {"client_id": "cl_x"} if "client_id" in CATALOGUE[kind].keys else {}
    return IdentityEvent(kind, tenant, lid, 1000.0, trace_id="trace-1", metadata=metadata)


def tenant(tid: str) -> Tenant:
    return Tenant(id=tid, name=f"name-{tid}", id_secret_enc=b"enc", access_token_alg="ES256", created_at=1000.0)


class Boom(Exception):
    pass


def unit_of_work(database: Database) -> SqlUnitOfWork:
    return SqlUnitOfWork(database, RecordingSink(), [SqlOutboxRecorder(database)])


async def test_events_are_written_with_the_change(sql_database: Database) -> None:
    uow = unit_of_work(sql_database)
    first, second = event("t1", "USR-1"), event("t1", "USR-2", EventType.USER_DISABLED)
    async with uow() as work:
        await SqlTenantRepository(sql_database).create(tenant("t1"))
        work.emit(first)
        work.emit(second)
    entries = await SqlOutbox(sql_database).pending(10)
    assert [(e.event_id, e.seq, e.type) for e in entries] == [
        (first.id, 1, "user.created"),
        (second.id, 2, "user.disabled"),
    ]
    assert entries[0].payload == first.as_dict()
    assert entries[0].position < entries[1].position
    assert entries[0].sent_at is None


async def test_events_are_rolled_back_with_the_change_and_give_their_numbers_back(sql_database: Database) -> None:
    uow = unit_of_work(sql_database)
    with pytest.raises(Boom):
        async with uow() as work:
            await SqlTenantRepository(sql_database).create(tenant("t1"))
            work.emit(event("t1"))
            raise Boom
    assert await SqlTenantRepository(sql_database).get("t1") is None
    outbox = SqlOutbox(sql_database)
    assert await outbox.pending(10) == []
    assert await outbox.backlog() == 0
    async with uow() as work:
        work.emit(event("t1"))
    assert [e.seq for e in await outbox.pending(10)] == [1]


class FailingRecorder:
    async def record(self, events: Sequence[IdentityEvent]) -> None:
        raise Boom


async def test_a_later_recorder_failing_rolls_the_outbox_rows_back(sql_database: Database) -> None:
    uow = SqlUnitOfWork(sql_database, RecordingSink(), [SqlOutboxRecorder(sql_database), FailingRecorder()])
    with pytest.raises(Boom):
        async with uow() as work:
            work.emit(event("t1"))
    assert await SqlOutbox(sql_database).pending(10) == []


async def test_each_tenant_has_its_own_sequence(sql_database: Database) -> None:
    uow = unit_of_work(sql_database)
    async with uow() as work:
        work.emit(event("tb"))
        work.emit(event("ta"))
        work.emit(event("tb"))
    async with uow() as work:
        work.emit(event("ta"))
    entries = await SqlOutbox(sql_database).pending(10)
    assert sorted((e.tenant_id, e.seq) for e in entries) == [("ta", 1), ("ta", 2), ("tb", 1), ("tb", 2)]
    for name in ("ta", "tb"):
        mine = [e for e in entries if e.tenant_id == name]
        assert [e.seq for e in mine] == sorted(e.seq for e in mine)  # position order is seq order


class Gate:
    """A recorder that holds its unit open (after the outbox rows were written) until released."""

    def __init__(self) -> None:
        self.entered = asyncio.Event()
        self.release = asyncio.Event()

    async def record(self, events: Sequence[IdentityEvent]) -> None:
        self.entered.set()
        await self.release.wait()


async def test_overlapping_units_of_one_tenant_commit_in_sequence_order(sql_database: Database) -> None:
    """The first unit holds the tenant's head row until it commits: the second waits at its outbox write,
    so a reader never sees seq 2 committed while seq 1 is not (what would make a relay skip seq 1)."""
    gate = Gate()
    slow = SqlUnitOfWork(sql_database, RecordingSink(), [SqlOutboxRecorder(sql_database), gate])
    fast = unit_of_work(sql_database)
    outbox = SqlOutbox(sql_database)
    first, second = event("t1", "USR-1"), event("t1", "USR-2")

    async def run_slow() -> None:
        async with slow() as work:
            work.emit(first)

    async def run_fast() -> None:
        async with fast() as work:
            work.emit(second)

    held = asyncio.create_task(run_slow())
    await asyncio.wait_for(gate.entered.wait(), 5)
    waiting = asyncio.create_task(run_fast())
    await asyncio.sleep(0.3)
    assert not waiting.done()  # blocked behind the first unit's head row (SQLite: its write lock)
    assert await outbox.pending(10) == []  # nothing visible yet
    gate.release.set()
    await asyncio.wait_for(asyncio.gather(held, waiting), 10)
    entries = await outbox.pending(10)
    assert [(e.event_id, e.seq) for e in entries] == [(first.id, 1), (second.id, 2)]


async def test_pending_mark_sent_backlog_after_and_purge(sql_database: Database) -> None:
    uow = unit_of_work(sql_database)
    for name in ("t1", "t2", "t1"):
        async with uow() as work:
            work.emit(event(name, kind=EventType.SIGN_IN_REFUSED if name == "t2" else EventType.USER_CREATED))
    outbox = SqlOutbox(sql_database)
    entries = await outbox.pending(2)
    assert len(entries) == 2
    assert await outbox.backlog() == 3
    await outbox.mark_sent([entries[0].position], 500.0)
    await outbox.mark_sent([entries[0].position], 900.0)  # idempotent: the first time stands
    assert await outbox.backlog() == 2
    assert [e.position for e in await outbox.pending(10)] == [entries[1].position, entries[1].position + 1]
    everything = await outbox.after(0, 10)
    assert everything[0].sent_at == 500.0
    assert [e.tenant_id for e in await outbox.after(0, 10, tenant_id="t1")] == ["t1", "t1"]
    assert [e.type for e in await outbox.after(0, 10, types=["sign_in.refused"])] == ["sign_in.refused"]
    assert await outbox.after(everything[-1].position, 10) == []
    assert await outbox.last_position() == everything[-1].position
    assert await outbox.purge_sent(400.0) == 0
    assert await outbox.purge_sent(600.0) == 1
    assert [e.position for e in await outbox.after(0, 10)] == [e.position for e in everything[1:]]


async def test_the_lease_is_held_by_one_relay_at_a_time(sql_database: Database) -> None:
    lease = SqlRelayLease(sql_database)
    assert await lease.hold("a", 100.0, 10.0)
    assert not await lease.hold("b", 105.0, 10.0)
    assert await lease.hold("a", 108.0, 10.0)  # renewed until 118
    assert not await lease.hold("b", 117.0, 10.0)
    assert await lease.hold("b", 118.5, 10.0)  # expired: taken over
    assert not await lease.hold("a", 119.0, 10.0)
    await lease.release("a")  # not a's: no effect
    assert not await lease.hold("a", 120.0, 10.0)
    await lease.release("b")
    assert await lease.hold("a", 120.0, 10.0)


async def test_concurrent_first_holds_give_the_lease_to_one(sql_database: Database) -> None:
    lease = SqlRelayLease(sql_database)
    results = await asyncio.gather(*(lease.hold(f"r{i}", 100.0, 10.0) for i in range(6)))
    assert results.count(True) == 1
