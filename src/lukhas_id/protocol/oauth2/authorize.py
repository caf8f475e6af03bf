"""Authorization request: RFC 6749 §3.1/§4.1.1/§4.1.2.1, OAuth 2.1 §4.1.1, RFC 9700 §4.11, OIDC Core §3.1.2.1.

`parse_authorization_request` runs an ordered list of named checks, one concern each, and returns a
frozen `AuthorizationRequest`. GET query and POST form parameters follow the same rules: an empty
value is absent, a repeated one is invalid_request, unknown ones are ignored (RFC 6749 §3.1).

The crucial split (RFC 6749 §4.1.2.1, RFC 9700 §4.11): while the client or the redirect URI is in
doubt nothing may be redirected, so those checks run first and raise `AuthorizeFatal` (an error page).
Once the redirect URI is known good, every other failure raises `AuthorizeRedirectError`, which
carries what the caller needs to redirect back: the URI, the exact `state`, the response mode. The
caller adds `iss` (RFC 9207) through `error_redirect_params`.

Decisions where the specs leave room:
- `scope` omitted: invalid_scope (RFC 6749 §3.3 allows a default or invalid_scope; an interactive
  grant gets no silent default, and OIDC needs `openid` spelled out anyway).
- `openid` is a scope like any other: the client must be allowed it.
- `redirect_uri` may be omitted when exactly one is registered (OAuth 2.1 §2.3.2), except in an
  OpenID Connect request (`openid` in scope), where OIDC Core §3.1.2.1 makes it REQUIRED.
- `response_mode` other than `query`: an error page, not a redirect (OIDC Core §3.1.2.6 errata,
  HTTP 400): the client asked to be answered in a way we cannot, so a query redirect may not reach it.
- `prompt`: unknown values are ignored (OIDC Core §3.1.2.1 MAY); `select_account` becomes `login`
  (no account chooser: the user signs in afresh); `none` with any other value is invalid_request.
- `max_age`: 1-10 ASCII digits (up to ~317 years), else invalid_request.
- `claims` is not supported and ignored like an unknown parameter (discovery says
  claims_parameter_supported=false; OIDC defines no error for it); `request`, `request_uri` and
  `registration` are refused with their OIDC Core §6/§7.2.1 codes, since silently ignoring them
  would drop parameters the client meant to send.
- A repeated `state` is invalid_request, redirected without `state` (there is no single value to echo).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum

from lukhas_id.domain.client import Client, ClientStatus, GrantType
from lukhas_id.errors import OAuthError
from lukhas_id.protocol.oauth2 import pkce
from lukhas_id.protocol.oauth2.redirect_uri import InvalidRedirectUri, add_params, matches, validate_registered
from lukhas_id.protocol.oauth2.request import OAuthRequest
from lukhas_id.protocol.oauth2.scope import parse_scope


class AuthorizeErrorCode(StrEnum):
    """Error codes of the authorization endpoint."""

    # RFC 6749 §4.1.2.1
    INVALID_REQUEST = "invalid_request"
    UNAUTHORIZED_CLIENT = "unauthorized_client"
    ACCESS_DENIED = "access_denied"
    UNSUPPORTED_RESPONSE_TYPE = "unsupported_response_type"
    INVALID_SCOPE = "invalid_scope"
    SERVER_ERROR = "server_error"
    TEMPORARILY_UNAVAILABLE = "temporarily_unavailable"
    # OIDC Core §3.1.2.6
    INTERACTION_REQUIRED = "interaction_required"
    LOGIN_REQUIRED = "login_required"
    ACCOUNT_SELECTION_REQUIRED = "account_selection_required"
    CONSENT_REQUIRED = "consent_required"
    INVALID_REQUEST_URI = "invalid_request_uri"
    INVALID_REQUEST_OBJECT = "invalid_request_object"
    REQUEST_NOT_SUPPORTED = "request_not_supported"
    REQUEST_URI_NOT_SUPPORTED = "request_uri_not_supported"
    REGISTRATION_NOT_SUPPORTED = "registration_not_supported"
    # OpenID Connect Unmet Authentication Requirements 1.0 §2; RFC 9470 §5: acr_values treated as required.
    UNMET_AUTHENTICATION_REQUIREMENTS = "unmet_authentication_requirements"
    # Only ever shown on the error page (AuthorizeFatal): an unknown or disabled client.
    INVALID_CLIENT = "invalid_client"


class Prompt(StrEnum):
    """OIDC Core §3.1.2.1 `prompt` values the server acts on (`select_account` maps to LOGIN)."""

    NONE = "none"
    LOGIN = "login"
    CONSENT = "consent"


RESPONSE_TYPE_CODE = "code"
RESPONSE_MODE_QUERY = "query"


class AuthorizeError(Exception):
    """A refused authorization request; see the two subclasses for how it is answered."""

    def __init__(self, code: AuthorizeErrorCode, description: str) -> None:
        super().__init__(f"{code}: {description}")
        self.code = code
        self.description = description


class AuthorizeFatal(AuthorizeError):
    """Bad or unknown client, bad redirect URI: show an error page, NEVER redirect (RFC 6749 §4.1.2.1)."""


class AuthorizeRedirectError(AuthorizeError):
    """Any other refusal: redirect to `redirect_uri` with error, state and iss (RFC 6749 §4.1.2.1, RFC 9207)."""

    def __init__(
        self,
        code: AuthorizeErrorCode,
        description: str,
        redirect_uri: str,
        state: str | None,
        response_mode: str = RESPONSE_MODE_QUERY,
    ) -> None:
        super().__init__(code, description)
        self.redirect_uri = redirect_uri
        self.state = state
        self.response_mode = response_mode


@dataclass(frozen=True, slots=True)
class AuthorizationRequest:
    """A valid authorization code request (RFC 6749 §4.1.1 + PKCE + OIDC Core §3.1.2.1)."""

    client_id: str
    # The effective redirect URI: the requested one (its port may differ from the registered one on
    # loopback), or the single registered one when the request omitted it.
    redirect_uri: str
    # Whether redirect_uri was in the request: then the token request must repeat it (RFC 6749 §4.1.3).
    redirect_uri_in_request: bool
    response_type: str
    response_mode: str
    scope: tuple[str, ...]
    # Exactly as received: echoed byte-for-byte (RFC 6749 §4.1.2).
    state: str | None
    nonce: str | None
    code_challenge: str
    code_challenge_method: str
    prompt: frozenset[Prompt]
    max_age: int | None
    login_hint: str | None
    # Raw; the service verifies it was issued by this OP (OIDC Core §3.1.2.1) through jose/.
    id_token_hint: str | None
    display: str | None
    ui_locales: tuple[str, ...]
    acr_values: tuple[str, ...]

    @property
    def openid(self) -> bool:
        """An OpenID Connect request (an ID token will be issued), not plain OAuth."""
        return "openid" in self.scope

    def error(self, code: AuthorizeErrorCode, description: str) -> AuthorizeRedirectError:
        """A refusal found after parsing (login_required, access_denied...), to redirect back."""
        return AuthorizeRedirectError(code, description, self.redirect_uri, self.state, self.response_mode)


# --- the checks, in the order they run ---------------------------------------------------------------
# Each raises AuthorizeError (or OAuthError from OAuthRequest / scope / pkce); the phase it runs in
# decides whether that becomes an error page or a redirect.


def check_client_id(p: OAuthRequest) -> str:
    client_id = p.single("client_id")
    if client_id is None:
        raise AuthorizeError(AuthorizeErrorCode.INVALID_REQUEST, "client_id is required")
    return client_id


def check_client(client_id: str, client: Client | None) -> Client:
    if client is None or client.client_id != client_id:
        raise AuthorizeError(AuthorizeErrorCode.INVALID_CLIENT, "unknown client_id")
    if client.status is not ClientStatus.ACTIVE:
        raise AuthorizeError(AuthorizeErrorCode.INVALID_CLIENT, "the client is disabled")
    return client


def _asks_openid(p: OAuthRequest) -> bool:
    """Whether any scope value names `openid`; a peek, before the scope itself is checked."""
    return any("openid" in value.split(" ") for value in p.params.get("scope", ()))


def check_redirect_uri(p: OAuthRequest, client: Client) -> tuple[str, bool]:
    """The effective redirect URI, and whether the request named it (OAuth 2.1 §2.3.2, §4.1.1)."""
    registered = client.redirect_uris
    requested = p.single("redirect_uri")
    if not registered:
        raise AuthorizeError(AuthorizeErrorCode.INVALID_REQUEST, "the client has no registered redirect_uri")
    if requested is None:
        if len(registered) > 1:
            raise AuthorizeError(
                AuthorizeErrorCode.INVALID_REQUEST, "redirect_uri is required: the client has several registered"
            )
        if _asks_openid(p):
            raise AuthorizeError(AuthorizeErrorCode.INVALID_REQUEST, "redirect_uri is required in OpenID requests")
        effective = registered[0]
    else:
        if matches(requested, registered) is None:
            raise AuthorizeError(
                AuthorizeErrorCode.INVALID_REQUEST, "redirect_uri does not match a registered redirect URI"
            )
        effective = requested
    try:
        validate_registered(effective)
    except InvalidRedirectUri as exc:
        raise AuthorizeError(AuthorizeErrorCode.INVALID_REQUEST, f"invalid redirect_uri: {exc}") from exc
    return effective, requested is not None


def check_response_mode(p: OAuthRequest) -> str:
    mode = p.single("response_mode")
    if mode is not None and mode != RESPONSE_MODE_QUERY:
        raise AuthorizeError(AuthorizeErrorCode.INVALID_REQUEST, "response_mode is not supported (only query)")
    return RESPONSE_MODE_QUERY


def check_state(p: OAuthRequest) -> str | None:
    return p.single("state")


def reject_request_objects(p: OAuthRequest) -> None:
    """Request objects and OIDC registration by request are not offered (OIDC Core §6, §7.2.1)."""
    if p.many("request"):
        raise AuthorizeError(AuthorizeErrorCode.REQUEST_NOT_SUPPORTED, "the request parameter is not supported")
    if p.many("request_uri"):
        raise AuthorizeError(AuthorizeErrorCode.REQUEST_URI_NOT_SUPPORTED, "the request_uri parameter is not supported")
    if p.many("registration"):
        raise AuthorizeError(
            AuthorizeErrorCode.REGISTRATION_NOT_SUPPORTED, "the registration parameter is not supported"
        )


def check_response_type(p: OAuthRequest) -> str:
    """Only `code` (OAuth 2.1 §10.1, RFC 9700 §2.1.2: no implicit or hybrid flows)."""
    response_type = p.single("response_type")
    if response_type is None:
        raise AuthorizeError(AuthorizeErrorCode.INVALID_REQUEST, "response_type is required")
    if response_type != RESPONSE_TYPE_CODE:
        raise AuthorizeError(AuthorizeErrorCode.UNSUPPORTED_RESPONSE_TYPE, "only response_type=code is supported")
    return response_type


def check_code_grant_allowed(client: Client) -> None:
    if GrantType.AUTHORIZATION_CODE not in client.grant_types:
        raise AuthorizeError(
            AuthorizeErrorCode.UNAUTHORIZED_CLIENT, "the client may not use the authorization_code grant"
        )


def check_scope(p: OAuthRequest, client: Client) -> tuple[str, ...]:
    text = p.single("scope")
    if text is None:
        raise AuthorizeError(AuthorizeErrorCode.INVALID_SCOPE, "scope is required")
    tokens = parse_scope(text)
    if any(t not in client.scopes for t in tokens):
        raise AuthorizeError(AuthorizeErrorCode.INVALID_SCOPE, "requested scope is not allowed for this client")
    return tokens


def check_pkce(p: OAuthRequest) -> str:
    """S256 required of every client (OAuth 2.1 §4.1.1); see pkce.validate_challenge."""
    return pkce.validate_challenge(p.single("code_challenge"), p.single("code_challenge_method"))


_PROMPTS = {"none": Prompt.NONE, "login": Prompt.LOGIN, "consent": Prompt.CONSENT, "select_account": Prompt.LOGIN}


def check_prompt(p: OAuthRequest) -> frozenset[Prompt]:
    values = _space_list(p.single("prompt"))
    if "none" in values and len(values) > 1:
        raise AuthorizeError(AuthorizeErrorCode.INVALID_REQUEST, "prompt=none cannot be combined with other values")
    return frozenset(_PROMPTS[v] for v in values if v in _PROMPTS)


_MAX_AGE = re.compile(r"[0-9]{1,10}")


def check_max_age(p: OAuthRequest) -> int | None:
    text = p.single("max_age")
    if text is None:
        return None
    if not _MAX_AGE.fullmatch(text):
        raise AuthorizeError(AuthorizeErrorCode.INVALID_REQUEST, "max_age must be a non-negative integer")
    return int(text)


def _space_list(text: str | None) -> tuple[str, ...]:
    """Space-separated values in order, without empties or duplicates."""
    if text is None:
        return ()
    return tuple(dict.fromkeys(v for v in text.split(" ") if v))


# --- phases --------------------------------------------------------------------------------------------


def _code_of(exc: OAuthError) -> AuthorizeErrorCode:
    try:
        return AuthorizeErrorCode(exc.code.value)
    except ValueError:
        return AuthorizeErrorCode.INVALID_REQUEST


@contextmanager
def _error_page() -> Iterator[None]:
    try:
        yield
    except AuthorizeError as exc:
        raise AuthorizeFatal(exc.code, exc.description) from exc
    except OAuthError as exc:
        raise AuthorizeFatal(_code_of(exc), exc.description) from exc


@contextmanager
def _redirecting(redirect_uri: str, state: str | None, response_mode: str) -> Iterator[None]:
    try:
        yield
    except AuthorizeError as exc:
        raise AuthorizeRedirectError(exc.code, exc.description, redirect_uri, state, response_mode) from exc
    except OAuthError as exc:
        raise AuthorizeRedirectError(_code_of(exc), exc.description, redirect_uri, state, response_mode) from exc


def requested_client_id(params: dict[str, list[str]]) -> str:
    """The client_id to look the client up by; AuthorizeFatal when missing or repeated."""
    with _error_page():
        return check_client_id(OAuthRequest(params, None))


def parse_authorization_request(params: dict[str, list[str]], client: Client | None) -> AuthorizationRequest:
    """Check an authorization request (GET query or POST form parameters) from `client`.

    `client` is the result of looking up `requested_client_id(params)`: None when unknown.
    Raises AuthorizeFatal (error page) or AuthorizeRedirectError (redirect back).
    """
    p = OAuthRequest(params, None)
    with _error_page():
        client_id = check_client_id(p)
        known = check_client(client_id, client)
        redirect_uri, redirect_uri_in_request = check_redirect_uri(p, known)
        response_mode = check_response_mode(p)
    with _redirecting(redirect_uri, None, response_mode):
        state = check_state(p)
    with _redirecting(redirect_uri, state, response_mode):
        reject_request_objects(p)
        response_type = check_response_type(p)
        check_code_grant_allowed(known)
        scope = check_scope(p, known)
        code_challenge = check_pkce(p)
        prompt = check_prompt(p)
        max_age = check_max_age(p)
        return AuthorizationRequest(
            client_id=client_id,
            redirect_uri=redirect_uri,
            redirect_uri_in_request=redirect_uri_in_request,
            response_type=response_type,
            response_mode=response_mode,
            scope=scope,
            state=state,
            nonce=p.single("nonce"),
            code_challenge=code_challenge,
            code_challenge_method=pkce.S256,
            prompt=prompt,
            max_age=max_age,
            login_hint=p.single("login_hint"),
            id_token_hint=p.single("id_token_hint"),
            display=p.single("display"),
            ui_locales=_space_list(p.single("ui_locales")),
            acr_values=_space_list(p.single("acr_values")),
        )


# --- the error response ----------------------------------------------------------------------------

# error_description = *( %x20-21 / %x23-5B / %x5D-7E ) (RFC 6749 §4.1.2.1)
_NOT_DESCRIPTION_CHAR = re.compile(r"[^\x20-\x21\x23-\x5b\x5d-\x7e]")


def error_redirect_params(err: AuthorizeRedirectError, issuer: str) -> dict[str, str]:
    """The error response parameters: error, error_description, state (if sent), iss (RFC 9207 §2).

    Characters outside the RFC 6749 §4.1.2.1 set (`"`, `\\`, controls, non-ASCII) are dropped from
    the description; `state` is returned exactly as received.
    """
    params = {"error": err.code.value}
    description = _NOT_DESCRIPTION_CHAR.sub("", err.description)
    if description:
        params["error_description"] = description
    if err.state is not None:
        params["state"] = err.state
    params["iss"] = issuer
    return params


def error_redirect_location(err: AuthorizeRedirectError, issuer: str) -> str:
    """The Location to redirect to with the error (response_mode=query)."""
    return add_params(err.redirect_uri, error_redirect_params(err, issuer))
