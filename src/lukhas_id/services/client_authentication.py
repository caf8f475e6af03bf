"""Client authentication at the token, introspection and revocation endpoints: RFC 6749 §2.3, OAuth 2.1 §2.4.

The table of authenticators (protocol/oauth2/client_auth.py) is built in the composition root; this
service applies it, in order:

1. the one method the request presented (more than one: `invalid_request`); none presented: a public
   client identified by `client_id` where the endpoint lets public clients call (`none`), else
   `invalid_client`;
2. the brute-force limit (RFC 6749 §2.3.1, RFC 7009 §5, RFC 7662 §4) around every method that checks a
   secret or a signature: a blocked (client address, client id) gets 429 before anything is checked,
   and a failure takes a token from that pair's bucket (services/rate_limit.py, ClientAuthLimiter); the
   failure that starts a block emits `rate_limit.tripped` (with the client id when it is a client of the
   tenant: a made-up id presented by a guesser is never written anywhere);
3. the credentials, against a dummy when the client is unknown (timing tells nothing); a mismatch reads
   the client again (ClientService.reload, at most once a second per client), so a secret rotated by
   another process works at once;
4. the client's registered `token_endpoint_auth_method` (RFC 7591 §2): any other method is
   `invalid_client`, even with the right secret;
5. the client is active.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from lukhas_id.clock import Clock
from lukhas_id.domain.client import Client, ClientAuthMethod, ClientStatus
from lukhas_id.domain.events import EventType, IdentityEvent
from lukhas_id.domain.tenant import Tenant
from lukhas_id.errors import ErrorCode, OAuthError
from lukhas_id.observability.context import bind_client
from lukhas_id.ports.unit_of_work import UnitOfWork
from lukhas_id.protocol.oauth2.client_auth import (
    MAX_CLIENT_ID,
    ClientAuthenticator,
    PresentedCredentials,
    client_auth_failed,
    presented_credentials,
)
from lukhas_id.protocol.oauth2.request import OAuthRequest
from lukhas_id.services.clients import ClientService
from lukhas_id.services.rate_limit import ClientAuthLimiter

TOO_MANY_FAILURES: Final = "too many failed authentications of this client from this address; retry later"


class ClientAuthentication:
    def __init__(
        self,
        clients: ClientService,
        authenticators: Mapping[ClientAuthMethod, ClientAuthenticator],
        limiter: ClientAuthLimiter,
        uow: UnitOfWork,
        clock: Clock,
    ) -> None:
        self._uow = uow
        self._clock = clock
        self._clients = clients
        self._authenticators = dict(authenticators)
        self._presentable = tuple(a for m, a in self._authenticators.items() if m is not ClientAuthMethod.NONE)
        self._limiter = limiter

    @property
    def methods(self) -> tuple[ClientAuthMethod, ...]:
        """Every supported method (for the discovery document), in a stable order."""
        return tuple(sorted(self._authenticators, key=lambda m: (m is ClientAuthMethod.NONE, m.value)))

    @property
    def credential_methods(self) -> tuple[ClientAuthMethod, ...]:
        """The methods that authenticate a client (no `none`): what introspection accepts."""
        return tuple(m for m in self.methods if m is not ClientAuthMethod.NONE)

    async def authenticate(self, tenant: Tenant, request: OAuthRequest, *, public_clients: bool) -> Client:
        """The authenticated client (or, where `public_clients`, the identified public client);
        invalid_client (401, or 429 with Retry-After when the limit is spent) otherwise."""
        presented = presented_credentials(request, self._presentable)
        if presented is None:
            return await self._public(tenant, request, public_clients)
        authenticator = self._authenticators[presented.method]
        if not authenticator.checks_credential:
            return await self._verify(tenant, presented, authenticator)
        address = request.peer or "unknown"
        wait = self._limiter.retry_after(tenant, address, presented.client_id)
        if wait is not None:
            raise OAuthError(ErrorCode.INVALID_CLIENT, TOO_MANY_FAILURES, 429, retry_after=wait)
        try:
            return await self._verify(tenant, presented, authenticator)
        except OAuthError as exc:
            if exc.code is ErrorCode.INVALID_CLIENT and await self._limiter.failed(
                tenant, address, presented.client_id
            ):
                await self._tripped(tenant, presented.client_id)
            raise

    async def _tripped(self, tenant: Tenant, client_id: str) -> None:
        metadata = {"limit": "client_auth"}
        client = await self._clients.get(tenant.id, client_id) if len(client_id) <= MAX_CLIENT_ID else None
        if client is not None:
            metadata["client_id"] = client.client_id
        async with self._uow() as work:
            work.emit(
                IdentityEvent(EventType.RATE_LIMIT_TRIPPED, tenant.id, None, self._clock.now(), metadata=metadata)
            )

    async def _public(self, tenant: Tenant, request: OAuthRequest, public_clients: bool) -> Client:
        none = self._authenticators.get(ClientAuthMethod.NONE)
        if public_clients and none is not None and none.offered(request):
            presented = none.presented(request)
            if len(presented.client_id) <= MAX_CLIENT_ID:
                client = await self._clients.get(tenant.id, presented.client_id)
                if await none.verify(client, presented) and client is not None and client.status is ClientStatus.ACTIVE:
                    bind_client(client.client_id)
                    return client
        raise client_auth_failed(None, "client authentication is required")

    async def _verify(
        self, tenant: Tenant, presented: PresentedCredentials, authenticator: ClientAuthenticator
    ) -> Client:
        method = presented.method
        if len(presented.client_id) > MAX_CLIENT_ID:
            raise client_auth_failed(method)
        client = await self._clients.get(tenant.id, presented.client_id)
        _refuse_public(client, method)
        ok = await authenticator.verify(client, presented)
        if not ok:
            # The cached record may predate a secret rotation made by another process (the CLI).
            fresh = await self._clients.reload(tenant.id, presented.client_id)
            if fresh is not client:
                client = fresh
                _refuse_public(client, method)
                ok = await authenticator.verify(client, presented)
        if client is None or not ok:
            raise client_auth_failed(method)
        if client.token_endpoint_auth_method is not method:
            raise client_auth_failed(
                method, f"this client must authenticate with {client.token_endpoint_auth_method.value}"
            )
        if client.status is not ClientStatus.ACTIVE:
            raise client_auth_failed(method, "client is disabled")
        bind_client(client.client_id)  # the request's log lines name it (observability/context.py)
        return client


def _refuse_public(client: Client | None, method: ClientAuthMethod) -> None:
    if client is not None and client.public:
        # A public client has no secret: presenting one is not a way to authenticate it.
        raise client_auth_failed(method, "this client authenticates with no secret")
