"""The authorization endpoint and its consent step: OAuth 2.1 §4.1.1-§4.1.2, OIDC Core §3.1.2, RFC 9207.

GET or POST /oauth2/authorize (parameters in the query or a form body, same rules: empty = absent,
repeated = invalid_request). Errors about the client or the redirect URI are an error page, never a
redirect; every other outcome is a 303 to the client's redirect URI (code or error, `state`, `iss`),
to the sign-in page, or the consent page. No CORS here (OAuth 2.1 §3.1). The use case itself is
services/authorization.py; this module only translates HTTP.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response

from lukhas_id.domain.session import Session
from lukhas_id.domain.tenant import Tenant
from lukhas_id.errors import OAuthError
from lukhas_id.protocol.oauth2.authorize import AuthorizeFatal, AuthorizeRedirectError
from lukhas_id.protocol.oauth2.request import parse_form
from lukhas_id.services.authorization import NeedConsent, NeedLogin, Outcome, Redirect, SignedIn
from lukhas_id.web import csrf
from lukhas_id.web.forms import PageError, one, read_form
from lukhas_id.web.pages import Pages, redirect
from lukhas_id.web.routes.login import cookie_name, current_session, secure_cookies, valid_return_to
from lukhas_id.web.state import AppState

log = logging.getLogger("lukhas_id")

Endpoint = Callable[[Request], Awaitable[Response]]

SCOPE_WORDS = {
    "openid": "Confirm who you are",
    "profile": "Your name and username",
    "email": "Your email address",
    "offline_access": "Keep access when you are not using the app",
}


def _who(session: Session) -> SignedIn:
    return SignedIn(session.user_lid, int(session.auth_time), session.amr, session.acr, session.sid)


def _signed_in(session: Session | None) -> SignedIn | None:
    return _who(session) if session is not None else None


class _Flow:
    def __init__(self, state: AppState) -> None:
        self.state = state
        self.pages = Pages(state.settings.issuer)

    def csrf_key(self, tenant: Tenant) -> bytes:
        return self.state.csrf_key(tenant)

    async def answer(self, request: Request, tenant: Tenant, outcome: Outcome) -> Response:
        issuer = self.state.c.tenants.issuer(tenant)
        if isinstance(outcome, Redirect):
            return redirect(outcome.location)
        if isinstance(outcome, NeedLogin):
            return redirect(f"{issuer}/login?return_to={outcome.interaction}")
        return self.consent_page(request, tenant, outcome)

    def consent_page(self, request: Request, tenant: Tenant, need: NeedConsent) -> Response:
        pre_name = cookie_name(self.state, tenant, "pre")
        pre_id = request.cookies.get(pre_name)
        fresh = not csrf.valid_pre_session_id(pre_id)
        if fresh or pre_id is None:
            pre_id = csrf.new_pre_session_id()
        response = self.pages.render(
            "consent.html",
            client_name=need.client.name,
            scopes=[SCOPE_WORDS.get(s, s) for s in need.scopes],
            interaction=need.interaction,
            csrf_token=csrf.token(self.csrf_key(tenant), pre_id),
            action=f"{self.state.c.tenants.issuer(tenant)}/oauth2/consent",
        )
        if fresh:
            response.set_cookie(
                pre_name, pre_id, path="/", secure=secure_cookies(self.state), httponly=True, samesite="lax"
            )
        return response

    async def guarded(self, request: Request, step: Callable[[Tenant], Awaitable[Response]]) -> Response:
        try:
            tenant = await self.state.tenant(request.path_params.get("tenant"))
            return await step(tenant)
        except AuthorizeFatal as exc:
            return self.pages.error(400, f"This sign-in link is not valid ({exc.code}): {exc.description}.")
        except AuthorizeRedirectError as exc:
            return redirect(self.state.c.authorization.error_location(tenant, exc))
        except PageError as exc:
            return self.pages.error(exc.status, exc.message)
        except OAuthError as exc:
            return self.pages.error(exc.status, exc.description or "The request cannot be served.")


def authorize(state: AppState) -> Endpoint:
    flow = _Flow(state)

    async def endpoint(request: Request) -> Response:
        async def step(tenant: Tenant) -> Response:
            if request.method == "POST":
                params = await read_form(request)
            else:
                params = parse_form(request.scope.get("query_string", b""))
            session = await current_session(state, request, tenant)
            outcome = await state.c.authorization.authorize(tenant, params, _signed_in(session))
            return await flow.answer(request, tenant, outcome)

        return await flow.guarded(request, step)

    return endpoint


def resume(state: AppState) -> Endpoint:
    """Back from the sign-in page: the pending request, now with the fresh session."""
    flow = _Flow(state)

    async def endpoint(request: Request) -> Response:
        async def step(tenant: Tenant) -> Response:
            interaction = one(parse_form(request.scope.get("query_string", b"")), "interaction") or ""
            if not valid_return_to(interaction):
                raise PageError(400, "the sign-in link is not valid")
            params = await state.c.authorization.recall(tenant, interaction, consume=True)
            if params is None:
                raise PageError(400, "this sign-in took too long or was already used; start again from the app")
            session = await current_session(state, request, tenant)
            if session is None:
                raise PageError(400, "you are not signed in; start again from the app")
            outcome = await state.c.authorization.authorize(tenant, params, _signed_in(session), fresh_login=True)
            return await flow.answer(request, tenant, outcome)

        return await flow.guarded(request, step)

    return endpoint


def consent(state: AppState) -> Endpoint:
    """POST /oauth2/consent: the user's decision (`decision` = allow | deny), CSRF-checked."""
    flow = _Flow(state)

    async def endpoint(request: Request) -> Response:
        async def step(tenant: Tenant) -> Response:
            params = await read_form(request)
            pre_id = request.cookies.get(cookie_name(state, tenant, "pre"))
            if pre_id is None or not csrf.verify(flow.csrf_key(tenant), pre_id, one(params, csrf.FIELD)):
                raise PageError(403, "the form has expired or did not come from this site; go back and retry")
            decision = one(params, "decision")
            if decision not in {"allow", "deny"}:
                raise PageError(400, "choose Allow or Deny")
            interaction = one(params, "interaction") or ""
            if not valid_return_to(interaction):
                raise PageError(400, "the consent form is not valid")
            session = await current_session(state, request, tenant)
            if session is None:
                raise PageError(400, "you are not signed in; start again from the app")
            try:
                done = await state.c.authorization.decide(tenant, interaction, _who(session), decision == "allow")
            except LookupError:
                raise PageError(400, "this request took too long or was already answered; start again") from None
            log.info("consent %s (tenant %s, sid %s)", decision, tenant.name, session.sid)
            return redirect(done.location)

        return await flow.guarded(request, step)

    return endpoint
