"""Refresh tokens: RFC 6749 §6, OAuth 2.1 §4.3, RFC 9700 §4.14.2 (rotation with reuse detection), OIDC Core §12.

Issued from a code whose scope has `offline_access` (and the client may ask for it); opaque, 256 bits,
stored only as a SHA-256 hash (RefreshTokenStore). Every use rotates: the presented token is retired
and a successor issued with exactly the original scope. Presenting a retired token again revokes the
whole family and every access token minted from it (their jtis derive from family id + generation).

Concurrent refreshes. A client may set `refresh_grace_seconds`: a token rotated less than that long ago
gives back the *same* successor (idempotent) with a fresh access token. To give back the same token
while storing only hashes, successors are derived, not drawn: successor = HMAC-SHA256(tenant key,
presented token), base64url. Only a holder of the presented token can recompute it, the store keeps
nothing usable, and nothing needs decrypting. In strict mode (the default, grace 0) there is no such
window: of several simultaneous presentations exactly one rotates, every other one is reuse, and the
family (the winner's successor included) is revoked, as RFC 9700 §4.14.2 asks when the server cannot
tell the legitimate client from an attacker.

Families live 30 days from the code (absolute), and a refresh token not used within `idle` seconds of its
issue (settings refresh_token_idle_ttl, 14 days) is refused like an expired one (OAuth 2.1 §4.3.3: the client
was inactive); a retired token presented again is still reuse (the family is revoked), however old. A new
ID token is issued on refresh when
the requested scope has `openid` (OIDC Core §12.2): same iss/sub/aud/auth_time/acr/amr/sid, no nonce.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import logging
import secrets
from typing import Final, Protocol

from lukhas_id.clock import Clock
from lukhas_id.domain.client import Client, GrantType
from lukhas_id.domain.events import EventType, IdentityEvent
from lukhas_id.domain.principal import PrincipalType
from lukhas_id.domain.refresh import RefreshTokenRecord, RotateOutcome, idle_expired
from lukhas_id.domain.tenant import Tenant
from lukhas_id.errors import ErrorCode, OAuthError
from lukhas_id.ports.state import RefreshTokenStore
from lukhas_id.ports.unit_of_work import UnitOfWork
from lukhas_id.protocol.oauth2.grants import Confirmation, GrantContext, IssuedTokens
from lukhas_id.protocol.oauth2.scope import parse_scope
from lukhas_id.services.codes import CodeGrant
from lukhas_id.services.id_tokens import IdTokenIssuer
from lukhas_id.services.tenants import TenantService
from lukhas_id.services.tokens import MAX_TOKEN_LENGTH, TokenService, token_hash

log = logging.getLogger(__name__)

OFFLINE_ACCESS: Final = "offline_access"
REFRESH_TOKEN_LIFETIME: Final = 30 * 24 * 3600
REFRESH_TOKEN_IDLE_TTL: Final = 14 * 24 * 3600
# Clients with the authorization_code grant may use refresh_token without listing it.
REFRESH_GRANTS: Final = frozenset({GrantType.REFRESH_TOKEN, GrantType.AUTHORIZATION_CODE})
_SUCCESSOR_PURPOSE: Final = "refresh-successor"
_REVOKE_CHUNK: Final = 256


def family_access_jti(family_id: str, generation: int) -> str:
    """The jti of access tokens minted from a family's generation; generation 0 is the code's own
    (`code_grant.access_jti`), so revoking a family covers the token the code was redeemed for."""
    return f"{family_id}.at" if generation == 0 else f"{family_id}.at{generation}"


class Keyring(Protocol):
    def key(self, tenant: Tenant, purpose: str) -> bytes: ...


class RefreshTokenService:
    def __init__(
        self,
        store: RefreshTokenStore,
        tokens: TokenService,
        tenants: TenantService,
        id_tokens: IdTokenIssuer,
        keyring: Keyring,
        clock: Clock,
        uow: UnitOfWork,
        *,
        lifetime: int = REFRESH_TOKEN_LIFETIME,
        idle: int = REFRESH_TOKEN_IDLE_TTL,
    ) -> None:
        self._store = store
        self._tokens = tokens
        self._tenants = tenants
        self._id_tokens = id_tokens
        self._keyring = keyring
        self._clock = clock
        self._uow = uow
        self._lifetime = lifetime
        self._idle = idle

    def _successor(self, tenant: Tenant, presented: str) -> str:
        mac = hmac.new(self._keyring.key(tenant, _SUCCESSOR_PURPOSE), presented.encode("ascii"), hashlib.sha256)
        return base64.urlsafe_b64encode(mac.digest()).rstrip(b"=").decode("ascii")

    # --- issuance from a code ---------------------------------------------------------------------

    async def issue(self, tenant: Tenant, client: Client, grant: CodeGrant, family_id: str) -> str | None:
        """A refresh token for a redeemed code when it asked for offline_access (and the client may)."""
        if OFFLINE_ACCESS not in grant.scope or OFFLINE_ACCESS not in client.scopes:
            return None
        token = secrets.token_urlsafe(32)
        now = self._clock.now()
        record = RefreshTokenRecord(
            tenant_id=tenant.id,
            family_id=family_id,
            client_id=client.client_id,
            user_lid=grant.user_lid,
            scope=grant.scope,
            sid=grant.sid,
            auth_time=grant.auth_time,
            acr=grant.acr,
            amr=grant.amr,
            resources=grant.resources,
            created_at=now,
            expires_at=now + self._lifetime,
        )
        await self._store.create(token_hash(token), record)
        return token

    # --- the refresh_token grant ------------------------------------------------------------------

    async def refresh_token(self, ctx: GrantContext) -> IssuedTokens:
        """RFC 6749 §6 with OAuth 2.1 §4.3: rotate the presented token, or detect its reuse."""
        tenant, client, request = ctx.tenant, ctx.client, ctx.request
        if REFRESH_GRANTS.isdisjoint(client.grant_types):
            raise OAuthError(ErrorCode.UNAUTHORIZED_CLIENT, "the client may not use the refresh_token grant")
        presented = request.required("refresh_token")
        requested = request.single("scope")
        if len(presented) > MAX_TOKEN_LENGTH or not presented.isascii():
            raise OAuthError(ErrorCode.INVALID_GRANT, "invalid refresh token")
        digest = token_hash(presented)
        now = self._clock.now()
        record = await self._store.get(tenant.id, digest, now)
        if record is None:
            raise OAuthError(ErrorCode.INVALID_GRANT, "invalid, expired or revoked refresh token")
        if record.client_id != client.client_id:
            raise OAuthError(ErrorCode.INVALID_GRANT, "the refresh token was issued to another client")
        if record.rotated_at is None and idle_expired(record.issued_at, now, self._idle):
            # Idle expiry (OAuth 2.1 §4.3.3), before the scope is looked at; the store's rotation decides it again
            # atomically. Only the active token: a retired one goes on to reuse detection.
            raise OAuthError(ErrorCode.INVALID_GRANT, "invalid, expired or revoked refresh token")
        scope = self._narrow(requested, record.scope)
        successor = self._successor(tenant, presented)
        successor_digest = token_hash(successor)
        result = await self._store.rotate(
            tenant.id, digest, successor_digest, now, client.refresh_grace_seconds, idle=self._idle
        )
        if result.outcome is RotateOutcome.REUSE:
            await self._revoke_access_tokens(tenant, record.family_id, result.latest_generation)
            await self._record(EventType.REFRESH_REUSE_DETECTED, tenant, record.user_lid, client.client_id)
            raise OAuthError(ErrorCode.INVALID_GRANT, "the refresh token was already used; the grant is revoked")
        if result.outcome in (RotateOutcome.UNKNOWN, RotateOutcome.EXPIRED) or result.record is None:
            raise OAuthError(ErrorCode.INVALID_GRANT, "invalid, expired or revoked refresh token")
        if result.outcome is RotateOutcome.GRACE and not hmac.compare_digest(
            str(result.successor_hash), successor_digest
        ):
            raise OAuthError(ErrorCode.INVALID_GRANT, "the refresh token was already used")
        return await self._respond(
            tenant, client, result.record, scope, successor, result.successor_generation, ctx.confirmation
        )

    @staticmethod
    def _narrow(requested: str | None, original: tuple[str, ...]) -> tuple[str, ...]:
        """RFC 6749 §6: omitted means the original scope; anything beyond it is invalid_scope."""
        if requested is None:
            return original
        tokens = parse_scope(requested)
        if not set(tokens) <= set(original):
            raise OAuthError(ErrorCode.INVALID_SCOPE, "the requested scope exceeds the one originally granted")
        return tokens

    async def _respond(
        self,
        tenant: Tenant,
        client: Client,
        record: RefreshTokenRecord,
        scope: tuple[str, ...],
        refresh_token: str,
        generation: int,
        confirmation: Confirmation | None,
    ) -> IssuedTokens:
        issuer = self._tenants.issuer(tenant)
        aud = record.resources or ((client.default_resource or issuer),)
        if "openid" in scope and issuer not in aud:
            aud = (*aud, issuer)
        extra: dict[str, object] = {"auth_time": record.auth_time}
        if record.acr:
            extra["acr"] = record.acr
        if record.amr:
            extra["amr"] = list(record.amr)
        scope_text = " ".join(scope)
        access_token = await self._tokens.mint_access_token(
            tenant,
            client,
            sub=record.user_lid,
            lid_type=PrincipalType.USER.value,
            scope=scope_text,
            aud=aud,
            jti=family_access_jti(record.family_id, generation),
            extra=extra,
            confirmation=confirmation,
        )
        id_token = None
        if "openid" in scope:
            grant = CodeGrant(
                tenant_id=tenant.id,
                client_id=client.client_id,
                redirect_uri="",
                redirect_uri_sent=False,
                user_lid=record.user_lid,
                scope=scope,
                code_challenge="",
                nonce=None,  # OIDC Core §12.2: SHOULD NOT carry a nonce
                auth_time=record.auth_time,
                amr=record.amr,
                acr=record.acr,
                sid=record.sid,
                resources=record.resources,
            )
            id_token = await self._id_tokens.id_token(tenant, client, grant, access_token=access_token)
        return IssuedTokens(
            access_token, client.access_token_ttl, scope=scope_text, refresh_token=refresh_token, id_token=id_token
        )

    # --- revocation -----------------------------------------------------------------------------

    async def revoke_family(self, tenant: Tenant, family_id: str) -> bool:
        """Revoke every refresh token of the family and the access tokens minted from it."""
        latest = await self._store.revoke_family(tenant.id, family_id)
        if latest is None:
            return False
        await self._revoke_access_tokens(tenant, family_id, latest)
        return True

    async def revoke(self, tenant: Tenant, caller: Client, token: str) -> bool:
        """RFC 7009 for a refresh token: its family and the family's access tokens (§2.1 SHOULD).
        False when it is no refresh token of this tenant (or is already revoked)."""
        if not token or len(token) > MAX_TOKEN_LENGTH or not token.isascii():
            return False
        record = await self._store.get(tenant.id, token_hash(token), self._clock.now())
        if record is None:
            return False
        if record.client_id != caller.client_id:
            raise OAuthError(ErrorCode.UNAUTHORIZED_CLIENT, "the token was not issued to this client")
        await self.revoke_family(tenant, record.family_id)
        await self._record(EventType.REFRESH_FAMILY_REVOKED, tenant, record.user_lid, caller.client_id)
        return True

    async def _record(self, kind: EventType, tenant: Tenant, user_lid: str, client_id: str) -> None:
        """The event of a change already made: refresh families live in the refresh store (Redis in
        production), which no SQL unit of work covers (ADR 0007), so the event follows the change."""
        async with self._uow() as work:
            work.emit(IdentityEvent(kind, tenant.id, user_lid, self._clock.now(), metadata={"client_id": client_id}))

    async def revoke_for_session(self, tenant: Tenant, sid: str) -> int:
        """Logout: the families issued in this login session (their access tokens expire on their own)."""
        return await self._store.revoke_for_session(tenant.id, sid)

    async def revoke_for_user(self, tenant: Tenant, user_lid: str) -> int:
        """Every family of the user (deletion); their access tokens are ended by a subject marker."""
        return await self._store.revoke_for_user(tenant.id, user_lid)

    async def purge_expired(self, now: float) -> int:
        return await self._store.purge_expired(now)

    async def _revoke_access_tokens(self, tenant: Tenant, family_id: str, latest: int) -> None:
        """Every generation's jti, 0..latest: O(generations), paid only when a family is revoked."""
        jtis = [family_access_jti(family_id, g) for g in range(latest + 1)]
        for start in range(0, len(jtis), _REVOKE_CHUNK):
            await asyncio.gather(*(self._tokens.revoke_jti(tenant, j) for j in jtis[start : start + _REVOKE_CHUNK]))
