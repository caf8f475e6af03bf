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
  password sign-in (web/routes/login.py) sets them. Failures count against the sign-in rate
  limit of the client's address (429 rate_limited with Retry-After once it is spent).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any, Final

import orjson
from starlette.requests import Request
from starlette.responses import Response

from lukhas_id.domain.tenant import Tenant
from lukhas_id.errors import OAuthError
from lukhas_id.protocol.webauthn import WebAuthnError
from lukhas_id.services.passkeys import InvalidPasskeyName
from lukhas_id.web import csrf
from lukhas_id.web.http_io import NO_STORE, error_response, json_response, read_body
from lukhas_id.web.routes.account import add_factor_step_up, step_up_json
from lukhas_id.web.routes.login import (
    _origin_ok,
    after_sign_in,
    client_key,
    cookie_name,
    current_session,
    open_session,
    set_session_cookies,
    valid_return_to,
)
from lukhas_id.web.state import AppState

log = logging.getLogger("lukhas_id")

Endpoint = Callable[[Request], Awaitable[Response]]

JSON_TYPE: Final = "application/json"
MAX_BODY: Final = 16 * 1024
CSRF_HEADER: Final = "x-csrf-token"


class _Refused(Exception):
    def __init__(self, status: int, error: str, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.error = error
        self.description = description


class _RateLimited(Exception):
    def __init__(self, wait: int) -> None:
        super().__init__(wait)
        self.wait = wait


def _answer(payload: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return json_response(payload, status, {**NO_STORE, **(headers or {})})


def _bad(description: str) -> _Refused:
    return _Refused(400, "invalid_request", description)


class _Flow:
    """What the four endpoints share: reading the request, CSRF, the session."""

    def __init__(self, state: AppState) -> None:
        self.state = state

    def csrf_key(self, tenant: Tenant) -> bytes:
        return self.state.csrf_key(tenant)

    async def read(self, request: Request) -> dict[str, Any]:
        mime, _, options = request.headers.get("content-type", "").partition(";")
        if mime.strip().lower() != JSON_TYPE:
            raise _Refused(415, "invalid_request", f"Content-Type must be {JSON_TYPE}")
        charset = options.strip().lower().replace(" ", "")
        if charset and charset not in {"charset=utf-8", 'charset="utf-8"'}:
            raise _Refused(415, "invalid_request", "the only accepted charset is UTF-8")
        declared = request.headers.get("content-length")
        limit = min(MAX_BODY, self.state.settings.max_body_bytes)
        body = await read_body(request.receive, declared.encode("latin-1") if declared is not None else None, limit)
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError:
            raise _bad("the body is not valid JSON") from None
        if not isinstance(data, dict):
            raise _bad("the body must be a JSON object")
        return data

    def require_csrf(self, request: Request, tenant: Tenant) -> str:
        """The pre-session id the CSRF token is bound to; 403 without a valid token or from another site."""
        pre_id = request.cookies.get(cookie_name(self.state, tenant, "pre"))
        token = request.headers.get(CSRF_HEADER)
        if (
            pre_id is None
            or not _origin_ok(self.state, request)
            or not csrf.verify(self.csrf_key(tenant), pre_id, token)
        ):
            raise _Refused(403, "forbidden", "the request did not come from this site; reload the page and retry")
        return pre_id

    async def run(self, request: Request, handler: Callable[[Request, Tenant], Awaitable[Response]]) -> Response:
        try:
            tenant = await self.state.tenant(request.path_params.get("tenant"))
            return await handler(request, tenant)
        except _Refused as exc:
            return _answer({"error": exc.error, "error_description": exc.description}, exc.status)
        except OAuthError as exc:
            return error_response(exc)


def _optional_str(data: dict[str, Any], name: str) -> str | None:
    value = data.pop(name, None)
    if value is not None and not isinstance(value, str):
        raise _bad(f"{name} must be a string")
    return value


_REGISTRATION_MEMBERS: Final = ("clientDataJSON", "attestationObject")
_ASSERTION_MEMBERS: Final = ("clientDataJSON", "authenticatorData", "signature")


def _require_credential(data: dict[str, Any], members: tuple[str, ...]) -> None:
    """400 invalid_request unless `data` has the shape of credential.toJSON() (checked before the
    ceremony state is used up; the values themselves are the WebAuthn checks' business)."""
    for name in ("id", "rawId", "type"):
        if not isinstance(data.get(name), str):
            raise _bad(f"the credential member {name} is missing")
    response = data.get("response")
    if not isinstance(response, dict):
        raise _bad("the credential member response is missing")
    for name in members:
        if not isinstance(response.get(name), str):
            raise _bad(f"the credential member response.{name} is missing")


def _failed(reason: str) -> Response:
    return _answer({"error": "webauthn_failed", "error_description": reason}, 400)


def register_begin(state: AppState) -> Endpoint:
    flow = _Flow(state)

    async def handle(request: Request, tenant: Tenant) -> Response:
        await flow.read(request)
        flow.require_csrf(request, tenant)
        session = await current_session(state, request, tenant)
        if session is None:
            raise _Refused(401, "login_required", "sign in first")
        reason = await add_factor_step_up(state, tenant, session)
        if reason is not None:
            return step_up_json(state, reason)
        try:
            options = await state.c.passkeys.begin_registration(tenant, session.user_lid, session.sid)
        except WebAuthnError as exc:
            return _failed(exc.reason)
        return _answer(options)

    async def endpoint(request: Request) -> Response:
        return await flow.run(request, handle)

    return endpoint


def register_complete(state: AppState) -> Endpoint:
    flow = _Flow(state)

    async def handle(request: Request, tenant: Tenant) -> Response:
        data = await flow.read(request)
        flow.require_csrf(request, tenant)
        session = await current_session(state, request, tenant)
        if session is None:
            raise _Refused(401, "login_required", "sign in first")
        name = _optional_str(data, "name")
        _require_credential(data, _REGISTRATION_MEMBERS)
        try:
            passkey = await state.c.passkeys.complete_registration(tenant, session.user_lid, session.sid, data, name)
        except InvalidPasskeyName as exc:
            raise _bad(str(exc)) from None
        except WebAuthnError as exc:
            log.info("passkey registration failed (tenant %s): %s", tenant.name, exc.reason)
            return _failed(exc.reason)
        return _answer({"handle": passkey.handle, "name": passkey.name}, 201)

    async def endpoint(request: Request) -> Response:
        return await flow.run(request, handle)

    return endpoint


def authenticate_begin(state: AppState) -> Endpoint:
    flow = _Flow(state)

    async def handle(request: Request, tenant: Tenant) -> Response:
        data = await flow.read(request)
        pre_id = flow.require_csrf(request, tenant)
        username = _optional_str(data, "username") or None
        step_up = data.get("step_up", False)
        if not isinstance(step_up, bool):
            raise _bad("step_up must be true or false")
        options = await state.c.passkeys.begin_authentication(
            tenant, pre_id, username, user_verification="required" if step_up else None
        )
        return _answer(options)

    async def endpoint(request: Request) -> Response:
        return await flow.run(request, handle)

    return endpoint


def authenticate_complete(state: AppState) -> Endpoint:
    flow = _Flow(state)

    async def handle(request: Request, tenant: Tenant) -> Response:
        c = state.c
        data = await flow.read(request)
        pre_id = flow.require_csrf(request, tenant)
        return_to = _optional_str(data, "return_to") or None
        if return_to is not None and not valid_return_to(return_to):
            raise _bad("return_to is not a valid interaction id")
        _require_credential(data, _ASSERTION_MEMBERS)
        # Before verification the account is not known (discoverable sign-in): the client is limited.
        client = client_key(state, request, tenant)

        async def admit() -> None:
            wait = await c.sign_in_limiter.retry_after(tenant, account=None, client=client)
            if wait is not None:
                raise _RateLimited(wait)

        try:
            signed_in = await c.passkeys.complete_authentication(tenant, pre_id, data, admit=admit())
        except _RateLimited as exc:
            return _answer(
                {"error": "rate_limited", "error_description": "too many failed sign-ins; wait, then retry"},
                429,
                {"retry-after": str(exc.wait)},
            )
        except WebAuthnError as exc:
            await c.sign_in_limiter.failed(tenant, account=None, client=client)
            log.info("passkey sign-in failed (tenant %s): %s", tenant.name, exc.reason)
            return _failed(exc.reason)
        session = await open_session(state, request, tenant, signed_in.user, signed_in.amr, signed_in.acr)
        response = _answer({"redirect": after_sign_in(state, tenant, return_to)})
        return set_session_cookies(state, response, tenant, session)

    async def endpoint(request: Request) -> Response:
        return await flow.run(request, handle)

    return endpoint
