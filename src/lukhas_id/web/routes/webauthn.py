"""Passkey JSON endpoints (WebAuthn L3), per tenant: POST {base}/webauthn/register/{begin,complete} and
POST {base}/webauthn/authenticate/{begin,complete}, base "" or "/t/{tenant}".

Every request: ``Content-Type: application/json`` (else 415), a body of at most 16 KiB (else 413) that
is a JSON object with the members named below (else 400 invalid_request), the header ``X-CSRF-Token``
carrying the CSRF token of the browser's pre-session cookie (web/csrf.py) and no cross-site Origin
(else 403 forbidden). A failed WebAuthn check is 400 ``{"error": "webauthn_failed",
"error_description": <reason>}``; the reasons are short and name no credential or user. Answers are
never cached (Cache-Control: no-store).

- register/begin ``{}`` -> 200 ``{"publicKey": {...}}`` (PublicKeyCredential.parseCreationOptionsFromJSON);
  needs a signed-in session (401 login_required), whose `sid` the ceremony is bound to; when the
  account already has a second factor, a recent one (else 428 step_up_required, web/routes/account.py).
- register/complete: ``credential.toJSON()`` plus an optional ``"name"`` -> 201 ``{"handle", "name"}``.
- authenticate/begin ``{"username": "..."}`` (username-first) or ``{}`` (discoverable), optionally
  ``"step_up": true`` (user verification required) -> 200 ``{"publicKey": {...}}``
  (parseRequestOptionsFromJSON); bound to the pre-session cookie. Other members are ignored.
- authenticate/complete: ``credential.toJSON()`` plus an optional ``"return_to"`` (an interaction id) ->
  200 ``{"redirect": "{issuer}/oauth2/authorize/resume?interaction=..."}`` or ``{"redirect":
  "{issuer}/account"}``, with a new session cookie and a new pre-session cookie, exactly as the
  password sign-in (web/routes/login.py) sets them. The sign-in is services/sign_in.py `passkey`: a
  failure counts against the client's address and, when the credential is known, against its owner's
  account; while either is spent the answer is 429 rate_limited with Retry-After.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Final

from starlette.requests import Request
from starlette.responses import Response

from lukhas_id.domain.session import Session
from lukhas_id.domain.tenant import Tenant
from lukhas_id.errors import OAuthError
from lukhas_id.observability import LogEvent, write
from lukhas_id.protocol.webauthn import WebAuthnError
from lukhas_id.services.passkeys import InvalidPasskeyName, PasskeyService
from lukhas_id.services.sign_in import Outcome, SignedIn, SignInService, Throttled
from lukhas_id.web import csrf
from lukhas_id.web import session_cookies as cookies
from lukhas_id.web.forms import read_json_object
from lukhas_id.web.http_io import NO_STORE, error_response, json_response
from lukhas_id.web.page_kit import PageKit
from lukhas_id.web.pages import PageError
from lukhas_id.web.providers import Provider
from lukhas_id.web.step_up import StepUp

Endpoint = Callable[[Request], Awaitable[Response]]
Handler = Callable[[Request, Tenant], Awaitable[Response]]

MAX_BODY: Final = 16 * 1024
FORBIDDEN: Final = "the request did not come from this site; reload the page and retry"


def _answer(payload: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return json_response(payload, status, {**NO_STORE, **(headers or {})})


def _failed(reason: str) -> Response:
    return _answer({"error": "webauthn_failed", "error_description": reason}, 400)


def _endpoint(kit: PageKit, handler: Handler) -> Endpoint:
    """The JSON error idiom of the passkey endpoints around `handler`: a PageError as {"error",
    "error_description"} with its status, an OAuthError as RFC 6749 §5.2 JSON."""

    async def endpoint(request: Request) -> Response:
        try:
            tenant = await kit.tenant(request)
            return await handler(request, tenant)
        except PageError as exc:
            return _answer({"error": exc.error, "error_description": exc.message}, exc.status, exc.headers)
        except OAuthError as exc:
            return error_response(exc)

    return endpoint


async def _read(kit: PageKit, request: Request, tenant: Tenant) -> tuple[dict[str, Any], str]:
    """The JSON object posted and the pre-session id its X-CSRF-Token is bound to (403 otherwise)."""
    data = await read_json_object(request, min(MAX_BODY, kit.edge.max_body))
    token = request.headers.get(csrf.HEADER)
    return data, cookies.require_csrf(kit, request, tenant, token, message=FORBIDDEN)


async def _signed_in_session(kit: PageKit, request: Request, tenant: Tenant) -> Session:
    session = await cookies.current_session(kit, request, tenant)
    if session is None:
        raise PageError(401, "sign in first", error="login_required")
    return session


def _optional_str(data: dict[str, Any], name: str) -> str | None:
    value = data.pop(name, None)
    if value is not None and not isinstance(value, str):
        raise PageError(400, f"{name} must be a string")
    return value


_REGISTRATION_MEMBERS: Final = ("clientDataJSON", "attestationObject")
_ASSERTION_MEMBERS: Final = ("clientDataJSON", "authenticatorData", "signature")


def _require_credential(data: dict[str, Any], members: tuple[str, ...]) -> None:
    """400 invalid_request unless `data` has the shape of credential.toJSON() (checked before the
    ceremony state is used up; the values themselves are the WebAuthn checks' business)."""
    for name in ("id", "rawId", "type"):
        if not isinstance(data.get(name), str):
            raise PageError(400, f"the credential member {name} is missing")
    response = data.get("response")
    if not isinstance(response, dict):
        raise PageError(400, "the credential member response is missing")
    for name in members:
        if not isinstance(response.get(name), str):
            raise PageError(400, f"the credential member response.{name} is missing")


def register_begin(kit: PageKit, step_up: StepUp, passkeys: Provider[PasskeyService]) -> Endpoint:
    async def handle(request: Request, tenant: Tenant) -> Response:
        await _read(kit, request, tenant)
        session = await _signed_in_session(kit, request, tenant)
        reason = await step_up.add_factor_reason(tenant, session)
        if reason is not None:
            return step_up.json_answer(reason)
        try:
            options = await passkeys().begin_registration(tenant, session.user_lid, session.sid)
        except WebAuthnError as exc:
            return _failed(exc.reason)
        return _answer(options)

    return _endpoint(kit, handle)


def register_complete(kit: PageKit, passkeys: Provider[PasskeyService]) -> Endpoint:
    async def handle(request: Request, tenant: Tenant) -> Response:
        data, _ = await _read(kit, request, tenant)
        session = await _signed_in_session(kit, request, tenant)
        name = _optional_str(data, "name")
        _require_credential(data, _REGISTRATION_MEMBERS)
        try:
            passkey = await passkeys().complete_registration(tenant, session.user_lid, session.sid, data, name)
        except InvalidPasskeyName as exc:
            raise PageError(400, str(exc)) from None
        except WebAuthnError as exc:
            write(LogEvent.PASSKEY_REGISTRATION_REFUSED, reason=exc.reason)
            return _failed(exc.reason)
        return _answer({"handle": passkey.handle, "name": passkey.name}, 201)

    return _endpoint(kit, handle)


def authenticate_begin(kit: PageKit, passkeys: Provider[PasskeyService]) -> Endpoint:
    async def handle(request: Request, tenant: Tenant) -> Response:
        data, pre_id = await _read(kit, request, tenant)
        username = _optional_str(data, "username") or None
        verify_user = data.get("step_up", False)
        if not isinstance(verify_user, bool):
            raise PageError(400, "step_up must be true or false")
        options = await passkeys().begin_authentication(
            tenant, pre_id, username, user_verification="required" if verify_user else None
        )
        return _answer(options)

    return _endpoint(kit, handle)


def authenticate_complete(kit: PageKit, sign_in: Provider[SignInService]) -> Endpoint:
    async def handle(request: Request, tenant: Tenant) -> Response:
        data, pre_id = await _read(kit, request, tenant)
        return_to = _optional_str(data, "return_to") or None
        if return_to is not None and not cookies.valid_return_to(return_to):
            raise PageError(400, "return_to is not a valid interaction id")
        _require_credential(data, _ASSERTION_MEMBERS)
        browser = cookies.browser(kit, request, tenant, pre_id)
        outcome: Outcome = await sign_in().passkey(tenant, data, browser, return_to)
        if isinstance(outcome, Throttled):
            return _answer(
                {"error": "rate_limited", "error_description": "too many failed sign-ins; wait, then retry"},
                429,
                {"retry-after": str(outcome.retry_after)},
            )
        if not isinstance(outcome, SignedIn):
            return _failed(outcome.detail)
        response = _answer({"redirect": cookies.after_sign_in(kit, tenant, outcome.return_to)})
        return cookies.set_session_cookies(kit, response, tenant, outcome.session)

    return _endpoint(kit, handle)
