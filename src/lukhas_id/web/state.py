"""The per-application holder of the Container (set by the ASGI lifespan) and tenant resolution."""

from __future__ import annotations

from lukhas_id.bootstrap import Container
from lukhas_id.domain.tenant import Tenant
from lukhas_id.errors import ErrorCode, OAuthError
from lukhas_id.settings import Settings


class AppState:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._container: Container | None = None

    def attach(self, container: Container) -> None:
        self._container = container

    def detach(self) -> None:
        self._container = None

    @property
    def c(self) -> Container:
        if self._container is None:
            raise OAuthError(ErrorCode.TEMPORARILY_UNAVAILABLE, "the server is starting or stopping", 503)
        return self._container

    def csrf_key(self, tenant: Tenant) -> bytes:
        """The tenant's key of the pages' CSRF tokens (web/csrf.py)."""
        return self.c.keyring.key(tenant, "csrf")

    async def tenant(self, name: str | None) -> Tenant:
        """The tenant named by the path (/t/{name}/...), or the default tenant at the root (None)."""
        return await self.c.tenants.resolve(name)
