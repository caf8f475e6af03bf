"""Clients: registration (each client is a principal with its own ΛID), secret rotation, caching.

Each process caches client records for `cache_ttl` seconds; a change made by another process (the CLI)
reaches it when the entry expires. A failed secret check reads the record again (`reload`, at most once a
second per client), so a secret rotated elsewhere works at once.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, replace
from typing import Final
from urllib.parse import urlsplit

from lukhas_id import ids
from lukhas_id.clock import Clock
from lukhas_id.domain.client import Client, ClientAuthMethod, ClientStatus, GrantType, SubjectType, TokenFormat
from lukhas_id.domain.events import EventType, IdentityEvent
from lukhas_id.domain.keys import SigningAlg
from lukhas_id.domain.principal import Principal, PrincipalStatus, PrincipalType
from lukhas_id.domain.tenant import Tenant
from lukhas_id.errors import AlreadyExists, Conflict, ErrorCode, LukhasIdError, NotFound, OAuthError
from lukhas_id.ports.repositories import ClientRepository
from lukhas_id.ports.unit_of_work import UnitOfWork
from lukhas_id.protocol.oauth2.client_secret import hash_secret, new_client_secret
from lukhas_id.protocol.oauth2.redirect_uri import InvalidRedirectUri, validate_registered
from lukhas_id.protocol.oauth2.resource import valid_resource_uri
from lukhas_id.protocol.oauth2.scope import valid_scope_token

CLIENT_PRINCIPAL_TYPES = frozenset({PrincipalType.SERVICE, PrincipalType.AGENT, PrincipalType.SYSTEM})
# refresh_token may be listed; clients with authorization_code may use it without listing it.
SUPPORTED_GRANTS = frozenset({GrantType.CLIENT_CREDENTIALS, GrantType.AUTHORIZATION_CODE, GrantType.REFRESH_TOKEN})
ID_TOKEN_ALGS = frozenset(alg.value for alg in SigningAlg)
# The longest overlap of a secret rotation (the setting client_secret_overlap has the same bound).
MAX_SECRET_OVERLAP: Final = 30 * 86400
# A failed secret check reads a client again from the store at most this often (seconds).
RELOAD_AFTER_FAILURE: Final = 1.0


class InvalidClientSettings(LukhasIdError):
    pass


@dataclass(frozen=True, slots=True)
class SecretRotation:
    """A rotated client secret: `secret` is shown once. `previous_accepted_until`: when the replaced secret
    stops working (None: it already has). `dropped_previous`: a secret replaced earlier was still in its
    overlap and is refused from now on (only one previous secret is kept)."""

    client: Client
    secret: str
    previous_accepted_until: float | None
    dropped_previous: bool


class ClientService:
    def __init__(
        self,
        repo: ClientRepository,
        clock: Clock,
        uow: UnitOfWork,
        *,
        cache_ttl: float,
        default_ttl: int,
        max_ttl: int,
    ):
        self._repo = repo
        self._uow = uow
        self._clock = clock
        self._cache_ttl = cache_ttl
        self._default_ttl = default_ttl
        self._max_ttl = max_ttl
        self._cache: dict[tuple[str, str], tuple[Client | None, float]] = {}
        self._reloaded: dict[tuple[str, str], float] = {}

    async def create(
        self,
        tenant: Tenant,
        *,
        name: str,
        grant_types: frozenset[GrantType],
        scopes: frozenset[str],
        resources: tuple[str, ...] = (),
        token_format: TokenFormat = TokenFormat.JWT,
        principal_type: PrincipalType = PrincipalType.SERVICE,
        access_token_ttl: int | None = None,
        redirect_uris: tuple[str, ...] = (),
        post_logout_redirect_uris: tuple[str, ...] = (),
        public: bool = False,
        first_party: bool = False,
        subject_type: SubjectType = SubjectType.PUBLIC,
        id_token_signed_response_alg: str = SigningAlg.RS256.value,
        refresh_grace_seconds: int = 0,
        auth_method: ClientAuthMethod | None = None,
        registration_token_hash: str = "",
    ) -> tuple[Client, str | None]:
        """Register a client; returns it and its secret (shown once, stored only as a keyed hash), or
        None for a public client, which has no secret.

        `auth_method`: the token endpoint auth method of a confidential client (client_secret_basic
        unless given; the endpoints accept only this one, RFC 7591 §2). `registration_token_hash`:
        the keyed hash of an RFC 7592 registration access token (dynamic registration)."""
        if auth_method is not None and (auth_method is ClientAuthMethod.NONE) != public:
            raise InvalidClientSettings("token_endpoint_auth_method none is for public clients only")
        ttl = self._validate(
            principal_type=principal_type,
            grant_types=grant_types,
            scopes=scopes,
            resources=resources,
            access_token_ttl=access_token_ttl,
            redirect_uris=redirect_uris,
            post_logout_redirect_uris=post_logout_redirect_uris,
            public=public,
            id_token_signed_response_alg=id_token_signed_response_alg,
            refresh_grace_seconds=refresh_grace_seconds,
            name=name,
            subject_type=subject_type,
        )
        secret = None if public else new_client_secret()
        now = self._clock.now()
        for _ in range(3):
            lid = ids.generate(principal_type)
            principal = Principal(tenant.id, lid, principal_type, name, PrincipalStatus.ACTIVE, now)
            client = Client(
                tenant_id=tenant.id,
                client_id="cl_" + secrets.token_urlsafe(16),
                name=name,
                principal_lid=lid,
                principal_type=principal_type,
                secret_hash=hash_secret(secret) if secret is not None else "",
                grant_types=grant_types,
                scopes=scopes,
                resources=tuple(dict.fromkeys(resources)),
                token_format=token_format,
                access_token_ttl=ttl,
                status=ClientStatus.ACTIVE,
                created_at=now,
                redirect_uris=tuple(dict.fromkeys(redirect_uris)),
                post_logout_redirect_uris=tuple(dict.fromkeys(post_logout_redirect_uris)),
                token_endpoint_auth_method=(
                    ClientAuthMethod.NONE if public else auth_method or ClientAuthMethod.CLIENT_SECRET_BASIC
                ),
                id_token_signed_response_alg=id_token_signed_response_alg,
                subject_type=subject_type,
                first_party=first_party,
                refresh_grace_seconds=refresh_grace_seconds,
                registration_token_hash=registration_token_hash,
            )
            try:
                async with self._uow() as work:
                    await self._repo.create(client, principal)
                    work.emit(self._event(EventType.CLIENT_CREATED, client))
            except AlreadyExists:
                continue  # a 128-bit collision: the unique constraints caught it; draw again
            return client, secret
        raise AlreadyExists("could not allocate a unique client id")

    def _validate(
        self,
        *,
        principal_type: PrincipalType,
        grant_types: frozenset[GrantType],
        scopes: frozenset[str],
        resources: tuple[str, ...],
        access_token_ttl: int | None,
        redirect_uris: tuple[str, ...],
        post_logout_redirect_uris: tuple[str, ...],
        public: bool,
        id_token_signed_response_alg: str,
        refresh_grace_seconds: int,
        name: str,
        subject_type: SubjectType = SubjectType.PUBLIC,
    ) -> int:
        """Raise InvalidClientSettings unless the settings are acceptable; returns the access token TTL."""
        if principal_type not in CLIENT_PRINCIPAL_TYPES:
            raise InvalidClientSettings("a client acts as a principal of type SVC, AGT or SYS")
        if not grant_types or not grant_types <= SUPPORTED_GRANTS:
            raise InvalidClientSettings("supported grant types: client_credentials, authorization_code, refresh_token")
        if public and GrantType.CLIENT_CREDENTIALS in grant_types:
            raise InvalidClientSettings("client_credentials is for confidential clients only (OAuth 2.1 §4.2)")
        if (GrantType.AUTHORIZATION_CODE in grant_types) != bool(redirect_uris):
            raise InvalidClientSettings("the authorization_code grant needs redirect URIs, and only it uses them")
        for uri in redirect_uris:
            try:
                validate_registered(uri)
            except InvalidRedirectUri as exc:
                raise InvalidClientSettings(f"redirect URI: {exc}") from None
        if subject_type is SubjectType.PAIRWISE and len({urlsplit(u).hostname for u in redirect_uris}) > 1:
            # OIDC Core §8.1: the sector is the redirect URIs' host; several hosts need a
            # sector_identifier_uri, which ΛiD does not support yet.
            raise InvalidClientSettings("a pairwise client's redirect URIs must share one host")
        for uri in post_logout_redirect_uris:
            try:
                validate_registered(uri)
            except InvalidRedirectUri as exc:
                raise InvalidClientSettings(f"post-logout redirect URI: {exc}") from None
        if not 0 <= refresh_grace_seconds <= 60:
            raise InvalidClientSettings("the refresh-token grace window must be 0-60 seconds")
        if id_token_signed_response_alg not in ID_TOKEN_ALGS:
            raise InvalidClientSettings("id_token_signed_response_alg must be RS256, PS256, ES256 or EdDSA")
        bad = [s for s in scopes if not valid_scope_token(s)]
        if bad:
            raise InvalidClientSettings("scopes must be RFC 6749 scope tokens (no spaces, quotes or backslashes)")
        for resource in resources:
            if not valid_resource_uri(resource):
                raise InvalidClientSettings("resources must be absolute URIs without a fragment")
        ttl = access_token_ttl if access_token_ttl is not None else self._default_ttl
        if not 30 <= ttl <= self._max_ttl:
            raise InvalidClientSettings(f"access token lifetime must be between 30 and {self._max_ttl} seconds")
        if not name or len(name) > 200:
            raise InvalidClientSettings("client name must be 1-200 characters")
        return ttl

    async def update(self, client: Client) -> Client:
        """Replace a client's metadata (same checks as `create`); the cached record is dropped.

        Raises InvalidClientSettings when the settings are refused or the client is gone."""
        if client.token_endpoint_auth_method is not ClientAuthMethod.NONE and not client.secret_hash:
            raise InvalidClientSettings("a confidential client needs a secret")
        ttl = self._validate(
            principal_type=client.principal_type,
            grant_types=client.grant_types,
            scopes=client.scopes,
            resources=client.resources,
            access_token_ttl=client.access_token_ttl,
            redirect_uris=client.redirect_uris,
            post_logout_redirect_uris=client.post_logout_redirect_uris,
            public=client.public,
            id_token_signed_response_alg=client.id_token_signed_response_alg,
            refresh_grace_seconds=client.refresh_grace_seconds,
            name=client.name,
            subject_type=client.subject_type,
        )
        client = replace(
            client,
            access_token_ttl=ttl,
            resources=tuple(dict.fromkeys(client.resources)),
            redirect_uris=tuple(dict.fromkeys(client.redirect_uris)),
            post_logout_redirect_uris=tuple(dict.fromkeys(client.post_logout_redirect_uris)),
        )
        self._cache.pop((client.tenant_id, client.client_id), None)
        try:
            async with self._uow() as work:
                if not await self._repo.update(client):
                    raise InvalidClientSettings("no such client")
                work.emit(self._event(EventType.CLIENT_UPDATED, client))
        finally:
            self._cache.pop((client.tenant_id, client.client_id), None)
        return client

    def _event(self, kind: EventType, client: Client, **metadata: str) -> IdentityEvent:
        return IdentityEvent(
            kind,
            client.tenant_id,
            client.principal_lid,
            self._clock.now(),
            metadata={"client_id": client.client_id, **metadata},
        )

    async def delete(self, tenant_id: str, client_id: str) -> bool:
        """Remove a client for good (its principal's ΛID stays reserved); False when there is none."""
        self._cache.pop((tenant_id, client_id), None)
        try:
            async with self._uow() as work:
                client = await self._repo.get(tenant_id, client_id)
                if client is None or not await self._repo.delete(tenant_id, client_id):
                    return False
                work.emit(self._event(EventType.CLIENT_DELETED, client))
                return True
        finally:
            self._cache.pop((tenant_id, client_id), None)

    async def get(self, tenant_id: str, client_id: str) -> Client | None:
        key = (tenant_id, client_id)
        hit = self._cache.get(key)
        now = self._clock.now()
        if hit is not None and hit[1] > now:
            return hit[0]
        client = await self._repo.get(tenant_id, client_id)
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[key] = (client, now + self._cache_ttl)
        return client

    async def reload(self, tenant_id: str, client_id: str) -> Client | None:
        """The client after a failed secret check, read again from the store (another process may have
        rotated its secret); at most once per RELOAD_AFTER_FAILURE seconds per client, so that wrong
        secrets cannot turn into one store read each (within that second: the cached record)."""
        key = (tenant_id, client_id)
        now = self._clock.now()
        if now - self._reloaded.get(key, float("-inf")) < RELOAD_AFTER_FAILURE:
            return await self.get(tenant_id, client_id)
        if len(self._reloaded) > 10_000:
            self._reloaded.clear()
        self._reloaded[key] = now
        self._cache.pop(key, None)
        return await self.get(tenant_id, client_id)

    async def rotate_secret(self, tenant_id: str, client_id: str, *, overlap: int) -> SecretRotation:
        """Give a confidential client a new secret (returned once, stored as a keyed hash). The secret it
        replaces stays accepted for `overlap` seconds (0: refused at once); a secret replaced by an earlier
        rotation is dropped, whatever is left of its overlap. One unit of work with its
        `client.secret_rotated` event.

        Raises NotFound for an unknown client, InvalidClientSettings for a public client, one without a
        secret or a bad overlap, Conflict when its secret changed meanwhile (nothing is changed then)."""
        if not 0 <= overlap <= MAX_SECRET_OVERLAP:
            raise InvalidClientSettings(f"the overlap must be between 0 and {MAX_SECRET_OVERLAP} seconds")
        self._cache.pop((tenant_id, client_id), None)
        try:
            client = await self._repo.get(tenant_id, client_id)
            if client is None:
                raise NotFound(f"no client {client_id!r} in that tenant")
            if client.public:
                raise InvalidClientSettings(f"client {client_id} is public: it has no secret to rotate")
            if not client.secret_hash:
                raise InvalidClientSettings(f"client {client_id} has no secret to rotate")
            now = self._clock.now()
            secret = new_client_secret()
            until = now + overlap if overlap > 0 else None
            rotated = replace(
                client,
                secret_hash=hash_secret(secret),
                previous_secret_hash=client.secret_hash if until is not None else "",
                previous_secret_expires_at=until,
            )
            async with self._uow() as work:
                changed = await self._repo.rotate_secret(
                    tenant_id,
                    client_id,
                    expect_hash=client.secret_hash,
                    secret_hash=rotated.secret_hash,
                    previous_hash=rotated.previous_secret_hash,
                    previous_expires_at=until,
                )
                if not changed:
                    raise Conflict(f"client {client_id} changed at the same moment; nothing changed, try again")
                work.emit(self._event(EventType.CLIENT_SECRET_ROTATED, client, overlap=str(overlap)))
            return SecretRotation(rotated, secret, until, client.previous_secret_accepted(now))
        finally:
            self._cache.pop((tenant_id, client_id), None)

    async def list(self, tenant_id: str) -> list[Client]:
        return await self._repo.list(tenant_id)

    async def set_status(self, tenant_id: str, client_id: str, status: ClientStatus) -> bool:
        self._cache.pop((tenant_id, client_id), None)
        async with self._uow() as work:
            client = await self._repo.get(tenant_id, client_id)
            if client is None or not await self._repo.set_status(tenant_id, client_id, status):
                return False
            work.emit(self._event(EventType.CLIENT_STATUS_CHANGED, client, status=status.value))
            return True

    def without_secret(self, client: Client) -> Client:
        return replace(client, secret_hash="", previous_secret_hash="", previous_secret_expires_at=None)


def require_grant(client: Client, grant: GrantType) -> None:
    if grant not in client.grant_types:
        raise OAuthError(ErrorCode.UNAUTHORIZED_CLIENT, f"the client may not use the {grant} grant")
