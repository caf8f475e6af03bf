"""Headless Debian chromium (through Playwright), a real `lukhas-id serve`, and a relying party's callback.

Playwright's own browser download cannot be used here, so Playwright drives /usr/bin/chromium, which
`make test` installs (apt-get, as root). Without it, or without the playwright package, the browser
tests skip outside CI with a one-line reason and fail with CI=true, like the PostgreSQL and Redis tests.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.support.browser_rp import Callback
from tests.support.ci import IN_CI
from tests.support.servers import Deployment, IdP, free_port, stop

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
