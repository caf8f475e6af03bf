"""Durable identity events through crashes (issue 11): a relay process killed with SIGKILL mid-stream and
started again, and the NATS server killed and started again on the same port and store, over a
PostgreSQL outbox with many events; a subscriber then has every event exactly once after
de-duplication by event id, in order per tenant, and the outbox is drained."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import nats
import pytest

from lukhas_id.adapters.crypto.kek import new_kek_b64
from lukhas_id.adapters.sql import Database
from lukhas_id.adapters.sql.outbox import SqlOutbox
from tests.support.nats import Names, PrivateNats, read_stream, until
from tests.support.outbox import events, write

pytestmark = [pytest.mark.e2e, pytest.mark.nats, pytest.mark.postgres]

TENANTS = ("t-a", "t-b", "t-c")
PER_TENANT = 1000


def start_relay(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen([sys.executable, "-m", "lukhas_id", "events", "relay"], env=env, stdout=out, stderr=out)


async def test_every_event_arrives_once_through_a_killed_relay_and_a_restarted_nats(
    pg_migrated_url: str, tmp_path: Path
) -> None:
    server = PrivateNats(tmp_path / "js")
    server.start()
    names = Names.unique()
    env = {k: v for k, v in os.environ.items() if not k.startswith("LUKHAS_ID_")}
    env.update(
        {
            "LUKHAS_ID_VAR_DIR": str(tmp_path / "var"),
            "LUKHAS_ID_DATABASE_URL": pg_migrated_url,
            "LUKHAS_ID_KEK": new_kek_b64(),
            "LUKHAS_ID_EVENT_RELAY_POLL_INTERVAL": "0.1",
            "LUKHAS_ID_EVENT_RELAY_LEASE_TTL": "2",
            **names.env(server.url),
        }
    )
    database = Database.from_url(pg_migrated_url)
    client = await nats.connect(server.url)
    js = client.jetstream()
    log = tmp_path / "relay.log"
    relays: list[subprocess.Popen[bytes]] = []
    try:
        written = {name: events(name, PER_TENANT) for name in TENANTS}
        interleaved = [e for group in zip(*written.values(), strict=True) for e in group]
        await write(database, interleaved, per_unit=15)

        async def stored(at_least: int) -> bool:
            try:
                return bool((await js.stream_info(names.stream)).state.messages >= at_least)
            except Exception:
                return False

        relays.append(start_relay(env, log))
        await until(lambda: stored(300), 60)
        relays[-1].send_signal(signal.SIGKILL)  # mid-stream: some rows published, not yet marked sent
        relays[-1].wait(10)
        assert await SqlOutbox(database).backlog() > 0

        relays.append(start_relay(env, log))  # waits out the dead relay's lease (2 s), then goes on
        await until(lambda: stored(1500), 60)
        server.kill()  # the bus goes away under the relay ...
        await asyncio.sleep(1.5)
        server.start()  # ... and comes back on the same port and store
        await client.close()
        client = await nats.connect(server.url)
        js = client.jetstream()

        async def drained() -> bool:
            return await SqlOutbox(database).backlog() == 0

        await until(drained, 90, 0.2)
        relays[-1].send_signal(signal.SIGINT)
        assert relays[-1].wait(20) == 0, log.read_text()
        messages = await read_stream(server.url, names, at_least=len(interleaved))
    finally:
        for process in relays:
            if process.poll() is None:
                process.kill()
                process.wait(10)
        await client.close()
        await database.dispose()
        server.kill()

    first: dict[str, dict[str, object]] = {}
    for message in messages:
        assert message.headers["Nats-Msg-Id"] == message.data["id"]
        first.setdefault(str(message.data["id"]), message.data)
    assert set(first) == {e.id for e in interleaved}  # every event, once after de-duplication
    for name, group in written.items():  # in order per tenant
        assert [i for i, d in first.items() if d["tenant"] == name] == [e.id for e in group]
    text = log.read_text()
    assert "Traceback" not in text
    assert text.count("NATS unavailable") <= 1 and "token" not in text.lower()
