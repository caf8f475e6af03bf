"""Headless Debian chromium (through Playwright), a real `lukhas-id serve`, and a relying party's callback.

Playwright's own browser download cannot be used here, so Playwright drives /usr/bin/chromium, which
`make test` installs (apt-get, as root). Without it, or without the playwright package, the browser
tests skip outside CI with a one-line reason and fail with CI=true, like the PostgreSQL and Redis tests.
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.conftest import IN_CI
from tests.e2e.conftest import CLI, Deployment, Server, free_port, stop

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext

CHROMIUM = os.environ.get("LUKHAS_ID_TEST_CHROMIUM", "/usr/bin/chromium")
# --headless is added by Playwright. Without the background-networking flags Chromium's own connections
# (component updates, sync, QUIC probes) crowd the loopback and page loads are refused many at a time.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _unavailable(message: str) -> None:
    if IN_CI:
        pytest.fail(f"{message} (CI=true: browser tests must run; `make test` installs it)")
    pytest.skip(message)


@pytest.fixture(scope="session")
def chromium() -> str:
    """Path of a runnable Chromium, with the playwright package importable."""
    if not os.access(CHROMIUM, os.X_OK):
        _unavailable(f"no Chromium at {CHROMIUM} (`make test` installs Debian chromium as root)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        _unavailable("the playwright package is not installed (`make test` installs the dev extra)")
    return CHROMIUM


@pytest.fixture
def browser(chromium: str, tmp_path: Path) -> Iterator[BrowserContext]:
    """A headless Chromium with a fresh profile (user-data-dir), closed afterwards."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"),
            executable_path=chromium,
            headless=True,
            args=CHROMIUM_ARGS,
            timeout=60_000,
        )
        context.set_default_timeout(20_000)
        try:
            yield context
        finally:
            context.close()


@dataclass
class IdP:
    """An embedded deployment whose public URL (the default tenant's issuer) is http://localhost:PORT.

    Register clients and users with `deployment.cli` first, then `start()` the server: a client whose
    ID token algorithm is new to the tenant, registered while the server runs, gets 503 from the token
    endpoint until the server reloads its cached key set (up to 30 s).
    """

    deployment: Deployment
    port: int
    log: Path
    server: Server | None = None

    @property
    def issuer(self) -> str:
        return self.deployment.public_url

    def start(self) -> None:
        assert self.server is None
        with self.log.open("wb") as out:
            proc = subprocess.Popen(
                [*CLI, "serve", "--port", str(self.port)], env=self.deployment.env, stdout=out, stderr=subprocess.STDOUT
            )
        self.server = Server(self.issuer, proc, self.log)
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                raise AssertionError(f"server exited: {self.log.read_text()[-2000:]}")
            try:
                if httpx.get(f"http://127.0.0.1:{self.port}/readyz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"server did not become ready: {self.log.read_text()[-2000:]}")
            time.sleep(0.1)


@pytest.fixture
def idp(tmp_path: Path) -> Iterator[IdP]:
    port = free_port()
    public = f"http://localhost:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("LUKHAS_ID_")}
    env.update({"LUKHAS_ID_VAR_DIR": str(tmp_path / "var"), "LUKHAS_ID_PUBLIC_URL": public})
    deployment = IdP(Deployment(env, public), port, tmp_path / "server.log")
    try:
        yield deployment
    finally:
        if deployment.server is not None:
            stop(deployment.server)


@dataclass
class Callback:
    """The relying party on 127.0.0.1: its redirect URI http://localhost:PORT/cb and its post-logout
    redirect URI http://localhost:PORT/logged-out; records each query of each."""

    port: int
    hits: list[dict[str, list[str]]] = field(default_factory=list)
    arrived: threading.Event = field(default_factory=threading.Event)
    logout_hits: list[dict[str, list[str]]] = field(default_factory=list)
    logged_out: threading.Event = field(default_factory=threading.Event)

    @property
    def redirect_uri(self) -> str:
        return f"http://localhost:{self.port}/cb"

    @property
    def post_logout_redirect_uri(self) -> str:
        return f"http://localhost:{self.port}/logged-out"


@pytest.fixture
def rp_callback() -> Iterator[Callback]:
    holder: list[Callback] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            query = parse_qs(parts.query, keep_blank_values=True)
            if parts.path == "/cb":
                holder[0].hits.append(query)
                holder[0].arrived.set()
                body = b"<!doctype html><title>RP</title><h1 id=rp-done>Back at the relying party</h1>"
            elif parts.path == "/logged-out":
                holder[0].logout_hits.append(query)
                holder[0].logged_out.set()
                body = b"<!doctype html><title>RP</title><h1 id=rp-logged-out>Signed out</h1>"
            else:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("content-type", "text/html; charset=utf-8")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    holder.append(Callback(httpd.server_address[1]))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield holder[0]
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)
