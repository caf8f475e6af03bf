"""UserInfo: OpenID Connect Core §5.3 (claims of the user an access token was issued for), §5.4 (by scope).

Checks, in order: the token is a valid access token of this tenant (signature, issuer, expiry,
revocation: `TokenService.validate`) whose audience includes the issuer (RFC 9068 §4: UserInfo is
the issuer's own resource; a token audience-restricted to another resource server is refused); it is
a user's token (lid_type USR) with the `openid` scope; the user exists and is active; the client it
was issued to exists and is active. Failures follow RFC 6750 §3: 401 invalid_token, 403
insufficient_scope. Then `sub` (pairwise for pairwise clients, as in the ID token) and the claims of
the `profile` and `email` scopes.
"""

from __future__ import annotations

from lukhas_id.domain.client import ClientStatus
from lukhas_id.domain.principal import PrincipalType
from lukhas_id.domain.tenant import Tenant
from lukhas_id.ports.repositories import UserRepository
from lukhas_id.protocol.oauth2.bearer import insufficient_scope, invalid_token
from lukhas_id.services.clients import ClientService
from lukhas_id.services.id_tokens import IdTokenIssuer
from lukhas_id.services.tenants import TenantService
from lukhas_id.services.tokens import TokenService

OPENID = "openid"


class UserInfoService:
    def __init__(
        self,
        tokens: TokenService,
        users: UserRepository,
        clients: ClientService,
        id_tokens: IdTokenIssuer,
        tenants: TenantService,
    ) -> None:
        self._tokens = tokens
        self._users = users
        self._clients = clients
        self._id_tokens = id_tokens
        self._tenants = tenants

    async def claims(self, tenant: Tenant, token: str) -> dict[str, object]:
        """The UserInfo response of `token`; raises BearerError (protocol/oauth2/bearer.py)."""
        record = await self._tokens.validate(tenant, token)
        if record is None:
            raise invalid_token()
        if self._tenants.issuer(tenant) not in record.aud:
            raise invalid_token("the access token's audience does not include this issuer's UserInfo endpoint")
        scopes = set(record.scope.split())
        if record.lid_type != PrincipalType.USER.value or OPENID not in scopes:
            raise insufficient_scope(OPENID, "UserInfo needs a user's access token with the openid scope")
        user = await self._users.get(tenant.id, record.sub)
        if user is None or not user.active:
            raise invalid_token("the user of the access token is unknown or disabled")
        client = await self._clients.get(tenant.id, record.client_id)
        if client is None or client.status is not ClientStatus.ACTIVE:
            raise invalid_token("the client of the access token is unknown or disabled")
        claims: dict[str, object] = {"sub": self._id_tokens.subject(tenant, client, user.lid)}
        if "profile" in scopes:
            claims["name"] = user.display_name
            claims["preferred_username"] = user.username
            claims["updated_at"] = int(user.updated_at)
        if "email" in scopes and user.email is not None:
            claims["email"] = user.email
            claims["email_verified"] = user.email_verified
        return claims
