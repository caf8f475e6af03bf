"""Token revocation: RFC 7009 §2.1-§2.2 (access and refresh tokens, for the client they were issued to).

An unknown, invalid or already revoked token is a no-op (the answer is 200 either way); a token of
another client is `unauthorized_client`. `token_type_hint` is optional and only a hint: every type is
searched, an unknown value is ignored, and only a repeated hint is an error.
"""

from __future__ import annotations

from lukhas_id.domain.client import Client
from lukhas_id.domain.tenant import Tenant
from lukhas_id.protocol.oauth2.request import OAuthRequest
from lukhas_id.services.refresh import RefreshTokenService
from lukhas_id.services.tokens import TokenService


class RevocationService:
    def __init__(self, tokens: TokenService, refresh: RefreshTokenService | None) -> None:
        self._tokens = tokens
        self._refresh = refresh

    async def revoke(self, tenant: Tenant, caller: Client, request: OAuthRequest) -> None:
        token = request.required("token")
        request.single("token_type_hint")
        if await self._tokens.revoke_access_token(tenant, caller, token):
            return
        if self._refresh is not None:
            await self._refresh.revoke(tenant, caller, token)
