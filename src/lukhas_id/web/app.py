"""The ASGI application: protocol endpoints as plain Starlette routes, per tenant.

The default tenant is served at the root (issuer = public URL); tenant T under /t/T (issuer
{public_url}/t/T). RFC 8414 §3.1 metadata of tenant T is also served at
/.well-known/oauth-authorization-server/t/T.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Final

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles
from starlette.types import Message, Receive, Scope, Send

from lukhas_id.bootstrap import Container, build_container
from lukhas_id.clock import Clock
from lukhas_id.domain.events import EventType, IdentityEvent
from lukhas_id.domain.keys import KeyState
from lukhas_id.errors import OAuthError
from lukhas_id.metrics import Metrics
from lukhas_id.observability import LogEvent, configure_logging, write
from lukhas_id.observability.context import RequestContext, close_request, current, open_request
from lukhas_id.observability.logs import AccessLog
from lukhas_id.observability.outages import OutageLog
from lukhas_id.observability.trace import incoming_trace
from lukhas_id.settings import Settings, load_settings
from lukhas_id.web.endpoints import declare
from lukhas_id.web.http_io import json_response
from lukhas_id.web.outcomes import unexpected_error
from lukhas_id.web.pages import STATIC_DIR
from lukhas_id.web.providers import Provider
from lukhas_id.web.registry import Handler, fast_table, routes, split_tenant
from lukhas_id.web.state import AppState


async def maintenance_pass(container: Container) -> None:
    """One pass of background upkeep: automatic key rotation, then deleting expired token state."""
    interval = container.settings.key_rotation_interval
    now = container.clock.now()
    if interval:
        for tenant in await container.tenants.list():
            keys = await container.keys.load(tenant.id)
            for alg in sorted({k.alg for k in keys.keys}):
                if container.keys.rotation_due(keys.keys, alg, interval, now):
                    await container.keys.rotate(tenant.id, alg)  # emits signing_key.rotated when it rotates
    await count_signing_keys(container)
    await container.token_state.purge_expired(now)
    await container.kv.purge_expired(now)
    await container.refresh.purge_expired(now)


# Identity events after which the active signing keys are counted again (a new tenant brings its keys).
KEY_EVENTS: Final = frozenset({EventType.SIGNING_KEY_ROTATED, EventType.TENANT_CREATED})


async def count_signing_keys(container: Container) -> None:
    """identity_active_signing_keys: the active keys over every tenant."""
    active = 0
    for tenant in await container.tenants.list():
        keys = await container.keys.load(tenant.id)
        active += sum(1 for key in keys.keys if key.state is KeyState.ACTIVE)
    container.metrics.active_signing_keys.set(active)


async def _maintenance(container: Container) -> None:
    interval = container.settings.key_rotation_interval
    period = max(1.0, min(60.0, interval / 10)) if interval else 60.0
    while True:
        await asyncio.sleep(period)
        try:
            await maintenance_pass(container)
        except Exception as exc:  # keep the loop alive; the next pass retries
            write(LogEvent.MAINTENANCE_FAILED, error=type(exc).__name__)


# Headers every answer carries (JSON, pages, errors alike); a response that sets one keeps its own value.
EDGE_HEADERS: Final = ((b"x-content-type-options", b"nosniff"),)

Headers = list[tuple[bytes, bytes]]
# A cross-cutting change to every answer, made as the answer starts: called with the request's scope, the
# time the request reached the app (time.perf_counter), the status and the answer's headers, which it may
# extend. The request's context (observability/context.py: trace id, route, tenant) is current.
ResponseHook = Callable[[Scope, float, int, Headers], None]

_METHODS: Final = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH"})


def edge_headers(scope: Scope, started: float, status: int, headers: Headers) -> None:
    """Add EDGE_HEADERS that the answer does not set (ASGI response header names are lower-case)."""
    for header in EDGE_HEADERS:
        name = header[0]
        for present, _ in headers:
            if present == name:
                break
        else:
            headers.append(header)


def trace_header(scope: Scope, started: float, status: int, headers: Headers) -> None:
    """Add `X-Trace-Id`: the request's trace id (observability/trace.py), on every answer."""
    context = current()
    if context is not None:
        headers.append((b"x-trace-id", context.trace_id.encode("latin-1")))


def server_timing(scope: Scope, started: float, status: int, headers: Headers) -> None:
    """Add ``Server-Timing: app;dur=<ms>``: from the request reaching the app to the answer's start."""
    elapsed = (time.perf_counter() - started) * 1000
    headers.append((b"server-timing", f"app;dur={elapsed:.3f}".encode()))


def access_hook(log: AccessLog) -> ResponseHook:
    """The access log line (observability/logs.py AccessLog): method, route template, status, duration to
    the answer's start."""

    def access_line(scope: Scope, started: float, status: int, headers: Headers) -> None:
        method = scope["method"]
        microseconds = int((time.perf_counter() - started) * 1_000_000)
        log.line(method if method in _METHODS else "OTHER", status, microseconds / 1000)

    return access_line


def metrics_hook(metrics: Provider[Metrics]) -> ResponseHook:
    """http_requests_total and http_request_duration_seconds (lukhas_id/metrics.py) for every answer."""

    def count(scope: Scope, started: float, status: int, headers: Headers) -> None:
        try:
            registry = metrics()
        except OAuthError:  # starting or stopping: no Container, nothing to count into
            return
        context = current()
        method = scope["method"]
        registry.http_request(
            (context.route if context is not None else None) or "-",
            method if method in _METHODS else "OTHER",
            status,
            time.perf_counter() - started,
        )

    return count


def with_hooks(scope: Scope, send: Send, hooks: tuple[ResponseHook, ...]) -> Send:
    """`send` that runs every hook on the answer's start: one wrapper for all of them."""
    started = time.perf_counter()

    async def hooked_send(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = [*message.get("headers", ())]
            status = message["status"]
            for hook in hooks:
                hook(scope, started, status, headers)
            message = {**message, "headers": headers}
        await send(message)

    return hooked_send


class LukhasApp(Starlette):
    """Starlette, plus two things applied before routing so that no endpoint escapes them:

    - the request's context (observability/context.py), opened with its trace id (observability/trace.py)
      before anything else, so that every log line of the request carries it;
    - the cross-cutting response hooks (`hooks`: the edge headers, X-Trace-Id, Server-Timing when enabled,
      the access log line when enabled), run by one wrapper around `send` for every HTTP request;
    - the fast path: the POST endpoints the registry marks `fast` (token, introspection, revocation, the
      passkey ceremonies) are called directly with the tenant split off the path, skipping the router.
      Their handlers are the very ones the router also holds (web/registry.py), so only the dispatch
      differs; any other method or path goes through the router (405/404 from there).
    """

    fast: dict[str, Handler]
    hooks: tuple[ResponseHook, ...] = ()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        token = open_request(RequestContext(incoming_trace(scope["headers"]).trace_id))
        try:
            send = with_hooks(scope, send, self.hooks)
            if scope["method"] == "POST":
                tenant, path = split_tenant(scope["path"])
                handler = self.fast.get(path)
                if handler is not None:
                    if tenant is not None:
                        scope["path_params"] = {"tenant": tenant}
                    response = await handler(Request(scope, receive, send))
                    await response(scope, receive, send)
                    return
            await super().__call__(scope, receive, send)
        finally:
            close_request(token)


def create_app(settings: Settings | None = None, *, clock: Clock | None = None) -> LukhasApp:
    settings = settings or load_settings()
    state = AppState(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        configure_logging(settings.log_level, settings.log_format)
        url = settings.public_url
        if url.scheme != "https" and url.host not in {"127.0.0.1", "localhost", "[::1]", "::1"}:
            write(LogEvent.PUBLIC_URL_NOT_HTTPS)
        container = await build_container(settings, clock=clock)
        task: asyncio.Task[None] | None = None
        try:
            await container.tenants.ensure(settings.default_tenant, settings.access_token_alg)
            state.attach(container)
            await count_signing_keys(container)

            async def recount(event: IdentityEvent) -> None:
                if event.type in KEY_EVENTS:
                    await count_signing_keys(container)

            container.events.subscribe(recount)
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
            await outages.aclose()
            await container.aclose()
            access_log = getattr(app.state, "access_log", None)
            if access_log is not None:
                access_log.flush()

    specs = declare(state)

    def probe(store: str) -> Awaitable[None] | None:
        try:
            container = state.c
        except OAuthError:  # starting or stopping: nothing to probe
            return None
        return container.probe(store)

    outages = OutageLog(probe)

    async def http_error(request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, HTTPException) else 400
        headers = dict(exc.headers or {}) if isinstance(exc, HTTPException) else {}
        detail = exc.detail if isinstance(exc, HTTPException) else "bad request"
        code = "not_found" if status == 404 else "invalid_request"
        return json_response({"error": code, "error_description": detail}, status, headers)

    async def server_error(request: Request, exc: Exception) -> Response:
        return unexpected_error(exc, outages)

    handlers: dict[Any, Any] = {HTTPException: http_error, Exception: server_error}
    static = Mount("/static", app=StaticFiles(directory=STATIC_DIR), name="static")
    app = LukhasApp(routes=[*routes(specs, outages), static], lifespan=lifespan, exception_handlers=handlers)
    app.fast = fast_table(specs, outages)
    hooks: list[ResponseHook] = [edge_headers, trace_header, metrics_hook(lambda: state.c.metrics)]
    if settings.server_timing:
        hooks.append(server_timing)
    access_log = AccessLog(fmt=settings.log_format) if settings.access_log else None
    if access_log is not None:
        hooks.append(access_hook(access_log))
    app.hooks = tuple(hooks)
    app.state.access_log = access_log
    app.state.outages = outages
    app.state.lukhas_id = state
    app.state.endpoints = specs
    return app
