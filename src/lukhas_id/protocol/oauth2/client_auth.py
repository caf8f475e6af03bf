"""Client authentication at the token, introspection and revocation endpoints: RFC 6749 §2.3.1, App. B.

Supports `client_secret_basic` and `client_secret_post`; more than one method in a request is
`invalid_request` (RFC 6749 §2.3). Failures when the client used the Authorization header answer 401
with a `WWW-Authenticate: Basic` challenge (RFC 6749 §5.2).
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from urllib.parse import unquote

from lukhas_id.domain.client import ClientAuthMethod
from lukhas_id.errors import ErrorCode, OAuthError
from lukhas_id.protocol.oauth2.request import FormRequest

BASIC_CHALLENGE = 'Basic realm="lukhas-id", charset="UTF-8"'


@dataclass(frozen=True, slots=True)
class ClientCredentials:
    client_id: str
    secret: str
    method: ClientAuthMethod


_BAD_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")


def _decode_form_component(text: str) -> str:
    # RFC 6749 App. B: id and secret are application/x-www-form-urlencoded before Basic encoding.
    if _BAD_ESCAPE.search(text):
        raise ValueError("bad percent-escape")
    return unquote(text.replace("+", " "), errors="strict")


def parse_basic(header: str) -> tuple[str, str]:
    """Client id and secret from `Authorization: Basic ...`; invalid_request when malformed."""
    scheme, _, b64 = header.strip().partition(" ")
    if scheme.lower() != "basic":
        raise OAuthError(
            ErrorCode.INVALID_CLIENT,
            "unsupported authentication scheme; use Basic or client_secret_post",
            401,
            www_authenticate=BASIC_CHALLENGE,
        )
    b64 = b64.strip()
    if not b64 or len(b64) > 4096:
        raise OAuthError(ErrorCode.INVALID_REQUEST, "malformed Basic credentials")
    try:
        raw = base64.b64decode(b64, validate=True).decode("utf-8")
        user, sep, password = raw.partition(":")
        if not sep:
            raise ValueError
        client_id, secret = _decode_form_component(user), _decode_form_component(password)
    except (binascii.Error, ValueError):
        raise OAuthError(ErrorCode.INVALID_REQUEST, "malformed Basic credentials") from None
    if not client_id:
        raise OAuthError(ErrorCode.INVALID_REQUEST, "malformed Basic credentials")
    return client_id, secret


def extract_credentials(request: FormRequest) -> ClientCredentials | None:
    """The credentials the client presented, or None when it presented none."""
    body_id = request.single("client_id")
    body_secret = request.single("client_secret")
    if request.authorization is not None:
        if body_secret is not None:
            raise OAuthError(ErrorCode.INVALID_REQUEST, "more than one client authentication method")
        client_id, secret = parse_basic(request.authorization)
        if body_id is not None and body_id != client_id:
            raise OAuthError(ErrorCode.INVALID_REQUEST, "client_id does not match the Authorization header")
        return ClientCredentials(client_id, secret, ClientAuthMethod.CLIENT_SECRET_BASIC)
    if body_secret is not None:
        if body_id is None:
            raise OAuthError(ErrorCode.INVALID_REQUEST, "client_secret without client_id")
        return ClientCredentials(body_id, body_secret, ClientAuthMethod.CLIENT_SECRET_POST)
    return None


def client_auth_failed(
    method: ClientAuthMethod | None, description: str = "client authentication failed"
) -> OAuthError:
    """invalid_client: 401, with a Basic challenge when the Authorization header was used."""
    challenge = BASIC_CHALLENGE if method in (ClientAuthMethod.CLIENT_SECRET_BASIC, None) else None
    return OAuthError(ErrorCode.INVALID_CLIENT, description, 401, www_authenticate=challenge)
