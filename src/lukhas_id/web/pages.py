"""Server-rendered HTML pages (Jinja2, autoescaped) with the page security headers of RFC 9700, and the
pages' one error idiom.

Every page carries a strict CSP (nothing but same-origin styles, images and scripts, no inline script;
no framing: RFC 9700 §4.16), X-Frame-Options for old browsers, no referrer
(§4.2.4), nosniff and no-store. Templates and the stylesheet ship inside the package; no CDN or font.

Errors: a page route raises `PageError` (or lets an `OAuthError` through) and runs its work inside
`Pages.guard`, which answers either with the error page (`Pages.error`): the status, a short title and a
message that quotes no request data, with Retry-After where the refusal has one.
"""

from __future__ import annotations

from collections.abc import Awaitable
from pathlib import Path
from typing import Any, Final

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from starlette.responses import HTMLResponse, Response

from lukhas_id.errors import ErrorCode, OAuthError

STATIC_DIR: Final = Path(__file__).resolve().parent / "static"

# No `form-action`: browsers apply it to every redirect that follows a form submission, and the sign-in
# and consent forms end, by design, in a 303 to the client's redirect URI on another origin (a browser
# test caught Chromium blocking it). Injection is answered by autoescaping and `default-src 'none'`.
# Scripts: only ΛiD's own static files (the passkey ceremonies), which call only this origin.
CSP: Final = (
    "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'self'; img-src 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
SECURITY_HEADERS: Final = {
    "content-security-policy": CSP,
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "x-content-type-options": "nosniff",
    "cache-control": "no-store",
    "pragma": "no-cache",
}


# What the consent and account pages say a scope is for.
SCOPE_WORDS: Final = {
    "openid": "Confirm who you are",
    "profile": "Your name and username",
    "email": "Your email address",
    "offline_access": "Keep access when you are not using the app",
}


class PageError(Exception):
    """A request the web edge refuses: `status`, a message that quotes no request data, extra `headers`
    (Retry-After), and the `error` code a JSON endpoint answers with (web/routes/webauthn.py)."""

    def __init__(
        self, status: int, message: str, *, error: str = "invalid_request", headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.error = error
        self.headers = headers


def secure_headers(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The page security headers plus `extra` (e.g. Location, Retry-After)."""
    return {**SECURITY_HEADERS, **(extra or {})}


class Pages:
    """The template environment of one application; `static_url` is where /static is served."""

    def __init__(self, static_url: str) -> None:
        self._env = Environment(
            loader=PackageLoader("lukhas_id.web", "templates"),
            autoescape=select_autoescape(default=True, default_for_string=True),
            undefined=StrictUndefined,
            auto_reload=False,
        )
        self._env.globals["static_url"] = static_url.rstrip("/")

    def render(
        self, template: str, status: int = 200, *, headers: dict[str, str] | None = None, **context: Any
    ) -> Response:
        """Render `template` with `context` into an HTML response carrying the security headers."""
        body = self._env.get_template(template).render(**context)
        return HTMLResponse(body, status, headers=secure_headers(headers))

    def error(self, status: int, message: str, *, title: str = "", headers: dict[str, str] | None = None) -> Response:
        """The error page: a short title for the status and a message that quotes no request data."""
        return self.render(
            "error.html", status, headers=headers, title=title or _TITLES.get(status, "Error"), message=message
        )

    def refusal(self, exc: PageError | OAuthError) -> Response:
        """The error page of a refusal; a temporarily unavailable service adds Retry-After: 1."""
        if isinstance(exc, PageError):
            return self.error(exc.status, exc.message, headers=exc.headers)
        retry = {"retry-after": "1"} if exc.code is ErrorCode.TEMPORARILY_UNAVAILABLE else None
        return self.error(exc.status, exc.description or "The request cannot be served.", headers=retry)

    async def guard(self, work: Awaitable[Response]) -> Response:
        """`work`'s response, or the error page of the PageError or OAuthError it raised."""
        try:
            return await work
        except (PageError, OAuthError) as exc:
            return self.refusal(exc)


_TITLES: Final = {
    400: "Bad request",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    413: "Request too large",
    415: "Unsupported form",
    429: "Too many attempts",
    503: "Temporarily unavailable",
}


def redirect(location: str, headers: dict[str, str] | None = None) -> Response:
    """303 See Other (never 307 after a credential POST: RFC 9700 §4.12), with the security headers."""
    return Response(status_code=303, headers=secure_headers({**(headers or {}), "location": location}))
