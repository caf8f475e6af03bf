"""The token endpoint's in-process cost: `python -m bench.inprocess [--rounds N] [--requests N] [--otlp]`.

Calls the ASGI application directly (no server, no sockets) with one client_credentials ES256 JWT token
request after another, for one fixed client of the embedded deployment (SQLite in a temporary directory;
the access log written to memory), and prints the microseconds per request of each round, then min and
median, of the process's CPU time (time.process_time: every thread, the span exporter's included, and
less disturbed than wall time by other work on a busy machine) and of wall time. With `--otlp` tracing
is on (LUKHAS_ID_OTLP_ENDPOINT pointing at a loopback receiver started here that answers every export
with 200; ratio 1.0), for the cost of recording and exporting every span. Measures ΛiD's Python time per
request, which a load test's req/s hides among the server's own costs. `--set NAME=VALUE` (repeatable)
changes a setting, e.g. `--set access_log=false` for the cost of the access log.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import io
import statistics
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from lukhas_id.adapters.crypto.kek import new_kek_b64
from lukhas_id.domain.client import GrantType
from lukhas_id.settings import Settings
from lukhas_id.web.app import create_app


class _Sink(BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        self.rfile.read(int(self.headers.get("content-length", "0")))
        self.send_response(200)
        self.send_header("content-type", "application/x-protobuf")
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


async def measure(
    var_dir: Path, rounds: int, requests: int, otlp: str | None, overrides: dict[str, str]
) -> list[tuple[float, float]]:
    extra: dict[str, Any] = {"otlp_endpoint": otlp} if otlp else {}
    extra |= overrides
    settings = Settings(var_dir=var_dir, kek=new_kek_b64(), **extra)  # type: ignore[arg-type]
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        access_log = getattr(app.state, "access_log", None)
        if access_log is not None:
            access_log.stream = io.StringIO()
        container = app.state.lukhas_id.c
        tenant = await container.tenants.by_name(settings.default_tenant)
        client, secret = await container.clients.create(
            tenant, name="bench", grant_types=frozenset({GrantType.CLIENT_CREDENTIALS}), scopes=frozenset({"api"})
        )
        auth = base64.b64encode(f"{client.client_id}:{secret}".encode())
        body = b"grant_type=client_credentials"
        headers = [
            (b"host", b"127.0.0.1:8000"),
            (b"authorization", b"Basic " + auth),
            (b"content-type", b"application/x-www-form-urlencoded"),
            (b"content-length", str(len(body)).encode()),
        ]
        statuses: list[int] = []

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                statuses.append(message["status"])

        def scope() -> dict[str, Any]:
            return {
                "type": "http",
                "asgi": {"version": "3.0"},
                "http_version": "1.1",
                "method": "POST",
                "scheme": "http",
                "path": "/oauth2/token",
                "raw_path": b"/oauth2/token",
                "query_string": b"",
                "root_path": "",
                "headers": headers,
                "client": ("127.0.0.1", 50000),
                "server": ("127.0.0.1", 8000),
                "state": {},
            }

        for _ in range(200):  # warm up: the client cache, the key, the code paths
            await app(scope(), receive, send)
        results = []
        for _ in range(rounds):
            statuses.clear()
            cpu, wall = time.process_time(), time.perf_counter()
            for _ in range(requests):
                await app(scope(), receive, send)
            cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
            if set(statuses) != {200}:
                raise SystemExit(f"unexpected statuses {sorted(set(statuses))}")
            results.append((cpu / requests * 1e6, wall / requests * 1e6))
            if access_log is not None:
                access_log.stream = io.StringIO()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--otlp", action="store_true", help="tracing on, exporting to a loopback receiver")
    parser.add_argument(
        "--set", action="append", default=[], metavar="NAME=VALUE", help="a setting, e.g. access_log=false"
    )
    args = parser.parse_args()
    overrides = dict(item.split("=", 1) for item in args.set)
    sink = None
    otlp = None
    if args.otlp:
        sink = ThreadingHTTPServer(("127.0.0.1", 0), _Sink)
        threading.Thread(target=sink.serve_forever, daemon=True).start()
        otlp = f"http://127.0.0.1:{sink.server_address[1]}"
    try:
        with tempfile.TemporaryDirectory(prefix="lukhas-id-bench-") as var_dir:
            results = asyncio.run(measure(Path(var_dir), args.rounds, args.requests, otlp, overrides))
    finally:
        if sink is not None:
            sink.shutdown()
    for index, kind in enumerate(("cpu", "wall")):
        values = [r[index] for r in results]
        rounds = " ".join(f"{v:.1f}" for v in values)
        print(f"{kind}: min {min(values):.1f} us, median {statistics.median(values):.1f} us (rounds: {rounds})")


if __name__ == "__main__":
    main()
