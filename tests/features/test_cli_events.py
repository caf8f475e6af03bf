"""`lukhas-id events tail` and `events relay` as an operator runs them: JSON lines from the outbox and from
NATS, a clean end on Ctrl-C, and one-line usage errors (exit 2) with the closest name."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from lukhas_id.adapters.events.nats import NatsPublisher
from lukhas_id.adapters.sql import Database
from lukhas_id.adapters.sql.outbox import SqlOutbox, SqlRelayLease
from lukhas_id.clock import SystemClock
from lukhas_id.metrics import Metrics
from lukhas_id.services.event_relay import EventRelay
from tests.support.cli import Run, make_cli
from tests.support.nats import Names, delete_stream


@pytest.fixture
def cli(tmp_path: Path) -> Run:
    return make_cli(tmp_path)


def env_for(tmp_path: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LUKHAS_ID_")}
    return {**env, "LUKHAS_ID_VAR_DIR": str(tmp_path), "LUKHAS_ID_EVENT_RELAY_POLL_INTERVAL": "0.1", **(extra or {})}


def tail(tmp_path: Path, *args: str, lines: int, extra: dict[str, str] | None = None) -> list[dict[str, object]]:
    """Start `events tail`, read `lines` JSON lines, then Ctrl-C it: it must end cleanly (exit 0)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "lukhas_id", "events", "tail", *args],
        env=env_for(tmp_path, extra),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    watchdog = threading.Timer(30, process.kill)  # a missing line fails the test instead of hanging it
    watchdog.start()
    try:
        assert process.stdout is not None
        got = [json.loads(process.stdout.readline()) for _ in range(lines)]
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=20)
    finally:
        watchdog.cancel()
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, err
    assert "Traceback" not in err
    return got


def test_tail_follows_the_outbox_as_json_lines(cli: Run, tmp_path: Path) -> None:
    cli("tenant", "create", "acme")
    cli("tenant", "create", "other")
    got = tail(tmp_path, "--from-start", "--tenant", "acme", "--type", "tenant.created", lines=1)
    assert got[0]["type"] == "tenant.created" and set(got[0]) >= {"id", "time", "tenant", "trace_id", "metadata"}
    everything = tail(tmp_path, "--from-start", lines=2)
    assert [e["metadata"]["tenant_name"] for e in everything] == ["acme", "other"]  # type: ignore[index]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--tenant", "acmee"], "error: Invalid value for --tenant: no tenant named 'acmee' (did you mean 'acme'?)"),
        (["--type", "sign_in.refuse"], "did you mean 'sign_in.refused'?"),
        (["--type", "nonsense"], "error: Invalid value for --type: unknown event type 'nonsense'"),
        (["--from-start", "now"], "error: Got unexpected extra argument(s) (now)"),
        (["--bogus"], "No such option: --bogus"),
    ],
)
def test_tail_refuses_bad_input_in_one_line(cli: Run, args: list[str], expected: str) -> None:
    cli("tenant", "create", "acme")
    proc = cli("events", "tail", *args, ok=False)
    assert proc.returncode == 2
    assert expected in proc.stderr


def test_relay_refuses_to_run_with_the_outbox_off(cli: Run) -> None:
    proc = cli("events", "relay", ok=False, extra={"LUKHAS_ID_EVENT_OUTBOX": "false"})
    assert proc.returncode == 2 and "the event outbox is off" in proc.stderr


def test_a_bad_nats_setting_is_one_line(cli: Run) -> None:
    proc = cli("events", "tail", ok=False, extra={"LUKHAS_ID_NATS_URL": "http://127.0.0.1:4222"})
    assert "error: invalid setting LUKHAS_ID_NATS_URL: value error, must be a nats://" in proc.stderr
    proc = cli("events", "tail", ok=False, extra={"LUKHAS_ID_NATS_SUBJECT_PREFIX": "a..b"})
    assert "LUKHAS_ID_NATS_SUBJECT_PREFIX" in proc.stderr


@pytest_asyncio.fixture
async def names(nats_url: str) -> AsyncIterator[Names]:
    made = Names.unique()
    yield made
    await delete_stream(nats_url, made.stream)


@pytest.mark.nats
async def test_tail_follows_nats_with_the_stream_sequence(
    cli: Run, tmp_path: Path, nats_url: str, names: Names
) -> None:
    cli("tenant", "create", "acme")
    cli("tenant", "create", "other")
    database = Database.from_url(f"sqlite:///{tmp_path / 'lukhas-id.db'}")
    relay = EventRelay(
        SqlOutbox(database),
        SqlRelayLease(database),
        SystemClock(),
        Metrics(),
        publisher=NatsPublisher(nats_url, stream=names.stream, prefix=names.prefix),
    )
    try:
        assert await relay.step() == 2
    finally:
        await relay.close()
        await database.dispose()
    extra = {f"LUKHAS_ID_{k.upper()}": v for k, v in names.settings(nats_url).items()}
    got = tail(tmp_path, "--from-start", lines=2, extra=extra)
    assert [e["stream_seq"] for e in got] == [1, 2]
    assert [e["type"] for e in got] == ["tenant.created", "tenant.created"]
    only = tail(tmp_path, "--from-start", "--tenant", "acme", lines=1, extra=extra)
    assert only[0]["id"] == got[0]["id"] and only[0]["stream_seq"] == 1
