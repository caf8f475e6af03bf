"""The token (RFC 6749 §3.2), introspection (RFC 7662) and revocation (RFC 7009) endpoints: the ASGI adapter.

The endpoints themselves are services/oauth_endpoints.py; this module only turns the request into the
neutral `HttpMessage` (web/http_io.py) and the answer into a response (200 JSON with no-store, or an
empty 200). Errors are answered by the registry's wrapper (web/registry.py).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response

from lukhas_id.protocol.oauth2.request import HttpMessage
from lukhas_id.services.oauth_endpoints import EndpointAnswer, OAuthEndpoints
from lukhas_id.web.http_io import NO_STORE, EdgeConfig, read_message, token_response
from lukhas_id.web.providers import Provider

Handler = Callable[[Request], Awaitable[Response]]
Step = Callable[[OAuthEndpoints, HttpMessage], Awaitable[EndpointAnswer]]

TOKEN_PATH = "/oauth2/token"  # noqa: S105  (a path)
INTROSPECTION_PATH = "/oauth2/introspect"
REVOCATION_PATH = "/oauth2/revoke"


def _adapter(
    endpoints: Provider[OAuthEndpoints],
    edge: EdgeConfig,
    path: str,
    pick: Callable[[OAuthEndpoints, HttpMessage], Awaitable[EndpointAnswer]],
) -> Handler:
    async def handler(request: Request) -> Response:
        tenant = request.scope.get("path_params", {}).get("tenant")
        message = await read_message(request.scope, request.receive, edge, tenant, path)
        answer = await pick(endpoints(), message)
        if answer.body is None:
            return Response(b"", 200, headers=NO_STORE)
        return token_response(answer.body)

    return handler


def token(endpoints: Provider[OAuthEndpoints], edge: EdgeConfig) -> Handler:
    return _adapter(endpoints, edge, TOKEN_PATH, OAuthEndpoints.token)


def introspect(endpoints: Provider[OAuthEndpoints], edge: EdgeConfig) -> Handler:
    return _adapter(endpoints, edge, INTROSPECTION_PATH, OAuthEndpoints.introspect)


def revoke(endpoints: Provider[OAuthEndpoints], edge: EdgeConfig) -> Handler:
    return _adapter(endpoints, edge, REVOCATION_PATH, OAuthEndpoints.revoke)
