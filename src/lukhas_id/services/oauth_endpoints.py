"""The token (RFC 6749 §3.2), introspection (RFC 7662 §2) and revocation (RFC 7009 §2) endpoints as
ordered, named steps, below any edge (node-oidc-provider's `lib/actions/token.js` is the picture).

The token endpoint:

1. `tenant`: the tenant named by the path (404 when none);
2. `read`: the form rules (protocol/oauth2/request.py `read_form_request`), with the target URI derived
   from the tenant's issuer;
3. `authenticate`: the client, by its registered method (services/client_authentication.py);
4. `sender_constraint`: a slot for the checks that bind tokens to a key (DPoP, mTLS), each returning the
   confirmation (or None); empty today, so tokens are bearer tokens;
5. `select_grant`: the handler of `grant_type` from the table the composition root built; a public
   client only for grants that allow it;
6. `policy`: a slot for policy decisions on the grant about to run (empty today);
7. `run`: the grant handler, with a typed `GrantContext`;
8. `respond`: `IssuedTokens` as RFC 6749 §5.1 JSON (token_type set there, protocol/oauth2/grants.py).

Introspection and revocation share steps 1-3 and run their service. Every step raises `OAuthError`
(RFC 6749 §5.2); no signing key (KeyUnavailable) is 503 `temporarily_unavailable`. An edge (web/,
a future gRPC edge, a test) hands an `HttpMessage` and gets `EndpointAnswer` or an `OAuthError`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from lukhas_id.domain.client import Client, GrantType
from lukhas_id.domain.tenant import Tenant
from lukhas_id.errors import ErrorCode, KeyUnavailable, OAuthError
from lukhas_id.metrics import Metrics
from lukhas_id.observability import tracing
from lukhas_id.protocol.oauth2.grants import (
    Confirmation,
    GrantContext,
    GrantHandler,
    check_grant_allowed,
    select_grant,
    token_response,
)
from lukhas_id.protocol.oauth2.request import HttpMessage, OAuthRequest, read_form_request
from lukhas_id.services.client_authentication import ClientAuthentication
from lukhas_id.services.revocation import RevocationService
from lukhas_id.services.tenants import TenantService
from lukhas_id.services.tokens import TokenService

# A check that binds the tokens to a key: the confirmation, or None when the request asks for none.
SenderConstraint = Callable[[Tenant, Client, OAuthRequest], Awaitable[Confirmation | None]]
# A policy decision on a grant about to run: returns when allowed, raises OAuthError when not.
PolicyCheck = Callable[[GrantContext, GrantType], Awaitable[None]]

NO_SIGNING_KEY: Final = "no signing key is available"


@dataclass(frozen=True, slots=True)
class EndpointAnswer:
    """A successful answer: 200 with a JSON body that must not be cached, or an empty 200 (`body` None)."""

    body: dict[str, Any] | None


def _no_signing_key() -> OAuthError:
    return OAuthError(ErrorCode.TEMPORARILY_UNAVAILABLE, NO_SIGNING_KEY, 503)


class OAuthEndpoints:
    def __init__(
        self,
        tenants: TenantService,
        authentication: ClientAuthentication,
        grants: Mapping[GrantType, GrantHandler],
        tokens: TokenService,
        revocation: RevocationService,
        *,
        sender_constraints: Sequence[SenderConstraint] = (),
        policy: Sequence[PolicyCheck] = (),
        metrics: Metrics | None = None,
    ) -> None:
        self._tenants = tenants
        self._authentication = authentication
        self._grants = dict(grants)
        self._tokens = tokens
        self._revocation = revocation
        self._sender_constraints = tuple(sender_constraints)
        self._policy = tuple(policy)
        self._metrics = metrics
        # The counters' children of the common answers, bound once (a label lookup per request costs more).
        self._issued = {g: metrics.token_issuance.labels(g.value, "issued") for g in GrantType} if metrics else {}
        self._active = (
            {True: metrics.token_introspection.labels("true"), False: metrics.token_introspection.labels("false")}
            if metrics
            else {}
        )

    @property
    def grant_types(self) -> tuple[GrantType, ...]:
        """The grant types this server serves, in a stable order (the discovery document lists them)."""
        return tuple(sorted(self._grants, key=lambda g: g.value))

    # --- the endpoints ------------------------------------------------------------------------------

    # Each endpoint answers KeyUnavailable as 503 with a plain try (not a context manager: these run on
    # every request, and the steps below are kept as cheap as calls can be).

    async def token(self, message: HttpMessage) -> EndpointAnswer:
        grant: GrantType | None = None
        with tracing.span("oauth.token") as span:  # NO_SPAN, doing nothing, when tracing is off
            try:
                tenant, request = await self._read(message)
                client = await self._authentication.authenticate(tenant, request, public_clients=True)
                confirmation = (
                    await self._sender_constraint(tenant, client, request) if self._sender_constraints else None
                )
                handler = self._select_grant(client, request)
                grant = handler.grant_type
                span.set_attribute("oauth.grant_type", grant.value)
                ctx = GrantContext(tenant, client, request, confirmation)
                if self._policy:
                    await self._check_policy(ctx, grant)
                issued = await handler.handle(ctx)
            except KeyUnavailable:
                self._refused(grant, ErrorCode.TEMPORARILY_UNAVAILABLE, span)
                raise _no_signing_key() from None
            except OAuthError as exc:
                self._refused(grant, exc.code, span)
                raise
        if self._issued:
            self._issued[grant].inc()
        return EndpointAnswer(token_response(issued, confirmation))

    async def introspect(self, message: HttpMessage) -> EndpointAnswer:
        # RFC 7662 §2.1: the caller must be authenticated; public clients cannot introspect.
        try:
            tenant, request = await self._read(message)
            caller = await self._authentication.authenticate(tenant, request, public_clients=False)
            answer = await self._tokens.introspect(tenant, caller, request)
        except KeyUnavailable:
            raise _no_signing_key() from None
        if self._active:
            self._active[answer.get("active") is True].inc()
        return EndpointAnswer(answer)

    async def revoke(self, message: HttpMessage) -> EndpointAnswer:
        # RFC 7009 §2.1: public clients may revoke their own tokens, identified by client_id.
        try:
            tenant, request = await self._read(message)
            caller = await self._authentication.authenticate(tenant, request, public_clients=True)
            await self._revocation.revoke(tenant, caller, request)
        except KeyUnavailable:
            raise _no_signing_key() from None
        if self._metrics is not None:
            self._metrics.token_revocation.inc()
        return EndpointAnswer(None)

    def _refused(self, grant: GrantType | None, code: ErrorCode, span: tracing.Span) -> None:
        span.set_attribute("oauth.error", code.value)
        if self._metrics is not None:
            self._metrics.token_issuance.labels(grant.value if grant else "other", code.value).inc()

    # --- the steps ----------------------------------------------------------------------------------

    async def _read(self, message: HttpMessage) -> tuple[Tenant, OAuthRequest]:
        tenant = await self._tenants.resolve(message.tenant)
        return tenant, read_form_request(message, self._tenants.issuer(tenant) + message.path)

    async def _sender_constraint(self, tenant: Tenant, client: Client, request: OAuthRequest) -> Confirmation | None:
        confirmation: Confirmation | None = None
        for check in self._sender_constraints:
            found = await check(tenant, client, request)
            if found is not None:
                if confirmation is not None and found != confirmation:
                    raise OAuthError(ErrorCode.INVALID_REQUEST, "the token can be bound to one key only")
                confirmation = found
        return confirmation

    def _select_grant(self, client: Client, request: OAuthRequest) -> GrantHandler:
        handler = select_grant(request, self._grants)
        check_grant_allowed(client, handler)
        return handler

    async def _check_policy(self, ctx: GrantContext, grant_type: GrantType) -> None:
        for check in self._policy:
            await check(ctx, grant_type)
