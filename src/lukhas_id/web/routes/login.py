"""The sign-in page: GET and POST /login (and /t/{tenant}/login). Password path; no JavaScript needed.

POST, in order: form read strictly (4xx page on bad input), CSRF token (403), `return_to` format (400),
throttle (429 with Retry-After), password. A wrong password re-renders the form (200) with one generic
message for any failure, tied to both fields with aria-describedby. Success ends any session the
browser already had in this tenant, creates a new one (a new id: no fixation), replaces the
pre-session cookie, and answers 303 (RFC 9700 §4.12) to
``{issuer}/oauth2/authorize/resume?interaction={return_to}`` or, without return_to, ``{issuer}/account``
(not built yet).

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
from collections.abc import Awaitable, Callable
from typing import Final
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import Response

from lukhas_id.domain.session import ACR_PASSWORD, AMR_PASSWORD, Session
from lukhas_id.domain.tenant import Tenant
from lukhas_id.errors import ErrorCode, OAuthError
from lukhas_id.services.login_throttle import TenantKeyring
from lukhas_id.web import csrf
from lukhas_id.web.http_io import FORM_TYPE, parse_form, read_body
from lukhas_id.web.pages import Pages, redirect
from lukhas_id.web.state import AppState

log = logging.getLogger("lukhas_id")

Endpoint = Callable[[Request], Awaitable[Response]]

RETURN_TO_RE: Final = re.compile(r"[A-Za-z0-9_-]{16,128}")
GENERIC_ERROR: Final = "The username or password is not correct."
MISSING_ERROR: Final = "Enter your username and password."
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
    keyring: list[TenantKeyring] = []

    def csrf_key(tenant: Tenant) -> bytes:
        if not keyring:
            keyring.append(TenantKeyring(state.c.kek))
        return keyring[0].key(tenant, "csrf")

    def form_page(
        tenant: Tenant,
        pre_id: str,
        return_to: str | None,
        *,
        status: int = 200,
        error: str | None = None,
        username: str = "",
    ) -> Response:
        return pages.render(
            "login.html",
            status,
            action=f"{state.c.tenants.issuer(tenant)}/login",
            csrf_token=csrf.token(csrf_key(tenant), pre_id),
            return_to=return_to,
            error=error,
            username=username,
        )

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
        response = form_page(tenant, pre_id, return_to)
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
        params = await read_form(request)
        token = _single(params, csrf.FIELD, required=False)
        pre_id = request.cookies.get(cookie_name(state, tenant, "pre"))
        if pre_id is None or not _origin_ok(state, request) or not csrf.verify(csrf_key(tenant), pre_id, token):
            raise _BadForm(403, "the form has expired or did not come from this site; go back, reload it and retry")
        username = _single(params, "username") or ""
        password = _single(params, "password") or ""
        return_to = _single(params, "return_to", required=False) or None
        if return_to is not None and not valid_return_to(return_to):
            raise _BadForm(400, "return_to is not a valid interaction id")
        if not username or not password:
            return form_page(tenant, pre_id, return_to, error=MISSING_ERROR, username=username)
        client_ip = request.client.host if request.client else "unknown"
        wait = await c.login_throttle.retry_after(tenant, username, client_ip)
        if wait is not None:
            log.info("sign-in throttled (tenant %s)", tenant.name)
            return pages.error(
                429,
                "Too many failed sign-in attempts. Wait a while, then try again.",
                headers={"retry-after": str(wait)},
            )
        user = await c.users.authenticate(tenant, username, password)
        if user is None:
            await c.login_throttle.failed(tenant, username, client_ip)
            log.info("sign-in failed (tenant %s)", tenant.name)
            return form_page(tenant, pre_id, return_to, error=GENERIC_ERROR, username=username)
        await c.login_throttle.succeeded(tenant, username, client_ip)
        session_name = cookie_name(state, tenant, "session")
        old = request.cookies.get(session_name)
        if old:
            await c.sessions.end(tenant, old)
        session = await c.sessions.create(tenant, user, (AMR_PASSWORD,), ACR_PASSWORD)
        log.info("sign-in: tenant %s, session sid %s", tenant.name, session.sid)
        issuer = c.tenants.issuer(tenant)
        target = f"{issuer}/oauth2/authorize/resume?interaction={return_to}" if return_to else f"{issuer}/account"
        response = redirect(target)
        _set_cookie(state, response, session_name, session.id, int(c.sessions.lifetime))
        _set_cookie(state, response, cookie_name(state, tenant, "pre"), csrf.new_pre_session_id(), None)
        return response

    async def endpoint(request: Request) -> Response:
        try:
            tenant = await state.tenant(request.path_params.get("tenant"))
            if request.method == "POST":
                return await submit(request, tenant)
            return await show(request, tenant)
        except _BadForm as exc:
            return pages.error(exc.status, exc.message)
        except OAuthError as exc:
            retry = {"retry-after": "1"} if exc.code is ErrorCode.TEMPORARILY_UNAVAILABLE else None
            return pages.error(exc.status, exc.description or "The request cannot be served.", headers=retry)

    return endpoint
