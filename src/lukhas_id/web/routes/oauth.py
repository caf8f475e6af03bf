"""Token (RFC 6749 §3.2), introspection (RFC 7662) and revocation (RFC 7009) endpoints."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.responses import Response
from starlette.types import Receive, Scope

from lukhas_id.bootstrap import Container
from lukhas_id.domain.client import Client
from lukhas_id.domain.tenant import Tenant
from lukhas_id.errors import ErrorCode, KeyUnavailable, OAuthError
from lukhas_id.protocol.oauth2.client_auth import ClientCredentials, extract_credentials
from lukhas_id.protocol.oauth2.grants import select_grant
from lukhas_id.protocol.oauth2.request import FormRequest
from lukhas_id.web.http_io import NO_STORE, error_response, form_request, token_response
from lukhas_id.web.state import AppState

TOO_MANY_FAILURES = "too many failed authentications of this client from this address; retry later"

# Called by LukhasApp's fast path with the ASGI scope, receive, and the tenant named in the path.
Endpoint = Callable[[Scope, Receive, str | None], Awaitable[Response]]
# What an endpoint does once the request is read and the client authenticated.
Action = Callable[[Container, Tenant, Client, FormRequest], Awaitable[Response]]


def _endpoint(state: AppState, action: Action, *, public_clients: bool) -> Endpoint:
    """The shared steps: tenant, form, client authentication; then the action; errors as RFC 6749 §5.2.

    `public_clients`: whether a public client (no secret, identified by `client_id`) may call it.
    """
    limit = state.settings.max_body_bytes

    async def endpoint(scope: Scope, receive: Receive, tenant_name: str | None) -> Response:
        try:
            c = state.c
            tenant = await state.tenant(tenant_name)
            form = await form_request(scope, receive, limit)
            creds = extract_credentials(form)
            public_id = form.single("client_id") if public_clients and creds is None else None
            client = await _authenticate(c, tenant, scope, creds, public_id)
            return await action(c, tenant, client, form)
        except OAuthError as exc:
            return error_response(exc)
        except _Blocked as blocked:
            refusal = OAuthError(ErrorCode.INVALID_CLIENT, TOO_MANY_FAILURES, 429)
            return error_response(refusal, retry_after=blocked.wait)
        except KeyUnavailable:
            return error_response(OAuthError(ErrorCode.TEMPORARILY_UNAVAILABLE, "no signing key is available", 503))

    return endpoint


async def _authenticate(
    c: Container, tenant: Tenant, scope: Scope, creds: ClientCredentials | None, public_id: str | None
) -> Client:
    """The client, behind the brute-force limit of client authentication (services/rate_limit.py,
    ClientAuthLimiter): a blocked (address, client id) gets 429 before any secret is checked; presented
    credentials that fail take a token from that pair's bucket. Without credentials there is no secret to
    guess, so nothing is limited."""
    if creds is None:
        return await c.clients.authenticate(tenant, creds, public_client_id=public_id)
    peer = scope.get("client")
    ip = str(peer[0]) if peer else "unknown"
    limiter = c.client_auth_limiter
    wait = limiter.retry_after(tenant, ip, creds.client_id)
    if wait is not None:
        raise _Blocked(wait)
    try:
        return await c.clients.authenticate(tenant, creds)
    except OAuthError as exc:
        if exc.code is ErrorCode.INVALID_CLIENT:
            await limiter.failed(tenant, ip, creds.client_id)
        raise


class _Blocked(Exception):
    def __init__(self, wait: int) -> None:
        self.wait = wait


async def _token(c: Container, tenant: Tenant, client: Client, form: FormRequest) -> Response:
    _, handler = select_grant(form, c.grant_handlers)
    return token_response(await handler(tenant, client, form))


async def _introspect(c: Container, tenant: Tenant, caller: Client, form: FormRequest) -> Response:
    return token_response(await c.tokens.introspect(tenant, caller, form))


async def _revoke(c: Container, tenant: Tenant, caller: Client, form: FormRequest) -> Response:
    await c.tokens.revoke(tenant, caller, form)
    return Response(b"", 200, headers=NO_STORE)


def token(state: AppState) -> Endpoint:
    return _endpoint(state, _token, public_clients=True)


def introspect(state: AppState) -> Endpoint:
    # RFC 7662 §2.1: the caller must be authenticated; public clients cannot introspect.
    return _endpoint(state, _introspect, public_clients=False)


def revoke(state: AppState) -> Endpoint:
    # RFC 7009 §2.1: public clients may revoke their own tokens, identified by client_id.
    return _endpoint(state, _revoke, public_clients=True)
