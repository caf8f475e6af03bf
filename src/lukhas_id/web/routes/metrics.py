"""GET /metrics: this process's Prometheus metrics (text exposition format)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response

from lukhas_id.metrics import CONTENT_TYPE, Metrics
from lukhas_id.web.providers import Provider


def metrics(registry: Provider[Metrics]) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        return Response(registry().render(), 200, {"content-type": CONTENT_TYPE, "cache-control": "no-store"})

    return endpoint
