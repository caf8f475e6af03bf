"""The ASGI application: protocol endpoints as plain Starlette routes, per tenant.

The default tenant is served at the root (issuer = public URL); tenant T under /t/T (issuer
{public_url}/t/T). RFC 8414 §3.1 metadata of tenant T is also served at
/.well-known/oauth-authorization-server/t/T.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import Message, Receive, Scope, Send

from lukhas_id.bootstrap import Container, build_container
from lukhas_id.clock import Clock
from lukhas_id.errors import ErrorCode, OAuthError, is_unavailable
from lukhas_id.observability import configure_logging
from lukhas_id.settings import Settings, load_settings
from lukhas_id.web.http_io import error_response, json_response
from lukhas_id.web.pages import STATIC_DIR
from lukhas_id.web.routes import (
    account,
    authorize,
    discovery,
    health,
    login,
    logout,
    metrics,
    oauth,
    registration,
    userinfo,
    webauthn,
)
from lukhas_id.web.state import AppState

log = logging.getLogger("lukhas_id")


async def maintenance_pass(container: Container) -> None:
    """One pass of background upkeep: automatic key rotation, then deleting expired token state."""
    interval = container.settings.key_rotation_interval
    now = container.clock.now()
    if interval:
        for tenant in await container.tenants.list():
            keys = await container.keys.load(tenant.id)
            for alg in sorted({k.alg for k in keys.keys}):
                if container.keys.rotation_due(keys.keys, alg, interval, now):
                    result = await container.keys.rotate(tenant.id, alg)
                    if result.rotated:
                        log.info("signing key rotated: tenant %s, active kid %s", tenant.name, result.active_kid)
    await container.token_state.purge_expired(now)
    await container.kv.purge_expired(now)
    await container.refresh.purge_expired(now)


async def _maintenance(container: Container) -> None:
    interval = container.settings.key_rotation_interval
    period = max(1.0, min(60.0, interval / 10)) if interval else 60.0
    while True:
        await asyncio.sleep(period)
        try:
            await maintenance_pass(container)
        except Exception as exc:  # keep the loop alive; the next pass retries
            log.warning("maintenance pass failed: %s", type(exc).__name__)


def unexpected_error(path: str, exc: Exception) -> Response:
    """503 temporarily_unavailable when a backing service is down, else 500; never a traceback.

    Only the exception's type is logged: its message may quote request data.
    """
    if is_unavailable(exc):
        log.warning("a backing service is unavailable on %s: %s", path, type(exc).__name__)
        return error_response(
            OAuthError(ErrorCode.TEMPORARILY_UNAVAILABLE, "a storage service is unavailable; retry shortly", 503),
            retry_after=1,
        )
    log.error("unhandled error on %s: %s", path, type(exc).__name__)
    return json_response({"error": "server_error"}, 500, {"cache-control": "no-store"})


class LukhasApp(Starlette):
    """Starlette, plus a fast path for the hot protocol POSTs (token, introspection, revocation).

    Those requests skip Starlette's router and middleware stack: the path is split into tenant and
    endpoint with two string operations and the endpoint is called directly, with its own catch-all.
    Everything else (discovery, JWKS, health, 404/405 answers) goes through Starlette as usual.
    """

    hot: dict[str, oauth.Endpoint]
    # POST endpoints that take a Request (the passkey ceremonies), also served before routing.
    hot_requests: dict[str, Callable[[Request], Awaitable[Response]]]
    server_timing: bool = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.server_timing and scope["type"] == "http":
            send = _timed(send)
        if scope["type"] == "http" and scope["method"] == "POST":
            path: str = scope["path"]
            tenant: str | None = None
            if path.startswith("/t/"):
                cut = path.find("/", 3)
                if cut > 3:
                    tenant, path = path[3:cut], path[cut:]
            endpoint = self.hot.get(path)
            if endpoint is not None:
                try:
                    response = await endpoint(scope, receive, tenant)
                except Exception as exc:  # the endpoints answer every protocol error themselves
                    response = unexpected_error(path, exc)
                await response(scope, receive, send)
                return
            direct = self.hot_requests.get(path)
            if direct is not None:
                if tenant is not None:
                    scope["path_params"] = {"tenant": tenant}
                try:
                    response = await direct(Request(scope, receive, send))
                except Exception as exc:  # the endpoints answer every protocol error themselves
                    response = unexpected_error(path, exc)
                await response(scope, receive, send)
                return
        await super().__call__(scope, receive, send)


def _timed(send: Send) -> Send:
    """`send` that adds ``Server-Timing: app;dur=<ms>`` (from now to the response's start) to the answer."""
    started = time.perf_counter()

    async def timed_send(message: Message) -> None:
        if message["type"] == "http.response.start":
            elapsed = (time.perf_counter() - started) * 1000
            headers = [*message.get("headers", []), (b"server-timing", f"app;dur={elapsed:.3f}".encode())]
            message = {**message, "headers": headers}
        await send(message)

    return timed_send


async def _fast_path_only(request: Request) -> Response:
    raise HTTPException(404)  # unreachable: LukhasApp serves these POSTs before routing


def create_app(settings: Settings | None = None, *, clock: Clock | None = None) -> LukhasApp:
    settings = settings or load_settings()
    state = AppState(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        configure_logging(settings.log_level)
        url = settings.public_url
        if url.scheme != "https" and url.host not in {"127.0.0.1", "localhost", "[::1]", "::1"}:
            log.warning("LUKHAS_ID_PUBLIC_URL is not https: OAuth 2.1 requires TLS for every endpoint but loopback")
        container = await build_container(settings, clock=clock)
        task: asyncio.Task[None] | None = None
        try:
            await container.tenants.ensure(settings.default_tenant, settings.access_token_alg)
            state.attach(container)
            # Everything made so far lives as long as the process: move it out of the garbage collector's
            # generations, so collections during requests scan only request garbage (shorter pauses).
            gc.freeze()
            task = asyncio.create_task(_maintenance(container))
            yield
        finally:
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            state.detach()
            await container.aclose()

    # The passkey ceremonies: served by LukhasApp's fast path (registered below so that other methods get 405).
    passkey_endpoints = {
        "/webauthn/register/begin": webauthn.register_begin(state),
        "/webauthn/register/complete": webauthn.register_complete(state),
        "/webauthn/authenticate/begin": webauthn.authenticate_begin(state),
        "/webauthn/authenticate/complete": webauthn.authenticate_complete(state),
    }
    routes: list[Route] = [
        Route("/healthz", health.healthz, methods=["GET"]),
        Route("/readyz", health.readyz(state), methods=["GET"]),
        Route("/metrics", metrics.metrics(state), methods=["GET"]),
        Route(
            "/.well-known/oauth-authorization-server/t/{tenant}",
            discovery.metadata(state),
            methods=["GET"],
        ),
    ]
    for base in ("", "/t/{tenant}"):
        routes += [
            Route(f"{base}/.well-known/openid-configuration", discovery.metadata(state), methods=["GET"]),
            Route(f"{base}/.well-known/oauth-authorization-server", discovery.metadata(state), methods=["GET"]),
            Route(f"{base}/.well-known/jwks.json", discovery.jwks(state), methods=["GET"]),
            # Served by LukhasApp's fast path; registered so that other methods get 405.
            Route(f"{base}/oauth2/token", _fast_path_only, methods=["POST"]),
            Route(f"{base}/oauth2/introspect", _fast_path_only, methods=["POST"]),
            Route(f"{base}/oauth2/revoke", _fast_path_only, methods=["POST"]),
            Route(f"{base}/oauth2/userinfo", userinfo.userinfo(state), methods=["GET", "POST", "OPTIONS"]),
            Route(f"{base}/login", login.login(state), methods=["GET", "POST"]),
            Route(f"{base}/login/second-factor", login.login(state), methods=["POST"]),
            Route(f"{base}/login/recover", login.login(state), methods=["GET", "POST"]),
            Route(f"{base}/oauth2/authorize", authorize.authorize(state), methods=["GET", "POST"]),
            Route(f"{base}/oauth2/authorize/resume", authorize.resume(state), methods=["GET"]),
            Route(f"{base}/oauth2/consent", authorize.consent(state), methods=["POST"]),
            Route(f"{base}/oauth2/logout", logout.logout(state), methods=["GET", "POST"]),
            Route(f"{base}/account", account.account(state), methods=["GET", "POST"]),
            Route(f"{base}/oauth2/register", registration.register(state), methods=["POST"]),
            Route(
                f"{base}/oauth2/register/{{client_id}}", registration.manage(state), methods=["GET", "PUT", "DELETE"]
            ),
            *(Route(f"{base}{path}", _fast_path_only, methods=["POST"]) for path in passkey_endpoints),
        ]

    async def http_error(request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, HTTPException) else 400
        headers = dict(exc.headers or {}) if isinstance(exc, HTTPException) else {}
        detail = exc.detail if isinstance(exc, HTTPException) else "bad request"
        code = "not_found" if status == 404 else "invalid_request"
        return json_response({"error": code, "error_description": detail}, status, headers)

    async def oauth_error(request: Request, exc: Exception) -> Response:
        if isinstance(exc, OAuthError):
            return error_response(exc)
        return await server_error(request, exc)

    async def server_error(request: Request, exc: Exception) -> Response:
        return unexpected_error(request.url.path, exc)

    handlers: dict[Any, Any] = {HTTPException: http_error, OAuthError: oauth_error, Exception: server_error}
    static = Mount("/static", app=StaticFiles(directory=STATIC_DIR), name="static")
    app = LukhasApp(routes=[*routes, static], lifespan=lifespan, exception_handlers=handlers)
    app.hot = {
        "/oauth2/token": oauth.token(state),
        "/oauth2/introspect": oauth.introspect(state),
        "/oauth2/revoke": oauth.revoke(state),
    }
    app.hot_requests = passkey_endpoints
    app.server_timing = settings.server_timing
    app.state.lukhas_id = state
    return app
