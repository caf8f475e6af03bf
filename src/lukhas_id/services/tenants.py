"""Tenants: creation (with their signing keys), lookup by name (cached) and issuer URLs.

A tenant, its first signing keys and its `tenant.created` event are one unit of work."""

from __future__ import annotations

import secrets
import uuid

from lukhas_id import ids
from lukhas_id.clock import Clock
from lukhas_id.domain.events import EventType, IdentityEvent
from lukhas_id.domain.keys import SigningAlg
from lukhas_id.domain.principal import PrincipalType
from lukhas_id.domain.tenant import Tenant, valid_tenant_name
from lukhas_id.errors import AlreadyExists, ErrorCode, LukhasIdError, OAuthError
from lukhas_id.observability.context import bind_tenant
from lukhas_id.ports.crypto import SecretBox
from lukhas_id.ports.repositories import TenantRepository
from lukhas_id.ports.unit_of_work import UnitOfWork
from lukhas_id.services.keys import KeyService

# A tenant record changes only through the CLI; processes re-read it after this many seconds.
TENANT_CACHE_TTL = 60.0
NEGATIVE_CACHE_TTL = 2.0


class InvalidTenantName(LukhasIdError):
    pass


class UnknownTenant(OAuthError):
    """The path names no tenant: 404 (the default tenant lives at the root only: one issuer, one URL)."""

    def __init__(self) -> None:
        super().__init__(ErrorCode.INVALID_REQUEST, "unknown tenant", 404)


class TenantService:
    def __init__(
        self,
        repo: TenantRepository,
        keys: KeyService,
        box: SecretBox,
        clock: Clock,
        uow: UnitOfWork,
        *,
        issuer: str,
        default_tenant: str,
    ) -> None:
        self._repo = repo
        self._uow = uow
        self._keys = keys
        self._box = box
        self._clock = clock
        self._issuer = issuer
        self.default_name = default_tenant
        self._cache: dict[str, tuple[Tenant | None, float]] = {}

    def issuer(self, tenant: Tenant) -> str:
        if tenant.name == self.default_name:
            return self._issuer
        return f"{self._issuer}/t/{tenant.name}"

    def base_path(self, tenant: Tenant) -> str:
        """Path prefix of the tenant's endpoints ('' for the default tenant)."""
        return "" if tenant.name == self.default_name else f"/t/{tenant.name}"

    def cached(self, name: str) -> Tenant | None | bool:
        """The cached tenant, None if cached as absent, False if not cached (then `await by_name`)."""
        hit = self._cache.get(name)
        if hit is not None and hit[1] > self._clock.now():
            return hit[0]
        return False

    async def resolve(self, name: str | None) -> Tenant:
        """The tenant named by a request's path (/t/{name}/...), or the default tenant at the root (None);
        UnknownTenant otherwise."""
        if name is None:
            name = self.default_name
        elif name == self.default_name:
            raise UnknownTenant()
        hit = self.cached(name)
        tenant = hit if hit is not False else await self.by_name(name)
        if not isinstance(tenant, Tenant):
            raise UnknownTenant()
        bind_tenant(tenant.name)  # the request's log lines name it (observability/context.py)
        return tenant

    async def by_name(self, name: str) -> Tenant | None:
        hit = self.cached(name)
        if hit is not False:
            return hit if isinstance(hit, Tenant) else None
        if not valid_tenant_name(name):
            return None
        tenant = await self._repo.get_by_name(name)
        ttl = TENANT_CACHE_TTL if tenant else NEGATIVE_CACHE_TTL
        self._cache[name] = (tenant, self._clock.now() + ttl)
        return tenant

    def derive_lid(self, tenant: Tenant, ptype: PrincipalType, seed: bytes | str) -> str:
        """A deterministic ΛID for `seed` (e.g. an external account id), keyed by the tenant's secret:
        the same seed gives the same ΛID in this tenant and an unrelated one in any other."""
        return ids.derive(ptype, self._box.decrypt(tenant.id_secret_enc), seed)

    async def by_id(self, tenant_id: str) -> Tenant | None:
        return await self._repo.get(tenant_id)

    async def list(self) -> list[Tenant]:
        return await self._repo.list()

    async def create(self, name: str, alg: SigningAlg) -> Tenant:
        if not valid_tenant_name(name):
            raise InvalidTenantName("tenant names are 1-63 lower-case letters, digits or hyphens")
        tenant = Tenant(
            id=uuid.uuid4().hex,
            name=name,
            id_secret_enc=self._box.encrypt(secrets.token_bytes(32)),
            access_token_alg=alg.value,
            created_at=self._clock.now(),
        )
        async with self._uow() as work:
            await self._repo.create(tenant)
            await self._keys.ensure(tenant.id, alg)
            work.emit(
                IdentityEvent(
                    EventType.TENANT_CREATED,
                    tenant.id,
                    None,
                    tenant.created_at,
                    metadata={"tenant_name": name, "alg": alg.value},
                )
            )
        self._cache.pop(name, None)
        return tenant

    async def ensure(self, name: str, alg: SigningAlg) -> tuple[Tenant, bool]:
        """The tenant, created with its keys if missing; True when it was created now."""
        tenant = await self._repo.get_by_name(name)
        created = False
        if tenant is None:
            try:
                tenant = await self.create(name, alg)
                created = True
            except AlreadyExists:  # another process created it at the same moment
                tenant = await self._repo.get_by_name(name)
                if tenant is None:
                    raise
        await self._keys.ensure(tenant.id, SigningAlg(tenant.access_token_alg))
        return tenant, created
