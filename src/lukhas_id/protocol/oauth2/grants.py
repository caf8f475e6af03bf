"""The token endpoint's grants: RFC 6749 §4-§5, OAuth 2.1 §3.2; the typed context and token response.

A grant handler takes a `GrantContext` (tenant, authenticated client, request, and the confirmation of
a sender-constrained token when there is one) and returns `IssuedTokens`. The token endpoint
(services/oauth_endpoints.py) turns them into the RFC 6749 §5.1 response in one place
(`token_response`), which is where `token_type` is chosen: `Bearer` (RFC 6750), or `DPoP` (RFC 9449
§5) for a key-bound token. Handlers are registered by grant type in the composition root from the
enabled features; an unknown or unsupported `grant_type` (password, implicit-era values, anything else)
is `unsupported_grant_type`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from lukhas_id.domain.client import Client, GrantType
from lukhas_id.domain.tenant import Tenant
from lukhas_id.errors import ErrorCode, OAuthError
from lukhas_id.protocol.oauth2.request import OAuthRequest


class TokenType(StrEnum):
    BEARER = "Bearer"
    DPOP = "DPoP"


@dataclass(frozen=True, slots=True)
class Confirmation:
    """The key an access token is bound to (RFC 7800 `cnf`): a DPoP key's thumbprint (RFC 9449 §6.1) or
    a client certificate's (RFC 8705 §3.1)."""

    jkt: str | None = None
    x5t_s256: str | None = None

    def claim(self) -> dict[str, str]:
        """The `cnf` claim's members."""
        out: dict[str, str] = {}
        if self.jkt is not None:
            out["jkt"] = self.jkt
        if self.x5t_s256 is not None:
            out["x5t#S256"] = self.x5t_s256
        return out

    @property
    def token_type(self) -> TokenType:
        return TokenType.DPOP if self.jkt is not None else TokenType.BEARER


@dataclass(frozen=True, slots=True)
class GrantContext:
    """What a grant handler works with: the request's tenant, the authenticated (or identified public)
    client, the request, and the confirmation its tokens are bound to (None: bearer tokens)."""

    tenant: Tenant
    client: Client
    request: OAuthRequest
    confirmation: Confirmation | None = None


@dataclass(frozen=True, slots=True)
class IssuedTokens:
    """What a grant issued (RFC 6749 §5.1 / OIDC Core §3.1.3.3), before it is answered; members that are
    None are left out of the answer."""

    access_token: str
    expires_in: int
    scope: str | None = None
    refresh_token: str | None = None
    id_token: str | None = None


def token_response(issued: IssuedTokens, confirmation: Confirmation | None) -> dict[str, Any]:
    """RFC 6749 §5.1 JSON: the one place where `token_type` is set."""
    body: dict[str, Any] = {
        "access_token": issued.access_token,
        "token_type": (confirmation.token_type if confirmation is not None else TokenType.BEARER).value,
        "expires_in": issued.expires_in,
    }
    if issued.scope is not None:
        body["scope"] = issued.scope
    if issued.refresh_token is not None:
        body["refresh_token"] = issued.refresh_token
    if issued.id_token is not None:
        body["id_token"] = issued.id_token
    return body


_KNOWN = {g.value: g for g in GrantType}


@dataclass(frozen=True, slots=True)
class GrantHandler:
    """One grant type's handler. `public_clients`: whether a public client (auth method `none`) may use it
    (client_credentials is for confidential clients only, OAuth 2.1 §4.2)."""

    grant_type: GrantType
    handle: Callable[[GrantContext], Awaitable[IssuedTokens]]
    public_clients: bool = True


def select_grant(request: OAuthRequest, handlers: Mapping[GrantType, GrantHandler]) -> GrantHandler:
    """The handler of the request's `grant_type`; unsupported_grant_type when there is none."""
    grant = _KNOWN.get(request.required("grant_type"))
    handler = handlers.get(grant) if grant is not None else None
    if handler is None:
        raise OAuthError(ErrorCode.UNSUPPORTED_GRANT_TYPE, "grant_type is not supported by this server")
    return handler


def check_grant_allowed(client: Client, handler: GrantHandler) -> None:
    """OAuth 2.1 §2.1: a public client may not use a grant meant for confidential clients."""
    if client.public and not handler.public_clients:
        raise OAuthError(ErrorCode.UNAUTHORIZED_CLIENT, f"a public client may not use the {handler.grant_type} grant")
