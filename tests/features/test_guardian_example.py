"""The Guardian/drift example consumer (lukhas_id/examples/guardian.py) end to end: sign-in failures in
through the outbox and the relay, one anomaly out, and none more when the failures are delivered again."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from lukhas_id.adapters.events.nats import NatsPublisher
from lukhas_id.adapters.sql import Database
from lukhas_id.domain.events import EventType, IdentityEvent
from lukhas_id.examples.guardian import Guardian, Scorer
from tests.support.nats import Names, delete_stream, read_stream, until
from tests.support.outbox import relay, write


@pytest_asyncio.fixture
async def names(nats_url: str) -> AsyncIterator[Names]:
    made = Names.unique()
    yield made
    await delete_stream(nats_url, made.stream)


def refused(principal: str, at: float) -> IdentityEvent:
    return IdentityEvent(EventType.SIGN_IN_REFUSED, "ta", principal, at, metadata={"method": "password"})


async def run_guardian(guardian: Guardian, seen: int) -> None:
    stop = asyncio.Event()
    task = asyncio.create_task(guardian.run(stop))

    async def handled() -> bool:
        return len(guardian._seen) >= seen

    try:
        await until(handled, 60)  # a bound for a loaded machine, not a speed target
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)


@pytest.mark.nats
async def test_failures_in_one_anomaly_out_and_no_duplicate_on_redelivery(
    sqlite_migrated_url: str, nats_url: str, names: Names
) -> None:
    database = Database.from_url(sqlite_migrated_url)
    try:
        burst = [refused("USR-A", 1000.0 + i) for i in range(4)] + [refused("USR-B", 1000.0), refused("USR-B", 2000.0)]
        await write(database, burst)
        worker = relay(database, publisher=NatsPublisher(nats_url, stream=names.stream, prefix=names.prefix))
        try:
            assert await worker.step() == 6
        finally:
            await worker.close()
    finally:
        await database.dispose()

    first = Guardian(nats_url, names.stream, names.prefix, "guardian", Scorer(threshold=3, window=60))
    await run_guardian(first, 6)
    assert first.anomalies == 1
    # Everything delivered again (a new consumer, fresh memory): the same anomaly id, dropped by JetStream.
    again = Guardian(nats_url, names.stream, names.prefix, "guardian-again", Scorer(threshold=3, window=60))
    await run_guardian(again, 6)
    assert again.anomalies == 1

    messages = await read_stream(nats_url, names, at_least=7, seconds=60)
    anomalies = [m for m in messages if m.subject == f"{names.prefix}.ta.anomaly.sign_in_failures"]
    assert len(anomalies) == 1
    assert anomalies[0].data["principal"] == "USR-A" and anomalies[0].data["failures"] == 3
    assert anomalies[0].data["window_start"] == 1000.0


def test_the_scorer_slides_its_window() -> None:
    scorer = Scorer(threshold=3, window=10)
    assert scorer.add("t", "p", 0) is None
    assert scorer.add("t", "p", 5) is None
    assert scorer.add("t", "p", 11) is None  # the failure at 0 left the window
    assert scorer.add("t", "q", 11) is None  # another principal counts apart
    assert scorer.add("t", "p", 12) == (3, 5)


@pytest.mark.parametrize("args", [["--threshold", "0"], ["--window", "-1"], ["--threshold", "many"]])
def test_bad_arguments_are_a_usage_error(args: list[str], tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "lukhas_id.examples.guardian", *args], capture_output=True, text=True, timeout=30
    )
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith("usage:") is False
