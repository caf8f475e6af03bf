"""UserInfo endpoint: OpenID Connect Core §5.3, with RFC 6750 bearer tokens and errors.

GET takes the token from the Authorization header; POST from the header or an `access_token`
parameter of an application/x-www-form-urlencoded body (RFC 6750 §2.2; read by web/http_io.py
`read_message`: size-limited, strictly UTF-8; an empty body needs no Content-Type).
A token in the URI query is ignored (OAuth 2.1 §5.1). Errors carry a `WWW-Authenticate: Bearer`
challenge whose realm is the tenant's issuer. Browser relying parties call UserInfo directly, so
every answer allows any origin (the token is a bearer token, no cookie is involved) and OPTIONS
answers the CORS preflight that an Authorization header triggers.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from urllib.parse import parse_qsl

import orjson
from starlette.requests import Request
from starlette.responses import Response

from lukhas_id.errors import ErrorCode, KeyUnavailable, OAuthError
from lukhas_id.protocol.oauth2.bearer import BearerError, challenge, extract_bearer, invalid_request
from lukhas_id.protocol.oauth2.request import FORM_TYPE, check_media_type, parse_form
from lukhas_id.services.tenants import TenantService
from lukhas_id.services.userinfo import UserInfoService
from lukhas_id.web.http_io import NO_STORE, EdgeConfig, error_response, json_response, read_message
from lukhas_id.web.providers import Provider

Endpoint = Callable[[Request], Awaitable[Response]]
USERINFO_PATH = "/oauth2/userinfo"

CORS = {"access-control-allow-origin": "*", "access-control-expose-headers": "WWW-Authenticate"}
PREFLIGHT = {
    "access-control-allow-origin": "*",
    "access-control-allow-methods": "GET, POST",
    "access-control-allow-headers": "Authorization, Content-Type",
    "access-control-max-age": "86400",
}


def _query_has_token(raw_query: bytes) -> bool:
    if b"access_token" not in raw_query and b"%" not in raw_query:
        return False
    pairs = parse_qsl(raw_query.decode("latin-1"), keep_blank_values=True)
    return any(name == "access_token" for name, _ in pairs)


async def _form_token(request: Request, edge: EdgeConfig) -> str | None:
    """The `access_token` of a form-encoded POST body; None when the body is empty or has none."""
    try:
        message = await read_message(
            request.scope, request.receive, edge, request.path_params.get("tenant"), USERINFO_PATH
        )
        if not message.body:
            return None
        check_media_type(message.header("content-type"), FORM_TYPE)
        values = parse_form(message.body).get("access_token", [])
    except OAuthError as exc:
        raise invalid_request(exc.description, exc.status) from None
    if len(values) > 1:
        raise invalid_request("parameter access_token is repeated")
    return values[0] if values else None


async def _token(request: Request, edge: EdgeConfig) -> str:
    headers = request.headers.getlist("authorization")  # checked before the body is read
    if len(headers) > 1:
        raise invalid_request("repeated Authorization header")
    form_token = await _form_token(request, edge) if request.method == "POST" else None
    in_query = _query_has_token(request.scope.get("query_string", b""))
    return extract_bearer(headers[0] if headers else None, form_token, in_query)


def _bearer_error(realm: str, exc: BearerError) -> Response:
    headers = {
        **NO_STORE,
        **CORS,
        "www-authenticate": challenge(realm, exc.error, exc.description, exc.scope),
    }
    if exc.error is None:
        # RFC 6750 §3.1: no error information when the request had no credentials.
        return Response(b"", exc.status, headers=headers)
    body = orjson.dumps({"error": exc.error, "error_description": exc.description})
    return Response(body, exc.status, headers=headers, media_type="application/json")


def userinfo(tenants: Provider[TenantService], claims_of: Provider[UserInfoService], edge: EdgeConfig) -> Endpoint:
    """UserInfo; `edge` bounds a form body (Settings.max_body_bytes)."""

    async def endpoint(request: Request) -> Response:
        if request.method == "OPTIONS":
            return Response(status_code=204, headers=PREFLIGHT)
        try:
            tenant_service, service = tenants(), claims_of()
            tenant = await tenant_service.resolve(request.path_params.get("tenant"))
            realm = tenant_service.issuer(tenant)
            try:
                claims = await service.claims(tenant, await _token(request, edge))
            except BearerError as exc:
                return _bearer_error(realm, exc)
        except OAuthError as exc:
            response = error_response(exc)
        except KeyUnavailable:
            response = error_response(OAuthError(ErrorCode.TEMPORARILY_UNAVAILABLE, "no signing key is available", 503))
        else:
            return json_response(claims, 200, {**NO_STORE, **CORS})
        response.headers.update(CORS)
        return response

    return endpoint
