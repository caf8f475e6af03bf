"""An in-process ΛiD (ASGI app with its lifespan) and an HTTP client bound to it."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
from starlette.applications import Starlette

from lukhas_id.adapters.sql.database import Database
from lukhas_id.bootstrap import Container
from lukhas_id.clock import Clock
from lukhas_id.domain.client import Client, ClientAuthMethod, GrantType, TokenFormat
from lukhas_id.domain.principal import PrincipalType
from lukhas_id.domain.tenant import Tenant
from lukhas_id.settings import Settings
from lukhas_id.web.app import create_app

BASE = "http://testserver"


def basic(client_id: str, secret: str) -> dict[str, str]:
    raw = f"{client_id}:{secret}".encode()
    return {"Authorization": "Basic " + base64.b64encode(raw).decode()}


@dataclass
class RegisteredClient:
    client: Client
    secret: str
    tenant: Tenant

    @property
    def client_id(self) -> str:
        return self.client.client_id

    @property
    def auth(self) -> dict[str, str]:
        return basic(self.client.client_id, self.secret)


@dataclass
class Harness:
    app: Starlette
    http: httpx.AsyncClient
    settings: Settings

    @property
    def c(self) -> Container:
        return self.app.state.lukhas_id.c  # type: ignore[no-any-return]

    async def tenant(self, name: str | None = None) -> Tenant:
        name = name or self.settings.default_tenant
        tenant = await self.c.tenants.by_name(name)
        if tenant is None:
            tenant = await self.c.tenants.create(name, self.settings.access_token_alg)
        return tenant

    async def client(
        self,
        *,
        tenant: str | None = None,
        scopes: str = "api:read api:write",
        resources: tuple[str, ...] = ("urn:example:api",),
        token_format: TokenFormat = TokenFormat.JWT,
        principal_type: PrincipalType = PrincipalType.SERVICE,
        ttl: int | None = None,
        auth_method: ClientAuthMethod | None = None,
    ) -> RegisteredClient:
        t = await self.tenant(tenant)
        client, secret = await self.c.clients.create(
            t,
            name="test client",
            grant_types=frozenset({GrantType.CLIENT_CREDENTIALS}),
            scopes=frozenset(scopes.split()),
            resources=resources,
            token_format=token_format,
            principal_type=principal_type,
            access_token_ttl=ttl,
            auth_method=auth_method,
        )
        assert secret is not None
        return RegisteredClient(client, secret, t)

    def base(self, tenant: str | None = None) -> str:
        if tenant is None or tenant == self.settings.default_tenant:
            return ""
        return f"/t/{tenant}"

    async def token(self, rc: RegisteredClient, **form: Any) -> httpx.Response:
        data = {"grant_type": "client_credentials", **form}
        return await self.http.post(f"{self.base(rc.tenant.name)}/oauth2/token", data=data, headers=rc.auth)

    async def access_token(self, rc: RegisteredClient, **form: Any) -> str:
        resp = await self.token(rc, **form)
        assert resp.status_code == 200, resp.text
        return str(resp.json()["access_token"])

    async def introspect(self, rc: RegisteredClient, token: str, tenant: str | None = None) -> dict[str, Any]:
        t = tenant if tenant is not None else rc.tenant.name
        resp = await self.http.post(f"{self.base(t)}/oauth2/introspect", data={"token": token}, headers=rc.auth)
        assert resp.status_code == 200, resp.text
        return resp.json()  # type: ignore[no-any-return]

    async def revoke(self, rc: RegisteredClient, token: str, **form: Any) -> httpx.Response:
        return await self.http.post(
            f"{self.base(rc.tenant.name)}/oauth2/revoke", data={"token": token, **form}, headers=rc.auth
        )


async def prepare_database(settings: Settings) -> Settings:
    """An external database migrated to head, as `lukhas-id db upgrade` would (the embedded one does it itself)."""
    if not settings.embedded_database:
        db = Database.from_url(settings.effective_database_url)
        try:
            if not await db.is_current():
                await db.upgrade()
        finally:
            await db.dispose()
    return settings


@asynccontextmanager
async def running(settings: Settings, clock: Clock | None = None) -> AsyncIterator[Harness]:
    app = create_app(settings, clock=clock)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=BASE) as http:
            yield Harness(app, http, settings)
