"""The end-session endpoint: OpenID Connect RP-Initiated Logout 1.0 (GET and POST /oauth2/logout).

Parameters (query or form body; empty = absent, repeated = error page): id_token_hint, client_id,
post_logout_redirect_uri, state, ui_locales (accepted, not used: the pages are English only). The
checks are services/logout.py; this module only translates HTTP:

- an invalid request (a hint that does not verify here, an unknown or disagreeing client) is a 400
  error page, never a redirect (§4);
- without a session in this tenant there is nothing to end: the answer is the final one at once
  (logout is idempotent, §4);
- with a session, the browser signs out at once only when the hint carries this session's `sid`;
  otherwise (no hint, another session's or user's hint) it gets a confirmation page whose form posts
  the same parameters back with `confirm=yes` and a CSRF token bound to the pre-session cookie
  (web/csrf.py). A POST with `confirm` and a wrong or missing token is 403. The request is checked again
  on confirmation, so nothing is stored between the two steps;
- ending: the session is ended, its cookie cleared (Max-Age=0) and the refresh tokens bound to its
  `sid` revoked; then a 303 to the registered post_logout_redirect_uri (+ state), or the logged-out page
  (200, never a redirect when the URI is not registered).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Final

from starlette.requests import Request
from starlette.responses import Response

from lukhas_id.domain.session import Session
from lukhas_id.domain.tenant import Tenant
from lukhas_id.errors import ErrorCode, OAuthError
from lukhas_id.protocol.oauth2.request import parse_form
from lukhas_id.services.logout import InvalidLogoutRequest, LogoutRequest
from lukhas_id.web import csrf
from lukhas_id.web.forms import PageError, one, read_form
from lukhas_id.web.pages import Pages, redirect
from lukhas_id.web.routes.login import cookie_name, current_session, secure_cookies
from lukhas_id.web.state import AppState

log = logging.getLogger("lukhas_id")

Endpoint = Callable[[Request], Awaitable[Response]]
FORBIDDEN: Final = "the form has expired or did not come from this site; go back, reload it and retry"


class PageFlow:
    """What the logout and account pages share: the error page, CSRF tokens, cookies."""

    def __init__(self, state: AppState) -> None:
        self.state = state
        self.pages = Pages(state.settings.issuer)

    def csrf_key(self, tenant: Tenant) -> bytes:
        return self.state.csrf_key(tenant)

    def csrf_for(self, request: Request, tenant: Tenant) -> tuple[str, str | None]:
        """(token for the forms of this page, a new pre-session id to set as cookie or None)."""
        pre_id = request.cookies.get(cookie_name(self.state, tenant, "pre"))
        if pre_id is not None and csrf.valid_pre_session_id(pre_id):
            return csrf.token(self.csrf_key(tenant), pre_id), None
        fresh = csrf.new_pre_session_id()
        return csrf.token(self.csrf_key(tenant), fresh), fresh

    def set_pre_cookie(self, response: Response, tenant: Tenant, pre_id: str | None) -> Response:
        if pre_id is not None:
            response.set_cookie(
                cookie_name(self.state, tenant, "pre"),
                pre_id,
                path="/",
                secure=secure_cookies(self.state),
                httponly=True,
                samesite="lax",
            )
        return response

    def require_csrf(self, request: Request, tenant: Tenant, params: dict[str, list[str]]) -> None:
        pre_id = request.cookies.get(cookie_name(self.state, tenant, "pre"))
        if pre_id is None or not csrf.verify(self.csrf_key(tenant), pre_id, one(params, csrf.FIELD)):
            raise PageError(403, FORBIDDEN)

    def clear_session_cookie(self, response: Response, tenant: Tenant) -> Response:
        response.delete_cookie(
            cookie_name(self.state, tenant, "session"),
            path="/",
            secure=secure_cookies(self.state),
            httponly=True,
            samesite="lax",
        )
        return response

    def redirect_to_account(self, tenant: Tenant) -> Response:
        return redirect(f"{self.state.c.tenants.issuer(tenant)}/account")

    def redirect_to_login(self, tenant: Tenant) -> Response:
        return redirect(f"{self.state.c.tenants.issuer(tenant)}/login")

    async def revoke_refresh_tokens(self, tenant: Tenant, sids: list[str]) -> None:
        # container.refresh (refresh tokens) is being built alongside this; revoke through it once it exists.
        refresh = getattr(self.state.c, "refresh", None)
        if refresh is not None:
            for sid in sids:
                await refresh.revoke_for_session(tenant, sid)

    async def guarded(self, request: Request, step: Callable[[Tenant], Awaitable[Response]]) -> Response:
        try:
            tenant = await self.state.tenant(request.path_params.get("tenant"))
            return await step(tenant)
        except InvalidLogoutRequest as exc:
            return self.pages.error(400, f"This sign-out link is not valid: {exc}.")
        except PageError as exc:
            return self.pages.error(exc.status, exc.message)
        except OAuthError as exc:
            retry = {"retry-after": "1"} if exc.code is ErrorCode.TEMPORARILY_UNAVAILABLE else None
            return self.pages.error(exc.status, exc.description or "The request cannot be served.", headers=retry)


def logout(state: AppState) -> Endpoint:
    flow = PageFlow(state)

    def confirmation(request: Request, tenant: Tenant, checked: LogoutRequest) -> Response:
        token, fresh = flow.csrf_for(request, tenant)
        issuer = state.c.tenants.issuer(tenant)
        response = flow.pages.render(
            "logout_confirm.html",
            action=f"{issuer}/oauth2/logout",
            account=f"{issuer}/account",
            csrf_token=token,
            params=sorted(checked.params.items()),
            client_name=checked.client.name if checked.client is not None else None,
        )
        return flow.set_pre_cookie(response, tenant, fresh)

    async def finish(tenant: Tenant, checked: LogoutRequest, session: Session | None) -> Response:
        if session is not None:
            ended = await state.c.logout.end_session(tenant, session.id)
            if ended is not None:
                await flow.revoke_refresh_tokens(tenant, [ended.sid])
                log.info("sign-out: tenant %s, session sid %s", tenant.name, ended.sid)
        response = redirect(checked.redirect_to) if checked.redirect_to else flow.pages.render("logged_out.html")
        return flow.clear_session_cookie(response, tenant)

    async def endpoint(request: Request) -> Response:
        async def step(tenant: Tenant) -> Response:
            if request.method == "POST":
                params = await read_form(request)
            else:
                params = parse_form(request.scope.get("query_string", b""))
            confirm = one(params, "confirm") if request.method == "POST" else None
            if confirm is not None:
                flow.require_csrf(request, tenant, params)
            checked = await state.c.logout.check(tenant, params)
            session = await current_session(state, request, tenant)
            if session is not None and confirm != "yes" and not checked.names_session(session):
                return confirmation(request, tenant, checked)
            return await finish(tenant, checked, session)

        return await flow.guarded(request, step)

    return endpoint
