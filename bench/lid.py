"""ΛiD under test: a fresh PostgreSQL schema + Redis (or the embedded default), two clients, `serve --workers 2`."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.procs import BenchError, Proc, free_port, wait_ready

PG_URL = os.environ.get("BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
# Long enough for a whole run; short enough that Redis forgets the opaque tokens soon after it.
TOKEN_TTL = 1800
SCOPE = "api:read api:write"
RESOURCE = "urn:example:api"


@dataclass(frozen=True)
class Client:
    client_id: str
    client_secret: str
    token_format: str


def _asyncpg() -> Any:
    import asyncpg  # type: ignore[import-untyped]

    return asyncpg


def _pg_reachable(url: str) -> str | None:
    """None when we can connect, else why not."""
    asyncpg = _asyncpg()

    async def probe() -> None:
        conn = await asyncpg.connect(url, timeout=3)
        await conn.close()

    try:
        asyncio.run(probe())
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


def _redis_reachable(url: str) -> str | None:
    import redis

    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=3, socket_timeout=3)
        try:
            client.ping()
        finally:
            client.close()
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


async def _pg_exec(url: str, sql: str) -> None:
    asyncpg = _asyncpg()

    conn = await asyncpg.connect(url, timeout=5)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def _pg_fetch_ids(url: str, sql: str) -> list[str]:
    asyncpg = _asyncpg()

    conn = await asyncpg.connect(url, timeout=5)
    try:
        return [str(r[0]) for r in await conn.fetch(sql)]
    finally:
        await conn.close()


class LidServer:
    """Prepares the store and clients (`setup`), runs `lukhas-id serve` (`start`/`stop`), cleans up (`close`)."""

    def __init__(self, repo: Path, work: Path, *, workers: int = 2) -> None:
        self.repo = repo
        self.work = work
        self.workers = workers
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.var_dir = Path(tempfile.mkdtemp(prefix="lid-bench-var-"))
        self.schema: str | None = None
        self.backend = "embedded"
        self.backend_note = ""
        self.env: dict[str, str] = {}
        self.jwt: Client | None = None
        self.opaque: Client | None = None
        self.proc: Proc | None = None
        self._tenant_ids: list[str] = []
        self.extra_clients: list[str] = []  # other clients of ours (their opaque tokens are cleaned up too)

    # --- setup --------------------------------------------------------------------------------------

    def setup(self) -> None:
        base_env = {k: v for k, v in os.environ.items() if not k.startswith("LUKHAS_ID_")}
        env = {
            **base_env,
            "LUKHAS_ID_PUBLIC_URL": self.base,
            "LUKHAS_ID_VAR_DIR": str(self.var_dir),
            "LUKHAS_ID_LOG_LEVEL": "WARNING",
            # Server-Timing (app;dur=ms) on every answer: scenario 9 reads the server-side time from it.
            "LUKHAS_ID_SERVER_TIMING": "true",
        }
        pg_err = _pg_reachable(PG_URL)
        redis_err = _redis_reachable(REDIS_URL)
        if pg_err is None and redis_err is None:
            from lukhas_id.adapters.crypto.kek import new_kek_b64

            self.schema = f"bench_{secrets.token_hex(6)}"
            asyncio.run(_pg_exec(PG_URL, f'CREATE SCHEMA "{self.schema}"'))
            sep = "&" if "?" in PG_URL else "?"
            env["LUKHAS_ID_DATABASE_URL"] = f"{PG_URL}{sep}search_path={self.schema}"
            env["LUKHAS_ID_REDIS_URL"] = REDIS_URL
            env["LUKHAS_ID_KEK"] = new_kek_b64()
            self.backend = "postgresql+redis"
            self.backend_note = f"PostgreSQL (schema {self.schema}) + Redis ({REDIS_URL})"
        else:
            why = "; ".join(
                f"{name} unreachable ({err})" for name, err in (("PostgreSQL", pg_err), ("Redis", redis_err)) if err
            )
            self.backend_note = f"embedded default (SQLite + in-process state) because {why}"
            print(
                f"NOTE: {why}: ΛiD runs on the embedded default (SQLite in {self.var_dir}); "
                "the targets are defined with PostgreSQL + Redis",
                flush=True,
            )
        self.env = env
        self._cli("db", "upgrade")
        self.jwt = self._client("jwt")
        self.opaque = self._client("opaque")
        if self.schema is not None:
            # The schema name is ours (bench_ + hex), not input.
            query = f'SELECT id FROM "{self.schema}".tenants'  # noqa: S608
            self._tenant_ids = asyncio.run(_pg_fetch_ids(PG_URL, query))

    def _cli(self, *args: str) -> str:
        proc = subprocess.run(
            [sys.executable, "-m", "lukhas_id", *args],
            env=self.env,
            cwd=self.work,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if proc.returncode != 0:
            raise BenchError(f"lukhas-id {' '.join(args)} failed: {(proc.stderr or proc.stdout).strip()}")
        return proc.stdout

    def code_client(self, redirect_uri: str, scope: str) -> Client:
        """A confidential client of the authorization code grant (refresh tokens with offline_access)."""
        out = self._cli(
            "client",
            "create",
            "--grant",
            "authorization_code",
            "--redirect-uri",
            redirect_uri,
            "--scope",
            scope,
            "--name",
            "bench-code",
            "--json",
        )
        data: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
        self.extra_clients.append(data["client_id"])
        return Client(data["client_id"], data["client_secret"], data.get("token_format", "jwt"))

    def create_users(self, names: list[str], password: str, parallel: int = 8) -> list[str]:
        """`user create NAME --password-stdin` for each name, `parallel` CLI processes at a time; their ΛIDs."""
        lids: list[str] = []
        for i in range(0, len(names), parallel):
            procs = [
                (
                    name,
                    subprocess.Popen(
                        [sys.executable, "-m", "lukhas_id", "user", "create", name, "--password-stdin"],
                        env=self.env,
                        cwd=self.work,
                        stdin=subprocess.PIPE,
                        stdout=subprocess.PIPE,
                        stderr=subprocess.PIPE,
                        text=True,
                    ),
                )
                for name in names[i : i + parallel]
            ]
            for name, proc in procs:
                out, err = proc.communicate(password + "\n", timeout=120)
                if proc.returncode != 0:
                    raise BenchError(f"lukhas-id user create {name} failed: {(err or out).strip()}")
                lids.append(out.strip().splitlines()[-1].strip())
        return lids

    @property
    def database_url(self) -> str | None:
        return self.env.get("LUKHAS_ID_DATABASE_URL")

    @property
    def redis_url(self) -> str | None:
        return self.env.get("LUKHAS_ID_REDIS_URL")

    def _client(self, token_format: str) -> Client:
        out = self._cli(
            "client",
            "create",
            "--grant",
            "client_credentials",
            "--scope",
            SCOPE,
            "--resource",
            RESOURCE,
            "--token-format",
            token_format,
            "--ttl",
            str(TOKEN_TTL),
            "--name",
            f"bench-{token_format}",
            "--json",
        )
        data: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
        return Client(data["client_id"], data["client_secret"], data["token_format"])

    # --- serve --------------------------------------------------------------------------------------

    def start(self) -> None:
        self.proc = Proc(
            "ΛiD",
            [sys.executable, "-m", "lukhas_id", "serve", "--port", str(self.port), "--workers", str(self.workers)],
            env=self.env,
            cwd=self.work,
            log=self.work / "lid-serve.log",
        )
        wait_ready(self.proc, f"{self.base}/readyz", timeout=60)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.stop()
            self.proc = None

    def worker_pids(self) -> list[int]:
        """The server's worker processes (children of the granian main process)."""
        if self.proc is None:
            return []
        root = self.proc.pid
        pids: list[int] = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                with contextlib.suppress(OSError, IndexError):
                    fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                    if int(fields[1]) == root:
                        pids.append(int(entry.name))
        return sorted(pids)

    # --- clean-up -----------------------------------------------------------------------------------

    def close(self) -> None:
        """Stops the server, drops the schema, deletes this run's Redis keys; each step best effort."""
        self.stop()
        if self.schema is not None:
            try:
                self._clean_redis()
            except Exception as exc:
                print(f"warning: Redis clean-up incomplete ({type(exc).__name__}: {exc})", file=sys.stderr)
            try:
                asyncio.run(_pg_exec(PG_URL, f'DROP SCHEMA IF EXISTS "{self.schema}" CASCADE'))
            except Exception as exc:
                print(f"warning: could not drop schema {self.schema}: {exc}", file=sys.stderr)
            self.schema = None
        import shutil

        shutil.rmtree(self.var_dir, ignore_errors=True)

    def _clean_redis(self) -> None:
        """Opaque token records of our clients (`lid:at:*`, matched on the record's client id) and every
        key of our tenant (`lid:{T}:*`). Other keys in the database are left alone."""
        import orjson
        import redis

        ours = {c.client_id for c in (self.jwt, self.opaque) if c is not None} | set(self.extra_clients)
        r = redis.Redis.from_url(REDIS_URL, socket_timeout=10)
        try:
            batch: list[bytes] = []

            def flush() -> None:
                values = r.mget(batch)
                doomed = []
                for key, raw in zip(batch, values, strict=True):
                    if raw is None:
                        continue
                    with contextlib.suppress(ValueError, IndexError, TypeError):
                        if orjson.loads(raw)[3] in ours:
                            doomed.append(key)
                if doomed:
                    r.unlink(*doomed)
                batch.clear()

            for key in r.scan_iter(match="lid:at:*", count=5000):
                batch.append(key)
                if len(batch) >= 5000:
                    flush()
            if batch:
                flush()
            for tenant_id in self._tenant_ids:
                keys = list(r.scan_iter(match=f"lid:{{{tenant_id}}}:*", count=5000))
                # Authorization codes minted by the benchmark and their replay markers (KeyValueStore keys).
                for kind in ("code", "code-used"):
                    keys += list(r.scan_iter(match=f"lid:kv:{kind}:{tenant_id}:*", count=5000))
                for i in range(0, len(keys), 5000):
                    r.unlink(*keys[i : i + 5000])
        finally:
            r.close()
