"""The Shared Signals stream management API: OpenID SSF 1.0 §8 (configuration §8.1.1, status §8.1.2,
subjects §8.1.3, verification §8.1.4), authorised by this tenant's access tokens with the `ssf` scope.

`authorize` checks the bearer token as UserInfo does (services/userinfo.py): a valid access token of this
tenant (signature, expiry, revocation) whose audience includes the issuer, with the `ssf` scope, issued to a
client that exists and is active; that client is the receiver. A receiver has several streams and sees only
its own: another client's stream id is answered 404 like one that does not exist (§8.1.1.2's 404, and no
way to probe). A push endpoint must be reachable under the outbound rules (ports/outbound_http.py) when it
is registered, and is checked again at each delivery.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any, Final

from lukhas_id.clock import Clock
from lukhas_id.domain.client import Client, ClientStatus
from lukhas_id.domain.ssf import DefaultSubjects, DeliveryMethod, Stream, StreamStatus
from lukhas_id.domain.tenant import Tenant
from lukhas_id.ports.outbound_http import OutboundFailed, OutboundRefused
from lukhas_id.ports.ssf import SetQueue, SsfStreamRepository
from lukhas_id.protocol.oauth2.bearer import insufficient_scope, invalid_token
from lukhas_id.protocol.ssf.events import SetEvent
from lukhas_id.protocol.ssf.streams import (
    ReceiverConfig,
    SsfError,
    config_document,
    events_delivered,
    parse_create,
    parse_replace,
    parse_status_update,
    parse_update,
    parse_verification,
    parse_verified,
    status_document,
    stream_id_of,
)
from lukhas_id.protocol.ssf.subjects import parse_subject, subject_key
from lukhas_id.services.clients import ClientService
from lukhas_id.services.ssf_delivery import SsfDelivery
from lukhas_id.services.tenants import TenantService
from lukhas_id.services.tokens import TokenService

SSF_SCOPE: Final = "ssf"
POLL_PATH: Final = "/ssf/poll/"
MAX_STREAMS_PER_CLIENT: Final = 20
TOUCH_EVERY: Final = 60.0  # seconds: the receiver's activity is recorded at most this often


class SsfStreamService:
    def __init__(
        self,
        streams: SsfStreamRepository,
        queue: SetQueue,
        delivery: SsfDelivery,
        tokens: TokenService,
        clients: ClientService,
        tenants: TenantService,
        check_endpoint: Callable[[str], Awaitable[None]],
        clock: Clock,
        *,
        default_subjects: DefaultSubjects,
        min_verification_interval: int,
        inactivity_timeout: int = 0,
    ) -> None:
        self._streams = streams
        self._queue = queue
        self._delivery = delivery
        self._tokens = tokens
        self._clients = clients
        self._tenants = tenants
        self._check_endpoint = check_endpoint
        self._clock = clock
        self.default_subjects = default_subjects
        self.min_verification_interval = min_verification_interval
        self.inactivity_timeout = inactivity_timeout

    # --- who is asking ------------------------------------------------------------------------

    async def authorize(self, tenant: Tenant, token: str) -> Client:
        """The receiver (module docstring); BearerError (RFC 6750 §3) otherwise."""
        record = await self._tokens.validate(tenant, token)
        if record is None:
            raise invalid_token()
        if self._tenants.issuer(tenant) not in record.aud:
            raise invalid_token("the access token's audience does not include this issuer")
        if SSF_SCOPE not in record.scope.split():
            raise insufficient_scope(SSF_SCOPE, "stream management needs an access token with the ssf scope")
        client = await self._clients.get(tenant.id, record.client_id)
        if client is None or client.status is not ClientStatus.ACTIVE:
            raise invalid_token("the client of the access token is unknown or disabled")
        return client

    # --- documents ------------------------------------------------------------------------------

    def poll_url(self, tenant: Tenant, stream_id: str) -> str:
        return f"{self._tenants.issuer(tenant)}{POLL_PATH}{stream_id}"

    def document(self, tenant: Tenant, stream: Stream) -> dict[str, Any]:
        issuer = self._tenants.issuer(tenant)
        return config_document(
            stream,
            issuer,
            self.poll_url(tenant, stream.stream_id),
            self.min_verification_interval,
            self.inactivity_timeout,
        )

    async def own(self, tenant: Tenant, client: Client, stream_id: str) -> Stream:
        """The caller's stream; 404 for an unknown id and for another client's alike."""
        stream = await self._streams.get(tenant.id, stream_id)
        if stream is None or stream.client_id != client.client_id:
            raise SsfError.not_found()
        return await self._touched(stream)

    async def _touched(self, stream: Stream) -> Stream:
        """The receiver called on the stream: SSF §8.1.1 `inactivity_timeout` restarts (`updated_at` is the
        last change or activity; written at most once a minute)."""
        now = self._clock.now()
        if now - stream.updated_at < TOUCH_EVERY:
            return stream
        await self._streams.touch(stream.stream_id, now)
        return replace(stream, updated_at=now)

    async def _checked(self, config: ReceiverConfig) -> None:
        if config.method is DeliveryMethod.PUSH and config.endpoint_url is not None:
            try:
                await self._check_endpoint(config.endpoint_url)
            except (OutboundRefused, OutboundFailed) as exc:
                raise SsfError.invalid(f"the push endpoint is not allowed: {exc}") from None

    # --- configuration (§8.1.1) ---------------------------------------------------------------------

    async def create(self, tenant: Tenant, client: Client, doc: dict[str, Any]) -> dict[str, Any]:
        config = parse_create(doc)
        await self._checked(config)
        if len(await self._streams.for_client(tenant.id, client.client_id)) >= MAX_STREAMS_PER_CLIENT:
            raise SsfError(403, "access_denied", f"a receiver has at most {MAX_STREAMS_PER_CLIENT} streams")
        now = self._clock.now()
        stream = Stream(
            stream_id=secrets.token_urlsafe(16),
            tenant_id=tenant.id,
            client_id=client.client_id,
            method=config.method,
            endpoint_url=config.endpoint_url,
            authorization_header=config.authorization_header,
            events_requested=config.events_requested,
            events_delivered=events_delivered(config),
            description=config.description,
            status=StreamStatus.ENABLED,
            reason=None,
            default_subjects=self.default_subjects,
            created_at=now,
            updated_at=now,
        )
        await self._streams.create(stream)
        return self.document(tenant, stream)

    async def read(self, tenant: Tenant, client: Client, stream_id: str | None) -> Any:
        if stream_id is None:  # a read of every stream of the receiver is activity on each
            streams = [await self._touched(s) for s in await self._streams.for_client(tenant.id, client.client_id)]
            return [self.document(tenant, s) for s in streams]
        return self.document(tenant, await self.own(tenant, client, stream_id))

    async def _apply(self, tenant: Tenant, stream: Stream, config: ReceiverConfig) -> dict[str, Any]:
        await self._checked(config)
        changed = replace(
            stream,
            method=config.method,
            endpoint_url=config.endpoint_url,
            authorization_header=config.authorization_header,
            events_requested=config.events_requested,
            events_delivered=events_delivered(config),
            description=config.description,
            updated_at=self._clock.now(),
        )
        await self._streams.save(changed)
        return self.document(tenant, changed)

    async def update(self, tenant: Tenant, client: Client, doc: dict[str, Any]) -> dict[str, Any]:
        """§8.1.1.3 PATCH."""
        stream = await self.own(tenant, client, stream_id_of(doc))
        current = self.document(tenant, stream)
        return await self._apply(
            tenant, stream, parse_update(doc, stream, current, self.poll_url(tenant, stream.stream_id))
        )

    async def replace(self, tenant: Tenant, client: Client, doc: dict[str, Any]) -> dict[str, Any]:
        """§8.1.1.4 PUT."""
        stream = await self.own(tenant, client, stream_id_of(doc))
        current = self.document(tenant, stream)
        return await self._apply(tenant, stream, parse_replace(doc, current, self.poll_url(tenant, stream.stream_id)))

    async def delete(self, tenant: Tenant, client: Client, stream_id: str) -> None:
        """§8.1.1.5: the stream, its subjects and its queued SETs."""
        stream = await self.own(tenant, client, stream_id)
        await self._streams.delete(tenant.id, stream.stream_id)

    # --- status (§8.1.2) ------------------------------------------------------------------------------

    async def status(self, tenant: Tenant, client: Client, stream_id: str) -> dict[str, Any]:
        return status_document(await self.own(tenant, client, stream_id))

    async def set_status(self, tenant: Tenant, client: Client, doc: dict[str, Any]) -> dict[str, Any]:
        """§8.1.2.2: paused holds SETs, disabled drops the held ones, enabled sends them."""
        stream_id, status, reason = parse_status_update(doc)
        stream = await self.own(tenant, client, stream_id)
        changed = replace(stream, status=status, reason=reason, updated_at=self._clock.now())
        await self._streams.save(changed)
        if status is StreamStatus.DISABLED:
            await self._queue.drop_pending(stream.stream_id)
        elif status is StreamStatus.ENABLED:
            self._delivery.wake()
        return status_document(changed)

    # --- subjects (§8.1.3) ------------------------------------------------------------------------------

    async def add_subject(self, tenant: Tenant, client: Client, doc: dict[str, Any]) -> None:
        await self._subject(tenant, client, doc, included=True)

    async def remove_subject(self, tenant: Tenant, client: Client, doc: dict[str, Any]) -> None:
        await self._subject(tenant, client, doc, included=False)

    async def _subject(self, tenant: Tenant, client: Client, doc: dict[str, Any], *, included: bool) -> None:
        stream = await self.own(tenant, client, stream_id_of(doc))
        if "subject" not in doc:
            raise SsfError.invalid("subject is required")
        subject = parse_subject(doc["subject"], self._tenants.issuer(tenant))
        if included:
            parse_verified(doc)
        if subject == {"format": "opaque", "id": stream.stream_id}:
            raise SsfError.invalid("the stream's own subject is always part of it (§8.1.4.1)")
        await self._streams.set_subject(stream.stream_id, subject_key(subject), included)

    # --- verification (§8.1.4) ----------------------------------------------------------------------------

    async def verify(self, tenant: Tenant, client: Client, doc: dict[str, Any]) -> None:
        stream_id, state = parse_verification(doc)
        stream = await self.own(tenant, client, stream_id)
        now = self._clock.now()
        if stream.verified_at is not None and now - stream.verified_at < self.min_verification_interval:
            raise SsfError(
                429, "too_many_requests", "verification was requested less than min_verification_interval ago"
            )
        if stream.status is StreamStatus.DISABLED:
            raise SsfError.invalid("the stream is disabled")
        await self._streams.save(replace(stream, verified_at=now))
        await self._delivery.control(tenant, stream, SetEvent.VERIFICATION, {"state": state} if state else {})

    async def poll_stream(self, tenant: Tenant, client: Client, stream_id: str) -> Stream:
        """The caller's poll stream (404 as `own`; 400 for a push stream)."""
        stream = await self.own(tenant, client, stream_id)
        if stream.method is not DeliveryMethod.POLL:
            raise SsfError.invalid("this stream delivers by push, not poll")
        return stream
