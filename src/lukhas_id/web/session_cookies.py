"""The browser's cookies: the session cookie, the pre-session cookie that CSRF tokens are bound to, and
where a browser goes once signed in.

Cookies (all HttpOnly, SameSite=Lax, Path=/): ``lid_session`` (the session id) and ``lid_pre`` (the
pre-session id, web/csrf.py), with ``_t_{tenant}`` appended for a tenant other than the default one, so
each tenant reads only its own cookie; and sessions are stored under the tenant's id, so an id presented
to another tenant resolves to nothing. When the public URL is https the names get the ``__Host-`` prefix
and the Secure flag (a subdomain can then neither set nor overwrite them).

After a sign-in the browser gets a new session cookie and a new pre-session cookie (the CSRF tokens of
the signed-out forms expire), and goes back to the pending authorization request
(``{issuer}/oauth2/authorize/resume?interaction={return_to}``) or to ``{issuer}/account``. `return_to`
is an opaque interaction id (URL-safe, 16-128 characters), never a URL: no open redirect.
"""

from __future__ import annotations

import re
from typing import Final, Literal

from starlette.requests import Request
from starlette.responses import Response

from lukhas_id.domain.session import Session
from lukhas_id.domain.tenant import Tenant
from lukhas_id.services.sign_in import Browser
from lukhas_id.web import csrf
from lukhas_id.web.http_io import peer_address
from lukhas_id.web.page_kit import PageKit
from lukhas_id.web.pages import PageError, redirect

Kind = Literal["session", "pre"]
RETURN_TO_RE: Final = re.compile(r"[A-Za-z0-9_-]{16,128}")


def valid_return_to(value: str) -> bool:
    return bool(RETURN_TO_RE.fullmatch(value))


def cookie_name(kit: PageKit, tenant: Tenant, kind: Kind) -> str:
    """The tenant's cookie of `kind`."""
    name = f"lid_{kind}" if tenant.name == kit.default_tenant else f"lid_{kind}_t_{tenant.name}"
    return f"__Host-{name}" if kit.secure_cookies else name


def _set_cookie(kit: PageKit, response: Response, name: str, value: str, max_age: int | None) -> None:
    response.set_cookie(
        name, value, max_age=max_age, path="/", secure=kit.secure_cookies, httponly=True, samesite="lax"
    )


# -- the session -------------------------------------------------------------------------------------------


async def current_session(kit: PageKit, request: Request, tenant: Tenant) -> Session | None:
    """The browser's live session in this tenant, or None."""
    value = request.cookies.get(cookie_name(kit, tenant, "session"))
    return await kit.sessions().get(tenant, value) if value else None


def set_session_cookies(kit: PageKit, response: Response, tenant: Tenant, session: Session) -> Response:
    """The session cookie, and a new pre-session cookie (CSRF tokens of the signed-out forms expire)."""
    _set_cookie(kit, response, cookie_name(kit, tenant, "session"), session.id, int(kit.sessions().lifetime))
    _set_cookie(kit, response, cookie_name(kit, tenant, "pre"), csrf.new_pre_session_id(), None)
    return response


def clear_session_cookie(kit: PageKit, response: Response, tenant: Tenant) -> Response:
    response.delete_cookie(
        cookie_name(kit, tenant, "session"),
        path="/",
        secure=kit.secure_cookies,
        httponly=True,
        samesite="lax",
    )
    return response


def after_sign_in(kit: PageKit, tenant: Tenant, return_to: str | None) -> str:
    """Where the browser goes once signed in: back to the pending authorization request, or the account."""
    issuer = kit.issuer(tenant)
    return f"{issuer}/oauth2/authorize/resume?interaction={return_to}" if return_to else f"{issuer}/account"


def signed_in_redirect(kit: PageKit, tenant: Tenant, session: Session, return_to: str | None) -> Response:
    """303 to `after_sign_in`, with the new session's cookies."""
    return set_session_cookies(kit, redirect(after_sign_in(kit, tenant, return_to)), tenant, session)


def browser(kit: PageKit, request: Request, tenant: Tenant, pre_session: str) -> Browser:
    """The browser as services/sign_in.py sees it: its network address (web/http_io.py `peer_address`:
    forwarded headers only from a trusted proxy), its pre-session id and its current session id."""
    session = request.cookies.get(cookie_name(kit, tenant, "session"))
    return Browser(peer_address(request.scope, kit.edge), pre_session, session or None)


# -- the pre-session and CSRF ------------------------------------------------------------------------------


def pre_session(kit: PageKit, request: Request, tenant: Tenant) -> tuple[str, bool]:
    """The browser's pre-session id for the forms of a page, and whether it is new (then set it with
    `set_pre_cookie`)."""
    pre_id = request.cookies.get(cookie_name(kit, tenant, "pre"))
    if pre_id is not None and csrf.valid_pre_session_id(pre_id):
        return pre_id, False
    return csrf.new_pre_session_id(), True


def set_pre_cookie(kit: PageKit, response: Response, tenant: Tenant, pre_id: str, fresh: bool = True) -> Response:
    if fresh:
        _set_cookie(kit, response, cookie_name(kit, tenant, "pre"), pre_id, None)
    return response


def require_csrf(
    kit: PageKit,
    request: Request,
    tenant: Tenant,
    token: str | None,
    *,
    message: str = csrf.FORBIDDEN,
) -> str:
    """The pre-session id that `token` is bound to (web/csrf.py `passes`); otherwise 403 with `message`."""
    pre_id = request.cookies.get(cookie_name(kit, tenant, "pre"))
    origin = request.headers.get("origin")
    if pre_id is None or not csrf.passes(kit.csrf_key(tenant), pre_id, token, origin, kit.public_url):
        raise PageError(403, message, error="forbidden")
    return pre_id
