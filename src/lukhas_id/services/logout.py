"""Signing out: OpenID Connect RP-Initiated Logout 1.0, and what the account page lets a user end: their
sessions ("sign out everywhere") and remembered consents ("withdraw").

A logout request is checked here, statelessly, each time it is seen (on arrival and again when the
user confirms), so a confirmation can never act on a request that would not pass the checks:

- `id_token_hint` (§2): verified by services/id_token_hints.py (this tenant's keys, `iss`, `typ`, required
  claims; a hint past its `exp` is accepted, §2 SHOULD). Its `aud` (or `azp` when `aud` lists several)
  names the client; a `client_id` parameter must name the same one (§2 MUST).
- `post_logout_redirect_uri` (§3, §3.1): used only when it is, character for character, one of the
  client's registered `post_logout_redirect_uris`, and the client is known from a valid hint or from
  `client_id`. Otherwise it is ignored and the user sees the OP's logged-out page: never an open
  redirect. `state` is appended unchanged to that redirect only.
- Any other problem (a hint that does not verify, an unknown client, a client_id that disagrees, a
  repeated parameter) is an InvalidLogoutRequest: an OP error page, never a redirect (§4).

Whether to ask the user first is decided by `names_session`: only a hint carrying the `sid` of the
browser's current session lets the edge sign out without a confirmation (the RP proves it holds an ID
token of this very session, which a cross-site attacker does not have); anything else gets a
CSRF-protected confirmation form (§2: MUST ask when there is no hint or it does not match).

Events: ending a session emits `session.ended` (reason `logout` with the session's public `sid`, or
`everywhere` with how many ended), withdrawing a consent `consent.withdrawn`. Sessions live in the
key-value store (Redis in production), which no SQL transaction covers (ADR 0007): the session is ended
first and its event follows in a unit of work that carries only the event. A consent is SQL: the
withdrawal and its event commit together.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from lukhas_id.clock import Clock
from lukhas_id.domain.client import Client, ClientStatus
from lukhas_id.domain.events import EventType, IdentityEvent
from lukhas_id.domain.session import Session
from lukhas_id.domain.tenant import Tenant
from lukhas_id.domain.user import User
from lukhas_id.ports.repositories import ConsentRepository, UserRepository
from lukhas_id.ports.unit_of_work import UnitOfWork
from lukhas_id.protocol.oauth2.redirect_uri import add_params
from lukhas_id.services.clients import ClientService
from lukhas_id.services.id_token_hints import IdTokenHints, InvalidHint
from lukhas_id.services.sessions import SessionService
from lukhas_id.services.tenants import TenantService

PARAMETERS: Final = ("id_token_hint", "client_id", "post_logout_redirect_uri", "state", "ui_locales")
MAX_PARAMETER: Final = 4096


class InvalidLogoutRequest(Exception):
    """A logout request the OP refuses: show an error page, never redirect. The message quotes no
    request data and is safe to show and log."""


@dataclass(frozen=True, slots=True)
class LogoutRequest:
    """A checked logout request."""

    # The parameters as received (empty ones dropped), to carry through a confirmation form.
    params: dict[str, str]
    # The client named by the hint or client_id, if any.
    client: Client | None
    # Where to send the browser afterwards (registered post_logout_redirect_uri + state), or None for
    # the OP's logged-out page.
    redirect_to: str | None
    # `sub` and `sid` of a verified id_token_hint.
    hint_sub: str | None = None
    hint_sid: str | None = None

    def names_session(self, session: Session | None) -> bool:
        """Whether a verified hint was issued for this very session (then no confirmation is needed)."""
        return session is not None and self.hint_sid is not None and self.hint_sid == session.sid


@dataclass(frozen=True, slots=True)
class RememberedConsent:
    client_id: str
    client_name: str
    scopes: tuple[str, ...]
    granted_at: float


def single_values(params: dict[str, list[str]]) -> dict[str, str]:
    """The logout parameters, one value each (empty = absent); InvalidLogoutRequest when repeated."""
    out: dict[str, str] = {}
    for name in PARAMETERS:
        values = [v for v in params.get(name, []) if v]
        if len(values) > 1:
            raise InvalidLogoutRequest(f"{name} is repeated")
        if values:
            if len(values[0]) > MAX_PARAMETER:
                raise InvalidLogoutRequest(f"{name} is too long")
            out[name] = values[0]
    return out


class LogoutService:
    def __init__(
        self,
        hints: IdTokenHints,
        clients: ClientService,
        tenants: TenantService,
        sessions: SessionService,
        consents: ConsentRepository,
        users: UserRepository,
        clock: Clock,
        uow: UnitOfWork,
    ) -> None:
        self._uow = uow
        self._hints = hints
        self._clients = clients
        self._tenants = tenants
        self._sessions = sessions
        self._consents = consents
        self._users = users
        self._clock = clock

    # --- RP-initiated logout ----------------------------------------------------------------------

    async def check(self, tenant: Tenant, raw: dict[str, list[str]]) -> LogoutRequest:
        """The checked request; InvalidLogoutRequest for anything that must end on an error page."""
        params = single_values(raw)
        hint_sub: str | None = None
        hint_sid: str | None = None
        client_id = params.get("client_id")
        hint = params.get("id_token_hint")
        if hint is not None:
            try:
                verified = await self._hints.verify(tenant, hint)
            except InvalidHint as exc:
                raise InvalidLogoutRequest(str(exc)) from None
            if client_id is not None and client_id != verified.client_id:
                raise InvalidLogoutRequest("client_id does not match the ID token hint")
            client_id = verified.client_id
            hint_sub, hint_sid = verified.sub, verified.sid
        client: Client | None = None
        if client_id is not None:
            client = await self._clients.get(tenant.id, client_id) if len(client_id) <= 256 else None
            if client is None:
                raise InvalidLogoutRequest("the client is not known")
        redirect_to: str | None = None
        target = params.get("post_logout_redirect_uri")
        if (
            target is not None
            and client is not None
            and client.status is ClientStatus.ACTIVE
            and target in client.post_logout_redirect_uris
        ):
            state = params.get("state")
            redirect_to = add_params(target, {"state": state} if state is not None else {})
        return LogoutRequest(params, client, redirect_to, hint_sub, hint_sid)

    async def end_session(self, tenant: Tenant, session_id: str) -> Session | None:
        """End the browser's session; what it was, or None when it had already ended (not an error)."""
        ended = await self._sessions.end(tenant, session_id)
        if ended is not None:
            await self._emit(EventType.SESSION_ENDED, tenant, ended.user_lid, reason="logout", sid=ended.sid)
        return ended

    # --- the account page -------------------------------------------------------------------------

    async def profile(self, tenant: Tenant, user_lid: str) -> User | None:
        return await self._users.get(tenant.id, user_lid)

    async def sessions(self, tenant: Tenant, user_lid: str) -> list[Session]:
        """The user's live sessions (with empty ids: see SessionService.list_for_user)."""
        return await self._sessions.list_for_user(tenant, user_lid)

    async def end_everywhere(self, tenant: Tenant, user_lid: str) -> list[str]:
        """End every session of the user; the `sid`s of those that were live (for token revocation)."""
        sids = [s.sid for s in await self._sessions.list_for_user(tenant, user_lid)]
        ended = await self._sessions.end_all_for_user(tenant, user_lid)
        if ended:  # no event when nothing changed
            await self._emit(EventType.SESSION_ENDED, tenant, user_lid, reason="everywhere", count=str(ended))
        return sids

    async def consents(self, tenant: Tenant, user_lid: str) -> list[RememberedConsent]:
        out: list[RememberedConsent] = []
        for client_id, scopes, at in await self._consents.list_for_user(tenant.id, user_lid):
            client = await self._clients.get(tenant.id, client_id)
            name = client.name if client is not None else "A removed application"
            out.append(RememberedConsent(client_id, name, tuple(sorted(scopes)), at))
        return out

    async def withdraw(self, tenant: Tenant, user_lid: str, client_id: str) -> bool:
        """Forget the user's consent to the client (the next authorization asks again)."""
        if len(client_id) > 256:
            return False
        async with self._uow() as work:
            withdrawn = await self._consents.withdraw(tenant.id, user_lid, client_id)
            if withdrawn:
                work.emit(self._event(EventType.CONSENT_WITHDRAWN, tenant, user_lid, client_id=client_id))
        return withdrawn

    def _event(self, kind: EventType, tenant: Tenant, user_lid: str, **metadata: str) -> IdentityEvent:
        return IdentityEvent(kind, tenant.id, user_lid, self._clock.now(), metadata=metadata)

    async def _emit(self, kind: EventType, tenant: Tenant, user_lid: str, **metadata: str) -> None:
        """The event of a change already made in the key-value store (see the module docstring)."""
        async with self._uow() as work:
            work.emit(self._event(kind, tenant, user_lid, **metadata))
