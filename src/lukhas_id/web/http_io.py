"""The only place that turns Starlette requests into protocol requests and results into responses."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, unquote_plus

import orjson
from starlette.responses import Response
from starlette.types import Receive, Scope

from lukhas_id.errors import ErrorCode, OAuthError
from lukhas_id.protocol.oauth2.request import FormRequest

FORM_TYPE = "application/x-www-form-urlencoded"
NO_STORE = {"cache-control": "no-store", "pragma": "no-cache"}
MAX_PARAMS = 100


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


def _unquote(text: str) -> str:
    return unquote_plus(text, encoding="utf-8", errors="strict")


def parse_form(body: bytes) -> dict[str, list[str]]:
    """application/x-www-form-urlencoded, strictly UTF-8 (invalid_request otherwise).

    Same splitting as urllib's parse_qsl (on "&", empty pairs skipped, a pair without "=" has an empty
    value), decoding only the pairs that need it: this runs on every token request.
    """
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise OAuthError(ErrorCode.INVALID_REQUEST, "the request body is not valid UTF-8") from None
    params: dict[str, list[str]] = {}
    if not text:
        return params
    parts = text.split("&")
    if len(parts) > MAX_PARAMS:
        raise OAuthError(ErrorCode.INVALID_REQUEST, "too many parameters in the request body")
    for part in parts:
        if not part:
            continue
        name, _, value = part.partition("=")
        if "%" in part or "+" in part:
            try:
                name, value = _unquote(name), _unquote(value)
            except UnicodeDecodeError:
                raise OAuthError(ErrorCode.INVALID_REQUEST, "the request body is not valid UTF-8") from None
        if "\x00" in name or "\x00" in value:
            raise OAuthError(ErrorCode.INVALID_REQUEST, "NUL characters are not allowed")
        params.setdefault(name, []).append(value)
    return params


async def form_request(scope: Scope, receive: Receive, limit: int) -> FormRequest:
    """A POSTed form read straight off the ASGI scope: content type checked, size bounded, UTF-8,
    no credentials in the query. (The hot endpoints skip Starlette's Request; see web/app.py.)"""
    content_type = b""
    declared: bytes | None = None
    authorization: list[bytes] = []
    for name, value in scope["headers"]:
        if name == b"content-type":
            content_type = value
        elif name == b"content-length":
            declared = value
        elif name == b"authorization":
            authorization.append(value)
    mime, _, options = content_type.decode("latin-1").partition(";")
    if mime.strip().lower() != FORM_TYPE:
        raise OAuthError(ErrorCode.INVALID_REQUEST, f"Content-Type must be {FORM_TYPE}")
    charset = options.strip().lower()
    if charset and charset.replace(" ", "") not in {"charset=utf-8", 'charset="utf-8"'}:
        raise OAuthError(ErrorCode.INVALID_REQUEST, "the only accepted charset is UTF-8")
    raw_query: bytes = scope.get("query_string", b"")
    if raw_query:
        query = parse_qsl(raw_query.decode("latin-1"), keep_blank_values=True)
        if any(name in {"client_secret", "token", "client_assertion"} for name, _ in query):
            raise OAuthError(ErrorCode.INVALID_REQUEST, "credentials must not be sent in the URL query")
    params = parse_form(await read_body(receive, declared, limit))
    if len(authorization) > 1:
        raise OAuthError(ErrorCode.INVALID_REQUEST, "repeated Authorization header")
    return FormRequest(params, authorization[0].decode("latin-1") if authorization else None)


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
    body: dict[str, str] = {"error": error.code.value}
    if error.description:
        body["error_description"] = _safe_description(error.description)
    headers = dict(NO_STORE)
    if retry_after is not None:
        headers["retry-after"] = str(retry_after)
    if error.status == 401 and error.www_authenticate:
        headers["www-authenticate"] = error.www_authenticate
    return Response(orjson.dumps(body), error.status, headers=headers, media_type="application/json")
