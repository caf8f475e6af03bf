"""Durable storage ports (SQL adapter: SQLite for the embedded default, PostgreSQL in production)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

from lukhas_id.domain.client import Client, ClientStatus
from lukhas_id.domain.keys import SigningKey
from lukhas_id.domain.principal import Principal
from lukhas_id.domain.tenant import Tenant
from lukhas_id.domain.user import User, UserStatus


class TenantRepository(Protocol):
    async def create(self, tenant: Tenant) -> None:
        """Insert; raises AlreadyExists when the name or id is taken."""
        ...

    async def get(self, tenant_id: str) -> Tenant | None: ...

    async def get_by_name(self, name: str) -> Tenant | None: ...

    async def list(self) -> list[Tenant]: ...


class PrincipalRepository(Protocol):
    async def create(self, principal: Principal) -> None:
        """Insert; raises AlreadyExists when the ΛID is taken, in this tenant or another (a unique index)."""
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

    async def update(self, client: Client) -> bool:
        """Replace the stored metadata of (client.tenant_id, client.client_id) with `client`'s.

        The identity (principal, principal_type), created_at and the secrets (secret_hash and the previous
        secret) are kept: secrets change only through `rotate_secret`. Returns False when there is no such
        client.
        """
        ...

    async def rotate_secret(
        self,
        tenant_id: str,
        client_id: str,
        *,
        expect_hash: str,
        secret_hash: str,
        previous_hash: str,
        previous_expires_at: float | None,
    ) -> bool:
        """Store a new secret hash and the previous secret (its hash, "" for none, and the end of its
        overlap), as a compare-and-swap: only when the stored secret hash is still `expect_hash`. Returns
        False, changing nothing, when there is no such client or its secret changed meanwhile."""
        ...

    async def delete(self, tenant_id: str, client_id: str) -> bool:
        """Remove the client (its principal stays: ΛIDs are never reused); False when there is none."""
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


class UserRepository(Protocol):
    """Users (USR principals). `username_key` is unique per tenant; every method is one transaction."""

    async def create(self, user: User, principal: Principal) -> None:
        """Insert the user and its principal (same tenant and ΛID, type USR) in one transaction.

        Raises UsernameTaken (an AlreadyExists) when the tenant has a user with this username_key,
        AlreadyExists when the ΛID is taken, NotFound for an unknown tenant; then neither is stored.
        """
        ...

    async def get(self, tenant_id: str, lid: str) -> User | None: ...

    async def get_by_username(self, tenant_id: str, username_key: str) -> User | None:
        """Look up by the key (`lukhas_id.domain.user.username_key`), not the username as entered."""
        ...

    async def list(self, tenant_id: str) -> list[User]:
        """The tenant's users ordered by username_key."""
        ...

    async def update_status(self, tenant_id: str, lid: str, status: UserStatus, updated_at: float) -> bool:
        """Set the user's status (and its principal's: active exactly when the user is).

        Returns False when there is no such user.
        """
        ...

    async def delete(self, tenant_id: str, lid: str) -> bool:
        """Delete the user with everything stored under it (passkeys, TOTP factor, recovery codes, consents)
        in one transaction, and leave its principal as a tombstone: status deleted, no display name, so
        that the ΛID stays taken. False when there is no such user (then nothing changes)."""
        ...

    async def set_email(self, tenant_id: str, lid: str, email: str | None, verified: bool, updated_at: float) -> bool:
        """Replace the user's e-mail address and its verified flag. False when there is no such user."""
        ...

    async def set_password_hash(
        self,
        tenant_id: str,
        lid: str,
        password_hash: str | None,
        updated_at: float,
        *,
        replaces: str | None = None,
    ) -> bool:
        """Store a new password hash. Returns False when there is no such user.

        With `replaces`, a compare-and-swap: the hash is stored only if the stored one is still
        `replaces` (a re-hash on sign-in never overwrites a password changed in the meantime), and
        False is returned otherwise.
        """
        ...


class ConsentRepository(Protocol):
    """What each user allowed each client (OIDC Core §3.1.2.4): remembered per (user, client, scopes)."""

    async def get(self, tenant_id: str, user_lid: str, client_id: str) -> frozenset[str]:
        """The scopes the user has granted the client (empty when none)."""
        ...

    async def grant(self, tenant_id: str, user_lid: str, client_id: str, scopes: frozenset[str], at: float) -> None:
        """Add `scopes` to what the user granted the client."""
        ...

    async def withdraw(self, tenant_id: str, user_lid: str, client_id: str) -> bool:
        """Forget every scope granted to the client; False when there was nothing."""
        ...

    async def list_for_user(self, tenant_id: str, user_lid: str) -> list[tuple[str, frozenset[str], float]]:
        """(client_id, scopes, granted_at) for each client the user consented to."""
        ...
