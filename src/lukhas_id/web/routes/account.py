"""The account page: GET and POST /account (and /t/{tenant}/account).

GET shows the signed-in user their profile, passkeys, authenticator app (TOTP), recovery codes, live
sessions and the consents they gave. Without a session: 303 to the sign-in page. Session ids, tokens,
credential ids and secrets are never shown (a TOTP secret only once, while it is being set up).

POST takes one CSRF-protected action (403 without a valid token; the session is required too):

- ``withdraw`` (client_id), ``signout_everywhere``: as before;
- ``passkey_rename`` (handle, name);
- ``totp_begin``, ``totp_confirm`` (code): set up the authenticator app; confirming shows the ten
  recovery codes once;
- ``step_up`` (code): "confirm it's you" with the authenticator app (a user-verified passkey does the
  same through /webauthn/authenticate with step_up);
- sensitive actions, which need a second factor (or a user-verified passkey) used at most
  Settings.step_up_max_age seconds ago (domain/authn.step_up_reason): ``passkey_remove`` (handle),
  ``email_change`` (email), ``totp_disable``, ``recovery_regenerate``. Otherwise HTTP 428 with
  ``{"error": "step_up_required", "reason", "acr_values", "max_age"}`` (JSON when the request accepts
  JSON; the same facts on an HTML page otherwise).

Adding a factor (``totp_begin``, and a passkey through /webauthn/register) is free while the account
has no second factor yet; once it has one, adding another is sensitive too (web/step_up.py). A recovery
session (an administrator's recovery code, docs/recovery.md) may only add a passkey. The step-up code is
checked by services/sign_in.py `step_up` (the sign-in rate limit applies).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from lukhas_id.domain.authn import AuthLevel, level_of
from lukhas_id.domain.passkey import MAX_PASSKEY_NAME_LENGTH
from lukhas_id.domain.session import Session
from lukhas_id.domain.tenant import Tenant
from lukhas_id.domain.user import InvalidUser
from lukhas_id.services.logout import LogoutService
from lukhas_id.services.passkeys import InvalidPasskeyName, PasskeyService
from lukhas_id.services.recovery_codes import RecoveryCodeService
from lukhas_id.services.refresh import RefreshTokenService
from lukhas_id.services.sign_in import Elevated, SignInService, Throttled
from lukhas_id.services.totp import TotpService
from lukhas_id.services.users import UserService
from lukhas_id.web import csrf
from lukhas_id.web import session_cookies as cookies
from lukhas_id.web.forms import one, read_form
from lukhas_id.web.http_io import json_response, peer_address
from lukhas_id.web.page_kit import PageKit
from lukhas_id.web.pages import SCOPE_WORDS, PageError, redirect
from lukhas_id.web.providers import Provider
from lukhas_id.web.step_up import StepUp, StepUpRequired, wants_json

Endpoint = Callable[[Request], Awaitable[Response]]

SENSITIVE = frozenset({"passkey_remove", "email_change", "totp_disable", "recovery_regenerate"})
WRONG_CODE = "That code is not correct, or it was already used."
TOO_MANY = "too many wrong codes; wait a moment, then try again"


def _when(at: float | None) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d %H:%M UTC") if at is not None else "never"


def account(
    kit: PageKit,
    step_up: StepUp,
    *,
    logout: Provider[LogoutService],
    passkeys: Provider[PasskeyService],
    totp: Provider[TotpService],
    recovery_codes: Provider[RecoveryCodeService],
    refresh: Provider[RefreshTokenService],
    users: Provider[UserService],
    sign_in: Provider[SignInService],
) -> Endpoint:
    """The account page; `logout` holds the profile, sessions and consents, the others their factor."""
    pages = kit.pages

    def to_account(tenant: Tenant) -> Response:
        return redirect(cookies.after_sign_in(kit, tenant, None))

    def render(request: Request, tenant: Tenant, template: str, **context: Any) -> Response:
        pre_id, fresh = cookies.pre_session(kit, request, tenant)
        issuer = kit.issuer(tenant)
        response = pages.render(
            template,
            action=f"{issuer}/account",
            webauthn=f"{issuer}/webauthn",
            csrf_token=kit.csrf_token(tenant, pre_id),
            **context,
        )
        return cookies.set_pre_cookie(kit, response, tenant, pre_id, fresh)

    async def show(request: Request, tenant: Tenant, session: Session, notice: str | None = None) -> Response:
        user = await logout().profile(tenant, session.user_lid)
        if user is None:
            raise PageError(404, "this account no longer exists")
        recovery = level_of(session.amr) is AuthLevel.RECOVERY
        listed = [
            {
                "handle": p.handle,
                "name": p.name,
                "created": _when(p.created_at),
                "last_used": _when(p.last_used_at),
                "synced": p.backup_eligible,
                "cloned": p.possibly_cloned,
            }
            for p in await passkeys().list_for_user(tenant, session.user_lid)
        ]
        context: dict[str, Any] = {
            "username": user.username,
            "display_name": user.display_name,
            "email": user.email,
            "recovery": recovery,
            "notice": notice,
            "passkeys": listed,
            "max_name": MAX_PASSKEY_NAME_LENGTH,
            "confirmed": step_up.reason(session) is None,
            "totp": False,
            "recovery_left": 0,
            "sessions": [],
            "consents": [],
        }
        if not recovery:
            context["totp"] = await totp().enrolled(tenant, session.user_lid)
            context["recovery_left"] = await recovery_codes().remaining(tenant, session.user_lid)
            context["sessions"] = [
                {"created": _when(s.created_at), "last_seen": _when(s.last_seen), "current": s.sid == session.sid}
                for s in reversed(await logout().sessions(tenant, session.user_lid))
            ]
            context["consents"] = [
                {
                    "client_id": g.client_id,
                    "client_name": g.client_name,
                    "scopes": [SCOPE_WORDS.get(s, s) for s in g.scopes],
                }
                for g in await logout().consents(tenant, session.user_lid)
            ]
        return render(request, tenant, "account.html", **context)

    def done(request: Request, tenant: Tenant) -> Response:
        return json_response({"ok": True}, 200) if wants_json(request) else to_account(tenant)

    async def act(request: Request, tenant: Tenant, session: Session) -> Response:
        params = await read_form(request)
        cookies.require_csrf(kit, request, tenant, one(params, csrf.FIELD))
        action = one(params, "action") or ""
        user_lid = session.user_lid
        if level_of(session.amr) is AuthLevel.RECOVERY:
            raise PageError(403, "with a recovery code you can only add a passkey; then sign in with it")
        if action in SENSITIVE:
            step_up.require(session)
        if action == "withdraw":
            await logout().withdraw(tenant, user_lid, one(params, "client_id") or "")
            return done(request, tenant)
        if action == "signout_everywhere":
            sids = await logout().end_everywhere(tenant, user_lid)
            for sid in sids:
                await refresh().revoke_for_session(tenant, sid)
            return cookies.clear_session_cookie(kit, pages.render("logged_out.html"), tenant)
        if action == "passkey_rename":
            name = (one(params, "name") or "").strip()
            if not name or len(name) > MAX_PASSKEY_NAME_LENGTH:
                raise PageError(400, f"a passkey name is 1 to {MAX_PASSKEY_NAME_LENGTH} characters")
            try:
                renamed = await passkeys().rename(tenant, user_lid, one(params, "handle") or "", name)
            except InvalidPasskeyName as exc:
                raise PageError(400, str(exc)) from None
            if not renamed:
                raise PageError(404, "you have no such passkey")
            return done(request, tenant)
        if action == "passkey_remove":
            if not await passkeys().delete(tenant, user_lid, one(params, "handle") or ""):
                raise PageError(404, "you have no such passkey")
            return done(request, tenant)
        if action == "email_change":
            try:
                await users().change_email(tenant, user_lid, one(params, "email"))
            except InvalidUser as exc:
                raise PageError(400, str(exc)) from None
            return done(request, tenant)
        if action == "totp_disable":
            await totp().remove(tenant, user_lid)
            await recovery_codes().remove(tenant, user_lid)
            return done(request, tenant)
        if action == "recovery_regenerate":
            if not await totp().enrolled(tenant, user_lid):
                raise PageError(400, "set up the authenticator app first")
            return render(
                request, tenant, "recovery_codes.html", codes=await recovery_codes().generate(tenant, user_lid)
            )
        if action == "totp_begin":
            if await totp().enrolled(tenant, user_lid):
                raise PageError(400, "the authenticator app is already set up; turn it off first")
            reason = await step_up.add_factor_reason(tenant, session)
            if reason is not None:
                raise StepUpRequired(reason)
            user = await logout().profile(tenant, user_lid)
            if user is None:
                raise PageError(404, "this account no longer exists")
            enrolment = await totp().begin_enrolment(tenant, user)
            return render(request, tenant, "totp_setup.html", enrolment=enrolment, error=None)
        if action == "totp_confirm":
            code = "".join((one(params, "code") or "").split())
            if not await totp().confirm(tenant, user_lid, code):
                raise PageError(400, "that code is not correct; start the setup again and enter the current code")
            return render(
                request, tenant, "recovery_codes.html", codes=await recovery_codes().generate(tenant, user_lid)
            )
        if action == "step_up":
            return await confirm(request, tenant, session, one(params, "code") or "")
        raise PageError(400, "choose an action on the account page")

    async def confirm(request: Request, tenant: Tenant, session: Session, code: str) -> Response:
        """ "Confirm it's you" with a second-factor code (services/sign_in.py `step_up`)."""
        outcome = await sign_in().step_up(tenant, session, code, peer_address(request.scope, kit.edge))
        if isinstance(outcome, Throttled):
            raise PageError(429, TOO_MANY)
        if not isinstance(outcome, Elevated):
            return await show(request, tenant, session, notice=WRONG_CODE)
        return cookies.set_session_cookies(kit, to_account(tenant), tenant, outcome.session)

    async def handle(request: Request) -> Response:
        tenant = await kit.tenant(request)
        session = await cookies.current_session(kit, request, tenant)
        if session is None:
            if wants_json(request):
                return json_response({"error": "login_required"}, 401, {"cache-control": "no-store"})
            return redirect(f"{kit.issuer(tenant)}/login")
        try:
            if request.method == "POST":
                return await act(request, tenant, session)
            return await show(request, tenant, session)
        except StepUpRequired as exc:
            return step_up.answer(kit, request, tenant, exc.reason)

    async def endpoint(request: Request) -> Response:
        return await pages.guard(handle(request))

    return endpoint
