"""The endpoint registry: each endpoint declared once, and what is generated from the declarations.

An `EndpointSpec` says where an endpoint lives (its path within a tenant; served at the root for the
default tenant and under /t/{tenant} for the others), which methods it answers, its handler, whether
it takes the fast path, the feature it belongs to, and what it adds to the discovery document. From
the list (web/app.py assembles it from the enabled features):

- `routes`: the Starlette routes, so that every other method gets 405 from the router;
- `fast_table`: the POSTs served before routing (LukhasApp), by path within the tenant;
- `discovery_members`: the endpoint URLs and `*_supported` lists of RFC 8414 / OIDC Discovery.

Every handler is wrapped once (`guarded`): a protocol error is answered as RFC 6749 §5.2 JSON, an
unexpected one as 503/500 without a traceback, on the fast path and through the router alike.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from lukhas_id.errors import OAuthError
from lukhas_id.features import Feature
from lukhas_id.observability.context import bind_route
from lukhas_id.observability.outages import OutageLog
from lukhas_id.web.http_io import error_response
from lukhas_id.web.outcomes import unexpected_error

Handler = Callable[[Request], Awaitable[Response]]
# What an endpoint adds to the discovery document, given the tenant's issuer.
DiscoveryMembers = Callable[[str], dict[str, Any]]

TENANT_PREFIX = "/t/"


@dataclass(frozen=True, slots=True)
class EndpointSpec:
    name: str
    path: str
    methods: tuple[str, ...]
    handler: Handler
    fast: bool = False
    feature: Feature | None = None
    discovery: DiscoveryMembers | None = None
    per_tenant: bool = True
    extra_paths: tuple[str, ...] = field(default=())

    def paths(self) -> list[str]:
        """The router paths: at the root, and under /t/{tenant} when the endpoint is per tenant."""
        own = [self.path, *self.extra_paths]
        if not self.per_tenant:
            return own
        return [*own, *(f"{TENANT_PREFIX}{{tenant}}{p}" for p in own)]


def guarded(handler: Handler, route: str, outages: OutageLog) -> Handler:
    """`handler`, with every error answered: OAuthError as RFC 6749 §5.2, anything else as 503/500 (an
    outage counted in `outages`); and the request's context (observability/context.py) told its route
    template (the path within a tenant)."""

    async def endpoint(request: Request) -> Response:
        bind_route(route)
        try:
            return await handler(request)
        except OAuthError as exc:
            return error_response(exc)
        except Exception as exc:
            return unexpected_error(exc, outages)

    return endpoint


def enabled(specs: Iterable[EndpointSpec], features: frozenset[Feature]) -> list[EndpointSpec]:
    """The endpoints that exist with these features."""
    return [s for s in specs if s.feature is None or s.feature in features]


def routes(specs: Iterable[EndpointSpec], outages: OutageLog) -> list[Route]:
    out: list[Route] = []
    for spec in specs:
        handler = guarded(spec.handler, spec.path, outages)
        out += [Route(path, handler, methods=list(spec.methods), name=None) for path in spec.paths()]
    return out


def fast_table(specs: Iterable[EndpointSpec], outages: OutageLog) -> dict[str, Handler]:
    """The fast-path POSTs by path within a tenant (each handler guarded)."""
    table: dict[str, Handler] = {}
    for spec in specs:
        if spec.fast:
            if spec.methods != ("POST",) or spec.extra_paths or not spec.per_tenant:
                raise ValueError(f"the fast path serves per-tenant POST endpoints only: {spec.name}")
            table[spec.path] = guarded(spec.handler, spec.path, outages)
    return table


def split_tenant(path: str) -> tuple[str | None, str]:
    """("T", "/rest") for "/t/T/rest", (None, path) for any other path: the router's {tenant} segment."""
    if path.startswith(TENANT_PREFIX):
        cut = path.find("/", len(TENANT_PREFIX))
        if cut > len(TENANT_PREFIX):
            return path[len(TENANT_PREFIX) : cut], path[cut:]
    return None, path


def discovery_members(specs: Iterable[EndpointSpec], issuer: str) -> dict[str, Any]:
    """Every endpoint's contribution to the tenant's discovery document, in declaration order."""
    members: dict[str, Any] = {}
    for spec in specs:
        if spec.discovery is not None:
            members.update(spec.discovery(issuer))
    return members
