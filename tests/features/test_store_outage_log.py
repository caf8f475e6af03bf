"""A real Redis stopped and started under a running ΛiD: requests get 503 while it is down, the log says
so once (not once per request), and says once when it is back, after which requests succeed again."""

from __future__ import annotations

import asyncio
import logging
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from lukhas_id.adapters.crypto.kek import new_kek_b64
from lukhas_id.domain.client import TokenFormat
from lukhas_id.settings import Settings
from tests.support.harness import BASE, running
from tests.support.servers import free_port

pytestmark = pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs the redis-server binary")


class OwnRedis:
    """A redis-server of this test's own on a free port, without persistence."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while True:
            try:
                redis.Redis(port=self.port, socket_timeout=0.2).ping()
                return
            except redis.exceptions.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.02)

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None


@pytest.fixture
def own_redis() -> Iterator[OwnRedis]:
    server = OwnRedis(free_port())
    server.start()
    try:
        yield server
    finally:
        server.stop()


def store_events(caplog: pytest.LogCaptureFixture) -> list[tuple[str, str]]:
    return [(r.event, r.getMessage()) for r in caplog.records if getattr(r, "event", "").startswith("store.")]  # type: ignore[attr-defined]


async def test_a_redis_outage_is_logged_once_and_its_end_once(
    own_redis: OwnRedis, pg_migrated_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="lukhas_id")
    settings = Settings(
        public_url=BASE,
        var_dir=tmp_path,
        database_url=pg_migrated_url,
        redis_url=f"redis://127.0.0.1:{own_redis.port}/0",
        kek=new_kek_b64(),
    )
    async with running(settings) as h:
        h.app.state.outages.interval = 0.05
        rc = await h.client(token_format=TokenFormat.OPAQUE)
        assert (await h.token(rc)).status_code == 200
        own_redis.stop()
        for _ in range(25):
            resp = await h.token(rc)
            assert resp.status_code == 503 and resp.json()["error"] == "temporarily_unavailable"
        [(event, text)] = store_events(caplog)  # one line for 25 failed requests
        assert event == "store.down" and text.startswith("Redis unavailable: ")
        own_redis.start()
        for _ in range(200):
            if len(store_events(caplog)) > 1:
                break
            await asyncio.sleep(0.05)
        [down, back] = store_events(caplog)
        assert back[0] == "store.back" and "25 requests failed" in back[1]
        assert (await h.token(rc)).status_code == 200
