"""Step-up at the edge: when an account action needs a recent second factor (domain/authn.step_up_reason,
ADR 0006), the answer is HTTP 428 with ``{"error": "step_up_required", "reason", "acr_values",
"max_age"}`` (JSON when the request accepts JSON; the same facts on an HTML page otherwise).

Adding a factor (the authenticator app on the account page, a passkey through /webauthn/register) is free
while the account has no second factor yet and in a recovery session; once it has one, adding another
needs a step-up too (otherwise a stolen session could add its own factor and then pass every step-up).

One `StepUp` is made in web/endpoints.py and shared by the account page and the passkey endpoints.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from starlette.requests import Request
from starlette.responses import Response

from lukhas_id.clock import Clock
from lukhas_id.domain.authn import AuthLevel, level_of, step_up_reason
from lukhas_id.domain.session import Session
from lukhas_id.domain.tenant import Tenant
from lukhas_id.services.passkeys import PasskeyService
from lukhas_id.services.sign_in import SignInService
from lukhas_id.web.http_io import json_response
from lukhas_id.web.page_kit import PageKit
from lukhas_id.web.providers import Provider

MESSAGES: Final = {
    "second_factor_required": "Confirm it's you with a passkey or your authenticator app first.",
    "authentication_too_old": "Confirm it's you again: your last confirmation was too long ago.",
}


class StepUpRequired(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def wants_json(request: Request) -> bool:
    return "application/json" in request.headers.get("accept", "")


@dataclass(frozen=True, slots=True)
class StepUp:
    """The step-up rule: `max_age` (Settings.step_up_max_age) is how recent a second factor must be,
    `acr_mfa` the level a relying party asks for; `clock`, `passkeys` and `sign_in` are providers
    (web/providers.py)."""

    clock: Provider[Clock]
    passkeys: Provider[PasskeyService]
    sign_in: Provider[SignInService]
    max_age: int
    acr_mfa: str

    def reason(self, session: Session) -> str | None:
        """Why `session` needs a step-up before a sensitive action, or None when its second factor is recent."""
        return step_up_reason(session.amr, session.auth_time, self.clock().now(), self.max_age)

    def require(self, session: Session) -> None:
        """Raise StepUpRequired unless `session` has a recent second factor."""
        why = self.reason(session)
        if why is not None:
            raise StepUpRequired(why)

    async def add_factor_reason(self, tenant: Tenant, session: Session) -> str | None:
        """Why adding a factor needs a step-up first, or None: free for a recovery session and for an
        account without a second factor; otherwise a recent second factor is needed."""
        if level_of(session.amr) is AuthLevel.RECOVERY:
            return None
        lid = session.user_lid
        if await self.passkeys().list_for_user(tenant, lid) or await self.sign_in().second_factor_enrolled(tenant, lid):
            return self.reason(session)
        return None

    def json_answer(self, why: str) -> Response:
        """HTTP 428: the action needs the user to confirm it's them (a recent second factor)."""
        body = {"error": "step_up_required", "reason": why, "acr_values": self.acr_mfa, "max_age": self.max_age}
        return json_response(body, 428, {"cache-control": "no-store"})

    def answer(self, kit: PageKit, request: Request, tenant: Tenant, why: str) -> Response:
        """HTTP 428 as JSON or as the step-up page, as the request prefers."""
        if wants_json(request):
            return self.json_answer(why)
        account = f"{kit.issuer(tenant)}/account"
        return kit.pages.render("step_up.html", 428, message=MESSAGES[why], account=account)
