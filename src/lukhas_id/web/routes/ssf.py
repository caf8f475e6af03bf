"""Shared Signals endpoints: transmitter metadata (OpenID SSF 1.0 §7), stream management (§8) and poll
delivery (RFC 8936), per tenant.

`GET /.well-known/ssf-configuration` (tenant T: `/t/T/.well-known/ssf-configuration`, and path-inserted
`/.well-known/ssf-configuration/t/T` as §7.2 asks) is public. Every other endpoint needs a Bearer access
token with the `ssf` scope (services/ssf_streams.py `authorize`; token problems are RFC 6750 401/403 with a
`WWW-Authenticate: Bearer` challenge, checked before the body is read). Bodies are `application/json`
(read by web/http_io.py `read_message`: declared type, size bound, strict UTF-8) and parsed by
protocol/ssf/streams.py; a refused request is `{"error", "error_description"}` JSON with the status of the
spec's error tables (400, 404, 429; 413 for a body too large).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from lukhas_id.domain.client import Client
from lukhas_id.domain.ssf import DeliveryMethod
from lukhas_id.domain.tenant import Tenant
from lukhas_id.errors import OAuthError
from lukhas_id.protocol.oauth2.bearer import BearerError, challenge, extract_bearer, invalid_request
from lukhas_id.protocol.ssf.delivery import parse_poll
from lukhas_id.protocol.ssf.streams import SPEC_VERSION, SsfError, parse_object
from lukhas_id.services.ssf_delivery import SsfDelivery
from lukhas_id.services.ssf_streams import SsfStreamService
from lukhas_id.services.tenants import TenantService
from lukhas_id.web.http_io import JSON_TYPE, NO_STORE, EdgeConfig, json_response, read_message
from lukhas_id.web.providers import Provider

Endpoint = Callable[[Request], Awaitable[Response]]
CONFIGURATION_PATH = "/.well-known/ssf-configuration"
STREAMS_PATH = "/ssf/streams"
STATUS_PATH = "/ssf/status"
ADD_SUBJECT_PATH = "/ssf/subjects/add"
REMOVE_SUBJECT_PATH = "/ssf/subjects/remove"
VERIFY_PATH = "/ssf/verify"
POLL_PATH = "/ssf/poll/{stream_id}"

# An action of the management API: (service, tenant, receiver, request, body) -> response.
Action = Callable[[SsfStreamService, Tenant, Client, Request, dict[str, Any]], Awaitable[Response]]


def configuration(tenants: Provider[TenantService], ssf: Provider[SsfStreamService]) -> Endpoint:
    """§7.1 Transmitter Configuration Metadata of the tenant."""

    async def endpoint(request: Request) -> Response:
        tenant_service, service = tenants(), ssf()
        tenant = await tenant_service.resolve(request.path_params.get("tenant"))
        issuer = tenant_service.issuer(tenant)
        doc = {
            "spec_version": SPEC_VERSION,
            "issuer": issuer,
            "jwks_uri": f"{issuer}/.well-known/jwks.json",
            "delivery_methods_supported": [DeliveryMethod.PUSH.value, DeliveryMethod.POLL.value],
            "configuration_endpoint": issuer + STREAMS_PATH,
            "status_endpoint": issuer + STATUS_PATH,
            "add_subject_endpoint": issuer + ADD_SUBJECT_PATH,
            "remove_subject_endpoint": issuer + REMOVE_SUBJECT_PATH,
            "verification_endpoint": issuer + VERIFY_PATH,
            "authorization_schemes": [{"spec_urn": "urn:ietf:rfc:6749"}],
            "default_subjects": service.default_subjects.value,
        }
        return json_response(doc, 200, {"cache-control": "public, max-age=300"})

    return endpoint


def _error(exc: SsfError) -> Response:
    return json_response({"error": exc.error, "error_description": exc.description}, exc.status, dict(NO_STORE))


def _bearer_error(realm: str, exc: BearerError) -> Response:
    headers = {**NO_STORE, "www-authenticate": challenge(realm, exc.error, exc.description, exc.scope)}
    if exc.error is None:
        return Response(b"", exc.status, headers=headers)  # RFC 6750 §3.1: no error information
    body = orjson.dumps({"error": exc.error, "error_description": exc.description})
    return Response(body, exc.status, headers=headers, media_type=JSON_TYPE)


def _bearer(request: Request) -> str:
    headers = request.headers.getlist("authorization")
    if len(headers) > 1:
        raise invalid_request("repeated Authorization header")
    return extract_bearer(headers[0] if headers else None, None, False)


async def _body(request: Request, edge: EdgeConfig, path: str, *, empty_ok: bool = False) -> dict[str, Any]:
    if request.method in ("GET", "DELETE"):
        return {}
    tenant = request.path_params.get("tenant")
    try:
        message = await read_message(
            request.scope, request.receive, edge, tenant, path, media_type=None if empty_ok else JSON_TYPE
        )
    except OAuthError as exc:
        raise SsfError(exc.status, "invalid_request", exc.description) from None
    if empty_ok and message.body.strip():
        content_type = (message.header("content-type") or "").split(";")[0].strip().lower()
        if content_type != JSON_TYPE:
            raise SsfError.invalid("Content-Type must be application/json")
    return parse_object(message.body, empty_ok=empty_ok)


def query_stream_id(request: Request, *, required: bool) -> str | None:
    values = request.query_params.getlist("stream_id")
    if len(values) > 1:
        raise SsfError.invalid("stream_id is repeated")
    if not values or not values[0]:
        if required:
            raise SsfError.invalid("stream_id is required")
        return None
    return values[0]


def management(
    tenants: Provider[TenantService], ssf: Provider[SsfStreamService], edge: EdgeConfig, path: str, action: Action
) -> Endpoint:
    """An authorised endpoint of the management API running `action`."""

    async def endpoint(request: Request) -> Response:
        tenant_service, service = tenants(), ssf()
        tenant = await tenant_service.resolve(request.path_params.get("tenant"))
        try:
            client = await service.authorize(tenant, _bearer(request))
        except BearerError as exc:
            return _bearer_error(tenant_service.issuer(tenant), exc)
        try:
            return await action(service, tenant, client, request, await _body(request, edge, path))
        except SsfError as exc:
            return _error(exc)

    return endpoint


async def streams_action(
    service: SsfStreamService, tenant: Tenant, client: Client, request: Request, body: dict[str, Any]
) -> Response:
    """§8.1.1: POST create, GET read (one or all), PATCH update, PUT replace, DELETE."""
    if request.method == "POST":
        return json_response(await service.create(tenant, client, body), 201, dict(NO_STORE))
    if request.method == "GET":
        stream_id = query_stream_id(request, required=False)
        return json_response(await service.read(tenant, client, stream_id), 200, dict(NO_STORE))
    if request.method == "PATCH":
        return json_response(await service.update(tenant, client, body), 200, dict(NO_STORE))
    if request.method == "PUT":
        return json_response(await service.replace(tenant, client, body), 200, dict(NO_STORE))
    stream_id = query_stream_id(request, required=True)
    assert stream_id is not None  # noqa: S101 - required above
    await service.delete(tenant, client, stream_id)
    return Response(status_code=204, headers=dict(NO_STORE))


async def status_action(
    service: SsfStreamService, tenant: Tenant, client: Client, request: Request, body: dict[str, Any]
) -> Response:
    """§8.1.2: GET read, POST update."""
    if request.method == "GET":
        stream_id = query_stream_id(request, required=True)
        assert stream_id is not None  # noqa: S101 - required above
        return json_response(await service.status(tenant, client, stream_id), 200, dict(NO_STORE))
    return json_response(await service.set_status(tenant, client, body), 200, dict(NO_STORE))


async def add_subject_action(
    service: SsfStreamService, tenant: Tenant, client: Client, request: Request, body: dict[str, Any]
) -> Response:
    """§8.1.3.2: an empty 200."""
    await service.add_subject(tenant, client, body)
    return Response(status_code=200, headers=dict(NO_STORE))


async def remove_subject_action(
    service: SsfStreamService, tenant: Tenant, client: Client, request: Request, body: dict[str, Any]
) -> Response:
    """§8.1.3.3: 204."""
    await service.remove_subject(tenant, client, body)
    return Response(status_code=204, headers=dict(NO_STORE))


async def verify_action(
    service: SsfStreamService, tenant: Tenant, client: Client, request: Request, body: dict[str, Any]
) -> Response:
    """§8.1.4.2: 204; the verification SET follows on the stream."""
    await service.verify(tenant, client, body)
    return Response(status_code=204, headers=dict(NO_STORE))


def poll(
    tenants: Provider[TenantService],
    ssf: Provider[SsfStreamService],
    delivery: Provider[SsfDelivery],
    edge: EdgeConfig,
) -> Endpoint:
    """RFC 8936 §2.4: the receiver's poll of its own poll stream (an empty body is a plain poll)."""

    async def run(
        service: SsfStreamService, tenant: Tenant, client: Client, request: Request, body: dict[str, Any]
    ) -> Response:
        stream = await service.poll_stream(tenant, client, request.path_params["stream_id"])
        answer = await delivery().poll(stream, parse_poll(body))
        return json_response(answer, 200, dict(NO_STORE))

    async def endpoint(request: Request) -> Response:
        tenant_service, service = tenants(), ssf()
        tenant = await tenant_service.resolve(request.path_params.get("tenant"))
        try:
            client = await service.authorize(tenant, _bearer(request))
        except BearerError as exc:
            return _bearer_error(tenant_service.issuer(tenant), exc)
        try:
            body = await _body(request, edge, "/ssf/poll", empty_ok=True)
            return await run(service, tenant, client, request, body)
        except SsfError as exc:
            return _error(exc)

    return endpoint
