"""Durable storage ports (SQL adapter: SQLite for the embedded default, PostgreSQL in production)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

from lukhas_id.domain.client import Client, ClientStatus
from lukhas_id.domain.keys import SigningKey
from lukhas_id.domain.principal import Principal
from lukhas_id.domain.tenant import Tenant


class TenantRepository(Protocol):
    async def create(self, tenant: Tenant) -> None:
        """Insert; raises AlreadyExists when the name or id is taken."""
        ...

    async def get(self, tenant_id: str) -> Tenant | None: ...

    async def get_by_name(self, name: str) -> Tenant | None: ...

    async def list(self) -> list[Tenant]: ...


class PrincipalRepository(Protocol):
    async def create(self, principal: Principal) -> None:
        """Insert; raises AlreadyExists when (tenant_id, lid) is taken (a database unique constraint)."""
        ...

    async def get(self, tenant_id: str, lid: str) -> Principal | None: ...


class ClientRepository(Protocol):
    async def create(self, client: Client, principal: Principal) -> None:
        """Insert the client and the principal it acts as, in one transaction.

        Raises AlreadyExists when the client_id or the principal's ΛID is taken; then neither is stored.
        """
        ...

    async def get(self, tenant_id: str, client_id: str) -> Client | None: ...

    async def list(self, tenant_id: str) -> list[Client]: ...

    async def set_status(self, tenant_id: str, client_id: str, status: ClientStatus) -> bool:
        """Returns False when there is no such client."""
        ...


class SigningKeyRepository(Protocol):
    async def list(self, tenant_id: str) -> list[SigningKey]:
        """Every stored key of the tenant (next, active and retired), oldest first."""
        ...

    async def add(self, key: SigningKey) -> None: ...

    async def apply_rotation(
        self,
        tenant_id: str,
        *,
        expect_active_kid: str | None,
        upsert: Sequence[SigningKey],
        remove_kids: Sequence[str],
    ) -> bool:
        """Apply one rotation step in one transaction, as a compare-and-swap.

        Succeeds only if the tenant's active key for the rotated algorithm is still
        `expect_active_kid` (None: there is no active key of that algorithm); otherwise changes nothing
        and returns False, so two processes rotating at once cannot both win.
        `upsert` keys are written as given (insert or update by kid); `remove_kids` are deleted.
        """
        ...


class EncryptedMaterial(Protocol):
    async def rewrap(self, transform: Callable[[bytes], bytes]) -> int:
        """Re-encrypt every KEK-encrypted value (private keys, tenant id secrets) in one transaction.

        `transform` maps the old ciphertext to the new one; if it raises, nothing is changed.
        Returns how many values were re-encrypted.
        """
        ...
