"""ID tokens and the subject a client knows a user by: OIDC Core §2, §3.1.3.6, §8 (pairwise), §12.2.

One issuer for the code grant, the refresh grant (a new ID token on refresh, without nonce) and every
place that needs a user's `sub` as a given client sees it (UserInfo, the authorization service).
"""

from __future__ import annotations

from typing import Final
from urllib.parse import urlsplit

from lukhas_id.clock import Clock
from lukhas_id.domain.client import Client, SubjectType
from lukhas_id.domain.keys import SigningAlg
from lukhas_id.domain.principal import PrincipalType
from lukhas_id.domain.tenant import Tenant
from lukhas_id.jose.hashes import token_hash_claim
from lukhas_id.jose.jwt import TokenPurpose, sign
from lukhas_id.services.codes import CodeGrant
from lukhas_id.services.keys import KeyService
from lukhas_id.services.tenants import TenantService

ID_TOKEN_TTL: Final = 300


class IdTokenIssuer:
    def __init__(self, keys: KeyService, tenants: TenantService, clock: Clock) -> None:
        self._keys = keys
        self._tenants = tenants
        self._clock = clock

    def subject(self, tenant: Tenant, client: Client, user_lid: str) -> str:
        """OIDC Core §8: the user's ΛID, or a pairwise ΛID per sector (the redirect URIs' host)."""
        if client.subject_type is not SubjectType.PAIRWISE:
            return user_lid
        sector = urlsplit(client.redirect_uris[0]).hostname if client.redirect_uris else client.client_id
        return self._tenants.derive_lid(tenant, PrincipalType.USER, f"pairwise\x00{sector}\x00{user_lid}")

    async def id_token(self, tenant: Tenant, client: Client, grant: CodeGrant, *, access_token: str) -> str:
        """OIDC Core §2 and §3.1.3.6: iss, sub, aud, exp, iat, auth_time, nonce, acr, amr, sid, azp, at_hash."""
        alg = SigningAlg(client.id_token_signed_response_alg)
        now = int(self._clock.now())
        claims: dict[str, object] = {
            "iss": self._tenants.issuer(tenant),
            "sub": self.subject(tenant, client, grant.user_lid),
            "aud": client.client_id,
            "azp": client.client_id,
            "exp": now + ID_TOKEN_TTL,
            "iat": now,
            "auth_time": grant.auth_time,
            "at_hash": token_hash_claim(access_token, alg),
        }
        if grant.nonce is not None:
            claims["nonce"] = grant.nonce
        if grant.acr:
            claims["acr"] = grant.acr
        if grant.amr:
            claims["amr"] = list(grant.amr)
        if grant.sid:
            claims["sid"] = grant.sid
        return sign(claims, TokenPurpose.ID_TOKEN, await self._keys.signer_for(tenant, alg, create=True))
