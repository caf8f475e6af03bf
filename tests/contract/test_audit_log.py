"""Contract suite of the audit log on SQL (SQLite and PostgreSQL): the recorder's hash chain in the unit's
transaction, concurrent appends, the append-only triggers, and tampering made directly in the database
(edit, delete, insert, swap, truncate after a checkpoint, a recomputed chain, a forged checkpoint) caught
by verification with the right record named."""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import Sequence
from typing import Any

import pytest
from sqlalchemy import text

from lukhas_id.adapters.crypto.kek import Kek
from lukhas_id.adapters.events.in_process import RecordingSink
from lukhas_id.adapters.sql import Database
from lukhas_id.adapters.sql.audit import SqlAuditRecorder, SqlAuditStore
from lukhas_id.adapters.sql.unit_of_work import SqlUnitOfWork
from lukhas_id.clock import FixedClock
from lukhas_id.domain.audit import GENESIS_HASH, AuditRecord, Breach, record_hash
from lukhas_id.domain.events import EventType, IdentityEvent
from lukhas_id.observability.context import acting
from lukhas_id.services.audit import AuditService


def sign_in(tenant: str, n: int, at: float = 1_800_000_000.0) -> IdentityEvent:
    return IdentityEvent(
        EventType.USER_SIGNED_IN,
        tenant,
        f"USR-{n:04d}",
        at + n,
        metadata={"method": "password", "sid": f"s{n}", "amr": "pwd", "acr": "1"},
    )


def parts(database: Database) -> tuple[SqlUnitOfWork, AuditService, SqlAuditStore]:
    uow = SqlUnitOfWork(database, RecordingSink(), [SqlAuditRecorder(database)])
    store = SqlAuditStore(database)
    return uow, AuditService(store, Kek(secrets.token_bytes(32)), FixedClock()), store


async def append(uow: SqlUnitOfWork, events: Sequence[IdentityEvent]) -> None:
    async with uow() as work:
        for event in events:
            work.emit(event)


async def all_records(store: SqlAuditStore, tenant: str) -> list[AuditRecord]:
    return await store.records(tenant, after_seq=0, limit=100_000)


async def tamper(database: Database, *statements: str, **params: Any) -> None:
    """Run SQL as someone with direct access to the database would: past the append-only triggers."""
    async with database.engine.begin() as conn:
        if database.is_sqlite:
            for table in ("audit_records", "audit_checkpoints"):
                for operation in ("update", "delete"):
                    await conn.execute(text(f"DROP TRIGGER IF EXISTS {table}_no_{operation}"))
        else:
            await conn.execute(text("SET LOCAL session_replication_role = replica"))
        for statement in statements:
            await conn.execute(text(statement), params)


async def only_finding(service: AuditService, tenant: str = "t1") -> tuple[int, Breach] | None:
    (report,) = await service.verify([tenant])
    return None if report.finding is None else (report.finding.seq, report.finding.breach)


# --- appending -------------------------------------------------------------------------------------------


async def test_a_units_events_are_chained_in_its_transaction(sql_database: Database) -> None:
    uow, service, store = parts(sql_database)
    with acting("cli user delete") as context:
        await append(uow, [sign_in("t1", 1), sign_in("t1", 2)])
    await append(uow, [sign_in("t1", 3), sign_in("t2", 4)])
    records = await all_records(store, "t1")
    assert [r.seq for r in records] == [1, 2, 3]
    assert records[0].prev_hash == GENESIS_HASH
    assert [r.prev_hash for r in records[1:]] == [r.hash for r in records[:-1]]
    assert all(r.hash == record_hash(r.body()) for r in records)
    assert records[0].origin == "cli user delete" and records[0].trace_id == context.trace_id
    assert records[2].origin is None
    assert records[0].principal == "USR-0001" and records[0].principal_type == "USR"
    assert records[0].metadata == {"method": "password", "sid": "s1", "amr": "pwd", "acr": "1"}
    assert records[0].body()["time"] == "2027-01-15T08:00:01.000000Z"
    assert [r.seq for r in await all_records(store, "t2")] == [1]
    head = await store.head("t1")
    assert head is not None and (head.seq, head.hash) == (3, records[2].hash)
    assert [(r.tenant_id, r.records, r.finding) for r in await service.verify()] == [("t1", 3, None), ("t2", 1, None)]


async def test_a_rolled_back_unit_leaves_no_record(sql_database: Database) -> None:
    uow, service, store = parts(sql_database)
    await append(uow, [sign_in("t1", 1)])
    with pytest.raises(RuntimeError):
        async with uow() as work:
            work.emit(sign_in("t1", 2))
            raise RuntimeError("the use case failed")
    await append(uow, [sign_in("t1", 3)])
    assert [r.principal for r in await all_records(store, "t1")] == ["USR-0001", "USR-0003"]
    assert await only_finding(service) is None


async def test_concurrent_units_of_one_tenant_make_one_chain_without_gaps(sql_database: Database) -> None:
    uow, service, store = parts(sql_database)
    units = 40

    async def one(n: int) -> None:
        await append(uow, [sign_in("t1", 2 * n), sign_in("t1", 2 * n + 1)])

    await asyncio.gather(*(one(n) for n in range(units)))
    records = await all_records(store, "t1")
    assert [r.seq for r in records] == list(range(1, 2 * units + 1))
    assert sorted(r.principal or "" for r in records) == sorted(f"USR-{n:04d}" for n in range(2 * units))
    # The two events of each unit are neighbours: appends never interleave.
    for first, second in zip(records[::2], records[1::2], strict=True):
        assert int((second.principal or "")[4:]) == int((first.principal or "")[4:]) + 1
    assert await only_finding(service) is None


async def test_the_records_refuse_update_and_delete(sql_database: Database) -> None:
    uow, _, _ = parts(sql_database)
    await append(uow, [sign_in("t1", 1)])
    for statement in ("UPDATE audit_records SET type = 'x'", "DELETE FROM audit_records"):
        with pytest.raises(Exception, match="append-only"):
            async with sql_database.engine.begin() as conn:
                await conn.execute(text(statement))


# --- sealing -----------------------------------------------------------------------------------------------


async def test_seal_signs_each_grown_head_once_with_the_audit_key(sql_database: Database) -> None:
    uow, service, store = parts(sql_database)
    await append(uow, [sign_in("t1", 1), sign_in("t1", 2), sign_in("t2", 3)])
    made = await service.seal()
    assert [(c.tenant_id, c.seq) for c in made] == [("t1", 2), ("t2", 1)]
    assert await service.seal() == []  # nothing grew
    await append(uow, [sign_in("t1", 4)])
    assert [(c.tenant_id, c.seq) for c in await service.seal()] == [("t1", 3)]
    (jwk,) = await service.public_keys()
    assert jwk["kty"] == "OKP" and jwk["crv"] == "Ed25519" and jwk["alg"] == "EdDSA" and "d" not in jwk
    header = json.loads(__import__("base64").urlsafe_b64decode(made[0].jws.split(".")[0] + "=="))
    assert header == {"alg": "EdDSA", "kid": jwk["kid"], "typ": "audit-checkpoint+jwt"}
    assert [r.checkpoints for r in await service.verify()] == [2, 1]


# --- tampering ---------------------------------------------------------------------------------------------


async def chain_of(database: Database, count: int, *, seal: bool = True) -> tuple[AuditService, SqlAuditStore]:
    uow, service, store = parts(database)
    for n in range(1, count + 1):
        await append(uow, [sign_in("t1", n)])
    if seal:
        await service.seal()
    assert await only_finding(service) is None
    return service, store


async def test_an_edited_record_is_named(sql_database: Database) -> None:
    service, _ = await chain_of(sql_database, 6)
    await tamper(sql_database, "UPDATE audit_records SET principal = 'USR-9999' WHERE tenant_id = 't1' AND seq = 4")
    assert await only_finding(service) == (4, Breach.EDITED)


async def test_an_edited_record_with_its_hash_recomputed_breaks_the_next_link(sql_database: Database) -> None:
    service, store = await chain_of(sql_database, 6)
    (record,) = [r for r in await all_records(store, "t1") if r.seq == 3]
    forged = {**record.body(), "type": "user.signed_out"}
    await tamper(
        sql_database,
        "UPDATE audit_records SET type = 'user.signed_out', hash = :h WHERE tenant_id = 't1' AND seq = 3",
        h=record_hash(forged),
    )
    assert await only_finding(service) == (4, Breach.INSERTED)


async def test_a_deleted_record_is_named(sql_database: Database) -> None:
    service, _ = await chain_of(sql_database, 6)
    await tamper(sql_database, "DELETE FROM audit_records WHERE tenant_id = 't1' AND seq = 3")
    assert await only_finding(service) == (3, Breach.DELETED)


async def test_an_inserted_record_is_named(sql_database: Database) -> None:
    service, store = await chain_of(sql_database, 6)
    last = (await all_records(store, "t1"))[-1]
    # A well-formed record appended behind ΛiD's back: its links and hash are right, the head is not moved.
    body = {**last.body(), "seq": 7, "id": "forged", "prev_hash": last.hash}
    await tamper(
        sql_database,
        "INSERT INTO audit_records (tenant_id, seq, event_id, type, time_us, principal, principal_type, client_id,"
        " trace_id, origin, metadata, prev_hash, hash) SELECT tenant_id, 7, 'forged', type, time_us, principal,"
        " principal_type, client_id, trace_id, origin, metadata, hash, :h FROM audit_records"
        " WHERE tenant_id = 't1' AND seq = 6",
        h=record_hash(body),
    )
    assert await only_finding(service) == (7, Breach.BEYOND_HEAD)


async def test_a_record_inserted_with_a_wrong_link_is_named(sql_database: Database) -> None:
    service, _ = await chain_of(sql_database, 6, seal=False)
    await tamper(
        sql_database,
        "UPDATE audit_heads SET seq = 7 WHERE tenant_id = 't1'",
        "INSERT INTO audit_records (tenant_id, seq, event_id, type, time_us, principal, principal_type, client_id,"
        " trace_id, origin, metadata, prev_hash, hash) SELECT tenant_id, 7, 'forged', type, time_us, principal,"
        " principal_type, client_id, trace_id, origin, metadata, prev_hash, hash FROM audit_records"
        " WHERE tenant_id = 't1' AND seq = 5",
    )
    assert await only_finding(service) == (7, Breach.INSERTED)


async def test_two_swapped_records_are_named(sql_database: Database) -> None:
    service, _ = await chain_of(sql_database, 6)
    await tamper(
        sql_database,
        "UPDATE audit_records SET seq = -1 WHERE tenant_id = 't1' AND seq = 2",
        "UPDATE audit_records SET seq = 2 WHERE tenant_id = 't1' AND seq = 3",
        "UPDATE audit_records SET seq = 3 WHERE tenant_id = 't1' AND seq = -1",
    )
    assert await only_finding(service) == (2, Breach.INSERTED)


async def test_records_deleted_from_the_end_after_a_checkpoint_are_named(sql_database: Database) -> None:
    service, store = await chain_of(sql_database, 6)
    records = await all_records(store, "t1")
    # The tail goes and the head row is moved back to match: only the checkpoint still knows.
    await tamper(
        sql_database,
        "DELETE FROM audit_records WHERE tenant_id = 't1' AND seq >= 5",
        "UPDATE audit_heads SET seq = 4, hash = :h WHERE tenant_id = 't1'",
        h=records[3].hash,
    )
    assert await only_finding(service) == (5, Breach.TRUNCATED)


async def test_records_deleted_from_the_end_are_named_by_the_head_without_a_checkpoint(
    sql_database: Database,
) -> None:
    service, _ = await chain_of(sql_database, 6, seal=False)
    await tamper(sql_database, "DELETE FROM audit_records WHERE tenant_id = 't1' AND seq >= 5")
    assert await only_finding(service) == (5, Breach.TRUNCATED)


async def test_a_chain_recomputed_after_an_edit_is_caught_by_its_checkpoint(sql_database: Database) -> None:
    service, store = await chain_of(sql_database, 6)
    records = await all_records(store, "t1")
    # Edit record 2 and recompute every hash after it, head included: the chain itself is consistent again.
    statements, params, prev = [], {}, records[0].hash
    for record in records[1:]:
        body = {**record.body(), "prev_hash": prev}
        if record.seq == 2:
            body["principal"] = "USR-0666"
        prev = record_hash(body)
        n = record.seq
        statements.append(
            f"UPDATE audit_records SET principal = :p{n}, prev_hash = :ph{n}, hash = :h{n} WHERE seq = {n}"  # noqa: S608
        )
        params |= {f"p{record.seq}": body["principal"], f"ph{record.seq}": body["prev_hash"], f"h{record.seq}": prev}
    statements.append("UPDATE audit_heads SET hash = :head WHERE tenant_id = 't1'")
    await tamper(sql_database, *statements, head=prev, **params)
    assert await only_finding(service) == (6, Breach.CHECKPOINT_MISMATCH)


async def test_a_forged_checkpoint_is_named(sql_database: Database) -> None:
    service, store = await chain_of(sql_database, 6)
    (checkpoint,) = await store.checkpoints("t1")
    header, payload, signature = checkpoint.jws.split(".")
    forged = ".".join([header, payload, signature[:-4] + ("AAAA" if signature[-4:] != "AAAA" else "BBBB")])
    await tamper(sql_database, "UPDATE audit_checkpoints SET jws = :j WHERE tenant_id = 't1'", j=forged)
    finding = await only_finding(service)
    assert finding == (6, Breach.CHECKPOINT_SIGNATURE)
