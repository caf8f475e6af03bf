"""Verifying an `id_token_hint`: an ID token this OP issued, sent back by a relying party as a hint about the
user's session (OIDC Core §3.1.2.1 at the authorization endpoint, RP-Initiated Logout 1.0 §2 at logout).

Verified on the one JOSE path (signature by this tenant's published keys, `iss`, `typ`, required claims),
its `exp` not checked: a hint past its expiry is still accepted (both specs SHOULD). The client it was
issued to is its single `aud`, or its `azp` (which must be among the audiences). Refusals are InvalidHint,
whose message quotes nothing from the token.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from lukhas_id.clock import Clock
from lukhas_id.domain.tenant import Tenant
from lukhas_id.jose.jwt import InvalidToken, TokenPurpose, peek_header, verify
from lukhas_id.services.keys import KeyService
from lukhas_id.services.tenants import TenantService

# Clock skew allowed on iat/nbf of a hint (its exp is not checked at all).
HINT_LEEWAY: Final = 60


class InvalidHint(Exception):
    """A hint that is not an ID token of this OP for one client; the message is safe to show and log."""


@dataclass(frozen=True, slots=True)
class IdTokenHint:
    client_id: str  # the client the ID token was issued to
    sub: str  # the subject as that client knows the user (pairwise for a pairwise client)
    sid: str | None  # the session the ID token was issued in, when it names one


class IdTokenHints:
    def __init__(self, keys: KeyService, tenants: TenantService, clock: Clock) -> None:
        self._keys = keys
        self._tenants = tenants
        self._clock = clock

    async def verify(self, tenant: Tenant, hint: str) -> IdTokenHint:
        """The verified hint; InvalidHint when it is not an ID token this tenant issued to one client."""
        try:
            kid = peek_header(hint).get("kid")
            if not isinstance(kid, str):
                raise InvalidToken("kid header parameter missing")
            ks = await self._keys.keyset_for(tenant.id, kid)
            claims = verify(
                hint,
                TokenPurpose.ID_TOKEN,
                ks.verifier,
                issuer=self._tenants.issuer(tenant),
                now=self._clock.now(),
                leeway=HINT_LEEWAY,
                check_exp=False,
            )
        except InvalidToken:
            raise InvalidHint("the ID token hint is not valid for this server") from None
        sid = claims.get("sid")
        return IdTokenHint(_hint_client(claims), str(claims["sub"]), sid if isinstance(sid, str) and sid else None)


def _hint_client(claims: dict[str, object]) -> str:
    """The client an ID token was issued to: its single `aud`, or `azp` (which must be among them)."""
    aud = claims.get("aud")
    azp = claims.get("azp")
    audiences = (
        [aud] if isinstance(aud, str) else [a for a in aud if isinstance(a, str)] if isinstance(aud, list) else []
    )
    if isinstance(azp, str):
        if azp not in audiences:
            raise InvalidHint("the ID token hint does not name one client")
        return azp
    if len(audiences) == 1:
        return audiences[0]
    raise InvalidHint("the ID token hint does not name one client")
