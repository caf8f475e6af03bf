"""The authorization_code grant at the token endpoint: RFC 6749 §4.1.3, OAuth 2.1 §4.1.3, OIDC Core §3.1.3.

Checks, in order: the client may use the grant; the code is redeemed once (a replay is refused and the
tokens issued from the code are revoked); the code belongs to this client; PKCE; redirect_uri. Then an
access token for the user (RFC 9068, with auth_time/acr/amr) and, for `openid` requests, an ID token
signed with the client's `id_token_signed_response_alg`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import TYPE_CHECKING

from lukhas_id.domain.client import Client, GrantType
from lukhas_id.domain.principal import PrincipalType
from lukhas_id.domain.tenant import Tenant
from lukhas_id.domain.user import User
from lukhas_id.errors import ErrorCode, OAuthError
from lukhas_id.protocol.oauth2 import pkce
from lukhas_id.protocol.oauth2.grants import Confirmation, GrantContext, IssuedTokens
from lukhas_id.services.clients import require_grant
from lukhas_id.services.codes import AuthorizationCodes, CodeGrant
from lukhas_id.services.id_tokens import IdTokenIssuer
from lukhas_id.services.tenants import TenantService
from lukhas_id.services.tokens import TokenService

if TYPE_CHECKING:
    from lukhas_id.services.refresh import RefreshTokenService

MAX_CODE_LENGTH = 512


def access_jti(grant_id: str) -> str:
    """The jti of the access token issued from a code: derivable again when the code is replayed."""
    return f"{grant_id}.at"


# The user of a ΛID in a tenant, or None (UserService.by_lid).
UserLookup = Callable[[Tenant, str], Awaitable[User | None]]


class CodeGrantService:
    def __init__(
        self,
        codes: AuthorizationCodes,
        tokens: TokenService,
        id_tokens: IdTokenIssuer,
        tenants: TenantService,
        refresh: RefreshTokenService | None = None,
        *,
        users: UserLookup | None = None,
    ) -> None:
        self._refresh = refresh
        self._users = users
        self._codes = codes
        self._tokens = tokens
        self._id_tokens = id_tokens
        self._tenants = tenants

    async def authorization_code(self, ctx: GrantContext) -> IssuedTokens:
        """RFC 6749 §4.1.3 with OAuth 2.1 §4.1.3: redeem a code once, with PKCE."""
        tenant, client, request = ctx.tenant, ctx.client, ctx.request
        require_grant(client, GrantType.AUTHORIZATION_CODE)
        code = request.required("code")
        verifier = request.single("code_verifier")
        redirect_uri = request.single("redirect_uri")
        if len(code) > MAX_CODE_LENGTH:
            raise OAuthError(ErrorCode.INVALID_GRANT, "invalid authorization code")
        redemption = await self._codes.redeem(tenant.id, code)
        if redemption.replay:
            # OAuth 2.1 §4.1.3 / RFC 6749 §10.5: deny, and revoke what the first redemption issued.
            await self._tokens.revoke_jti(tenant, access_jti(redemption.grant_id))
            if self._refresh is not None:
                await self._refresh.revoke_family(tenant, redemption.grant_id)
            raise OAuthError(ErrorCode.INVALID_GRANT, "the authorization code was already used")
        grant = redemption.grant
        if grant is None:
            raise OAuthError(ErrorCode.INVALID_GRANT, "invalid or expired authorization code")
        if grant.client_id != client.client_id:
            raise OAuthError(ErrorCode.INVALID_GRANT, "the authorization code was issued to another client")
        pkce.verify(verifier, grant.code_challenge)
        if (grant.redirect_uri_sent or redirect_uri is not None) and redirect_uri != grant.redirect_uri:
            raise OAuthError(ErrorCode.INVALID_GRANT, "redirect_uri does not match the authorization request")
        if self._users is not None:
            # A code lives a minute: its user may have been disabled or deleted since it was issued.
            user = await self._users(tenant, grant.user_lid)
            if user is None or not user.active:
                raise OAuthError(ErrorCode.INVALID_GRANT, "invalid or expired authorization code")
        issued = await self._issue(tenant, client, grant, access_jti(redemption.grant_id), ctx.confirmation)
        if self._refresh is not None:
            refresh_token = await self._refresh.issue(tenant, client, grant, redemption.grant_id)
            if refresh_token is not None:
                issued = replace(issued, refresh_token=refresh_token)
        return issued

    async def _issue(
        self, tenant: Tenant, client: Client, grant: CodeGrant, jti: str, confirmation: Confirmation | None
    ) -> IssuedTokens:
        scope = " ".join(grant.scope)
        issuer = self._tenants.issuer(tenant)
        aud = grant.resources or ((client.default_resource or issuer),)
        if "openid" in grant.scope and issuer not in aud:
            aud = (*aud, issuer)  # the UserInfo endpoint is one of the token's audiences (RFC 9068 §4)
        extra: dict[str, object] = {"auth_time": grant.auth_time}
        if grant.acr:
            extra["acr"] = grant.acr
        if grant.amr:
            extra["amr"] = list(grant.amr)
        access_token = await self._tokens.mint_access_token(
            tenant,
            client,
            sub=grant.user_lid,
            lid_type=PrincipalType.USER.value,
            scope=scope,
            aud=aud,
            jti=jti,
            extra=extra,
            confirmation=confirmation,
        )
        id_token = None
        if "openid" in grant.scope:
            id_token = await self._id_tokens.id_token(tenant, client, grant, access_token=access_token)
        return IssuedTokens(access_token, client.access_token_ttl, scope=scope, id_token=id_token)
