"""`lukhas-id serve`: prepare the database and the default tenant, then serve ΛiD with granian."""

from __future__ import annotations

import asyncio
import errno
import os
import shutil
import socket
import sys
import tempfile
from pathlib import Path
from typing import Annotated

import typer

from lukhas_id.bootstrap import build_container
from lukhas_id.cli.common import fail
from lukhas_id.metrics import use_multiprocess
from lukhas_id.settings import load_settings


def check_port_free(host: str, port: int) -> None:
    """Fail with one line when another process listens on host:port.

    granian binds its socket with SO_REUSEPORT, so a second server on a taken port would start and share
    (or silently miss) the traffic. A plain bind (SO_REUSEADDR only, which on Linux still refuses a port
    with a listener but not one in TIME_WAIT after a restart) is refused when anything listens there."""
    try:
        addresses = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        fail(f"cannot listen on {host}: {exc.strerror}")
    for family, kind, proto, _, address in addresses:
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(address)
            except OSError as exc:
                if exc.errno == errno.EADDRINUSE:
                    fail(f"port {port} on {host} is already in use")
                fail(f"cannot listen on port {port} on {host}: {exc.strerror}")


def serve(
    host: Annotated[str | None, typer.Option(help="Listen address.")] = None,
    port: Annotated[int | None, typer.Option(help="Listen port.")] = None,
    workers: Annotated[int | None, typer.Option(help="Worker processes.")] = None,
) -> None:
    """Serve ΛiD (prepares the embedded database and the default tenant first)."""
    overrides = {k: v for k, v in {"host": host, "port": port, "workers": workers}.items() if v is not None}
    settings = load_settings(**overrides)
    check_port_free(settings.host, settings.port)
    for name, value in overrides.items():
        os.environ[f"LUKHAS_ID_{name.upper()}"] = str(value)

    async def prepare() -> str:
        container = await build_container(settings)
        try:
            tenant, _ = await container.tenants.ensure(settings.default_tenant, settings.access_token_alg)
            return container.tenants.issuer(tenant)
        finally:
            await container.aclose()

    issuer = asyncio.run(prepare())
    typer.echo(f"ΛiD serving issuer {issuer} on http://{settings.host}:{settings.port} ({settings.workers} worker(s))")
    command = sys.argv[0] if sys.argv[0].endswith("lukhas-id") else "lukhas-id"
    typer.echo(f"Create a first client: {command} client create --grant client_credentials --scope 'api:read'")
    from granian import Granian
    from granian.constants import HTTPModes, Interfaces

    # Every worker's metric values in one private directory, added up by whichever worker answers
    # GET /metrics (lukhas_id/metrics.py); made empty here, removed when serving ends.
    metrics_dir = Path(tempfile.mkdtemp(prefix="lukhas-id-metrics-"))
    use_multiprocess(metrics_dir)
    try:
        Granian(
            "lukhas_id.web.app:create_app",
            factory=True,
            address=settings.host,
            port=settings.port,
            workers=settings.workers,
            interface=Interfaces.ASGI,
            log_level=settings.log_level.lower(),  # type: ignore[arg-type]
            log_access=False,
            backlog=2048,
            http=HTTPModes.http1,
        ).serve()
    finally:
        shutil.rmtree(metrics_dir, ignore_errors=True)
