"""The audit recorder's cost on a password sign-in, in process: audit on vs off, SQLite and PostgreSQL.

`python -m bench.audit_cost` (BENCH_PG_URL, BENCH_REDIS_URL as for `make bench`; BENCH_AUDIT_ROUNDS). Two
containers on one database, one with `audit_log` on and one off, measured in alternating rounds so that drift
on a shared machine falls on both alike:

- a whole password sign-in through SignInService.password (argon2id verification, the session, the
  `user.signed_in` unit of work), the embedded deployment on SQLite, production on PostgreSQL + Redis;
- the sign-in's unit of work alone (one `user.signed_in` event, nothing else in the transaction): with audit
  off it touches no SQL at all; with audit on it is the head upsert, the record insert and the head update
  in one transaction, the exact extra work a sign-in pays.

Not a wrk scenario: the recorder's cost is a few hundred microseconds next to the argon2id verification that
dominates a sign-in, which a throughput figure over HTTP on a 2-core machine cannot resolve.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

from lukhas_id.adapters.crypto.kek import new_kek_b64
from lukhas_id.bootstrap import Container, build_container
from lukhas_id.domain.events import EventType, IdentityEvent
from lukhas_id.services.sign_in import Browser, SignedIn
from lukhas_id.settings import Settings

PASSWORD = "correct horse battery staple"
ROUNDS = int(os.environ.get("BENCH_AUDIT_ROUNDS", "6"))
SIGN_INS = 25  # per round and setting
UNITS = 300  # per round and setting


async def _timed(n: int, step: Callable[[], Awaitable[None]]) -> list[float]:
    out = []
    for _ in range(n):
        start = time.perf_counter()
        await step()
        out.append(time.perf_counter() - start)
    return out


def _summary(samples: list[float]) -> str:
    ordered = sorted(samples)
    p95 = ordered[int(len(ordered) * 0.95)]
    return f"median {statistics.median(ordered) * 1e3:7.3f} ms  p95 {p95 * 1e3:7.3f} ms  (n={len(ordered)})"


async def _measure(name: str, base: dict[str, object]) -> None:
    containers: dict[bool, Container] = {}
    for audit in (True, False):
        settings = Settings(**base, audit_log=audit, sign_in_rate_limit=1000)  # type: ignore[arg-type]
        containers[audit] = await build_container(settings, upgrade=True)
    try:
        c = containers[True]
        tenant, _ = await c.tenants.ensure(c.settings.default_tenant, c.settings.access_token_alg)
        username = f"bench-{uuid.uuid4().hex[:8]}"
        user = await c.users.create(tenant, username, password=PASSWORD)
        results: dict[tuple[str, bool], list[float]] = {}

        async def sign_in(container: Container) -> None:
            outcome = await container.sign_in.password(
                tenant, username, PASSWORD, Browser(None, secrets.token_urlsafe(16))
            )
            assert isinstance(outcome, SignedIn), outcome

        async def unit(container: Container) -> None:
            async with container.uow() as work:
                work.emit(
                    IdentityEvent(
                        EventType.USER_SIGNED_IN,
                        tenant.id,
                        user.lid,
                        time.time(),
                        metadata={"method": "password", "sid": "bench", "amr": "pwd", "acr": "1"},
                    )
                )

        for audit in (True, False):  # warm-up: pools, the head row, caches
            await _timed(3, lambda a=audit: sign_in(containers[a]))
            await _timed(50, lambda a=audit: unit(containers[a]))
        for _ in range(ROUNDS):
            for audit in (True, False):
                container = containers[audit]
                results.setdefault(("sign-in", audit), []).extend(
                    await _timed(SIGN_INS, lambda k=container: sign_in(k))
                )
                results.setdefault(("unit", audit), []).extend(await _timed(UNITS, lambda k=container: unit(k)))
        for what in ("sign-in", "unit"):
            on, off = results[(what, True)], results[(what, False)]
            extra = (statistics.median(on) - statistics.median(off)) * 1e3
            print(f"{name:10s} {what:8s} audit on : {_summary(on)}")
            print(f"{name:10s} {what:8s} audit off: {_summary(off)}")
            print(f"{name:10s} {what:8s} median difference: {extra:+.3f} ms", flush=True)
    finally:
        for container in containers.values():
            await container.aclose()


async def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        await _measure("sqlite", {"var_dir": Path(tmp)})
    pg = os.environ.get("BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
    redis = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
    import asyncpg  # type: ignore[import-untyped]

    schema = f"bench_audit_{uuid.uuid4().hex[:8]}"
    conn = await asyncpg.connect(pg)
    try:
        await conn.execute(f'CREATE SCHEMA "{schema}"')
        with tempfile.TemporaryDirectory() as tmp:
            url = f"{pg}{'&' if '?' in pg else '?'}search_path={schema}"
            await _measure(
                "postgresql", {"var_dir": Path(tmp), "database_url": url, "redis_url": redis, "kek": new_kek_b64()}
            )
    except OSError as exc:
        print(f"postgresql: skipped ({type(exc).__name__})", file=sys.stderr)
    finally:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        await conn.close()


if __name__ == "__main__":
    asyncio.run(main())
