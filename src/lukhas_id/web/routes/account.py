"""The account page: GET and POST /account (and /t/{tenant}/account).

GET shows the signed-in user their profile (username, display name, email), their live sessions in
this tenant (started, last used, which one is this browser) and the consents they gave (application
and scopes). Without a session: 303 to the sign-in page, whose success comes back here. Session ids
and tokens are never shown (sessions are told apart by nothing the page prints).

POST takes one CSRF-protected action (403 without a valid token; the session is required too):

- ``action=withdraw`` with ``client_id``: forget that consent (the next authorization asks again),
  then 303 back to the account page;
- ``action=signout_everywhere``: end every session of the user in this tenant, this one included, and
  revoke the refresh tokens bound to them; the cookie is cleared and the logged-out page shown.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from starlette.requests import Request
from starlette.responses import Response

from lukhas_id.domain.tenant import Tenant
from lukhas_id.web.forms import PageError, one, read_form
from lukhas_id.web.routes.authorize import SCOPE_WORDS
from lukhas_id.web.routes.login import current_session
from lukhas_id.web.routes.logout import Endpoint, PageFlow
from lukhas_id.web.state import AppState

log = logging.getLogger("lukhas_id")


def _when(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d %H:%M UTC")


def account(state: AppState) -> Endpoint:
    flow = PageFlow(state)

    async def show(request: Request, tenant: Tenant, user_lid: str, sid: str) -> Response:
        c = state.c
        user = await c.logout.profile(tenant, user_lid)
        if user is None:
            raise PageError(404, "this account no longer exists")
        sessions = [
            {"created": _when(s.created_at), "last_seen": _when(s.last_seen), "current": s.sid == sid}
            for s in reversed(await c.logout.sessions(tenant, user_lid))
        ]
        consents = [
            {
                "client_id": g.client_id,
                "client_name": g.client_name,
                "scopes": [SCOPE_WORDS.get(s, s) for s in g.scopes],
            }
            for g in await c.logout.consents(tenant, user_lid)
        ]
        token, fresh = flow.csrf_for(request, tenant)
        response = flow.pages.render(
            "account.html",
            action=f"{c.tenants.issuer(tenant)}/account",
            csrf_token=token,
            username=user.username,
            display_name=user.display_name,
            email=user.email,
            sessions=sessions,
            consents=consents,
        )
        return flow.set_pre_cookie(response, tenant, fresh)

    async def act(request: Request, tenant: Tenant, user_lid: str) -> Response:
        c = state.c
        params = await read_form(request)
        flow.require_csrf(request, tenant, params)
        action = one(params, "action")
        if action == "withdraw":
            client_id = one(params, "client_id") or ""
            if await c.logout.withdraw(tenant, user_lid, client_id):
                log.info("consent withdrawn (tenant %s)", tenant.name)
            return flow.redirect_to_account(tenant)
        if action == "signout_everywhere":
            sids = await c.logout.end_everywhere(tenant, user_lid)
            await flow.revoke_refresh_tokens(tenant, sids)
            log.info("signed out everywhere: tenant %s, %d sessions", tenant.name, len(sids))
            return flow.clear_session_cookie(flow.pages.render("logged_out.html"), tenant)
        raise PageError(400, "choose an action on the account page")

    async def endpoint(request: Request) -> Response:
        async def step(tenant: Tenant) -> Response:
            session = await current_session(state, request, tenant)
            if session is None:
                return flow.redirect_to_login(tenant)
            if request.method == "POST":
                return await act(request, tenant, session.user_lid)
            return await show(request, tenant, session.user_lid, session.sid)

        return await flow.guarded(request, step)

    return endpoint
