"""Feature tests run against both deployments: embedded (SQLite) and production (PostgreSQL + Redis)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from lukhas_id.adapters.crypto.kek import new_kek_b64
from lukhas_id.clock import FixedClock, SystemClock
from lukhas_id.settings import Settings
from tests.support.harness import BASE, Harness, running


@pytest.fixture(params=["embedded", "production"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, object]:
    """Settings of a deployment whose database is migrated already (a copy of the session's template)."""
    if request.param == "embedded":
        request.getfixturevalue("sqlite_migrated_url")  # tmp_path/lukhas-id.db, the embedded database's file
        return {"var_dir": tmp_path}
    return {
        "var_dir": tmp_path,
        "database_url": request.getfixturevalue("pg_migrated_url"),
        "redis_url": request.getfixturevalue("redis_url"),
        "kek": new_kek_b64(),
    }


@pytest.fixture
def settings(backend: dict[str, object], request: pytest.FixtureRequest) -> Settings:
    # A test that runs the CLI (`cli`, synchronous) from inside its event loop freezes the in-process server
    # meanwhile: an outbox relay caught between a SQLite write and its commit would hold the file's write lock
    # for the whole CLI run, which then fails with SQLITE_BUSY. Such tests' servers run no outbox (the CLI
    # processes still write theirs); tests/features/test_event_relay.py and the contract suite cover it.
    outbox = {"event_outbox": False} if "cli" in request.fixturenames else {}
    return Settings(public_url=BASE, **backend, **outbox)  # type: ignore[arg-type]


@pytest.fixture
def prepared(settings: Settings) -> Settings:
    """The settings of a deployment whose database is at head (`backend` copies a migrated one)."""
    return settings


@pytest_asyncio.fixture
async def h(prepared: Settings) -> AsyncIterator[Harness]:
    async with running(prepared, SystemClock()) as harness:
        yield harness


@pytest.fixture
def clock() -> FixedClock:
    import time

    return FixedClock(time.time())


@pytest_asyncio.fixture
async def hc(prepared: Settings, clock: FixedClock) -> AsyncIterator[Harness]:
    """A harness whose server time is the fixed `clock`."""
    async with running(prepared, clock) as harness:
        yield harness
