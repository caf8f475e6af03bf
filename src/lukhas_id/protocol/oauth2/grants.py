"""The token endpoint's grant dispatch: RFC 6749 §4-§5, OAuth 2.1 §3.2.

Grant handlers are async callables registered by grant type in the composition root; an unknown or
unsupported `grant_type` (password, implicit-era values, anything else) is `unsupported_grant_type`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from lukhas_id.domain.client import Client, GrantType
from lukhas_id.domain.tenant import Tenant
from lukhas_id.errors import ErrorCode, OAuthError
from lukhas_id.protocol.oauth2.request import FormRequest

TokenResponse = dict[str, Any]
GrantHandler = Callable[[Tenant, Client, FormRequest], Awaitable[TokenResponse]]

_KNOWN = {g.value: g for g in GrantType}


def select_grant(request: FormRequest, handlers: Mapping[GrantType, GrantHandler]) -> tuple[GrantType, GrantHandler]:
    value = request.required("grant_type")
    grant = _KNOWN.get(value)
    handler = handlers.get(grant) if grant is not None else None
    if grant is None or handler is None:
        raise OAuthError(ErrorCode.UNSUPPORTED_GRANT_TYPE, "grant_type is not supported by this server")
    return grant, handler
