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

from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response

from lukhas_id.domain.session import Session
from lukhas_id.domain.tenant import Tenant
from lukhas_id.protocol.oauth2.request import parse_form
from lukhas_id.services.logout import InvalidLogoutRequest, LogoutRequest, LogoutService
from lukhas_id.services.refresh import RefreshTokenService
from lukhas_id.web import csrf
from lukhas_id.web import session_cookies as cookies
from lukhas_id.web.forms import one, read_form
from lukhas_id.web.page_kit import PageKit
from lukhas_id.web.pages import PageError, redirect
from lukhas_id.web.providers import Provider

Endpoint = Callable[[Request], Awaitable[Response]]


def logout(kit: PageKit, logout_service: Provider[LogoutService], refresh: Provider[RefreshTokenService]) -> Endpoint:
    """The end-session endpoint; `logout_service` checks the request and ends the session, `refresh` revokes
    the refresh tokens bound to it."""
    pages = kit.pages

    def confirmation(request: Request, tenant: Tenant, checked: LogoutRequest) -> Response:
        pre_id, fresh = cookies.pre_session(kit, request, tenant)
        issuer = kit.issuer(tenant)
        response = pages.render(
            "logout_confirm.html",
            action=f"{issuer}/oauth2/logout",
            account=f"{issuer}/account",
            csrf_token=kit.csrf_token(tenant, pre_id),
            params=sorted(checked.params.items()),
            client_name=checked.client.name if checked.client is not None else None,
        )
        return cookies.set_pre_cookie(kit, response, tenant, pre_id, fresh)

    async def finish(tenant: Tenant, checked: LogoutRequest, session: Session | None) -> Response:
        if session is not None:
            ended = await logout_service().end_session(tenant, session.id)
            if ended is not None:
                await refresh().revoke_for_session(tenant, ended.sid)
        response = redirect(checked.redirect_to) if checked.redirect_to else pages.render("logged_out.html")
        return cookies.clear_session_cookie(kit, response, tenant)

    async def handle(request: Request) -> Response:
        tenant = await kit.tenant(request)
        if request.method == "POST":
            params = await read_form(request)
        else:
            params = parse_form(request.scope.get("query_string", b""))
        confirm = one(params, "confirm") if request.method == "POST" else None
        if confirm is not None:
            cookies.require_csrf(kit, request, tenant, one(params, csrf.FIELD))
        try:
            checked = await logout_service().check(tenant, params)
        except InvalidLogoutRequest as exc:
            raise PageError(400, f"This sign-out link is not valid: {exc}.") from None
        session = await cookies.current_session(kit, request, tenant)
        if session is not None and confirm != "yes" and not checked.names_session(session):
            return confirmation(request, tenant, checked)
        return await finish(tenant, checked, session)

    async def endpoint(request: Request) -> Response:
        return await pages.guard(handle(request))

    return endpoint
