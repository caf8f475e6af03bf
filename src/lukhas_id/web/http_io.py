"""The only place that turns Starlette requests into protocol requests and results into responses.

`read_message` is the one reader of request bodies of the protocol endpoints (token, introspection,
revocation, UserInfo, client registration): it checks Content-Length, bounds the body (413 beyond the
limit), and, when asked, the declared media type before a byte is read (`check_media_type`); every
refusal is an `OAuthError` (invalid_request) that the endpoint answers in its own format.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import unquote

import orjson
from starlette.responses import Response
from starlette.types import Receive, Scope

from lukhas_id.errors import ErrorCode, OAuthError
from lukhas_id.protocol.forwarded import IpNetwork, client_address, is_trusted_proxy, parse_networks
from lukhas_id.protocol.oauth2.request import HttpMessage, check_media_type
from lukhas_id.settings import Settings

NO_STORE = {"cache-control": "no-store", "pragma": "no-cache"}
JSON_TYPE: Final = "application/json"


class BodyTooLarge(OAuthError):
    def __init__(self, limit: int) -> None:
        super().__init__(ErrorCode.INVALID_REQUEST, f"request body is larger than {limit} bytes", 413)


async def read_body(receive: Receive, declared: bytes | None, limit: int) -> bytes:
    """The request body, refused (413) as soon as it is larger than `limit`."""
    if declared is not None:
        if not declared.isdigit():
            raise OAuthError(ErrorCode.INVALID_REQUEST, "malformed Content-Length")
        if int(declared) > limit:
            raise BodyTooLarge(limit)
    body = b""
    while True:
        message = await receive()
        if message["type"] != "http.request":
            raise OAuthError(ErrorCode.INVALID_REQUEST, "the client closed the connection")
        chunk: bytes = message.get("body", b"")
        if chunk:
            body += chunk
            if len(body) > limit:
                raise BodyTooLarge(limit)
        if not message.get("more_body", False):
            return body


@dataclass(frozen=True, slots=True)
class EdgeConfig:
    """What the edge needs to read a request: the body limit, the trusted proxies, the certificate header."""

    max_body: int
    proxies: tuple[IpNetwork, ...] = ()
    client_cert_header: bytes | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> EdgeConfig:
        header = settings.client_cert_header.encode() if settings.client_cert_header else None
        return cls(settings.max_body_bytes, parse_networks(settings.trusted_proxies), header)


# Header names the protocol reads, as they arrive in an ASGI scope (lower-case bytes).
_PROTOCOL_HEADERS: Final = {b"content-type": "content-type", b"authorization": "authorization", b"dpop": "dpop"}


def peer_address(scope: Scope, edge: EdgeConfig) -> str | None:
    """The client's network address: the peer's, or behind a trusted proxy what it forwarded."""
    client = scope.get("client")
    peer = str(client[0]) if client else None
    if not edge.proxies:
        return peer
    forwarded: list[str] = []
    x_forwarded: list[str] = []
    for name, value in scope["headers"]:
        if name == b"forwarded":
            forwarded.append(value.decode("latin-1"))
        elif name == b"x-forwarded-for":
            x_forwarded.append(value.decode("latin-1"))
    return client_address(peer, edge.proxies, forwarded=forwarded, x_forwarded=x_forwarded)


async def read_message(
    scope: Scope,
    receive: Receive,
    edge: EdgeConfig,
    tenant: str | None,
    path: str,
    *,
    media_type: str | None = None,
) -> HttpMessage:
    """The neutral request (protocol/oauth2/request.py) of an ASGI request: the one place where an HTTP
    request becomes protocol input, for the fast path and for Starlette routes alike. The body is read
    here, bounded by `edge.max_body` (413 beyond it); with `media_type`, the declared Content-Type (sent
    once) is checked first, before a byte of the body is read."""
    headers: dict[str, tuple[str, ...]] = {}
    declared: bytes | None = None
    cert: bytes | None = None
    cert_header = edge.client_cert_header
    for name, value in scope["headers"]:
        known = _PROTOCOL_HEADERS.get(name)
        if known is not None:
            headers[known] = (*headers.get(known, ()), value.decode("latin-1"))
        elif name == b"content-length":
            declared = value
        elif cert_header is not None and name == cert_header:
            cert = value
    client_cert = None
    client = scope.get("client")
    if cert is not None and client and is_trusted_proxy(str(client[0]), edge.proxies):
        client_cert = unquote(cert.decode("latin-1")) or None
    if media_type is not None:
        content_type = headers.get("content-type")
        if content_type is not None and len(content_type) > 1:
            raise OAuthError(ErrorCode.INVALID_REQUEST, "repeated Content-Type header")
        check_media_type(content_type[0] if content_type else None, media_type)
    body = await read_body(receive, declared, edge.max_body)
    return HttpMessage(
        method=scope["method"],
        path=path,
        tenant=tenant,
        headers=headers,
        query=scope.get("query_string", b""),
        body=body,
        peer=peer_address(scope, edge),
        client_cert=client_cert,
    )


def json_response(payload: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(payload), status, headers=headers, media_type="application/json")


_TOKEN_HEADERS = [
    (b"content-type", b"application/json"),
    (b"cache-control", b"no-store"),
    (b"pragma", b"no-cache"),
]


class _TokenResponse(Response):
    """200 JSON with no-store, its headers prepared once (the token and introspection responses)."""

    def __init__(self, body: bytes) -> None:
        self.status_code = 200
        self.background = None
        self.body = body
        self.raw_headers = [*_TOKEN_HEADERS, (b"content-length", str(len(body)).encode("ascii"))]


def token_response(payload: Any) -> Response:
    return _TokenResponse(orjson.dumps(payload))


def _safe_description(text: str) -> str:
    # RFC 6749 §5.2: error_description is limited to %x20-21 / %x23-5B / %x5D-7E.
    return "".join(c if (c in " !" or "#" <= c <= "[" or "]" <= c <= "~") else "?" for c in text)[:300]


def error_response(error: OAuthError, *, retry_after: int | None = None) -> Response:
    """RFC 6749 §5.2 JSON; Retry-After from the error (or `retry_after`), WWW-Authenticate on a 401."""
    body: dict[str, str] = {"error": error.code.value}
    if error.description:
        body["error_description"] = _safe_description(error.description)
    headers = dict(NO_STORE)
    if retry_after is None:
        retry_after = error.retry_after
    if retry_after is not None:
        headers["retry-after"] = str(retry_after)
    if error.status == 401 and error.www_authenticate:
        headers["www-authenticate"] = error.www_authenticate
    return Response(orjson.dumps(body), error.status, headers=headers, media_type="application/json")
