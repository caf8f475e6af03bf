"""Bearer tokens at a resource server: RFC 6750 §2 (how a token is sent) and §3 (the challenge).

OAuth 2.1 §5.1 amends RFC 6750 §2.3: an access token in the URI query is never accepted. Here it is
ignored (as if absent), so a request whose only token is in the query gets the plain no-credentials
challenge.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Final

# RFC 6750 §2.1: b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
_B64TOKEN: Final = re.compile(r"[A-Za-z0-9\-._~+/]+=*")
# Longer tokens are refused without further work (a JWT access token of ΛiD is well under 4 KiB).
MAX_BEARER_LENGTH: Final = 16 * 1024
_DESCRIPTION_MAX: Final = 300


class BearerErrorCode(StrEnum):
    """RFC 6750 §3.1 error codes."""

    INVALID_REQUEST = "invalid_request"
    INVALID_TOKEN = "invalid_token"  # noqa: S105 (a wire name, not a password)
    INSUFFICIENT_SCOPE = "insufficient_scope"


class BearerError(Exception):
    """An RFC 6750 §3 error: the HTTP status, the `error` code and a safe description.

    `error` is None when the request carried no credentials at all (§3.1: then no `error` and no
    other error information goes into the challenge; `description` is for logs and tests only).
    `scope` is the scope the resource needs (for `insufficient_scope`).
    """

    def __init__(self, status: int, error: str | None, description: str, *, scope: str | None = None) -> None:
        super().__init__(f"{error or 'no credentials'}: {description}")
        self.status = status
        self.error = error
        self.description = description
        self.scope = scope


def no_credentials(description: str = "an access token is required") -> BearerError:
    return BearerError(401, None, description)


def invalid_request(description: str, status: int = 400) -> BearerError:
    return BearerError(status, BearerErrorCode.INVALID_REQUEST, description)


def invalid_token(description: str = "the access token is invalid, expired or revoked") -> BearerError:
    return BearerError(401, BearerErrorCode.INVALID_TOKEN, description)


def insufficient_scope(scope: str, description: str) -> BearerError:
    return BearerError(403, BearerErrorCode.INSUFFICIENT_SCOPE, description, scope=scope)


def _check_token(token: str) -> str:
    if len(token) > MAX_BEARER_LENGTH or not _B64TOKEN.fullmatch(token):
        raise invalid_token("the access token is malformed")
    return token


def _from_header(authorization: str) -> str | None:
    """The token of `Bearer <b64token>`; None when the header uses another scheme."""
    value = authorization.strip(" \t")
    scheme, _, rest = value.partition(" ")
    if scheme.lower() != "bearer":
        return None
    token = rest.lstrip(" ")  # credentials = auth-scheme 1*SP token68
    if not token:
        raise invalid_request("the Bearer credentials have no access token")
    return _check_token(token)


def extract_bearer(authorization: str | None, form_token: str | None, query_has_token: bool) -> str:
    """The access token of a request, from the Authorization header (§2.1) or the form body (§2.2).

    `authorization` is the (single) Authorization header; `form_token` the `access_token` form
    parameter of a form-encoded POST (None or empty: absent); `query_has_token` whether the URI query
    had `access_token`, which is ignored (OAuth 2.1 §5.1). More than one method is invalid_request.
    An Authorization header of another scheme carries no Bearer credentials; with a form token too,
    the request still uses two methods of authentication, so it is invalid_request as well.
    """
    if authorization is not None and form_token:
        raise invalid_request("the access token must be sent by one method only")
    if form_token:
        return _check_token(form_token)
    token = _from_header(authorization) if authorization is not None else None
    if token is not None:
        return token
    if query_has_token:
        raise no_credentials("an access token in the URL query is ignored; send it in the Authorization header")
    if authorization is not None:
        raise no_credentials("only the Bearer authentication scheme is supported")
    raise no_credentials()


def _quoted(value: str, *, allow_space: bool = True) -> str:
    """A quoted-string value with no `"` or `\\`, only printable ASCII (RFC 6750 §3)."""
    safe = "".join(c if (" " < c <= "~" or (allow_space and c == " ")) and c not in '"\\' else "?" for c in value)
    return f'"{safe}"'


def challenge(realm: str, error: str | None, description: str | None = None, scope: str | None = None) -> str:
    """The value of `WWW-Authenticate` for a Bearer error (RFC 6750 §3), each auth-param at most once.

    Without `error` (a request without credentials) only realm (and scope, if given) is sent.
    """
    params = [f"realm={_quoted(realm)}"]
    if error is not None:
        params.append(f"error={_quoted(error, allow_space=False)}")
        if description:
            params.append(f"error_description={_quoted(description[:_DESCRIPTION_MAX])}")
    if scope:
        params.append(f"scope={_quoted(scope)}")
    return "Bearer " + ", ".join(params)
