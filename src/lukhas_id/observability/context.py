"""What a log line knows about the request it was written in: one small record per request, in a ContextVar.

The edge (web/app.py) opens it with the trace id; the endpoint wrapper (web/registry.py) adds the route
template; the tenant service adds the tenant a request names; services add the principal's ΛID and the
client id once they know them (`bind_principal`, `bind_client`). Log formatters (observability/logs.py)
read it. Nothing personal goes
in: a route template, not a path; a tenant name; a ΛID; a client id.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lukhas_id.observability.tracing import ServerSpan

from lukhas_id.observability.trace import new_trace_id


class RequestContext:
    __slots__ = ("client_id", "principal", "route", "span", "tenant", "trace_id")

    def __init__(self, trace_id: str, span: ServerSpan | None = None) -> None:
        self.trace_id = trace_id
        self.span = span  # the request's SERVER span when tracing is on (observability/tracing.py)
        self.route: str | None = None
        self.tenant: str | None = None
        self.principal: str | None = None
        self.client_id: str | None = None


_current: ContextVar[RequestContext | None] = ContextVar("lukhas_id_request", default=None)


def open_request(context: RequestContext) -> Token[RequestContext | None]:
    return _current.set(context)


def close_request(token: Token[RequestContext | None]) -> None:
    _current.reset(token)


def current() -> RequestContext | None:
    """The request this code runs for (or the CLI command, the maintenance pass: `acting`); None outside."""
    return _current.get()


@contextmanager
def acting(origin: str) -> Iterator[RequestContext]:
    """A context for work that is no request: a CLI command (`cli user delete`) or the maintenance pass,
    with a fresh trace id and `origin` as its route, so that its events, log lines and audit records say
    where they came from. Inside a request it changes nothing."""
    existing = _current.get()
    if existing is not None:
        yield existing
        return
    context = RequestContext(new_trace_id())
    context.route = origin
    token = _current.set(context)
    try:
        yield context
    finally:
        _current.reset(token)


def trace_id() -> str | None:
    context = _current.get()
    return context.trace_id if context is not None else None


def bind_route(route: str) -> None:
    context = _current.get()
    if context is not None:
        context.route = route


def bind_tenant(name: str) -> None:
    context = _current.get()
    if context is not None:
        context.tenant = name


def bind_principal(lid: str) -> None:
    context = _current.get()
    if context is not None:
        context.principal = lid


def bind_client(client_id: str) -> None:
    context = _current.get()
    if context is not None:
        context.client_id = client_id
