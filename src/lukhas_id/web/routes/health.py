"""Liveness (/healthz) and readiness (/readyz: database, short-lived state store, signing key)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response

from lukhas_id.errors import OAuthError
from lukhas_id.web.http_io import json_response
from lukhas_id.web.state import AppState

CHECK_TIMEOUT = 2.0


async def healthz(request: Request) -> Response:
    return json_response({"status": "ok"}, headers={"cache-control": "no-store"})


def readyz(state: AppState) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        failing: list[str] = []
        try:
            c = state.c
        except OAuthError:
            return json_response({"status": "unavailable", "failing": ["startup"]}, 503, {"cache-control": "no-store"})

        async def check(name: str, probe: Awaitable[object]) -> None:
            try:
                await asyncio.wait_for(probe, CHECK_TIMEOUT)
            except Exception:
                failing.append(name)

        store = "redis" if c.settings.redis_url else "token_state"
        await check("database", c.database.ping())
        await check(store, c.token_state.ping())

        async def signing_key() -> None:
            tenant = await c.tenants.by_name(c.tenants.default_name)
            if tenant is None:
                raise LookupError
            await c.keys.signer(tenant)

        await check("signing_key", signing_key())
        if failing:
            return json_response({"status": "unavailable", "failing": failing}, 503, {"cache-control": "no-store"})
        return json_response({"status": "ready"}, headers={"cache-control": "no-store"})

    return endpoint
