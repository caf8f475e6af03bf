"""Outages in the log (observability/outages.py): once down, a count while down, once back."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

import pytest

from lukhas_id.observability.outages import OutageLog


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def store_lines(caplog: pytest.LogCaptureFixture) -> list[tuple[str, dict[str, object]]]:
    return [
        (r.event, r.fields)  # type: ignore[attr-defined]
        for r in caplog.records
        if getattr(r, "event", "").startswith("store.")
    ]


def test_down_once_a_count_while_down_and_back_once(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="lukhas_id")
    clock = Clock()
    outages = OutageLog(clock=clock, summary_every=60)
    for _ in range(500):
        outages.failed("Redis", "ConnectionError")
    assert store_lines(caplog) == [("store.down", {"store": "Redis", "error": "ConnectionError"})]
    assert caplog.records[0].getMessage() == "Redis unavailable: ConnectionError"
    clock.now += 30
    outages.report("Redis")  # not yet a minute
    clock.now += 31
    outages.report("Redis")
    outages.report("Redis")  # nothing failed since: no second count
    outages.failed("database", "OSError")  # another store is its own outage
    clock.now += 9
    outages.recovered("Redis")
    outages.recovered("Redis")  # once
    assert store_lines(caplog)[1:] == [
        ("store.still_down", {"store": "Redis", "seconds": 61.0, "failures": 499}),
        ("store.down", {"store": "database", "error": "OSError"}),
        ("store.back", {"store": "Redis", "seconds": 70.0, "failures": 500}),
    ]
    assert outages.down() == ("database",)
    outages.failed("Redis", "TimeoutError")  # down again: a new outage
    assert store_lines(caplog)[-1] == ("store.down", {"store": "Redis", "error": "TimeoutError"})


async def until(condition: Callable[[], bool], seconds: float = 10.0) -> None:
    """Wait for `condition` (polling: a loaded machine may run the watcher late, never too early)."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.005)


async def test_the_watcher_probes_until_the_store_answers(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="lukhas_id")
    up = asyncio.Event()
    probed: list[str] = []

    async def ping() -> None:
        if not up.is_set():
            raise ConnectionError

    def probe(store: str) -> object:
        probed.append(store)
        return ping()

    outages = OutageLog(probe, interval=0.01)  # type: ignore[arg-type]
    outages.failed("Redis", "ConnectionError")
    await until(lambda: len(probed) >= 3)  # probed again and again while it stays down
    assert outages.down() == ("Redis",)
    up.set()
    await until(lambda: not outages.down())
    assert [event for event, _ in store_lines(caplog)] == ["store.down", "store.back"]
    await outages.aclose()


async def test_a_store_that_cannot_be_probed_is_back_after_a_quiet_spell(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="lukhas_id")
    outages = OutageLog(lambda store: None, interval=0.01, quiet=0.05)
    outages.failed("network", "TimeoutError")
    await until(lambda: not outages.down())
    assert [event for event, _ in store_lines(caplog)] == ["store.down", "store.back"]
