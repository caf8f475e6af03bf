"""Storage ports of the authentication factors: passkeys, TOTP, recovery codes (one small port each)."""

from __future__ import annotations

from typing import Protocol

from lukhas_id.domain.passkey import Passkey, TotpFactor
from lukhas_id.domain.user import User


class PasskeyRepository(Protocol):
    async def add(self, passkey: Passkey) -> None:
        """Store a new credential; AlreadyExists when its id is registered in the tenant (to anyone)."""
        ...

    async def get(self, tenant_id: str, handle: str) -> Passkey | None:
        """The credential with this handle (the keyed hash of its id), or None."""
        ...

    async def get_with_owner(self, tenant_id: str, handle: str) -> tuple[Passkey, User] | None:
        """The credential and its owner in one read (the sign-in path), or None."""
        ...

    async def list_for_user(self, tenant_id: str, user_lid: str) -> list[Passkey]:
        """The user's credentials, oldest first."""
        ...

    async def record_use(
        self,
        tenant_id: str,
        handle: str,
        *,
        expected_count: int,
        sign_count: int,
        backup_state: bool,
        at: float,
    ) -> bool:
        """Compare-and-swap after a verified assertion: store the new counter, backup state and time only if
        the stored counter is still `expected_count`; False when another sign-in got there first. The stored
        user-verified flag (uvInitialized) is never changed at sign-in (WebAuthn §7.2 step 24)."""
        ...

    async def record_use_if_current(
        self,
        tenant_id: str,
        handle: str,
        *,
        user_lid: str,
        created_at: float,
        sign_count: int,
        backup_state: bool,
        at: float,
    ) -> User | None:
        """The sign-in's single statement when the caller already knows the credential (its id, public key,
        owner and backup eligibility never change once registered) and has verified an assertion with it.

        In one atomic step, and only if the credential is still the one `user_lid` registered at
        `created_at`, is not flagged possibly cloned, its stored counter and `sign_count` pass the counter
        rule (protocol.webauthn.counter_increased: stored < new, or both 0) and its owner is active: store
        the new counter, the backup state and the time (as record_use: not the user-verified flag).
        Returns the owner as stored now; None when any condition failed and nothing was written (the caller
        then reads the credential and runs the full checks, which say why)."""
        ...

    async def flag_cloned(self, tenant_id: str, handle: str) -> None:
        """Mark the credential as possibly cloned (a counter that did not increase)."""
        ...

    async def rename(self, tenant_id: str, user_lid: str, handle: str, name: str) -> bool:
        """Rename the user's credential; False when the user has no such credential."""
        ...

    async def delete(self, tenant_id: str, user_lid: str, handle: str) -> bool:
        """Remove the user's credential; False when the user has no such credential."""
        ...


class TotpRepository(Protocol):
    async def put(self, factor: TotpFactor) -> None:
        """Store the user's TOTP factor, replacing any unconfirmed one; AlreadyExists when a confirmed
        factor is there (it must be removed first)."""
        ...

    async def get(self, tenant_id: str, user_lid: str) -> TotpFactor | None: ...

    async def confirm(self, tenant_id: str, user_lid: str, step: int) -> bool:
        """Mark the factor confirmed, accepting time step `step` (as accept_step does)."""
        ...

    async def accept_step(self, tenant_id: str, user_lid: str, step: int) -> bool:
        """Atomically record `step` as used if it is later than the last accepted one; False otherwise
        (a replayed or older code)."""
        ...

    async def delete(self, tenant_id: str, user_lid: str) -> bool: ...


class RecoveryCodeRepository(Protocol):
    async def replace(self, tenant_id: str, user_lid: str, code_hashes: list[str], at: float) -> None:
        """Store a new set of hashed codes; the previous set stops working in the same transaction."""
        ...

    async def use(self, tenant_id: str, user_lid: str, code_hash: str, at: float) -> bool:
        """Atomically spend one unused code; False when unknown or already used."""
        ...

    async def remaining(self, tenant_id: str, user_lid: str) -> int: ...

    async def delete_all(self, tenant_id: str, user_lid: str) -> None: ...
