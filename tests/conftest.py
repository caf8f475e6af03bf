"""Shared fixtures: real PostgreSQL, Redis and NATS when reachable, and migrated databases made once per session.

Outside CI a missing service skips the test with a one-line reason; with CI=true it fails.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import pytest

import lukhas_id.jose.jwt
import lukhas_id.services.keys
from lukhas_id.adapters.sql.database import Database
from lukhas_id.jose.keys import generate_private_key, load_private_key, public_jwk
from tests.support.ci import IN_CI
from tests.support.cli import FORK_SERVER
from tests.support.databases import PostgresSchemas, SqliteTemplate
from tests.support.keys import KeyPool

PG_URL = os.environ.get("LUKHAS_ID_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("LUKHAS_ID_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
NATS_URL = os.environ.get("LUKHAS_ID_TEST_NATS_URL", "nats://127.0.0.1:4222")


MEMORY_FS = Path("/dev/shm")  # noqa: S108 - a tmpfs on Linux, for the tests' own files


def pytest_configure(config: pytest.Config) -> None:
    """Tests' temporary directories go to a tmpfs when there is one (and no other place was asked for).

    The SQLite files of the embedded deployment commit there without a disk flush, which is most of
    a SQLite commit's time on a disk; nothing tested depends on durability.
    """
    if config.option.basetemp is None and "PYTEST_DEBUG_TEMPROOT" not in os.environ:
        if MEMORY_FS.is_dir() and os.access(MEMORY_FS, os.W_OK | os.X_OK):
            os.environ["PYTEST_DEBUG_TEMPROOT"] = str(MEMORY_FS)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """On several workers (`make test`: -n 2 --dist loadgroup), the tests that start real servers and
    browsers run one after another on one worker, not side by side."""
    for item in items:
        starts_servers = {"deployment", "idp"} & set(getattr(item, "fixturenames", ()))
        if starts_servers or item.get_closest_marker("e2e") is not None:
            item.add_marker(pytest.mark.xdist_group("servers"))


def _reachable(url: str, default_port: int) -> bool:
    parsed = urlparse(url)
    try:
        with socket.create_connection((parsed.hostname or "127.0.0.1", parsed.port or default_port), 1.0):
            return True
    except OSError:
        return False


def _require(name: str, url: str, default_port: int) -> str:
    if _reachable(url, default_port):
        return url
    message = f"{name} not reachable at {urlparse(url).hostname}:{urlparse(url).port or default_port}"
    if IN_CI:
        pytest.fail(f"{message} (CI=true: {name} tests must run)")
    pytest.skip(message)


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """A PostgreSQL URL (the `test` database) that is known to be reachable."""
    return _require("PostgreSQL", PG_URL, 5432)


@pytest.fixture(scope="session")
def redis_url() -> str:
    return _require("Redis", REDIS_URL, 6379)


@pytest.fixture(scope="session")
def nats_url() -> str:
    """A NATS server with JetStream known to be reachable (shared: use `nats_names` for a stream of your own)."""
    return _require("NATS", NATS_URL, 4222)


@pytest.fixture
def pg_schema_url(postgres_url: str) -> Iterator[str]:
    """A PostgreSQL URL whose connections use a fresh, private schema (dropped afterwards).

    Tests get isolation without needing CREATE DATABASE; the schema is chosen by the
    `search_path` query parameter, which the SQL adapter passes to PostgreSQL as a server setting.
    """
    import asyncio

    import asyncpg

    schema = f"t_{uuid.uuid4().hex[:12]}"
    dsn = postgres_url

    async def run(sql: str) -> None:
        conn = await asyncpg.connect(dsn)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(run(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in dsn else "?"
    yield f"{dsn}{sep}search_path={schema}"
    asyncio.run(run(f'DROP SCHEMA "{schema}" CASCADE'))


@pytest.fixture(scope="session", autouse=True)
def _head_revision_read_once() -> Iterator[None]:
    """The migration scripts' head, read from disk once per session instead of at each app start."""
    head = Database.from_url("sqlite://").head_revision()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Database, "head_revision", lambda self: head)
        yield


@pytest.fixture(scope="session", autouse=True)
def _fork_server_stopped_at_the_end() -> Iterator[None]:
    """The CLI's fork server (tests/support/cli.py) exits with the session, before coverage is combined."""
    yield
    FORK_SERVER.close()


@pytest.fixture(scope="session")
def key_pool() -> KeyPool:
    return KeyPool(generate_private_key)


@pytest.fixture(autouse=True)
def _pooled_signing_keys(key_pool: KeyPool, monkeypatch: pytest.MonkeyPatch) -> None:
    """KeyService makes its keys from the session's pool (tests/support/keys.py); jose/ itself is untouched."""
    key_pool.restart()
    remembered_jwk = key_pool.parsed(public_jwk, "jwk")
    monkeypatch.setattr(lukhas_id.services.keys, "generate_private_key", key_pool.generate)
    monkeypatch.setattr(lukhas_id.services.keys, "public_jwk", lambda der, alg: dict(remembered_jwk(der, alg)))
    monkeypatch.setattr(lukhas_id.jose.jwt, "load_private_key", key_pool.parsed(load_private_key, "private"))


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> SqliteTemplate:
    """A SQLite database migrated once per session; `copy_to`/`url_in` give a test its own copy."""
    return SqliteTemplate.build(tmp_path_factory.mktemp("sqlite-template"))


@pytest.fixture
def sqlite_migrated_url(sqlite_template: SqliteTemplate, tmp_path: Path) -> str:
    """The URL of a migrated SQLite file of this test's own (tmp_path/lukhas-id.db)."""
    return sqlite_template.url_in(tmp_path)


@pytest.fixture(scope="session")
def pg_schemas(postgres_url: str) -> Iterator[PostgresSchemas]:
    pool = PostgresSchemas(postgres_url)
    try:
        yield pool
    finally:
        pool.close()


@pytest.fixture
def pg_migrated_url(pg_schemas: PostgresSchemas) -> Iterator[str]:
    """A PostgreSQL URL whose connections use a migrated, empty schema of this test's own.

    The schema is one of a session's pool, emptied when the test is over (tests/support/databases.py);
    use `pg_schema_url` for a schema that has never been migrated.
    """
    with pg_schemas.lend() as url:
        yield url


@pytest.fixture
def redis_prefix() -> str:
    """A unique key prefix so Redis tests never see each other's keys."""
    return f"lid-test:{uuid.uuid4().hex[:12]}:"
