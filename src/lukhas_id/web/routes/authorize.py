"""The authorization endpoint and its consent step: OAuth 2.1 §4.1.1-§4.1.2, OIDC Core §3.1.2, RFC 9207.

GET or POST /oauth2/authorize (parameters in the query or a form body, same rules: empty = absent,
repeated = invalid_request). Errors about the client or the redirect URI are an error page, never a
redirect; every other outcome is a 303 to the client's redirect URI (code or error, `state`, `iss`),
to the sign-in page, or the consent page. No CORS here (OAuth 2.1 §3.1). The use case itself is
services/authorization.py; this module only translates HTTP.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response

from lukhas_id.domain.session import Session
from lukhas_id.domain.tenant import Tenant
from lukhas_id.protocol.oauth2.authorize import AuthorizeFatal, AuthorizeRedirectError
from lukhas_id.protocol.oauth2.request import parse_form
from lukhas_id.services.authorization import (
    AuthorizationService,
    NeedConsent,
    NeedLogin,
    Outcome,
    Redirect,
    SignedIn,
)
from lukhas_id.web import csrf
from lukhas_id.web import session_cookies as cookies
from lukhas_id.web.forms import one, read_form
from lukhas_id.web.page_kit import PageKit
from lukhas_id.web.pages import SCOPE_WORDS, PageError, redirect
from lukhas_id.web.providers import Provider

Endpoint = Callable[[Request], Awaitable[Response]]
Step = Callable[[Request, Tenant], Awaitable[Response]]


def _who(session: Session) -> SignedIn:
    return SignedIn(session.user_lid, int(session.auth_time), session.amr, session.acr, session.sid)


def _signed_in(session: Session | None) -> SignedIn | None:
    return _who(session) if session is not None else None


class _Flow:
    def __init__(self, kit: PageKit, authorization: Provider[AuthorizationService]) -> None:
        self.kit = kit
        self.authorization = authorization

    async def answer(self, request: Request, tenant: Tenant, outcome: Outcome) -> Response:
        issuer = self.kit.issuer(tenant)
        if isinstance(outcome, Redirect):
            return redirect(outcome.location)
        if isinstance(outcome, NeedLogin):
            return redirect(f"{issuer}/login?return_to={outcome.interaction}")
        return self.consent_page(request, tenant, outcome)

    def consent_page(self, request: Request, tenant: Tenant, need: NeedConsent) -> Response:
        kit = self.kit
        pre_id, fresh = cookies.pre_session(kit, request, tenant)
        response = kit.pages.render(
            "consent.html",
            client_name=need.client.name,
            scopes=[SCOPE_WORDS.get(s, s) for s in need.scopes],
            interaction=need.interaction,
            csrf_token=kit.csrf_token(tenant, pre_id),
            action=f"{kit.issuer(tenant)}/oauth2/consent",
        )
        return cookies.set_pre_cookie(kit, response, tenant, pre_id, fresh)

    def endpoint(self, step: Step) -> Endpoint:
        """`step` in the tenant named by the path, its refusals answered as pages: an invalid request
        (bad client or redirect URI) as the error page, every other protocol error as a redirect."""

        async def handle(request: Request) -> Response:
            tenant = await self.kit.tenant(request)
            try:
                return await step(request, tenant)
            except AuthorizeFatal as exc:
                raise PageError(400, f"This sign-in link is not valid ({exc.code}): {exc.description}.") from None
            except AuthorizeRedirectError as exc:
                return redirect(self.authorization().error_location(tenant, exc))

        async def endpoint(request: Request) -> Response:
            return await self.kit.pages.guard(handle(request))

        return endpoint


def authorize(kit: PageKit, authorization: Provider[AuthorizationService]) -> Endpoint:
    flow = _Flow(kit, authorization)

    async def step(request: Request, tenant: Tenant) -> Response:
        if request.method == "POST":
            params = await read_form(request)
        else:
            params = parse_form(request.scope.get("query_string", b""))
        session = await cookies.current_session(kit, request, tenant)
        outcome = await authorization().authorize(tenant, params, _signed_in(session))
        return await flow.answer(request, tenant, outcome)

    return flow.endpoint(step)


def resume(kit: PageKit, authorization: Provider[AuthorizationService]) -> Endpoint:
    """Back from the sign-in page: the pending request, now with the fresh session."""
    flow = _Flow(kit, authorization)

    async def step(request: Request, tenant: Tenant) -> Response:
        interaction = one(parse_form(request.scope.get("query_string", b"")), "interaction") or ""
        if not cookies.valid_return_to(interaction):
            raise PageError(400, "the sign-in link is not valid")
        params = await authorization().recall(tenant, interaction, consume=True)
        if params is None:
            raise PageError(400, "this sign-in took too long or was already used; start again from the app")
        session = await cookies.current_session(kit, request, tenant)
        if session is None:
            raise PageError(400, "you are not signed in; start again from the app")
        outcome = await authorization().authorize(tenant, params, _signed_in(session), fresh_login=True)
        return await flow.answer(request, tenant, outcome)

    return flow.endpoint(step)


def consent(kit: PageKit, authorization: Provider[AuthorizationService]) -> Endpoint:
    """POST /oauth2/consent: the user's decision (`decision` = allow | deny), CSRF-checked."""
    flow = _Flow(kit, authorization)

    async def step(request: Request, tenant: Tenant) -> Response:
        params = await read_form(request)
        cookies.require_csrf(kit, request, tenant, one(params, csrf.FIELD))
        decision = one(params, "decision")
        if decision not in {"allow", "deny"}:
            raise PageError(400, "choose Allow or Deny")
        interaction = one(params, "interaction") or ""
        if not cookies.valid_return_to(interaction):
            raise PageError(400, "the consent form is not valid")
        session = await cookies.current_session(kit, request, tenant)
        if session is None:
            raise PageError(400, "you are not signed in; start again from the app")
        try:
            done = await authorization().decide(tenant, interaction, _who(session), decision == "allow")
        except LookupError:
            raise PageError(400, "this request took too long or was already answered; start again") from None
        return redirect(done.location)

    return flow.endpoint(step)
