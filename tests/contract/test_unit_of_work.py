"""Contract suite of the unit of work (ports/unit_of_work.py) on SQL: SQLite and PostgreSQL.

One transaction across repositories, a repository's own transaction as a savepoint, events published
only after the commit and dropped on a rollback, and tasks started inside never sharing the session."""

from __future__ import annotations

import asyncio

import pytest

from lukhas_id.adapters.events.in_process import InProcessSink, InProcessUnitOfWork, RecordingSink
from lukhas_id.adapters.sql import Database, SqlPrincipalRepository, SqlTenantRepository
from lukhas_id.adapters.sql.unit_of_work import SqlUnitOfWork
from lukhas_id.domain.events import EventType, IdentityEvent
from lukhas_id.domain.principal import Principal, PrincipalStatus, PrincipalType
from lukhas_id.domain.tenant import Tenant
from lukhas_id.errors import AlreadyExists


def tenant(tid: str) -> Tenant:
    return Tenant(id=tid, name=f"name-{tid}", id_secret_enc=b"enc", access_token_alg="ES256", created_at=1000.0)


def principal(tid: str, lid: str) -> Principal:
    return Principal(tid, lid, PrincipalType.SERVICE, f"display {lid}", PrincipalStatus.ACTIVE, 1000.0)


def event(lid: str) -> IdentityEvent:
    return IdentityEvent(EventType.CLIENT_CREATED, "t1", lid, 1000.0, metadata={"client_id": "cl_x"})


class Boom(Exception):
    pass


async def test_changes_of_several_repositories_commit_together_with_their_events(sql_database: Database) -> None:
    sink = RecordingSink()
    uow = SqlUnitOfWork(sql_database, sink)
    async with uow() as work:
        await SqlTenantRepository(sql_database).create(tenant("t1"))
        await SqlPrincipalRepository(sql_database).create(principal("t1", "SVC-1"))
        work.emit(event("SVC-1"))
        assert sink.events == []  # not before the commit
    assert await SqlTenantRepository(sql_database).get("t1") is not None
    assert await SqlPrincipalRepository(sql_database).get("t1", "SVC-1") is not None
    assert [e.principal for e in sink.events] == ["SVC-1"]


async def test_a_failure_rolls_back_every_change_and_drops_the_events(sql_database: Database) -> None:
    sink = RecordingSink()
    uow = SqlUnitOfWork(sql_database, sink)
    with pytest.raises(Boom):
        async with uow() as work:
            await SqlTenantRepository(sql_database).create(tenant("t1"))
            await SqlPrincipalRepository(sql_database).create(principal("t1", "SVC-1"))
            # Reads inside the unit see its own writes.
            assert await SqlPrincipalRepository(sql_database).get("t1", "SVC-1") is not None
            work.emit(event("SVC-1"))
            raise Boom
    assert await SqlTenantRepository(sql_database).get("t1") is None
    assert await SqlPrincipalRepository(sql_database).get("t1", "SVC-1") is None
    assert sink.events == []


async def test_a_refused_write_inside_is_a_savepoint_not_the_end_of_the_unit(sql_database: Database) -> None:
    sink = RecordingSink()
    uow = SqlUnitOfWork(sql_database, sink)
    async with uow() as work:
        await SqlTenantRepository(sql_database).create(tenant("t1"))
        await SqlPrincipalRepository(sql_database).create(principal("t1", "SVC-1"))
        with pytest.raises(AlreadyExists):
            await SqlPrincipalRepository(sql_database).create(principal("t1", "SVC-1"))
        await SqlPrincipalRepository(sql_database).create(principal("t1", "SVC-2"))
        work.emit(event("SVC-2"))
    assert await SqlPrincipalRepository(sql_database).get("t1", "SVC-1") is not None
    assert await SqlPrincipalRepository(sql_database).get("t1", "SVC-2") is not None
    assert len(sink.events) == 1


async def test_units_do_not_nest_and_tasks_inside_do_not_share_the_session(sql_database: Database) -> None:
    uow = SqlUnitOfWork(sql_database, RecordingSink())
    await SqlTenantRepository(sql_database).create(tenant("t1"))
    async with uow():
        with pytest.raises(RuntimeError):
            async with uow():
                pass
        # Reads in several tasks at once: each gets a connection of its own (a session is not concurrent).
        found = await asyncio.gather(*(SqlTenantRepository(sql_database).get("t1") for _ in range(4)))
        assert all(t is not None for t in found)


async def test_a_failing_subscriber_does_not_stop_the_others(sql_database: Database) -> None:
    seen: list[IdentityEvent] = []

    async def broken(e: IdentityEvent) -> None:
        raise Boom

    async def recorder(e: IdentityEvent) -> None:
        seen.append(e)

    uow = SqlUnitOfWork(sql_database, InProcessSink([broken, recorder]))
    async with uow() as work:
        work.emit(event("SVC-1"))
    assert [e.principal for e in seen] == ["SVC-1"]


async def test_a_unit_that_touches_no_sql_opens_no_transaction() -> None:
    """A use case whose change is in Redis (a revocation) emits through a unit that never reaches the
    database: here one that could not be reached at all."""
    database = Database.from_url("postgresql://postgres@127.0.0.1:9/unreachable")
    sink = RecordingSink()
    try:
        async with SqlUnitOfWork(database, sink)() as work:
            work.emit(event("SVC-1"))
    finally:
        await database.dispose()
    assert [e.principal for e in sink.events] == ["SVC-1"]


async def test_the_in_process_unit_publishes_after_the_block_and_drops_on_failure() -> None:
    sink = RecordingSink()
    uow = InProcessUnitOfWork(sink)
    with pytest.raises(Boom):
        async with uow() as work:
            work.emit(event("SVC-1"))
            raise Boom
    async with uow() as work:
        work.emit(event("SVC-2"))
        assert sink.events == []
    assert [e.principal for e in sink.events] == ["SVC-2"]


class PrincipalRecorder:
    """A recorder that writes, inside the unit, one principal per event (a stand-in for the outbox)."""

    def __init__(self, database: Database, fail: bool = False) -> None:
        self.database = database
        self.fail = fail
        self.seen: list[str] = []

    async def record(self, events: object) -> None:
        for e in events:  # type: ignore[attr-defined]
            self.seen.append(e.id)
            await SqlPrincipalRepository(self.database).create(principal("t1", f"SVC-R{len(self.seen)}"))
        if self.fail:
            raise Boom


async def test_recorders_write_inside_the_transaction_before_the_commit(sql_database: Database) -> None:
    sink = RecordingSink()
    recorder = PrincipalRecorder(sql_database)
    uow = SqlUnitOfWork(sql_database, sink, [recorder])
    async with uow() as work:
        await SqlTenantRepository(sql_database).create(tenant("t1"))
        work.emit(event("SVC-1"))
        work.emit(event("SVC-2"))
    assert recorder.seen == [e.id for e in sink.events] and len(set(recorder.seen)) == 2
    assert await SqlPrincipalRepository(sql_database).get("t1", "SVC-R2") is not None


async def test_a_failing_recorder_rolls_the_unit_back_and_publishes_nothing(sql_database: Database) -> None:
    sink = RecordingSink()
    uow = SqlUnitOfWork(sql_database, sink)
    uow.add_recorder(PrincipalRecorder(sql_database, fail=True))
    with pytest.raises(Boom):
        async with uow() as work:
            await SqlTenantRepository(sql_database).create(tenant("t1"))
            work.emit(event("SVC-1"))
    assert await SqlTenantRepository(sql_database).get("t1") is None
    assert await SqlPrincipalRepository(sql_database).get("t1", "SVC-R1") is None
    assert sink.events == []


async def test_recorders_are_not_called_for_a_unit_without_events_or_that_failed(sql_database: Database) -> None:
    recorder = PrincipalRecorder(sql_database)
    uow = SqlUnitOfWork(sql_database, RecordingSink(), [recorder])
    async with uow():
        await SqlTenantRepository(sql_database).create(tenant("t1"))
    with pytest.raises(Boom):
        async with uow() as work:
            work.emit(event("SVC-1"))
            raise Boom
    assert recorder.seen == []


async def test_an_event_emitted_in_a_request_carries_its_trace_id(sql_database: Database) -> None:
    from lukhas_id.observability.context import RequestContext, close_request, open_request

    sink = RecordingSink()
    token = open_request(RequestContext("4bf92f3577b34da6a3ce929d0e0e4736"))
    try:
        async with SqlUnitOfWork(sql_database, sink)() as work:
            work.emit(event("SVC-1"))
    finally:
        close_request(token)
    async with SqlUnitOfWork(sql_database, sink)() as work:
        work.emit(event("SVC-2"))
    assert [e.trace_id for e in sink.events] == ["4bf92f3577b34da6a3ce929d0e0e4736", None]


class CountingRecorder:
    """Counts the transactions recorders were called in, and the events each got."""

    def __init__(self, fail: bool = False) -> None:
        self.batches: list[list[str]] = []
        self.fail = fail

    async def record(self, events: object) -> None:
        await asyncio.sleep(0.01)  # a commit's latency: units arriving meanwhile wait for the next batch
        self.batches.append([e.id for e in events])  # type: ignore[attr-defined]
        if self.fail:
            raise Boom


async def test_units_with_only_events_share_their_transactions(sql_database: Database) -> None:
    """Group commit: a unit whose change is elsewhere (Redis) writes only events; concurrent such units are
    recorded together, each returning once its batch committed, and each publishing its own events."""
    sink = RecordingSink()
    recorder = CountingRecorder()
    uow = SqlUnitOfWork(sql_database, sink, [recorder])

    async def one(n: int) -> str:
        async with uow() as work:
            work.emit(event(f"SVC-{n}"))
        return sink.events[-1].id if sink.events else ""

    await asyncio.gather(*(one(n) for n in range(40)))
    recorded = [i for batch in recorder.batches for i in batch]
    assert sorted(recorded) == sorted(e.id for e in sink.events) and len(recorded) == 40
    assert len(recorder.batches) < 10  # 40 units, a handful of transactions
    # A unit that touched SQL still records inside its own transaction.
    async with uow() as work:
        await SqlTenantRepository(sql_database).create(tenant("t1"))
        work.emit(event("SVC-own"))
    assert recorder.batches[-1] == [sink.events[-1].id]


async def test_a_failed_shared_transaction_fails_every_unit_in_it(sql_database: Database) -> None:
    sink = RecordingSink()
    uow = SqlUnitOfWork(sql_database, sink, [CountingRecorder(fail=True)])

    async def one(n: int) -> None:
        async with uow() as work:
            work.emit(event(f"SVC-{n}"))

    results = await asyncio.gather(*(one(n) for n in range(5)), return_exceptions=True)
    assert all(isinstance(r, Boom) for r in results) and sink.events == []
