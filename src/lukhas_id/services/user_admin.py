"""What an operator does to a user account from the command line: list the user's sessions, sign the user
out everywhere, disable the user (and end their sessions and tokens), delete the user.

Each use case names the user by username in a tenant (NotFound when there is none) and reuses the
services that own the state: sessions and their `session.ended` event are LogoutService's, refresh-token
families RefreshTokenService's. Signing out also revokes the refresh-token families issued in the ended
sessions, as the account page's "sign out everywhere" does.

Deleting a user:

1. ends what lives in the key-value and token stores (Redis in production, outside any SQL transaction,
   ADR 0007): every session (`session.ended`), every refresh-token family of the user, and every access
   token issued to the user until now (a subject not-before marker, as `lukhas-id revoke --subject`);
2. then, in one unit of work, deletes the user's row with its passkeys, TOTP factor, recovery codes and
   consents, leaves the principal as a tombstone (status deleted, no display name) and emits
   `user.deleted`; the tombstone keeps the ΛID taken, so it is never issued again;
3. then ends sessions, families and tokens once more, for a sign-in or a token request that raced step 2.

Step 1 first: should step 2 fail, the user still exists, signed out and without tokens, and the command
can be run again; the reverse order could leave a deleted user's tokens working with no way to retry.
"""

from __future__ import annotations

from dataclasses import dataclass

from lukhas_id.clock import Clock
from lukhas_id.domain.events import EventType, IdentityEvent
from lukhas_id.domain.session import Session
from lukhas_id.domain.tenant import Tenant
from lukhas_id.domain.token import MarkerKind
from lukhas_id.domain.user import User
from lukhas_id.errors import NotFound
from lukhas_id.ports.repositories import UserRepository
from lukhas_id.ports.unit_of_work import UnitOfWork
from lukhas_id.services.logout import LogoutService
from lukhas_id.services.refresh import RefreshTokenService
from lukhas_id.services.sessions import SessionService
from lukhas_id.services.tokens import TokenService
from lukhas_id.services.users import UserService


@dataclass(frozen=True, slots=True)
class DeletedUser:
    username: str
    lid: str
    sessions: int  # live sessions ended
    refresh_families: int  # refresh-token families revoked
    tokens_before: int  # access tokens issued at or before this epoch second are inactive


class UserAdministration:
    def __init__(
        self,
        users: UserService,
        repo: UserRepository,
        logout: LogoutService,
        sessions: SessionService,
        refresh: RefreshTokenService,
        tokens: TokenService,
        clock: Clock,
        uow: UnitOfWork,
    ) -> None:
        self._users = users
        self._repo = repo
        self._logout = logout
        self._sessions = sessions
        self._refresh = refresh
        self._tokens = tokens
        self._clock = clock
        self._uow = uow

    async def sessions(self, tenant: Tenant, username: str) -> tuple[User, list[Session]]:
        """The user and their live sessions, oldest first (each with an empty `id`: only the public `sid`)."""
        user = await self._require(tenant, username)
        return user, await self._logout.sessions(tenant, user.lid)

    async def sign_out(self, tenant: Tenant, username: str) -> tuple[User, int]:
        """End every session of the user and revoke the refresh-token families issued in them; the user
        and how many sessions were live."""
        user = await self._require(tenant, username)
        sids = await self._logout.end_everywhere(tenant, user.lid)
        for sid in sids:
            await self._refresh.revoke_for_session(tenant, sid)
        return user, len(sids)

    async def disable(self, tenant: Tenant, username: str) -> tuple[User, int]:
        """Disable the user (`user.disabled`) and end what lets anyone act as them meanwhile: every session,
        every refresh-token family, every access token issued until now. The user and how many sessions
        were live. (A disabled user cannot sign in; without this sweep their refresh tokens went on working.)"""
        user = await self._users.disable(tenant, username)
        ended = len(await self._logout.end_everywhere(tenant, user.lid))
        await self._refresh.revoke_for_user(tenant, user.lid)
        await self._tokens.revoke_all(tenant, MarkerKind.SUBJECT, user.lid)
        return user, ended

    async def delete(self, tenant: Tenant, username: str) -> DeletedUser:
        """Delete the user and everything that lets anyone act as them (see the module docstring)."""
        user = await self._require(tenant, username)
        ended = len(await self._logout.end_everywhere(tenant, user.lid))
        families = await self._refresh.revoke_for_user(tenant, user.lid)
        await self._tokens.revoke_all(tenant, MarkerKind.SUBJECT, user.lid)
        async with self._uow() as work:
            if not await self._repo.delete(tenant.id, user.lid):
                raise NotFound("no user with this username in the tenant")  # deleted meanwhile
            metadata = {"sessions": str(ended), "refresh_families": str(families)}
            work.emit(IdentityEvent(EventType.USER_DELETED, tenant.id, user.lid, self._clock.now(), metadata=metadata))
        # A sign-in or a token request that raced the deletion.
        await self._sessions.end_all_for_user(tenant, user.lid)
        families += await self._refresh.revoke_for_user(tenant, user.lid)
        at = await self._tokens.revoke_all(tenant, MarkerKind.SUBJECT, user.lid, quiet=True)
        return DeletedUser(user.username, user.lid, ended, families, at)

    async def _require(self, tenant: Tenant, username: str) -> User:
        user = await self._users.get(tenant, username)
        if user is None:
            raise NotFound("no user with this username in the tenant")
        return user
