"""The sign-in pages: GET and POST /login, POST /login/second-factor, GET and POST /login/recover (and
under /t/{tenant}). The password path needs no JavaScript; the page's passkey button uses
/static/passkey.js and the JSON endpoints of web/routes/webauthn.py.

POST /login, in order: form read strictly (4xx page on bad input), CSRF token (403), `return_to` format
(400), the sign-in rate limit (429 with Retry-After), password; a user with an authenticator app then
gets the second-factor form (the password step is remembered, services/sign_in.py). A wrong password
re-renders the form (200) with one generic message for any failure, tied to both fields with
aria-describedby. Success ends any session the browser already had in this tenant, creates a new one
(a new id: no fixation), replaces the pre-session cookie, and answers 303 (RFC 9700 §4.12) to
``{issuer}/oauth2/authorize/resume?interaction={return_to}`` or, without return_to, ``{issuer}/account``.

`return_to` is an opaque interaction id (URL-safe, 16-128 characters), never a URL: no open redirect.

Cookies (all HttpOnly, SameSite=Lax, Path=/): ``lid_session`` (the session id) and ``lid_pre`` (the
pre-session id that CSRF tokens are bound to), with ``_t_{tenant}`` appended for a tenant other than the
default one, so each tenant reads only its own cookie; and sessions are stored under the tenant's id,
so an id presented to another tenant resolves to nothing. When the public URL is https the names get
the ``__Host-`` prefix and the Secure flag (a subdomain can then neither set nor overwrite them).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable, Sequence
from typing import Final
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import Response

from lukhas_id.domain.authn import Amr, AuthLevel
from lukhas_id.domain.session import Session
from lukhas_id.domain.tenant import Tenant
from lukhas_id.domain.user import User
from lukhas_id.errors import ErrorCode, OAuthError
from lukhas_id.protocol.oauth2.request import FORM_TYPE, parse_form
from lukhas_id.web import csrf
from lukhas_id.web.http_io import EdgeConfig, peer_address, read_body
from lukhas_id.web.pages import Pages, redirect
from lukhas_id.web.state import AppState

log = logging.getLogger("lukhas_id")

Endpoint = Callable[[Request], Awaitable[Response]]

RETURN_TO_RE: Final = re.compile(r"[A-Za-z0-9_-]{16,128}")
GENERIC_ERROR: Final = "The username or password is not correct."
MISSING_ERROR: Final = "Enter your username and password."
MISSING_CODE: Final = "Enter the code from your authenticator app, or one of your recovery codes."
WRONG_CODE: Final = "That code is not correct, or it was already used."
MISSING_RECOVERY: Final = "Enter your username and the recovery code you were given."
WRONG_RECOVERY: Final = "That recovery code is not correct, has expired, or was already used."
TOTP_CODE_RE: Final = re.compile(r"[0-9]{6}")
# The largest sign-in form worth reading (the password is bounded by UserService too).
MAX_LOGIN_BODY: Final = 8192


def valid_return_to(value: str) -> bool:
    return bool(RETURN_TO_RE.fullmatch(value))


def cookie_name(state: AppState, tenant: Tenant, kind: str) -> str:
    """The tenant's cookie of `kind` ("session" or "pre")."""
    name = f"lid_{kind}" if tenant.name == state.settings.default_tenant else f"lid_{kind}_t_{tenant.name}"
    return f"__Host-{name}" if secure_cookies(state) else name


def secure_cookies(state: AppState) -> bool:
    return state.settings.public_url.scheme == "https"


async def current_session(state: AppState, request: Request, tenant: Tenant) -> Session | None:
    """The browser's live session in this tenant (for the authorization endpoint), or None."""
    value = request.cookies.get(cookie_name(state, tenant, "session"))
    return await state.c.sessions.get(tenant, value) if value else None


async def open_session(
    state: AppState, request: Request, tenant: Tenant, user: User, amr: Sequence[str], acr: str
) -> Session:
    """A new session for `user` (a new id: no fixation); the browser's previous session in this tenant ends."""
    old = request.cookies.get(cookie_name(state, tenant, "session"))
    if old:
        await state.c.sessions.end(tenant, old)
    session = await state.c.sessions.create(tenant, user, amr, acr)
    log.info("sign-in: tenant %s, session sid %s, amr %s", tenant.name, session.sid, ",".join(session.amr))
    return session


def after_sign_in(state: AppState, tenant: Tenant, return_to: str | None) -> str:
    """Where the browser goes once signed in: back to the pending authorization request, or the account."""
    issuer = state.c.tenants.issuer(tenant)
    return f"{issuer}/oauth2/authorize/resume?interaction={return_to}" if return_to else f"{issuer}/account"


def set_session_cookies(state: AppState, response: Response, tenant: Tenant, session: Session) -> Response:
    """The session cookie, and a new pre-session cookie (CSRF tokens of the signed-out forms expire)."""
    _set_cookie(state, response, cookie_name(state, tenant, "session"), session.id, int(state.c.sessions.lifetime))
    _set_cookie(state, response, cookie_name(state, tenant, "pre"), csrf.new_pre_session_id(), None)
    return response


def signed_in_redirect(state: AppState, tenant: Tenant, session: Session, return_to: str | None) -> Response:
    return set_session_cookies(state, redirect(after_sign_in(state, tenant, return_to)), tenant, session)


def client_key(state: AppState, request: Request, tenant: Tenant) -> str:
    """The sign-in rate limit's client bucket: the client's network address alone (services/rate_limit.py),
    the peer's or, from a trusted proxy, the one it forwarded (web/http_io.py `peer_address`)."""
    address = peer_address(request.scope, EdgeConfig.from_settings(state.settings))
    return state.c.sign_in_limiter.client(tenant, address)


def _set_cookie(state: AppState, response: Response, name: str, value: str, max_age: int | None) -> None:
    response.set_cookie(
        name, value, max_age=max_age, path="/", secure=secure_cookies(state), httponly=True, samesite="lax"
    )


class _BadForm(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _single(params: dict[str, list[str]], name: str, *, required: bool = True) -> str | None:
    values = params.get(name)
    if values is None:
        if required:
            raise _BadForm(400, f"the form field {name} is missing")
        return None
    if len(values) != 1:
        raise _BadForm(400, f"the form field {name} is repeated")
    return values[0]


def _origin_ok(state: AppState, request: Request) -> bool:
    """Defense in depth: a POST whose Origin names another site is refused. (Browsers send "null" when
    the referrer policy is no-referrer, as on our own pages, and some clients send none.)"""
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        return True
    public = urlsplit(str(state.settings.public_url))
    return origin.rstrip("/").lower() == f"{public.scheme}://{public.netloc}".lower()


def login(state: AppState) -> Endpoint:
    pages = Pages(state.settings.issuer)
    csrf_key = state.csrf_key

    def form_page(
        tenant: Tenant,
        pre_id: str,
        return_to: str | None,
        *,
        status: int = 200,
        error: str | None = None,
        username: str = "",
        step_up: bool = False,
    ) -> Response:
        issuer = state.c.tenants.issuer(tenant)
        return pages.render(
            "login.html",
            status,
            action=f"{issuer}/login",
            webauthn=f"{issuer}/webauthn",
            csrf_token=csrf.token(csrf_key(tenant), pre_id),
            return_to=return_to,
            step_up=step_up,
            error=error,
            username=username,
        )

    async def checked_form(request: Request, tenant: Tenant) -> tuple[dict[str, list[str]], str]:
        """The posted form and the pre-session id its CSRF token is bound to (403 unless it verifies)."""
        params = await read_form(request)
        token = _single(params, csrf.FIELD, required=False)
        pre_id = request.cookies.get(cookie_name(state, tenant, "pre"))
        if pre_id is None or not _origin_ok(state, request) or not csrf.verify(csrf_key(tenant), pre_id, token):
            raise _BadForm(403, "the form has expired or did not come from this site; go back, reload it and retry")
        return params, pre_id

    def client(request: Request, tenant: Tenant) -> str:
        return client_key(state, request, tenant)

    def too_many(tenant: Tenant, wait: int) -> Response:
        log.info("sign-in rate limited (tenant %s)", tenant.name)
        return pages.error(
            429, "Too many failed sign-in attempts. Wait a moment, then try again.", headers={"retry-after": str(wait)}
        )

    def second_factor_page(tenant: Tenant, pre_id: str, *, error: str | None = None) -> Response:
        return pages.render(
            "second_factor.html",
            action=f"{state.c.tenants.issuer(tenant)}/login/second-factor",
            csrf_token=csrf.token(csrf_key(tenant), pre_id),
            error=error,
        )

    async def verify_second_factor(request: Request, tenant: Tenant) -> Response:
        """POST /login/second-factor: the TOTP code (6 digits) or a recovery code after the password."""
        c = state.c
        params, pre_id = await checked_form(request, tenant)
        pending = await c.pending_sign_ins.recall(tenant, pre_id)
        if pending is None:
            raise _BadForm(400, "this sign-in took too long; sign in again")
        code = "".join((_single(params, "code") or "").split())
        if not code:
            return second_factor_page(tenant, pre_id, error=MISSING_CODE)
        account = c.sign_in_limiter.account(tenant, pending.user_lid, lid=True)
        wait = await c.sign_in_limiter.retry_after(tenant, account=account, client=client(request, tenant))
        if wait is not None:
            return too_many(tenant, wait)
        if TOTP_CODE_RE.fullmatch(code):
            ok = await c.totp.verify(tenant, pending.user_lid, code)
        else:
            ok = await c.recovery_codes.use(tenant, pending.user_lid, code)
        user = await c.users.by_lid(tenant, pending.user_lid) if ok else None
        if user is None or not user.active:
            await c.sign_in_limiter.failed(tenant, account=account, client=client(request, tenant))
            log.info("second factor refused (tenant %s)", tenant.name)
            return second_factor_page(tenant, pre_id, error=WRONG_CODE)
        if not await c.pending_sign_ins.finish(tenant, pre_id):
            raise _BadForm(400, "this sign-in was already finished; sign in again")
        session = await open_session(
            state, request, tenant, user, (Amr.PASSWORD, Amr.OTP, Amr.MFA), state.settings.acr_mfa
        )
        return signed_in_redirect(state, tenant, session, pending.return_to)

    def recover_page(tenant: Tenant, pre_id: str, *, error: str | None = None, username: str = "") -> Response:
        return pages.render(
            "recover.html",
            200,
            action=f"{state.c.tenants.issuer(tenant)}/login/recover",
            csrf_token=csrf.token(csrf_key(tenant), pre_id),
            error=error,
            username=username,
        )

    async def recover(request: Request, tenant: Tenant) -> Response:
        """GET/POST /login/recover: sign in with an administrator's recovery code (docs/recovery.md). The
        session it makes is a recovery session: it may only add a passkey (AuthLevel.RECOVERY)."""
        c = state.c
        pre_name = cookie_name(state, tenant, "pre")
        pre_id = request.cookies.get(pre_name)
        if request.method != "POST":
            fresh = not csrf.valid_pre_session_id(pre_id)
            if fresh or pre_id is None:
                pre_id = csrf.new_pre_session_id()
            response = recover_page(tenant, pre_id)
            if fresh:
                _set_cookie(state, response, pre_name, pre_id, None)
            return response
        params, pre_id = await checked_form(request, tenant)
        username = (_single(params, "username") or "").strip()
        code = (_single(params, "code") or "").strip()
        if not username or not code:
            return recover_page(tenant, pre_id, error=MISSING_RECOVERY, username=username)
        account = c.sign_in_limiter.account(tenant, username)
        fp = client_key(state, request, tenant)
        wait = await c.sign_in_limiter.retry_after(tenant, account=account, client=fp)
        if wait is not None:
            return too_many(tenant, wait)
        user = await c.account_recovery.redeem(tenant, username, code)
        if user is None:
            await c.sign_in_limiter.failed(tenant, account=account, client=fp)
            return recover_page(tenant, pre_id, error=WRONG_RECOVERY, username=username)
        session = await open_session(state, request, tenant, user, (), state.settings.acr_names.recovery)
        return signed_in_redirect(state, tenant, session, None)

    async def show(request: Request, tenant: Tenant) -> Response:
        values = request.query_params.getlist("return_to")
        if len(values) > 1:
            raise _BadForm(400, "return_to is repeated")
        return_to = values[0] if values else None
        if return_to is not None and not valid_return_to(return_to):
            raise _BadForm(400, "return_to is not a valid interaction id")
        pre_name = cookie_name(state, tenant, "pre")
        pre_id = request.cookies.get(pre_name)
        fresh = not csrf.valid_pre_session_id(pre_id)
        if fresh or pre_id is None:
            pre_id = csrf.new_pre_session_id()
        level = await state.c.authorization.required_level(tenant, return_to) if return_to else None
        response = form_page(tenant, pre_id, return_to, step_up=level is not None and level > AuthLevel.PASSWORD)
        if fresh:
            _set_cookie(state, response, pre_name, pre_id, None)
        return response

    async def read_form(request: Request) -> dict[str, list[str]]:
        mime, _, options = request.headers.get("content-type", "").partition(";")
        if mime.strip().lower() != FORM_TYPE:
            raise _BadForm(415, f"the form must be sent as {FORM_TYPE}")
        charset = options.strip().lower().replace(" ", "")
        if charset and charset not in {"charset=utf-8", 'charset="utf-8"'}:
            raise _BadForm(415, "the only accepted charset is UTF-8")
        declared = request.headers.get("content-length")
        limit = min(MAX_LOGIN_BODY, state.settings.max_body_bytes)
        body = await read_body(request.receive, declared.encode("latin-1") if declared is not None else None, limit)
        return parse_form(body)

    async def submit(request: Request, tenant: Tenant) -> Response:
        c = state.c
        params, pre_id = await checked_form(request, tenant)
        username = _single(params, "username") or ""
        password = _single(params, "password") or ""
        return_to = _single(params, "return_to", required=False) or None
        if return_to is not None and not valid_return_to(return_to):
            raise _BadForm(400, "return_to is not a valid interaction id")
        if not username or not password:
            return form_page(tenant, pre_id, return_to, error=MISSING_ERROR, username=username)
        account = c.sign_in_limiter.account(tenant, username)
        wait = await c.sign_in_limiter.retry_after(tenant, account=account, client=client(request, tenant))
        if wait is not None:
            return too_many(tenant, wait)
        user = await c.users.authenticate(tenant, username, password)
        if user is None:
            await c.sign_in_limiter.failed(tenant, account=account, client=client(request, tenant))
            log.info("sign-in failed (tenant %s)", tenant.name)
            return form_page(tenant, pre_id, return_to, error=GENERIC_ERROR, username=username)
        await c.sign_in_limiter.succeeded(tenant, account=account)
        if await c.totp.enrolled(tenant, user.lid):
            await c.pending_sign_ins.remember(tenant, pre_id, user.lid, return_to)
            return second_factor_page(tenant, pre_id)
        session = await open_session(state, request, tenant, user, (Amr.PASSWORD,), state.settings.acr_password)
        return signed_in_redirect(state, tenant, session, return_to)

    async def endpoint(request: Request) -> Response:
        try:
            tenant = await state.tenant(request.path_params.get("tenant"))
            if request.url.path.endswith("/recover"):
                return await recover(request, tenant)
            if request.url.path.endswith("/second-factor"):
                if request.method != "POST":
                    raise _BadForm(405, "sign in first")
                return await verify_second_factor(request, tenant)
            if request.method == "POST":
                return await submit(request, tenant)
            return await show(request, tenant)
        except _BadForm as exc:
            return pages.error(exc.status, exc.message)
        except OAuthError as exc:
            retry = {"retry-after": "1"} if exc.code is ErrorCode.TEMPORARILY_UNAVAILABLE else None
            return pages.error(exc.status, exc.description or "The request cannot be served.", headers=retry)

    return endpoint
