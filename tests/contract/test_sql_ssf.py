"""Contract suite for the Shared Signals storage ports (ports/ssf.py): SsfStreamRepository and SetQueue, on
SQLite and PostgreSQL (adapters/sql/ssf.py). Idempotent queueing by jti, claim (a lease) and its release,
acknowledgement, redelivery of what was not acknowledged, giving up, and purge."""

from __future__ import annotations

import dataclasses
import secrets

import pytest

from lukhas_id.adapters.crypto.kek import Kek
from lukhas_id.adapters.sql import Database
from lukhas_id.adapters.sql.ssf import SqlSetQueue, SqlSsfStreams
from lukhas_id.domain.ssf import DefaultSubjects, DeliveryMethod, QueuedSet, Stream, StreamStatus
from lukhas_id.ports.ssf import SetQueue, SsfStreamRepository
from tests.support.sql_seed import seed

T1 = "t1"


def stream(stream_id: str, method: DeliveryMethod = DeliveryMethod.POLL, **changes: object) -> Stream:
    base = Stream(
        stream_id=stream_id,
        tenant_id=T1,
        client_id="cl_receiver",
        method=method,
        endpoint_url="https://rx.example/events" if method is DeliveryMethod.PUSH else None,
        authorization_header="Bearer rx-credential" if method is DeliveryMethod.PUSH else None,
        events_requested=None,
        events_delivered=("urn:a", "urn:b"),
        description="d",
        status=StreamStatus.ENABLED,
        reason=None,
        default_subjects=DefaultSubjects.ALL,
        created_at=100.0,
        updated_at=100.0,
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def queued(jti: str, stream_id: str, at: float = 100.0, *, control: bool = False) -> QueuedSet:
    return QueuedSet(jti, stream_id, T1, {"jti": jti, "events": {"urn:a": {}}}, control, 0, at, at)


@pytest.fixture
async def stores(sql_database: Database) -> tuple[SsfStreamRepository, SetQueue]:
    await seed(sql_database, T1)
    streams = SqlSsfStreams(sql_database, Kek(secrets.token_bytes(32)))
    await streams.create(stream("poll-1"))
    await streams.create(stream("push-1", DeliveryMethod.PUSH))
    return streams, SqlSetQueue(sql_database)


async def test_streams_round_trip_touch_subjects_and_delete(stores: tuple[SsfStreamRepository, SetQueue]) -> None:
    streams, queue = stores
    push = await streams.get(T1, "push-1")
    assert push == stream("push-1", DeliveryMethod.PUSH)  # the authorization header decrypts back
    assert await streams.get("other-tenant", "push-1") is None
    assert [s.stream_id for s in await streams.for_client(T1, "cl_receiver")] == ["poll-1", "push-1"]
    await streams.save(dataclasses.replace(push, status=StreamStatus.PAUSED, reason="r", updated_at=150.0))
    await streams.touch("push-1", 200.0)
    got = await streams.get(T1, "push-1")
    assert got is not None and (got.status, got.reason, got.updated_at) == (StreamStatus.PAUSED, "r", 200.0)
    await streams.set_subject("push-1", "k1", True)
    await streams.set_subject("push-1", "k2", True)
    await streams.set_subject("push-1", "k2", False)  # removed after being added: the last word counts
    assert await streams.subject_rules("push-1", ["k1", "k2", "k3"]) == {"k1": True, "k2": False}
    assert await streams.subject_rules("poll-1", ["k1"]) == {}
    await queue.enqueue([queued("j1", "push-1")])
    assert await streams.delete(T1, "push-1")
    assert not await streams.delete(T1, "push-1")
    assert await streams.get(T1, "push-1") is None
    assert await streams.subject_rules("push-1", ["k1"]) == {}
    # Its queued SET went with it: the jti can be queued again on another stream.
    assert await queue.enqueue([queued("j1", "poll-1")]) == 1


async def test_enqueue_is_idempotent_by_jti_and_keeps_order(stores: tuple[SsfStreamRepository, SetQueue]) -> None:
    _, queue = stores
    assert await queue.enqueue([queued("a", "poll-1", 300.0), queued("b", "poll-1", 100.0)]) == 2
    assert await queue.enqueue([queued("b", "poll-1"), queued("c", "poll-1")]) == 1  # b known: skipped
    assert await queue.enqueue([]) == 0
    found, more = await queue.pending("poll-1", 10, control_only=False)
    assert [s.jti for s in found] == ["a", "b", "c"] and not more  # in the order queued, not by time
    assert found[0].claims == {"jti": "a", "events": {"urn:a": {}}}
    # A delivered SET is not queued again either (its jti guards against a source delivering twice).
    assert await queue.acknowledge("poll-1", ["a"]) == [300.0]
    assert await queue.enqueue([queued("a", "poll-1")]) == 0


async def test_poll_pending_ack_redelivery_and_errors(stores: tuple[SsfStreamRepository, SetQueue]) -> None:
    _, queue = stores
    await queue.enqueue([queued(f"p{i}", "poll-1", 100.0 + i) for i in range(5)])
    await queue.enqueue([queued("ctl", "poll-1", 200.0, control=True)])
    first, more = await queue.pending("poll-1", 2, control_only=False)
    assert [s.jti for s in first] == ["p0", "p1"] and more
    again, _ = await queue.pending("poll-1", 2, control_only=False)
    assert [s.jti for s in again] == ["p0", "p1"]  # not acknowledged: handed out again
    assert [s.jti for s in (await queue.pending("poll-1", 9, control_only=True))[0]] == ["ctl"]
    # Acknowledging: only the stream's own pending SETs move; twice is a no-op; unknown jtis are ignored.
    assert await queue.acknowledge("push-1", ["p0"]) == []
    assert await queue.acknowledge("poll-1", ["p0", "p1", "nope"]) == [100.0, 101.0]
    assert await queue.acknowledge("poll-1", ["p0"]) == []
    assert await queue.acknowledge("poll-1", ["p2"], error="invalid_state: no") == [102.0]
    assert await queue.acknowledge("poll-1", []) == []
    rest, more = await queue.pending("poll-1", 10, control_only=False)
    assert [s.jti for s in rest] == ["p3", "p4", "ctl"] and not more
    assert await queue.pending_counts() == {DeliveryMethod.POLL: 3, DeliveryMethod.PUSH: 0}
    assert await queue.drop_pending("poll-1") == 3
    assert (await queue.pending("poll-1", 10, control_only=False))[0] == []
    assert await queue.pending_counts() == {DeliveryMethod.POLL: 0, DeliveryMethod.PUSH: 0}


async def test_push_due_claim_release_retry_and_give_up(stores: tuple[SsfStreamRepository, SetQueue]) -> None:
    streams, queue = stores
    await queue.enqueue([queued("x", "push-1", 100.0), queued("y", "push-1", 500.0), queued("z", "poll-1", 100.0)])
    assert [s.jti for s in await queue.due_push(200.0, 10)] == ["x"]  # y not due; z is a poll stream's
    assert [s.jti for s in await queue.due_push(600.0, 1)] == ["x"]  # the limit
    # The claim is a compare-and-set on the schedule: one of two senders wins.
    assert await queue.claim("x", 100.0, 260.0)
    assert not await queue.claim("x", 100.0, 270.0)
    assert [s.jti for s in await queue.due_push(200.0, 10)] == []  # leased
    # The lease lapses (a sender that died): due again and claimable from its new schedule.
    due = await queue.due_push(300.0, 10)
    assert [(s.jti, s.next_attempt_at) for s in due] == [("x", 260.0)]
    assert await queue.claim("x", 260.0, 330.0)
    # Released for a retry later, with its attempts.
    await queue.retry("x", 1, 400.0, "HTTP 500")
    assert await queue.due_push(399.0, 10) == []
    [x] = await queue.due_push(400.0, 10)
    assert (x.jti, x.attempts, x.next_attempt_at) == ("x", 1, 400.0)
    await queue.delivered("x")
    assert not await queue.claim("x", 400.0, 500.0)  # no longer pending
    assert [s.jti for s in await queue.due_push(1000.0, 10)] == ["y"]
    await queue.failed("y", 3, "given up")
    assert await queue.due_push(1000.0, 10) == []
    assert await queue.enqueue([queued("y", "push-1")]) == 0  # given up is final too


async def test_a_paused_push_stream_sends_only_control_sets(stores: tuple[SsfStreamRepository, SetQueue]) -> None:
    streams, queue = stores
    await queue.enqueue([queued("held", "push-1"), queued("told", "push-1", control=True)])
    push = await streams.get(T1, "push-1")
    assert push is not None
    await streams.save(dataclasses.replace(push, status=StreamStatus.PAUSED))
    assert [s.jti for s in await queue.due_push(200.0, 10)] == ["told"]
    await streams.save(dataclasses.replace(push, status=StreamStatus.DISABLED))
    assert await queue.due_push(200.0, 10) == []
    await streams.save(push)
    assert [s.jti for s in await queue.due_push(200.0, 10)] == ["held", "told"]


async def test_purge_deletes_only_finished_sets_queued_before(stores: tuple[SsfStreamRepository, SetQueue]) -> None:
    _, queue = stores
    await queue.enqueue([queued("old-done", "poll-1", 100.0), queued("old-failed", "poll-1", 100.0)])
    await queue.enqueue([queued("old-pending", "poll-1", 100.0), queued("new-done", "poll-1", 900.0)])
    await queue.acknowledge("poll-1", ["old-done", "new-done"])
    await queue.acknowledge("poll-1", ["old-failed"], error="e")
    assert await queue.purge(500.0) == 2
    # Purged jtis may be queued again; the pending one and the recent one stay.
    assert await queue.enqueue([queued("old-done", "poll-1"), queued("new-done", "poll-1")]) == 1
    assert [s.jti for s in (await queue.pending("poll-1", 10, control_only=False))[0]] == ["old-pending", "old-done"]
