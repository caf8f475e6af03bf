"""Users: creation (each user is a USR principal), password sign-in with re-hashing, password changes,
disabling. Passwords and e-mail addresses are never logged and never appear in an error message.

Each change is one unit of work with its event (domain/events.py: user.created, user.password_changed,
user.email_changed, user.disabled, user.enabled), which names the user by ΛID only. Re-hashing a
password at sign-in changes nothing the user or an auditor sees and emits nothing.

Hashing is deliberately CPU-heavy (argon2id, adapters/crypto/passwords.py), so it runs in a worker
thread (`asyncio.to_thread`; argon2 releases the GIL) and never blocks the event loop.
"""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import replace
from typing import Final, Protocol

from lukhas_id import ids
from lukhas_id.clock import Clock
from lukhas_id.domain.events import EventType, IdentityEvent
from lukhas_id.domain.principal import Principal, PrincipalStatus, PrincipalType
from lukhas_id.domain.tenant import Tenant
from lukhas_id.domain.user import (
    PASSWORD_MAX_LENGTH,
    InvalidUser,
    User,
    UsernameTaken,
    UserStatus,
    check_display_name,
    check_email,
    username_key,
)
from lukhas_id.errors import AlreadyExists, NotFound
from lukhas_id.ports.repositories import UserRepository
from lukhas_id.ports.unit_of_work import UnitOfWork

# A sign-in attempt with a longer password is refused before any hashing (NFKC can at most roughly
# halve a text's length by composing, so no stored password is longer than this).
_MAX_SIGN_IN_PASSWORD_LENGTH: Final = 4 * PASSWORD_MAX_LENGTH


class PasswordHashing(Protocol):
    """A password hash (adapters/crypto/passwords.py: argon2id). Synchronous; CPU-bound."""

    def hash(self, password: str) -> str: ...

    def verify(self, password_hash: str, password: str) -> bool:
        """False on a mismatch or an invalid hash; never raises."""
        ...

    def needs_rehash(self, password_hash: str) -> bool: ...


class PasswordPolicy(Protocol):
    """Raises WeakPassword (naming the rule) unless `password` may be set for this user."""

    def __call__(self, password: str, /, *, username: str, email: str | None) -> None: ...


class UserService:
    def __init__(
        self, repo: UserRepository, hasher: PasswordHashing, clock: Clock, uow: UnitOfWork, *, policy: PasswordPolicy
    ) -> None:
        self._repo = repo
        self._uow = uow
        self._hasher = hasher
        self._clock = clock
        self._policy = policy
        self._dummy_hash: str | None = None
        self._dummy_lock = asyncio.Lock()

    async def create(
        self,
        tenant: Tenant,
        username: str,
        *,
        email: str | None = None,
        display_name: str | None = None,
        password: str | None = None,
    ) -> User:
        """Create an active user (and its USR principal); without a password it cannot sign in with one.

        Raises InvalidUser, WeakPassword, UsernameTaken (the username key is taken in the tenant).
        """
        key = username_key(username)
        if email is not None:
            check_email(email)
        name = username if display_name is None else display_name
        check_display_name(name)
        password_hash = None
        if password is not None:
            self._policy(password, username=username, email=email)
            password_hash = await asyncio.to_thread(self._hasher.hash, password)
        now = self._clock.now()
        for _ in range(3):
            lid = ids.generate(PrincipalType.USER)
            user = User(
                tenant_id=tenant.id,
                lid=lid,
                username=username,
                username_key=key,
                email=email,
                email_verified=False,
                display_name=name,
                status=UserStatus.ACTIVE,
                password_hash=password_hash,
                created_at=now,
                updated_at=now,
            )
            principal = Principal(tenant.id, lid, PrincipalType.USER, name, PrincipalStatus.ACTIVE, now)
            try:
                async with self._uow() as work:
                    await self._repo.create(user, principal)
                    work.emit(self._event(EventType.USER_CREATED, user))
            except UsernameTaken:
                raise
            except AlreadyExists:
                continue  # a 128-bit ΛID collision: the primary key caught it; draw again
            return user
        raise AlreadyExists("could not allocate a unique ΛID")

    async def get(self, tenant: Tenant, username: str) -> User | None:
        """The user whose username key matches `username`'s (any case or compatibility form)."""
        try:
            key = username_key(username)
        except InvalidUser:
            return None
        return await self._repo.get_by_username(tenant.id, key)

    async def by_lid(self, tenant: Tenant, lid: str) -> User | None:
        """The user with this ΛID in the tenant, or None."""
        return await self._repo.get(tenant.id, lid)

    async def list(self, tenant: Tenant) -> list[User]:
        return await self._repo.list(tenant.id)

    async def authenticate(self, tenant: Tenant, username: str, password: str) -> User | None:
        """The user when `password` is theirs and they are active; otherwise None.

        An unknown username costs the same argon2 verification as a known one (against a dummy hash),
        so the answer time does not tell which usernames exist. On success, a hash made with other
        parameters is replaced by a new one (unless the password changed in the meantime).
        """
        dummy = await self._dummy()
        if len(password) > _MAX_SIGN_IN_PASSWORD_LENGTH:
            return None
        user = await self.get(tenant, username)
        stored = user.password_hash if user is not None and user.password_hash is not None else dummy
        ok = await asyncio.to_thread(self._hasher.verify, stored, password)
        if not ok or user is None or user.password_hash is None or not user.active:
            return None
        if self._hasher.needs_rehash(stored):
            new_hash = await asyncio.to_thread(self._hasher.hash, password)
            now = self._clock.now()
            if await self._repo.set_password_hash(tenant.id, user.lid, new_hash, now, replaces=stored):
                user = replace(user, password_hash=new_hash, updated_at=now)
        return user

    async def set_password(self, tenant: Tenant, username: str, password: str) -> User:
        """Check the policy, hash and store. Raises NotFound, WeakPassword."""
        user = await self._require(tenant, username)
        self._policy(password, username=user.username, email=user.email)
        password_hash = await asyncio.to_thread(self._hasher.hash, password)
        now = self._clock.now()
        async with self._uow() as work:
            if not await self._repo.set_password_hash(tenant.id, user.lid, password_hash, now):
                raise _not_found()
            work.emit(self._event(EventType.USER_PASSWORD_CHANGED, user))
        return replace(user, password_hash=password_hash, updated_at=now)

    async def change_email(self, tenant: Tenant, lid: str, email: str | None) -> User:
        """Set (or, with None/empty, remove) the user's e-mail address; a new address is unverified.
        Raises InvalidUser for a malformed address, NotFound for an unknown user."""
        email = (email or "").strip() or None
        if email is not None:
            check_email(email)
        now = self._clock.now()
        async with self._uow() as work:
            if not await self._repo.set_email(tenant.id, lid, email, False, now):
                raise _not_found()
            user = await self._repo.get(tenant.id, lid)
            if user is None:
                raise _not_found()
            # The address itself is personal: the event says only whether one was set or removed.
            work.emit(self._event(EventType.USER_EMAIL_CHANGED, user, change="set" if email else "removed"))
        return user

    async def disable(self, tenant: Tenant, username: str) -> User:
        """A disabled user cannot sign in (nor its principal act). Raises NotFound."""
        return await self._set_status(tenant, username, UserStatus.DISABLED)

    async def enable(self, tenant: Tenant, username: str) -> User:
        return await self._set_status(tenant, username, UserStatus.ACTIVE)

    async def _set_status(self, tenant: Tenant, username: str, status: UserStatus) -> User:
        """Set the status; the event only when it changes (disabling a disabled user changes nothing)."""
        user = await self._require(tenant, username)
        now = self._clock.now()
        kind = EventType.USER_DISABLED if status is UserStatus.DISABLED else EventType.USER_ENABLED
        async with self._uow() as work:
            if not await self._repo.update_status(tenant.id, user.lid, status, now):
                raise _not_found()
            if user.status is not status:
                work.emit(self._event(kind, user))
        return replace(user, status=status, updated_at=now)

    def _event(self, kind: EventType, user: User, **metadata: str) -> IdentityEvent:
        return IdentityEvent(kind, user.tenant_id, user.lid, self._clock.now(), metadata=metadata)

    async def _require(self, tenant: Tenant, username: str) -> User:
        user = await self.get(tenant, username)
        if user is None:
            raise _not_found()
        return user

    async def _dummy(self) -> str:
        """A hash of a random secret under the current parameters, made once, on first use (a burst of
        concurrent first sign-ins waits for the one computation instead of each making its own)."""
        if self._dummy_hash is None:
            async with self._dummy_lock:
                if self._dummy_hash is None:
                    self._dummy_hash = await asyncio.to_thread(self._hasher.hash, secrets.token_urlsafe(32))
        return self._dummy_hash


def _not_found() -> NotFound:
    return NotFound("no user with this username in the tenant")
