"""What an operator does to a user account from the command line: list the user's sessions, sign the user
out everywhere, delete the user.

Each use case names the user by username in a tenant (NotFound when there is none) and reuses the
services that own the state: sessions and their `session.ended` event are LogoutService's, refresh-token
families RefreshTokenService's. Signing out also revokes the refresh-token families issued in the ended
sessions, as the account page's "sign out everywhere" does.
"""

from __future__ import annotations

from lukhas_id.domain.session import Session
from lukhas_id.domain.tenant import Tenant
from lukhas_id.domain.user import User
from lukhas_id.errors import NotFound
from lukhas_id.services.logout import LogoutService
from lukhas_id.services.refresh import RefreshTokenService
from lukhas_id.services.users import UserService


class UserAdministration:
    def __init__(self, users: UserService, logout: LogoutService, refresh: RefreshTokenService) -> None:
        self._users = users
        self._logout = logout
        self._refresh = refresh

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

    async def _require(self, tenant: Tenant, username: str) -> User:
        user = await self._users.get(tenant, username)
        if user is None:
            raise NotFound("no user with this username in the tenant")
        return user
