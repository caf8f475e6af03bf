"""Traces: OpenTelemetry spans (OTLP/HTTP) of each request, its use case, its SQL and Redis commands, when
LUKHAS_ID_OTLP_ENDPOINT is set; when it is not (the default), nothing: OpenTelemetry is not imported and
every call below is a check of one module variable.

The spans of one request (all with the request's trace id, the one in `X-Trace-Id` and its log lines):

- `{method} {route}`, kind SERVER, from LukhasApp.__call__ (web/app.py), so the fast path has it too:
  `http.request.method`, `http.route` (the route template, never the path), `http.response.status_code`,
  `url.scheme`, `network.protocol.version`, and `lukhas_id.tenant` / `lukhas_id.client_id` once known. It
  continues a caller's W3C `traceparent` and the answer carries its own `traceparent`;
- the use cases: `oauth.token` (`oauth.grant_type`; `oauth.error` when refused: the RFC 6749 error code),
  `sign_in` (`lukhas_id.sign_in.factor`);
- SQL: one span per statement, `{operation}` with `db.system` (`postgresql` / `sqlite`), `db.operation`
  and `lukhas_id.db.lane` (`sqlalchemy`, or `asyncpg` for the direct statements of adapters/sql/direct.py);
  never the statement's parameter values;
- Redis: one span per command, `{command}` with `db.system` `redis` and `db.operation` (no keys, no values).

A failed span has `error.type` (an exception's class name, or the status code of a 5xx answer) and status
ERROR; no exception message or stack trace is recorded (a message may quote a value). Nothing secret or
personal is ever an attribute: no token, secret, password, code, e-mail or IP address.

The API for other code (the NATS relay, a new use case):

    from lukhas_id.observability import tracing

    with tracing.span("events.publish", {"messaging.system": "nats"}) as span:
        ...
        span.set_attribute("messaging.batch.message_count", n)

`span(name, attributes, **more)` is a context manager: a child of the current span, made current inside
the block, failed with `error.type` if the block raises. With tracing off it is one shared object whose
methods do nothing. `start_span` starts a span that is not made current (for work that ends in a callback)
and returns None when tracing is off; `enabled()` tells, for a hot path that would build attributes. With
`child_only=True` either makes a span only inside a recorded trace: the SQL and Redis spans use it, so
that the statements of the start-up (migrations) and of unsampled requests make no traces of their own.

Why these spans are made here and not by OpenTelemetry's instrumentation packages: the ASGI middleware
would run on every request even with tracing off and would not see the fast path; the Redis commands
of a request go over ΛiD's own lean RESP connection (adapters/redis/wire.py), which redis-py's
instrumentation never sees; the asyncpg instrumentation patches every asyncpg connection, so the
statements SQLAlchemy runs on asyncpg would be traced twice. A handful of spans made with the SDK give
correct parents everywhere, and cost nothing when tracing is off.

The tracer is process-wide (like the logging configuration): `start(settings)` in the application's
lifespan makes it, so each server worker process has its own provider and export thread (made after the
fork), and `shutdown` at the lifespan's end flushes what is queued, bounded by LUKHAS_ID_OTLP_TIMEOUT.
The OpenTelemetry side lives in observability/otel.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Final, Protocol

from lukhas_id.observability.trace import TraceContext

if TYPE_CHECKING:
    from lukhas_id.observability.otel import Tracer
    from lukhas_id.settings import Settings

Attribute = str | bool | int | float | Sequence[str] | Sequence[int]


class Span(Protocol):
    def set_attribute(self, key: str, value: Attribute) -> None: ...

    def fail(self, error_type: str) -> None: ...

    def end(self) -> None: ...

    def __enter__(self) -> Span: ...

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...


class _NoSpan:
    """The span of tracing off: every method does nothing."""

    __slots__ = ()

    def set_attribute(self, key: str, value: Attribute) -> None:
        pass

    def fail(self, error_type: str) -> None:
        pass

    def end(self) -> None:
        pass

    def __enter__(self) -> _NoSpan:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        pass


NO_SPAN: Final = _NoSpan()

_tracer: Tracer | None = None


def enabled() -> bool:
    return _tracer is not None


def span(
    name: str, attributes: Mapping[str, Attribute] | None = None, /, *, child_only: bool = False, **more: Attribute
) -> Span:
    """A child span of the current one for a `with` block (see the module docstring); NO_SPAN when off, and
    with `child_only` when no recording span is current (no new trace for a statement outside a request)."""
    tracer = _tracer
    if tracer is None:
        return NO_SPAN
    if more:
        attributes = {**(attributes or {}), **more}
    if child_only:
        return tracer.child(name, attributes) or NO_SPAN
    return tracer.start(name, attributes)


def start_span(
    name: str, attributes: Mapping[str, Attribute] | None = None, *, child_only: bool = False
) -> Span | None:
    """A started child span of the current one, not made current; end it with `end()`. None when off, and
    with `child_only` when no recording span is current."""
    tracer = _tracer
    if tracer is None:
        return None
    return tracer.child(name, attributes) if child_only else tracer.start(name, attributes)


_METHODS: Final = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH", "CONNECT", "TRACE"})


class ServerSpan:
    """A request's SERVER span (LukhasApp.__call__): started as the request arrives, told the status as
    the answer starts (`answered`, which gives the `traceparent` to answer with), ended with the route
    template, tenant and client the request's context holds by then."""

    __slots__ = ("_method", "_span", "status")

    def __init__(self, tracer: Tracer, method: str, incoming: TraceContext, scheme: str, version: str) -> None:
        self._method = method if method in _METHODS else "_OTHER"
        self.status: int | None = None
        self._span = tracer.server(
            self._method if method in _METHODS else "HTTP",
            incoming,
            {"http.request.method": self._method, "url.scheme": scheme, "network.protocol.version": version},
        )

    def answered(self, status: int) -> bytes:
        self.status = status
        return self._span.traceparent()

    def end(self, route: str | None, tenant: str | None, client_id: str | None, error: str | None = None) -> None:
        span = self._span
        if route is not None:
            span.set_attribute("http.route", route)
            span.set_name(f"{self._method if self._method != '_OTHER' else 'HTTP'} {route}")
        if tenant is not None:
            span.set_attribute("lukhas_id.tenant", tenant)
        if client_id is not None:
            span.set_attribute("lukhas_id.client_id", client_id)
        if self.status is not None:
            span.set_attribute("http.response.status_code", self.status)
            if self.status >= 500 and error is None:
                error = str(self.status)
        if error is not None:
            span.fail(error)
        span.end()


def server_span(method: str, incoming: TraceContext, scheme: str, version: str) -> ServerSpan | None:
    tracer = _tracer
    return None if tracer is None else ServerSpan(tracer, method, incoming, scheme, version)


def start(settings: Settings) -> Tracer | None:
    """Make this process's tracer from the settings (None when LUKHAS_ID_OTLP_ENDPOINT is unset)."""
    global _tracer
    if settings.otlp_endpoint is None:
        return None
    from lukhas_id.observability.otel import Tracer

    tracer = Tracer(str(settings.otlp_endpoint), settings.trace_sample_ratio, settings.otlp_timeout)
    _tracer = tracer
    return tracer


async def shutdown(tracer: Tracer | None) -> None:
    """Stop tracing with `tracer` (from `start`): no new spans, the queued ones exported (bounded by the
    export timeout, in a thread so the event loop keeps running)."""
    global _tracer
    if tracer is None:
        return
    if _tracer is tracer:
        _tracer = None
    await asyncio.to_thread(tracer.shutdown)
