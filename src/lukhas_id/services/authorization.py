"""The authorization endpoint's use case: OAuth 2.1 §4.1.1-§4.1.2, OIDC Core §3.1.2, RFC 9207.

```mermaid
stateDiagram-v2
    [*] --> parsed: parse_authorization_request (error page or error redirect)
    parsed --> login: no session, prompt=login, max_age exceeded, or acr_values above the session's level
    login --> parsed: resume after sign-in (same interaction)
    parsed --> [*]: fresh sign-in still below acr_values -> unmet_authentication_requirements
    parsed --> consent: third-party client without a remembered consent, or prompt=consent
    consent --> code: allow (remembered per user, client and scopes)
    consent --> [*]: deny -> access_denied
    parsed --> code: signed in and consented
    code --> [*]: redirect with code, state and iss
```

The request is kept between steps as an *interaction* in the key-value store (10 minutes, by a 256-bit
random id), holding the raw parameters; each step parses them again, so a step can never act on a
request that would not pass the checks. With prompt=none any step that needs the user is an error
redirect (login_required, consent_required).

Step-up (OIDC Core §3.1.2.1, RFC 9470 §4-§5): `acr_values` name levels (domain/authn.py: password <
passkey < mfa); the weakest level named is required. A session below it goes back to the sign-in page,
which offers the stronger factor; a fresh sign-in that is still below it ends the request with
unmet_authentication_requirements. A recovery session (an administrator's recovery code) never counts
as signed in here.

`id_token_hint` (OIDC Core §3.1.2.1, §3.1.2.2): verified as at logout (services/id_token_hints.py: issued
by this tenant, accepted past its `exp`), and it must have been issued to the requesting client (else
invalid_request: its `sub` can only be compared in that client's subject space, pairwise included). The
OP answers only for the user it names: a session of another user counts as no session (back to the
sign-in page, or login_required with prompt=none), and a fresh sign-in as another user ends the request
with login_required.

The user's answer on the consent page is an event: `consent.granted` in the unit of work that remembers
the consent (SQL), `consent.denied` in a unit that carries only the event (nothing is stored).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass

import orjson

from lukhas_id.clock import Clock
from lukhas_id.domain.authn import AcrNames, AuthLevel, level_of
from lukhas_id.domain.client import Client
from lukhas_id.domain.events import EventType, IdentityEvent
from lukhas_id.domain.tenant import Tenant
from lukhas_id.ports.repositories import ConsentRepository
from lukhas_id.ports.state import KeyValueStore
from lukhas_id.ports.unit_of_work import UnitOfWork
from lukhas_id.protocol.oauth2.authorize import (
    AuthorizationRequest,
    AuthorizeErrorCode,
    AuthorizeRedirectError,
    Prompt,
    error_redirect_location,
    parse_authorization_request,
    requested_client_id,
)
from lukhas_id.protocol.oauth2.redirect_uri import add_params
from lukhas_id.services.clients import ClientService
from lukhas_id.services.codes import AuthorizationCodes, CodeGrant
from lukhas_id.services.id_token_hints import IdTokenHint, IdTokenHints, InvalidHint
from lukhas_id.services.tenants import TenantService

INTERACTION_TTL = 600
MAX_INTERACTION_ID = 64


@dataclass(frozen=True, slots=True)
class SignedIn:
    """Who the browser's session says is signed in, and how (from the session store)."""

    user_lid: str
    auth_time: int
    amr: tuple[str, ...]
    acr: str | None
    sid: str


@dataclass(frozen=True, slots=True)
class Redirect:
    location: str


@dataclass(frozen=True, slots=True)
class NeedLogin:
    interaction: str
    login_hint: str | None
    # The level the request needs (acr_values), when above a password sign-in's.
    level: AuthLevel | None = None


@dataclass(frozen=True, slots=True)
class NeedConsent:
    interaction: str
    client: Client
    scopes: tuple[str, ...]


Outcome = Redirect | NeedLogin | NeedConsent


class AuthorizationService:
    def __init__(
        self,
        kv: KeyValueStore,
        codes: AuthorizationCodes,
        clients: ClientService,
        tenants: TenantService,
        consents: ConsentRepository,
        clock: Clock,
        uow: UnitOfWork,
        hints: IdTokenHints,
        subject: Callable[[Tenant, Client, str], str],
        acr_names: AcrNames | None = None,
    ) -> None:
        self.acr_names = acr_names or AcrNames()
        self._uow = uow
        self._hints = hints
        self._subject = subject  # the `sub` a client knows a user by (CodeGrantService.subject)
        self._kv = kv
        self._codes = codes
        self._clients = clients
        self._tenants = tenants
        self._consents = consents
        self._clock = clock

    async def parse(self, tenant: Tenant, params: dict[str, list[str]]) -> tuple[AuthorizationRequest, Client]:
        """The checked request; AuthorizeFatal (error page) or AuthorizeRedirectError (redirect)."""
        client_id = requested_client_id(params)
        client = await self._clients.get(tenant.id, client_id) if len(client_id) <= 256 else None
        request = parse_authorization_request(params, client)
        assert client is not None  # noqa: S101 - parse_authorization_request refuses an unknown client
        return request, client

    def error_location(self, tenant: Tenant, err: AuthorizeRedirectError) -> str:
        return error_redirect_location(err, self._tenants.issuer(tenant))

    async def authorize(
        self,
        tenant: Tenant,
        params: dict[str, list[str]],
        signed_in: SignedIn | None,
        *,
        fresh_login: bool = False,
    ) -> Outcome:
        """The next step for this request. `fresh_login`: the user has just signed in for it."""
        request, client = await self.parse(tenant, params)
        now = int(self._clock.now())
        required = self.acr_names.required_level(request.acr_values)
        level = level_of(signed_in.amr) if signed_in is not None else AuthLevel.RECOVERY
        if signed_in is not None and level is AuthLevel.RECOVERY:
            signed_in = None  # a recovery session may only enrol a passkey
        hint = await self._hint(tenant, request, client)
        if signed_in is not None and hint is not None and hint.sub != self._subject(tenant, client, signed_in.user_lid):
            if fresh_login:
                raise request.error(
                    AuthorizeErrorCode.LOGIN_REQUIRED, "the signed-in user is not the one the ID token hint names"
                )
            signed_in = None  # another user's session: the hinted user must sign in
        below = required is not None and level < required
        if fresh_login and below and signed_in is not None:
            raise request.error(
                AuthorizeErrorCode.UNMET_AUTHENTICATION_REQUIREMENTS,
                "the user did not authenticate at the level acr_values requires",
            )
        needs_login = (
            signed_in is None
            or below
            or (Prompt.LOGIN in request.prompt and not fresh_login)
            or (request.max_age is not None and now - signed_in.auth_time > request.max_age)
        )
        if needs_login:
            if Prompt.NONE in request.prompt:
                raise request.error(
                    AuthorizeErrorCode.LOGIN_REQUIRED, "the user is not signed in at the required level"
                )
            shown = required if required is not None and required > AuthLevel.PASSWORD else None
            return NeedLogin(await self._remember(tenant, params), request.login_hint, shown)
        assert signed_in is not None  # noqa: S101 - needs_login covers None
        if not client.first_party:
            granted = await self._consents.get(tenant.id, signed_in.user_lid, client.client_id)
            if Prompt.CONSENT in request.prompt or not set(request.scope) <= granted:
                if Prompt.NONE in request.prompt:
                    raise request.error(AuthorizeErrorCode.CONSENT_REQUIRED, "the user has not consented")
                return NeedConsent(await self._remember(tenant, params), client, request.scope)
        return Redirect(await self._issue_code(tenant, request, signed_in))

    async def _hint(self, tenant: Tenant, request: AuthorizationRequest, client: Client) -> IdTokenHint | None:
        """The request's verified id_token_hint, or None; one that is not valid, or was issued to another
        client, is an invalid_request (whether or not anyone is signed in)."""
        if request.id_token_hint is None:
            return None
        try:
            hint = await self._hints.verify(tenant, request.id_token_hint)
        except InvalidHint as exc:
            raise request.error(AuthorizeErrorCode.INVALID_REQUEST, str(exc)) from None
        if hint.client_id != client.client_id:
            raise request.error(AuthorizeErrorCode.INVALID_REQUEST, "the ID token hint was issued to another client")
        return hint

    async def decide(self, tenant: Tenant, interaction: str, signed_in: SignedIn, allow: bool) -> Redirect:
        """The user's answer on the consent page: remembered and a code issued, or access_denied."""
        params = await self.recall(tenant, interaction, consume=True)
        if params is None:
            raise LookupError("unknown or expired interaction")
        request, client = await self.parse(tenant, params)
        now = self._clock.now()
        metadata = {"client_id": client.client_id, "scope": " ".join(sorted(set(request.scope)))}
        async with self._uow() as work:
            if allow:
                await self._consents.grant(
                    tenant.id, signed_in.user_lid, client.client_id, frozenset(request.scope), now
                )
            kind = EventType.CONSENT_GRANTED if allow else EventType.CONSENT_DENIED
            work.emit(IdentityEvent(kind, tenant.id, signed_in.user_lid, now, metadata=metadata))
        if not allow:
            err = request.error(AuthorizeErrorCode.ACCESS_DENIED, "the user denied the request")
            return Redirect(self.error_location(tenant, err))
        return Redirect(await self._issue_code(tenant, request, signed_in))

    async def _issue_code(self, tenant: Tenant, request: AuthorizationRequest, who: SignedIn) -> str:
        code = await self._codes.issue(
            CodeGrant(
                tenant_id=tenant.id,
                client_id=request.client_id,
                redirect_uri=request.redirect_uri,
                redirect_uri_sent=request.redirect_uri_in_request,
                user_lid=who.user_lid,
                scope=request.scope,
                code_challenge=request.code_challenge,
                nonce=request.nonce,
                auth_time=who.auth_time,
                amr=who.amr,
                acr=who.acr,
                sid=who.sid,
                acr_values=request.acr_values,
            )
        )
        params = {"code": code, "iss": self._tenants.issuer(tenant)}
        if request.state is not None:
            params["state"] = request.state
        return add_params(request.redirect_uri, params)

    # --- interactions ---------------------------------------------------------------------------

    async def _remember(self, tenant: Tenant, params: dict[str, list[str]]) -> str:
        interaction = secrets.token_urlsafe(32)
        await self._kv.set(f"authz:{tenant.id}:{interaction}", orjson.dumps(params), INTERACTION_TTL)
        return interaction

    async def required_level(self, tenant: Tenant, interaction: str) -> AuthLevel | None:
        """The level the pending request's acr_values ask for (None: none or unknown)."""
        params = await self.recall(tenant, interaction)
        values = (params or {}).get("acr_values") or []
        return self.acr_names.required_level(values[0].split()) if len(values) == 1 else None

    async def recall(self, tenant: Tenant, interaction: str, *, consume: bool = False) -> dict[str, list[str]] | None:
        """The parameters of a pending request; None when unknown, expired or malformed."""
        if not interaction or len(interaction) > MAX_INTERACTION_ID or not interaction.isascii():
            return None
        key = f"authz:{tenant.id}:{interaction}"
        raw = await (self._kv.pop(key) if consume else self._kv.get(key))
        if raw is None:
            return None
        params: dict[str, list[str]] = orjson.loads(raw)
        return params
