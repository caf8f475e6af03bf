"""Events through the outbox to NATS JetStream (`make bench` with BENCH_ONLY=events, or `python -m bench.events`).

Writers commit identity events (one `sign_in.refused` per unit of work, as a sign-in failure does) to a
PostgreSQL outbox at BENCH_EVENTS_RATE events/s (default 1,000) for BENCH_DURATION seconds (default 10);
a separate `lukhas-id events relay` process publishes them to NATS JetStream (a stream of the bench's
own); a core NATS subscriber on the stream's subjects measures each event's delivery lag (its receipt
minus the event's time, so the ack plus one hop). Reports the offered and delivered rates and lag
p50/p99/max; target p99 < 1 s. Needs PostgreSQL and NATS (BENCH_PG_URL, BENCH_NATS_URL).
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import asyncpg  # type: ignore[import-untyped]
import nats
import orjson

from lukhas_id.adapters.crypto.kek import new_kek_b64
from lukhas_id.adapters.events.in_process import RecordingSink
from lukhas_id.adapters.sql import Database
from lukhas_id.adapters.sql.outbox import SqlOutbox, SqlOutboxRecorder
from lukhas_id.adapters.sql.unit_of_work import SqlUnitOfWork
from lukhas_id.domain.events import EventType, IdentityEvent

PG_URL = os.environ.get("BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
NATS_URL = os.environ.get("BENCH_NATS_URL", "nats://127.0.0.1:4222")
WRITERS = 8
P99_TARGET_S = 1.0


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


async def run(rate: float, duration: float) -> int:
    schema = f"bench_ev_{uuid.uuid4().hex[:8]}"
    tag = uuid.uuid4().hex[:8]
    stream, prefix = f"BENCH{tag.upper()}", f"bench{tag}"
    admin = await asyncpg.connect(PG_URL)
    await admin.execute(f'CREATE SCHEMA "{schema}"')
    url = f"{PG_URL}{'&' if '?' in PG_URL else '?'}search_path={schema}"
    database = Database.from_url(url)
    relay: subprocess.Popen[bytes] | None = None
    client = await nats.connect(NATS_URL)
    try:
        await database.upgrade()
        env = {k: v for k, v in os.environ.items() if not k.startswith("LUKHAS_ID_")}
        env.update(
            {
                "LUKHAS_ID_DATABASE_URL": url,
                "LUKHAS_ID_KEK": new_kek_b64(),
                "LUKHAS_ID_VAR_DIR": str(Path(".cache") / "bench" / "events"),
                "LUKHAS_ID_NATS_URL": NATS_URL,
                "LUKHAS_ID_NATS_STREAM": stream,
                "LUKHAS_ID_NATS_SUBJECT_PREFIX": prefix,
                "LUKHAS_ID_EVENT_RELAY_POLL_INTERVAL": "0.05",
                "LUKHAS_ID_LOG_LEVEL": "WARNING",
            }
        )
        command = [sys.executable, "-m", "lukhas_id", "events", "relay"]
        relay = subprocess.Popen(command, env=env)  # noqa: ASYNC220 - started once, before the measurement
        lags: list[float] = []
        received = 0
        last_at = 0.0

        async def on_message(msg: object) -> None:
            nonlocal received, last_at
            now = time.time()
            data = orjson.loads(msg.data)  # type: ignore[attr-defined]
            lags.append(now - float(data["time"]))
            received += 1
            last_at = now

        await client.subscribe(f"{prefix}.>", cb=on_message)
        await asyncio.sleep(2.0)  # the relay is up and holds its lease
        uow = SqlUnitOfWork(database, RecordingSink(), [SqlOutboxRecorder(database)])
        total = int(rate * duration)
        per_writer = total // WRITERS
        interval = WRITERS / rate
        started = time.monotonic()

        async def writer(index: int) -> None:
            tenant = f"tenant-{index % 4}"
            for n in range(per_writer):
                due = started + n * interval + index * interval / WRITERS
                delay = due - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                async with uow() as work:
                    work.emit(IdentityEvent(EventType.SIGN_IN_REFUSED, tenant, f"USR-{n % 50}", time.time()))

        await asyncio.gather(*(writer(i) for i in range(WRITERS)))
        written_s = time.monotonic() - started
        sent = per_writer * WRITERS
        deadline = time.monotonic() + 30
        while received < sent and time.monotonic() < deadline:  # noqa: ASYNC110 - the subscriber counts
            await asyncio.sleep(0.05)
        delivered_s = last_at - (time.time() - (time.monotonic() - started))
        backlog = await SqlOutbox(database).backlog()
    finally:
        if relay is not None:
            relay.send_signal(signal.SIGINT)
            relay.wait(20)
        try:
            await client.jetstream().delete_stream(stream)
        except Exception:  # noqa: S110 - never made
            pass
        await client.close()
        await database.dispose()
        await admin.execute(f'DROP SCHEMA "{schema}" CASCADE')
        await admin.close()
    p50, p99 = _pct(lags, 0.5), _pct(lags, 0.99)
    verdict = "PASS" if received == sent and p99 < P99_TARGET_S else "MISS"
    print(
        f"events through the outbox to NATS: offered {rate:.0f}/s for {duration:.0f} s; written {sent} in "
        f"{written_s:.1f} s ({sent / written_s:.0f}/s); delivered {received} "
        f"({received / max(delivered_s, 1e-9):.0f}/s), "
        f"backlog after {backlog}; lag p50 {p50 * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms, max "
        f"{max(lags, default=float('nan')) * 1000:.1f} ms; target p99 < {P99_TARGET_S:.0f} s: {verdict}",
        flush=True,
    )
    return 0 if verdict == "PASS" else 1


def main() -> int:
    rate = float(os.environ.get("BENCH_EVENTS_RATE", "1000"))
    duration = float(os.environ.get("BENCH_DURATION", "10"))
    status = asyncio.run(run(rate, duration))
    return status if os.environ.get("BENCH_STRICT", "") not in ("", "0") else 0


if __name__ == "__main__":
    sys.exit(main())
