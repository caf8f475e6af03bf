"""The neutral request of OAuth endpoints: RFC 6749 §3.1/§3.2, OAuth 2.1 §1.5/§3.2, RFC 9449 §4.1, RFC 8705 §2.

Every edge (the ASGI fast path, Starlette routes, a future gRPC edge, tests) hands the protocol an
`HttpMessage`: what arrived, already bounded in size, with the peer address resolved behind trusted
proxies. `read_form_request` applies the form rules once and gives an `OAuthRequest`, the only request
type protocol and service code read: its parameters, the headers the protocol needs (Authorization,
DPoP: at most one each), the client certificate, the peer address, the method and the target URI
(derived from the tenant's issuer, never from `Host`).

Parameter rules: empty values count as absent; a repeated parameter is `invalid_request` unless the
extension allows repeats (RFC 8707 `resource`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final
from urllib.parse import parse_qsl, unquote_plus

from lukhas_id.errors import ErrorCode, OAuthError

FORM_TYPE: Final = "application/x-www-form-urlencoded"
MAX_PARAMS: Final = 100
# Parameters that carry credentials: never accepted in the URL query (OAuth 2.1 §3.2, RFC 6749 §2.3.1).
_CREDENTIAL_PARAMS: Final = frozenset({"client_secret", "token", "client_assertion"})


@dataclass(frozen=True, slots=True)
class HttpMessage:
    """What an edge received, before any protocol rule: the input of `read_form_request`.

    `headers` holds every value of the header names the protocol reads (lower-case: content-type,
    authorization, dpop), in arrival order; `client_cert` is the certificate a trusted TLS-terminating
    proxy forwarded (PEM or URL-encoded PEM), `peer` the client's network address.
    """

    method: str
    path: str
    tenant: str | None
    headers: Mapping[str, tuple[str, ...]]
    query: bytes
    body: bytes
    peer: str | None = None
    client_cert: str | None = None

    def header(self, name: str) -> str | None:
        """The header's value; None when absent; invalid_request when it was sent more than once."""
        values = self.headers.get(name)
        if not values:
            return None
        if len(values) > 1:
            raise OAuthError(ErrorCode.INVALID_REQUEST, f"repeated {name.title()} header")
        return values[0]


@dataclass(frozen=True, slots=True)
class OAuthRequest:
    """A request to an OAuth endpoint: its parameters and what else the protocol may need of it."""

    params: dict[str, list[str]]
    authorization: str | None = None
    method: str = "POST"
    target_uri: str = ""
    dpop: str | None = None
    client_cert: str | None = None
    peer: str | None = None

    def single(self, name: str) -> str | None:
        """The parameter's value; None when absent or empty; invalid_request when repeated."""
        values = self.params.get(name)
        if not values:
            return None
        if len(values) > 1:
            raise OAuthError(ErrorCode.INVALID_REQUEST, f"parameter {name} is repeated")
        return values[0] or None

    def required(self, name: str) -> str:
        value = self.single(name)
        if value is None:
            raise OAuthError(ErrorCode.INVALID_REQUEST, f"missing parameter {name}")
        return value

    def many(self, name: str) -> list[str]:
        """Every non-empty value of a parameter that may repeat (RFC 8707 `resource`)."""
        return [v for v in self.params.get(name, ()) if v]


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


_UTF8_CHARSETS: Final = frozenset({"charset=utf-8", 'charset="utf-8"'})


def check_media_type(content_type: str | None, media_type: str) -> None:
    """The body is declared as `media_type`, with no charset parameter but UTF-8; invalid_request (400)
    otherwise. RFC 6749 §3.2 for forms, RFC 7591 §3.1 for JSON."""
    if content_type == media_type:
        return
    mime, _, options = (content_type or "").partition(";")
    if mime.strip().lower() != media_type:
        raise OAuthError(ErrorCode.INVALID_REQUEST, f"Content-Type must be {media_type}")
    charset = options.strip().lower().replace(" ", "")
    if charset and charset not in _UTF8_CHARSETS:
        raise OAuthError(ErrorCode.INVALID_REQUEST, "the only accepted charset is UTF-8")


def check_form_content_type(message: HttpMessage) -> None:
    """RFC 6749 §3.2: the body is application/x-www-form-urlencoded; the only charset accepted is UTF-8."""
    check_media_type(message.header("content-type"), FORM_TYPE)


def check_no_credentials_in_query(message: HttpMessage) -> None:
    """OAuth 2.1 §3.2 (RFC 6749 §2.3.1): credentials are never sent in the URL."""
    if message.query:
        query = parse_qsl(message.query.decode("latin-1"), keep_blank_values=True)
        if any(name in _CREDENTIAL_PARAMS for name, _ in query):
            raise OAuthError(ErrorCode.INVALID_REQUEST, "credentials must not be sent in the URL query")


def read_form_request(message: HttpMessage, target_uri: str) -> OAuthRequest:
    """The named checks of a form POST to the token, introspection or revocation endpoint, in order."""
    check_form_content_type(message)
    check_no_credentials_in_query(message)
    params = parse_form(message.body)
    return OAuthRequest(
        params,
        authorization=message.header("authorization"),
        method=message.method,
        target_uri=target_uri,
        dpop=message.header("dpop"),
        client_cert=message.client_cert,
        peer=message.peer,
    )
