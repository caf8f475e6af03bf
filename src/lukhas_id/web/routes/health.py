"""Liveness (/healthz) and readiness (/readyz: database, short-lived state store, signing key)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Protocol

from starlette.requests import Request
from starlette.responses import Response

from lukhas_id.errors import OAuthError
from lukhas_id.services.keys import KeyService
from lukhas_id.services.tenants import TenantService
from lukhas_id.web.http_io import json_response
from lukhas_id.web.providers import Provider

CHECK_TIMEOUT = 2.0


class Pingable(Protocol):
    """A store that answers a round trip (the database, the token state store)."""

    async def ping(self) -> None: ...


async def healthz(request: Request) -> Response:
    return json_response({"status": "ok"}, headers={"cache-control": "no-store"})


def readyz(
    database: Provider[Pingable],
    store: Provider[Pingable],
    store_name: str,
    tenants: Provider[TenantService],
    keys: Provider[KeyService],
) -> Callable[[Request], Awaitable[Response]]:
    """Ready when the database and the token state `store` (reported as `store_name`) answer and the
    default tenant has a signing key; "startup" fails until the services exist."""

    async def endpoint(request: Request) -> Response:
        failing: list[str] = []
        try:
            db, state_store, tenant_service, key_service = database(), store(), tenants(), keys()
        except OAuthError:
            return json_response({"status": "unavailable", "failing": ["startup"]}, 503, {"cache-control": "no-store"})

        async def check(name: str, probe: Awaitable[object]) -> None:
            try:
                await asyncio.wait_for(probe, CHECK_TIMEOUT)
            except Exception:
                failing.append(name)

        await check("database", db.ping())
        await check(store_name, state_store.ping())

        async def signing_key() -> None:
            tenant = await tenant_service.by_name(tenant_service.default_name)
            if tenant is None:
                raise LookupError
            await key_service.signer(tenant)

        await check("signing_key", signing_key())
        if failing:
            return json_response({"status": "unavailable", "failing": failing}, 503, {"cache-control": "no-store"})
        return json_response({"status": "ready"}, headers={"cache-control": "no-store"})

    return endpoint
