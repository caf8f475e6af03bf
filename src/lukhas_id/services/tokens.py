"""Access tokens: issuance (client_credentials), introspection (RFC 7662), revocation (RFC 7009).

JWT access tokens (RFC 9068) need no write to be issued; opaque tokens are one write to the token
state store. Revocation state is what gets written: a revoked JWT's jti, a deleted opaque record, or a
per-client / per-subject not-before marker for mass revocation.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from typing import Any

from lukhas_id.clock import Clock
from lukhas_id.domain.client import Client, GrantType, TokenFormat
from lukhas_id.domain.events import EventType, IdentityEvent
from lukhas_id.domain.tenant import Tenant
from lukhas_id.domain.token import AccessTokenRecord, MarkerKind
from lukhas_id.errors import ErrorCode, OAuthError
from lukhas_id.jose.jwt import InvalidToken, TokenPurpose, peek_header, sign, verify
from lukhas_id.ports.state import TokenStateStore
from lukhas_id.ports.unit_of_work import UnitOfWork
from lukhas_id.protocol.oauth2.grants import Confirmation, GrantContext, IssuedTokens
from lukhas_id.protocol.oauth2.request import OAuthRequest
from lukhas_id.protocol.oauth2.resource import select_audience
from lukhas_id.protocol.oauth2.scope import grant_scope
from lukhas_id.services.clients import require_grant
from lukhas_id.services.keys import KeyService
from lukhas_id.services.tenants import TenantService

log = logging.getLogger(__name__)

INACTIVE: dict[str, Any] = {"active": False}
MAX_TOKEN_LENGTH = 16 * 1024
MARKER_MARGIN = 120


def token_hash(token: str) -> str:
    """Opaque tokens are stored under a hash, so a read of the store reveals no usable token."""
    return hashlib.sha256(token.encode("ascii", "replace")).hexdigest()


def looks_like_jwt(token: str) -> bool:
    return token.count(".") == 2


class TokenService:
    def __init__(
        self,
        state: TokenStateStore,
        keys: KeyService,
        tenants: TenantService,
        clock: Clock,
        uow: UnitOfWork,
        *,
        max_access_token_ttl: int,
    ) -> None:
        self._uow = uow
        self._state = state
        self._keys = keys
        self._tenants = tenants
        self._clock = clock
        self._max_ttl = max_access_token_ttl

    # --- issuance -----------------------------------------------------------------------------

    async def client_credentials(self, ctx: GrantContext) -> IssuedTokens:
        """RFC 6749 §4.4 for a confidential client acting as its own SVC/AGT/SYS principal."""
        tenant, client, request = ctx.tenant, ctx.client, ctx.request
        require_grant(client, GrantType.CLIENT_CREDENTIALS)
        scope = grant_scope(request.single("scope"), client.scopes)
        issuer = self._tenants.issuer(tenant)
        aud = select_audience(request.many("resource"), client.resources, client.default_resource or issuer)
        token = await self.mint_access_token(
            tenant,
            client,
            sub=client.principal_lid,
            lid_type=client.principal_type.value,
            scope=scope,
            aud=aud,
            confirmation=ctx.confirmation,
        )
        return IssuedTokens(token, client.access_token_ttl, scope=scope or None)

    async def mint_access_token(
        self,
        tenant: Tenant,
        client: Client,
        *,
        sub: str,
        lid_type: str,
        scope: str,
        aud: tuple[str, ...],
        jti: str | None = None,
        extra: dict[str, object] | None = None,
        confirmation: Confirmation | None = None,
    ) -> str:
        """An access token in the client's format: an RFC 9068 JWT (no write) or an opaque token (one
        write). `extra` adds claims such as auth_time/acr/amr (RFC 9068 §2.2.1) to JWTs; `confirmation`
        binds the token to a key (the `cnf` claim, RFC 7800 §3.1; set here and nowhere else)."""
        now = int(self._clock.now())
        exp = now + client.access_token_ttl
        if client.token_format is TokenFormat.OPAQUE:
            if confirmation is not None:  # the opaque record has no cnf yet: never issue it unbound
                raise OAuthError(ErrorCode.INVALID_REQUEST, "sender-constrained opaque tokens are not supported")
            token = secrets.token_urlsafe(32)
            digest = token_hash(token)
            # The record's jti is derived from the stored hash unless given: unique, reveals nothing.
            record = AccessTokenRecord(
                tenant_id=tenant.id,
                jti=jti or digest[:32],
                client_id=client.client_id,
                sub=sub,
                lid_type=lid_type,
                scope=scope,
                aud=aud,
                iat=now,
                exp=exp,
                acr=_optional_str((extra or {}).get("acr")),
                auth_time=_optional_int((extra or {}).get("auth_time")),
            )
            await self._state.put_opaque(digest, record)
            return token
        claims: dict[str, object] = {
            "iss": self._tenants.issuer(tenant),
            "sub": sub,
            "aud": aud[0] if len(aud) == 1 else list(aud),
            "client_id": client.client_id,
            "jti": jti or secrets.token_urlsafe(16),
            "iat": now,
            "exp": exp,
            "lid_type": lid_type,
        }
        if scope:
            claims["scope"] = scope
        if extra:
            claims.update(extra)
        if confirmation is not None:
            claims["cnf"] = confirmation.claim()
        return sign(claims, TokenPurpose.ACCESS_TOKEN, await self._keys.signer(tenant))

    async def revoke_jti(self, tenant: Tenant, jti: str) -> None:
        """Revoke a token by its jti for as long as any access token can live."""
        await self._state.revoke_jti(tenant.id, jti, int(self._clock.now()) + self._max_ttl)

    # --- reading a presented token --------------------------------------------------------------

    async def validate(self, tenant: Tenant, token: str) -> AccessTokenRecord | None:
        return await self._record(tenant, token)

    async def _record(self, tenant: Tenant, token: str, *, check_revocation: bool = True) -> AccessTokenRecord | None:
        """The record of a token this tenant issued that is unexpired (and, by default, not revoked)."""
        if not token or len(token) > MAX_TOKEN_LENGTH or not token.isascii():
            return None
        now = self._clock.now()
        if not looks_like_jwt(token):
            if check_revocation:
                return await self._state.get_active_opaque(tenant.id, token_hash(token), now)
            found = await self._state.get_opaque(token_hash(token), now)
            return found if found is not None and found.tenant_id == tenant.id else None
        try:
            kid = peek_header(token).get("kid")
            if not isinstance(kid, str):
                return None
            ks = await self._keys.keyset_for(tenant.id, kid)
            claims = verify(
                token,
                TokenPurpose.ACCESS_TOKEN,
                ks.verifier,
                issuer=self._tenants.issuer(tenant),
                now=now,
                leeway=0,
            )
            aud = claims["aud"]
            record = AccessTokenRecord(
                tenant_id=tenant.id,
                jti=str(claims["jti"]),
                client_id=str(claims["client_id"]),
                sub=str(claims["sub"]),
                lid_type=str(claims.get("lid_type", "")),
                scope=str(claims.get("scope", "")),
                aud=(aud,) if isinstance(aud, str) else tuple(str(a) for a in aud),  # type: ignore[attr-defined]
                iat=int(claims["iat"]),  # type: ignore[call-overload]
                exp=int(claims["exp"]),  # type: ignore[call-overload]
                acr=_optional_str(claims.get("acr")),
                auth_time=_optional_int(claims.get("auth_time")),
            )
        except (InvalidToken, KeyError, TypeError, ValueError):
            return None
        if check_revocation and await self._state.is_revoked(
            tenant.id, record.jti, record.client_id, record.sub, record.iat
        ):
            return None
        return record

    @staticmethod
    def may_introspect(caller: Client, record: AccessTokenRecord) -> bool:
        """RFC 7662 §2.2/§4: a client may introspect the tokens issued to it, and, as a resource server,
        the tokens whose audience is one of the resources registered for it."""
        return record.client_id == caller.client_id or not set(record.aud).isdisjoint(caller.resources)

    async def introspect(self, tenant: Tenant, caller: Client, request: OAuthRequest) -> dict[str, Any]:
        """RFC 7662 §2.2: `active: false` and nothing else for any token that isn't valid here."""
        token = request.required("token")
        request.single("token_type_hint")  # optional; repeated is invalid_request; any value is only a hint
        record = await self._record(tenant, token)
        if record is None or not self.may_introspect(caller, record):
            return INACTIVE
        out: dict[str, Any] = {
            "active": True,
            "iss": self._tenants.issuer(tenant),
            "sub": record.sub,
            "aud": record.aud[0] if len(record.aud) == 1 else list(record.aud),
            "client_id": record.client_id,
            "token_type": "Bearer",
            "exp": record.exp,
            "iat": record.iat,
            "jti": record.jti,
            "lid_type": record.lid_type,
        }
        if record.scope:
            out["scope"] = record.scope
        # RFC 9470 §6.2: the authentication the token came from (user tokens).
        if record.acr is not None:
            out["acr"] = record.acr
        if record.auth_time is not None:
            out["auth_time"] = record.auth_time
        return out

    async def revoke_access_token(self, tenant: Tenant, caller: Client, token: str) -> bool:
        """RFC 7009 §2.1 for an access token issued to the caller; False when `token` is no access token of
        this tenant (it may be a refresh token, or nothing: services/revocation.py decides)."""
        # Revoking an already revoked token again is harmless, so skip the revocation lookup.
        record = await self._record(tenant, token, check_revocation=False)
        if record is None:
            return False
        if record.client_id != caller.client_id:
            raise OAuthError(ErrorCode.UNAUTHORIZED_CLIENT, "the token was not issued to this client")
        async with self._uow() as work:
            if looks_like_jwt(token):
                await self._state.revoke_jti(tenant.id, record.jti, record.exp)
            else:
                await self._state.delete_opaque(token_hash(token))
            metadata = {"client_id": caller.client_id, "jti": record.jti}
            work.emit(
                IdentityEvent(EventType.TOKEN_REVOKED, tenant.id, record.sub, self._clock.now(), metadata=metadata)
            )
        return True

    async def revoke_all(self, tenant: Tenant, kind: MarkerKind, ident: str, *, quiet: bool = False) -> int:
        """Mass revocation: every token of the client / subject issued up to now becomes inactive
        (`token.mass_revoked`, after the marker is set: state in Redis is not part of the unit, ADR 0007).
        `quiet`: no event (a sweep right after an emitted one, e.g. for requests that raced a deletion)."""
        at = int(self._clock.now())
        if quiet:
            await self._state.set_not_before(tenant.id, kind, ident, at, self._max_ttl + MARKER_MARGIN)
            return at
        async with self._uow() as work:
            await self._state.set_not_before(tenant.id, kind, ident, at, self._max_ttl + MARKER_MARGIN)
            metadata = {"kind": kind.value, "not_before": str(at)}
            principal: str | None = None
            if kind is MarkerKind.CLIENT:
                metadata["client_id"] = ident
            else:
                principal = ident
            work.emit(
                IdentityEvent(EventType.TOKENS_MASS_REVOKED, tenant.id, principal, self._clock.now(), metadata=metadata)
            )
        return at


def _optional_str(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _optional_int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
