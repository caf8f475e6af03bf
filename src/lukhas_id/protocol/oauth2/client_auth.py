"""Client authentication methods: RFC 6749 §2.3, App. B; OAuth 2.1 §2.4; RFC 7591 §2 (the registered method).

One authenticator per `token_endpoint_auth_method`, kept in a table the composition root builds
(services/client_authentication.py applies it). Each one says whether a request presented its kind of
credentials (`presented`, pure) and whether they are right for a client (`verify`). Today's methods:
`client_secret_basic` and `client_secret_post`; `none` identifies a public client by `client_id`
alone. `private_key_jwt`, `tls_client_auth` and `self_signed_tls_client_auth` are one entry each.

Rules applied around the table: more than one method in a request is `invalid_request` (RFC 6749
§2.3); a client authenticates only with its registered method (RFC 7591 §2, OAuth 2.1 §2.4), any
other is `invalid_client`. Failures of a client that used the Authorization header answer 401 with a
`WWW-Authenticate: Basic` challenge (RFC 6749 §5.2).
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from typing import Final, Protocol
from urllib.parse import unquote

from lukhas_id.clock import Clock
from lukhas_id.domain.client import Client, ClientAuthMethod
from lukhas_id.errors import ErrorCode, OAuthError
from lukhas_id.protocol.oauth2.client_secret import verify_secret
from lukhas_id.protocol.oauth2.request import OAuthRequest

BASIC_CHALLENGE: Final = 'Basic realm="lukhas-id", charset="UTF-8"'
MAX_CLIENT_ID: Final = 256


@dataclass(frozen=True, slots=True)
class PresentedCredentials:
    """What a request presented to authenticate `client_id` with `method`; `secret` for the secret methods."""

    client_id: str
    method: ClientAuthMethod
    secret: str = ""


class ClientAuthenticator(Protocol):
    """One client authentication method."""

    @property
    def method(self) -> ClientAuthMethod: ...

    @property
    def checks_credential(self) -> bool:
        """True when `verify` checks a secret or a signature: the brute-force limit wraps such methods."""
        ...

    def offered(self, request: OAuthRequest) -> bool:
        """Whether `request` carries this method's kind of credentials (a cheap look, no parsing)."""
        ...

    def presented(self, request: OAuthRequest) -> PresentedCredentials:
        """This method's credentials in a request that `offered` them; invalid_request (or invalid_client
        for an unsupported Authorization scheme) when they are malformed."""
        ...

    async def verify(self, client: Client | None, presented: PresentedCredentials) -> bool:
        """Whether the credentials are right for `client`. `client` None (unknown) still does the same
        work against a dummy, so that timing does not tell unknown clients apart; it answers False."""
        ...


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


class _SecretAuthenticator:
    """The shared verification of the two client secret methods (keyed hash, constant time).

    After a rotation the previous secret is also accepted until its overlap ends; it is checked only when
    the current one did not match, so a client without a previous secret costs what it did before."""

    checks_credential = True
    method: ClientAuthMethod

    def __init__(self, dummy_hash: str, clock: Clock) -> None:
        self._dummy = dummy_hash
        self._clock = clock

    async def verify(self, client: Client | None, presented: PresentedCredentials) -> bool:
        stored = client.secret_hash if client is not None and client.secret_hash else self._dummy
        ok = verify_secret(presented.secret, stored)
        if not ok and client is not None and client.previous_secret_accepted(self._clock.now()):
            ok = verify_secret(presented.secret, client.previous_secret_hash)
        return ok and client is not None and bool(client.secret_hash)


class ClientSecretBasic(_SecretAuthenticator):
    """`client_secret_basic`: RFC 6749 §2.3.1, the HTTP Basic scheme with form-encoded id and secret."""

    method = ClientAuthMethod.CLIENT_SECRET_BASIC

    def offered(self, request: OAuthRequest) -> bool:
        return request.authorization is not None

    def presented(self, request: OAuthRequest) -> PresentedCredentials:
        client_id, secret = parse_basic(request.authorization or "")
        body_id = request.single("client_id")
        if body_id is not None and body_id != client_id:
            raise OAuthError(ErrorCode.INVALID_REQUEST, "client_id does not match the Authorization header")
        return PresentedCredentials(client_id, self.method, secret)


class ClientSecretPost(_SecretAuthenticator):
    """`client_secret_post`: RFC 6749 §2.3.1, `client_id` and `client_secret` in the request body."""

    method = ClientAuthMethod.CLIENT_SECRET_POST

    def offered(self, request: OAuthRequest) -> bool:
        return request.single("client_secret") is not None

    def presented(self, request: OAuthRequest) -> PresentedCredentials:
        secret = request.required("client_secret")
        client_id = request.single("client_id")
        if client_id is None:
            raise OAuthError(ErrorCode.INVALID_REQUEST, "client_secret without client_id")
        return PresentedCredentials(client_id, self.method, secret)


class NoClientAuthentication:
    """`none`: a public client, identified by `client_id` alone (OAuth 2.1 §2.4; PKCE and refresh rotation
    protect its grants). Only when no other method was presented, and only where public clients may call."""

    method = ClientAuthMethod.NONE
    checks_credential = False

    def offered(self, request: OAuthRequest) -> bool:
        return request.single("client_id") is not None

    def presented(self, request: OAuthRequest) -> PresentedCredentials:
        return PresentedCredentials(request.required("client_id"), self.method)

    async def verify(self, client: Client | None, presented: PresentedCredentials) -> bool:
        return client is not None and client.public


def client_auth_failed(
    method: ClientAuthMethod | None, description: str = "client authentication failed"
) -> OAuthError:
    """invalid_client: 401, with a Basic challenge when the Authorization header was used (or none was)."""
    challenge = BASIC_CHALLENGE if method in (ClientAuthMethod.CLIENT_SECRET_BASIC, None) else None
    return OAuthError(ErrorCode.INVALID_CLIENT, description, 401, www_authenticate=challenge)


def presented_credentials(
    request: OAuthRequest, authenticators: tuple[ClientAuthenticator, ...]
) -> PresentedCredentials | None:
    """The one method's credentials the request presented (not `none`); None when it presented none;
    invalid_request when it presented more than one (RFC 6749 §2.3)."""
    found: ClientAuthenticator | None = None
    for authenticator in authenticators:
        if authenticator.method is not ClientAuthMethod.NONE and authenticator.offered(request):
            if found is not None:
                raise OAuthError(ErrorCode.INVALID_REQUEST, "more than one client authentication method")
            found = authenticator
    return found.presented(request) if found is not None else None
