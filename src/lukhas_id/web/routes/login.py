"""The sign-in pages: GET and POST /login, POST /login/second-factor, GET and POST /login/recover (and
under /t/{tenant}). The password path needs no JavaScript; the page's passkey button uses
/static/passkey.js and the JSON endpoints of web/routes/webauthn.py.

The sign-in itself is services/sign_in.py (rate limit, factor, failure count, session); this module reads
the form, checks CSRF, and renders the outcome. POST /login, in order: form read strictly (4xx page on
bad input), CSRF token and origin (403), `return_to` format (400); then the service: the sign-in rate
limit (429 with Retry-After), the password; a user with a second factor then gets the second-factor form
(the password step is remembered). A wrong password re-renders the form (200) with one generic message
for any failure, tied to both fields with aria-describedby. Success ends any session the browser
already had in this tenant, creates a new one (a new id: no fixation), replaces the pre-session cookie,
and answers 303 (RFC 9700 §4.12) to the pending authorization request or the account page
(web/session_cookies.py says which cookies and where).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Final

from starlette.requests import Request
from starlette.responses import Response

from lukhas_id.domain.authn import AuthLevel
from lukhas_id.domain.tenant import Tenant
from lukhas_id.services.authorization import AuthorizationService
from lukhas_id.services.sign_in import Outcome, PasswordOutcome, Refusal, Refused, SignedIn, SignInService, Throttled
from lukhas_id.web import csrf
from lukhas_id.web import session_cookies as cookies
from lukhas_id.web.forms import one, read_form, required
from lukhas_id.web.page_kit import PageKit
from lukhas_id.web.pages import PageError
from lukhas_id.web.providers import Provider

Endpoint = Callable[[Request], Awaitable[Response]]

GENERIC_ERROR: Final = "The username or password is not correct."
MISSING_ERROR: Final = "Enter your username and password."
MISSING_CODE: Final = "Enter the code from your authenticator app, or one of your recovery codes."
WRONG_CODE: Final = "That code is not correct, or it was already used."
MISSING_RECOVERY: Final = "Enter your username and the recovery code you were given."
WRONG_RECOVERY: Final = "That recovery code is not correct, has expired, or was already used."
TOO_MANY: Final = "Too many failed sign-in attempts. Wait a moment, then try again."
EXPIRED: Final = "this sign-in took too long; sign in again"
FINISHED: Final = "this sign-in was already finished; sign in again"
# The largest sign-in form worth reading (the password is bounded by UserService too).
MAX_LOGIN_BODY: Final = 8192


def login(kit: PageKit, sign_in: Provider[SignInService], authorization: Provider[AuthorizationService]) -> Endpoint:
    """The sign-in pages; `sign_in` signs in, `authorization` says which level a pending request needs."""
    pages = kit.pages
    form_limit = min(MAX_LOGIN_BODY, kit.edge.max_body)

    def form_page(
        tenant: Tenant,
        pre_id: str,
        return_to: str | None,
        *,
        error: str | None = None,
        username: str = "",
        step_up: bool = False,
    ) -> Response:
        issuer = kit.issuer(tenant)
        return pages.render(
            "login.html",
            action=f"{issuer}/login",
            webauthn=f"{issuer}/webauthn",
            csrf_token=kit.csrf_token(tenant, pre_id),
            return_to=return_to,
            step_up=step_up,
            error=error,
            username=username,
        )

    def second_factor_page(tenant: Tenant, pre_id: str, *, error: str | None = None) -> Response:
        return pages.render(
            "second_factor.html",
            action=f"{kit.issuer(tenant)}/login/second-factor",
            csrf_token=kit.csrf_token(tenant, pre_id),
            error=error,
        )

    def recover_page(tenant: Tenant, pre_id: str, *, error: str | None = None, username: str = "") -> Response:
        return pages.render(
            "recover.html",
            action=f"{kit.issuer(tenant)}/login/recover",
            csrf_token=kit.csrf_token(tenant, pre_id),
            error=error,
            username=username,
        )

    def signed_in(tenant: Tenant, outcome: SignedIn) -> Response:
        return cookies.signed_in_redirect(kit, tenant, outcome.session, outcome.return_to)

    def throttled(outcome: Throttled) -> PageError:
        return PageError(429, TOO_MANY, headers={"retry-after": str(outcome.retry_after)})

    async def posted(request: Request, tenant: Tenant) -> tuple[dict[str, list[str]], str]:
        """The posted form and the pre-session id its CSRF token is bound to (403 unless it verifies)."""
        params = await read_form(request, form_limit)
        return params, cookies.require_csrf(kit, request, tenant, one(params, csrf.FIELD))

    def checked_return_to(return_to: str | None) -> str | None:
        if return_to is not None and not cookies.valid_return_to(return_to):
            raise PageError(400, "return_to is not a valid interaction id")
        return return_to

    async def show(request: Request, tenant: Tenant) -> Response:
        return_to = checked_return_to(one({"return_to": request.query_params.getlist("return_to")}, "return_to"))
        pre_id, fresh = cookies.pre_session(kit, request, tenant)
        level = await authorization().required_level(tenant, return_to) if return_to else None
        response = form_page(tenant, pre_id, return_to, step_up=level is not None and level > AuthLevel.PASSWORD)
        return cookies.set_pre_cookie(kit, response, tenant, pre_id, fresh)

    async def submit(request: Request, tenant: Tenant) -> Response:
        params, pre_id = await posted(request, tenant)
        username = required(params, "username")
        password = required(params, "password")
        return_to = checked_return_to(one(params, "return_to") or None)  # an empty field is none
        browser = cookies.browser(kit, request, tenant, pre_id)
        outcome: PasswordOutcome = await sign_in().password(tenant, username, password, browser, return_to)
        if isinstance(outcome, SignedIn):
            return signed_in(tenant, outcome)
        if isinstance(outcome, Throttled):
            raise throttled(outcome)
        if isinstance(outcome, Refused):
            error = MISSING_ERROR if outcome.reason is Refusal.MISSING else GENERIC_ERROR
            return form_page(tenant, pre_id, return_to, error=error, username=username)
        return second_factor_page(tenant, pre_id)

    async def second_factor(request: Request, tenant: Tenant) -> Response:
        """POST /login/second-factor: the code of a second factor after the password."""
        if request.method != "POST":
            raise PageError(405, "sign in first")
        params, pre_id = await posted(request, tenant)
        browser = cookies.browser(kit, request, tenant, pre_id)
        outcome: Outcome = await sign_in().second_factor(tenant, required(params, "code"), browser)
        if isinstance(outcome, SignedIn):
            return signed_in(tenant, outcome)
        if isinstance(outcome, Throttled):
            raise throttled(outcome)
        if outcome.reason is Refusal.EXPIRED:
            raise PageError(400, EXPIRED)
        if outcome.reason is Refusal.FINISHED:
            raise PageError(400, FINISHED)
        error = MISSING_CODE if outcome.reason is Refusal.MISSING else WRONG_CODE
        return second_factor_page(tenant, pre_id, error=error)

    async def recover(request: Request, tenant: Tenant) -> Response:
        """GET/POST /login/recover: sign in with an administrator's recovery code (docs/recovery.md). The
        session it makes is a recovery session: it may only add a passkey (AuthLevel.RECOVERY)."""
        if request.method != "POST":
            pre_id, fresh = cookies.pre_session(kit, request, tenant)
            return cookies.set_pre_cookie(kit, recover_page(tenant, pre_id), tenant, pre_id, fresh)
        params, pre_id = await posted(request, tenant)
        username = required(params, "username")
        browser = cookies.browser(kit, request, tenant, pre_id)
        outcome: Outcome = await sign_in().account_recovery(tenant, username, required(params, "code"), browser)
        if isinstance(outcome, SignedIn):
            return signed_in(tenant, outcome)
        if isinstance(outcome, Throttled):
            raise throttled(outcome)
        error = MISSING_RECOVERY if outcome.reason is Refusal.MISSING else WRONG_RECOVERY
        return recover_page(tenant, pre_id, error=error, username=username.strip())

    async def handle(request: Request) -> Response:
        tenant = await kit.tenant(request)
        if request.url.path.endswith("/recover"):
            return await recover(request, tenant)
        if request.url.path.endswith("/second-factor"):
            return await second_factor(request, tenant)
        if request.method == "POST":
            return await submit(request, tenant)
        return await show(request, tenant)

    async def endpoint(request: Request) -> Response:
        return await pages.guard(handle(request))

    return endpoint
