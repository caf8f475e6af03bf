"""Outages of backing services in the log: once when a service goes down, a count while it stays down,
once when it is back (not one line per failed request: a killed Redis under light load wrote hundreds of
lines a second).

`failed(store, error)` is called by the web edge for every request a store outage failed (web/outcomes.py).
The first failure writes `store.down` ("Redis unavailable: ConnectionError": the store's name and the
driver error's class, never a message, URL or value). While the store is down a watcher probes it every
`interval` seconds (the store's own ping, given by the app) and writes `store.still_down` every
`summary_every` seconds with the number of requests failed meanwhile; the first successful probe writes
`store.back` with the outage's length and failures. A store the app cannot probe counts as back after
`quiet` seconds without a failure. Each process keeps its own account (workers log for themselves).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from lukhas_id.observability.logs import LogEvent, write

# The store's ping (raises when it is down); None when the app cannot probe that store.
Probe = Callable[[str], Awaitable[None] | None]


@dataclass(slots=True)
class _Down:
    since: float
    failures: int = 1
    unreported: int = 0
    last_report: float = 0.0
    last_failure: float = 0.0


class OutageLog:
    def __init__(
        self,
        probe: Probe | None = None,
        *,
        interval: float = 1.0,
        summary_every: float = 60.0,
        quiet: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._probe = probe
        self.interval = interval
        self._summary_every = summary_every
        self._quiet = quiet
        self._clock = clock
        self._down: dict[str, _Down] = {}
        self._watchers: dict[str, asyncio.Task[None]] = {}

    def down(self) -> tuple[str, ...]:
        return tuple(self._down)

    def failed(self, store: str, error: str) -> None:
        now = self._clock()
        down = self._down.get(store)
        if down is not None:
            down.failures += 1
            down.unreported += 1
            down.last_failure = now
            return
        self._down[store] = _Down(since=now, last_report=now, last_failure=now)
        write(LogEvent.STORE_DOWN, store=store, error=error)
        with contextlib.suppress(RuntimeError):  # no running loop: the caller reports recovery itself
            self._watchers[store] = asyncio.get_running_loop().create_task(self._watch(store))

    def recovered(self, store: str) -> None:
        down = self._down.pop(store, None)
        if down is not None:
            seconds = round(self._clock() - down.since, 1)
            write(LogEvent.STORE_BACK, store=store, seconds=seconds, failures=down.failures)

    def report(self, store: str) -> None:
        """The periodic count, when `summary_every` has passed and requests failed since the last one."""
        down = self._down.get(store)
        now = self._clock()
        if down is not None and down.unreported and now - down.last_report >= self._summary_every:
            seconds = round(now - down.since, 1)
            write(LogEvent.STORE_STILL_DOWN, store=store, seconds=seconds, failures=down.unreported)
            down.unreported = 0
            down.last_report = now

    async def _is_up(self, store: str) -> bool:
        check = self._probe(store) if self._probe is not None else None
        if check is None:
            down = self._down.get(store)
            return down is None or self._clock() - down.last_failure >= self._quiet
        try:
            await asyncio.wait_for(check, timeout=max(self.interval, 0.5))
        except Exception:  # still down, whatever the driver says
            return False
        return True

    async def _watch(self, store: str) -> None:
        try:
            while store in self._down:
                await asyncio.sleep(self.interval)
                self.report(store)
                if await self._is_up(store):
                    self.recovered(store)
        finally:
            self._watchers.pop(store, None)

    async def aclose(self) -> None:
        for task in list(self._watchers.values()):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
