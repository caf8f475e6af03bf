"""Dynamic client registration endpoint (RFC 7591 §3) and client configuration endpoint (RFC 7592 §2).

`POST {issuer}/oauth2/register` needs an initial access token as a Bearer token; GET, PUT and DELETE on
`{issuer}/oauth2/register/{client_id}` need that client's registration access token. Token problems are
RFC 6750 401 answers with a `WWW-Authenticate: Bearer` challenge (realm: the issuer); the token is checked
before the body is read. Bodies are `application/json` (UTF-8; checked before the body is read), at most
64 KiB, without repeated members: web/http_io.py `read_message` reads them, protocol/oauth2/registration.py
`parse_json_object` parses them. Metadata errors are RFC 7591 §3.2.2 JSON; an unreadable request is
`invalid_request` (413 when too large).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from lukhas_id.domain.tenant import Tenant
from lukhas_id.errors import OAuthError
from lukhas_id.protocol.oauth2.bearer import BearerError, challenge, extract_bearer, invalid_request, invalid_token
from lukhas_id.protocol.oauth2.registration import (
    MAX_BODY,
    RegistrationError,
    RegistrationErrorCode,
    check_update_request,
    parse_json_object,
    parse_metadata,
    registered_metadata,
)
from lukhas_id.services.registration import InvalidRegistrationToken, RegistrationService
from lukhas_id.services.tenants import TenantService
from lukhas_id.web.http_io import JSON_TYPE, NO_STORE, EdgeConfig, error_response, json_response, read_message
from lukhas_id.web.providers import Provider

Endpoint = Callable[[Request], Awaitable[Response]]
REGISTER_PATH = "/oauth2/register"


def _bearer(request: Request) -> str:
    headers = request.headers.getlist("authorization")
    if len(headers) > 1:
        raise invalid_request("repeated Authorization header")
    return extract_bearer(headers[0] if headers else None, None, False)


def _bearer_error(realm: str, exc: BearerError) -> Response:
    headers = {**NO_STORE, "www-authenticate": challenge(realm, exc.error, exc.description, exc.scope)}
    if exc.error is None:
        return Response(b"", exc.status, headers=headers)  # RFC 6750 §3.1: no error information
    body = orjson.dumps({"error": exc.error, "error_description": exc.description})
    return Response(body, exc.status, headers=headers, media_type=JSON_TYPE)


def _registration_error(exc: RegistrationError) -> Response:
    body = {"error": exc.code.value, "error_description": exc.description}
    return json_response(body, exc.status, dict(NO_STORE))


async def _json_body(request: Request, edge: EdgeConfig, path: str) -> dict[str, Any]:
    """The JSON object of the request body; any reading problem is RFC 7591's invalid_request."""
    tenant = request.path_params.get("tenant")
    try:
        message = await read_message(request.scope, request.receive, edge, tenant, path, media_type=JSON_TYPE)
    except OAuthError as exc:
        raise RegistrationError(RegistrationErrorCode.INVALID_REQUEST, exc.description, exc.status) from None
    return parse_json_object(message.body)


def _client_info(issuer: str, info: dict[str, Any], registration_token: str) -> dict[str, Any]:
    return {
        **info,
        "registration_access_token": registration_token,
        "registration_client_uri": f"{issuer}/oauth2/register/{info['client_id']}",
    }


def register(
    tenants: Provider[TenantService], registrations: Provider[RegistrationService], edge: EdgeConfig
) -> Endpoint:
    """RFC 7591 registration; `edge` says which proxies are trusted (the body limit is MAX_BODY)."""
    edge = replace(edge, max_body=MAX_BODY)

    async def endpoint(request: Request) -> Response:
        try:
            tenant_service, registration = tenants(), registrations()
            tenant = await tenant_service.resolve(request.path_params.get("tenant"))
            issuer = tenant_service.issuer(tenant)
            try:
                try:
                    await registration.check_initial_token(tenant, _bearer(request))
                except InvalidRegistrationToken:
                    raise invalid_token("the initial access token is invalid or expired") from None
            except BearerError as exc:
                return _bearer_error(issuer, exc)
            meta = parse_metadata(await _json_body(request, edge, REGISTER_PATH))
            result = await registration.register(tenant, meta)
        except RegistrationError as exc:
            return _registration_error(exc)
        except OAuthError as exc:
            return error_response(exc)
        info = registered_metadata(result.client)
        if result.client_secret is not None:
            info["client_secret"] = result.client_secret
        return json_response(_client_info(issuer, info, result.registration_access_token), 201, dict(NO_STORE))

    return endpoint


async def _manage(
    registration: RegistrationService, edge: EdgeConfig, request: Request, tenant: Tenant, issuer: str, token: str
) -> Response:
    client_id: str = request.path_params["client_id"]
    try:
        client = await registration.authorize(tenant, client_id, token)
    except InvalidRegistrationToken:
        return _bearer_error(issuer, invalid_token("the registration access token is invalid"))
    if request.method == "DELETE":
        await registration.delete(client)
        return Response(status_code=204, headers=dict(NO_STORE))
    if request.method == "PUT":
        doc = await _json_body(request, edge, f"{REGISTER_PATH}/{client_id}")
        check_update_request(doc, client.client_id)
        secret = doc.get("client_secret")
        client = await registration.update(client, parse_metadata(doc), secret if isinstance(secret, str) else None)
    return json_response(_client_info(issuer, registered_metadata(client), token), 200, dict(NO_STORE))


def manage(
    tenants: Provider[TenantService], registrations: Provider[RegistrationService], edge: EdgeConfig
) -> Endpoint:
    """RFC 7592 read, update and delete; `edge` as for `register`."""
    edge = replace(edge, max_body=MAX_BODY)

    async def endpoint(request: Request) -> Response:
        try:
            tenant_service, registration = tenants(), registrations()
            tenant = await tenant_service.resolve(request.path_params.get("tenant"))
            issuer = tenant_service.issuer(tenant)
            try:
                token = _bearer(request)
            except BearerError as exc:
                return _bearer_error(issuer, exc)
            return await _manage(registration, edge, request, tenant, issuer, token)
        except RegistrationError as exc:
            return _registration_error(exc)
        except OAuthError as exc:
            return error_response(exc)

    return endpoint
