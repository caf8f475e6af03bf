"""Token (RFC 6749 §3.2), introspection (RFC 7662) and revocation (RFC 7009) endpoints."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.responses import Response
from starlette.types import Receive, Scope

from lukhas_id.errors import ErrorCode, KeyUnavailable, OAuthError
from lukhas_id.protocol.oauth2.client_auth import extract_credentials
from lukhas_id.protocol.oauth2.grants import select_grant
from lukhas_id.web.http_io import NO_STORE, error_response, form_request, token_response
from lukhas_id.web.state import AppState

# Called by LukhasApp's fast path with the ASGI scope, receive, and the tenant named in the path.
Endpoint = Callable[[Scope, Receive, str | None], Awaitable[Response]]


def _unavailable() -> Response:
    return error_response(OAuthError(ErrorCode.TEMPORARILY_UNAVAILABLE, "no signing key is available", 503))


def token(state: AppState) -> Endpoint:
    limit = state.settings.max_body_bytes

    async def endpoint(scope: Scope, receive: Receive, tenant_name: str | None) -> Response:
        try:
            c = state.c
            tenant = await state.tenant(tenant_name)
            form = await form_request(scope, receive, limit)
            client = await c.clients.authenticate(tenant, extract_credentials(form))
            _, handler = select_grant(form, c.grant_handlers)
            return token_response(await handler(tenant, client, form))
        except OAuthError as exc:
            return error_response(exc)
        except KeyUnavailable:
            return _unavailable()

    return endpoint


def introspect(state: AppState) -> Endpoint:
    limit = state.settings.max_body_bytes

    async def endpoint(scope: Scope, receive: Receive, tenant_name: str | None) -> Response:
        try:
            c = state.c
            tenant = await state.tenant(tenant_name)
            form = await form_request(scope, receive, limit)
            caller = await c.clients.authenticate(tenant, extract_credentials(form))
            return token_response(await c.tokens.introspect(tenant, caller, form))
        except OAuthError as exc:
            return error_response(exc)

    return endpoint


def revoke(state: AppState) -> Endpoint:
    limit = state.settings.max_body_bytes

    async def endpoint(scope: Scope, receive: Receive, tenant_name: str | None) -> Response:
        try:
            c = state.c
            tenant = await state.tenant(tenant_name)
            form = await form_request(scope, receive, limit)
            caller = await c.clients.authenticate(tenant, extract_credentials(form))
            await c.tokens.revoke(tenant, caller, form)
            return Response(b"", 200, headers=NO_STORE)
        except OAuthError as exc:
            return error_response(exc)

    return endpoint
