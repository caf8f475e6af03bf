"""What the page routes and the passkey endpoints share: the tenant a request names and its issuer, the
tenant's CSRF key, the browser's sessions, the templates and the edge settings.

One `PageKit` is made in web/endpoints.py and handed to every page route factory; the services in it are
providers (web/providers.py). web/session_cookies.py reads and sets the browser's cookies with it.
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request

from lukhas_id.domain.tenant import Tenant
from lukhas_id.services.keyring import TenantKeyring
from lukhas_id.services.sessions import SessionService
from lukhas_id.services.tenants import TenantService
from lukhas_id.web import csrf
from lukhas_id.web.http_io import EdgeConfig
from lukhas_id.web.pages import Pages
from lukhas_id.web.providers import Provider


@dataclass(frozen=True, slots=True)
class PageKit:
    """`tenants`, `sessions`, `keyring`: the services; `pages`: the templates; `edge`: the body limit
    and the trusted proxies; `public_url`: the origin a page's form may come from (web/csrf.py);
    `secure_cookies`: whether the public URL is https (then cookies are ``__Host-`` and Secure);
    `default_tenant`: the name of the tenant served at the root."""

    tenants: Provider[TenantService]
    sessions: Provider[SessionService]
    keyring: Provider[TenantKeyring]
    pages: Pages
    edge: EdgeConfig
    public_url: str
    secure_cookies: bool
    default_tenant: str

    async def tenant(self, request: Request) -> Tenant:
        """The tenant the path names (/t/{name}/...), or the default tenant at the root."""
        return await self.tenants().resolve(request.path_params.get("tenant"))

    def issuer(self, tenant: Tenant) -> str:
        return self.tenants().issuer(tenant)

    def csrf_key(self, tenant: Tenant) -> bytes:
        """The tenant's key of the pages' CSRF tokens (web/csrf.py)."""
        return self.keyring().key(tenant, "csrf")

    def csrf_token(self, tenant: Tenant, pre_session_id: str) -> str:
        """The CSRF token of the forms served to the holder of `pre_session_id`."""
        return csrf.token(self.csrf_key(tenant), pre_session_id)
