"""Shared Signals delivery: identity events become SETs queued per stream, pushed (RFC 8935) or polled
(RFC 8936). OpenID SSF 1.0 §4 (the SET profile), §8.1.2 (status), §8.1.3.1 (subjects), §8.1.5.

`consume(event)` is a durable consumer of identity events (idempotent by event id: a SET's jti is derived
from the stream, the event and the event type, and the queue skips a known jti), so it can be fed by the
outbox relay or, as wired today, by the in-process event sink (web/app.py). For each stream of the event's
tenant that is not disabled, each SET the event maps to (protocol/ssf/mapping.py) is queued when the
stream delivers that event type and covers the subject: `iss_sub` with the `sub` the stream's client knows
the principal by (pairwise for a pairwise client: IdTokenIssuer.subject), covered by `default_subjects`
unless the receiver added or removed it.

Push: `push_pass` sends due SETs (claimed first, so several processes do not send one twice), signed at
sending time with the tenant's key; `run_push_worker` loops, woken when something is queued. Poll:
`poll` acknowledges, records setErrs, then answers pending SETs, waiting up to `poll_max_wait` when asked
to (returnImmediately false). A delivered or acknowledged SET is never sent again; anything else stays
queued in the database, so it is sent after a restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Final

from lukhas_id.clock import Clock
from lukhas_id.domain.client import Client, ClientStatus
from lukhas_id.domain.events import EventType, IdentityEvent
from lukhas_id.domain.principal import PrincipalType
from lukhas_id.domain.ssf import DefaultSubjects, DeliveryMethod, QueuedSet, Stream, StreamStatus
from lukhas_id.domain.tenant import Tenant
from lukhas_id.jose.jwt import TokenPurpose, sign
from lukhas_id.metrics import Metrics
from lukhas_id.ports.outbound_http import OutboundFailed, OutboundHttp, OutboundRefused
from lukhas_id.ports.outbox import OutboxEntry
from lukhas_id.ports.ssf import SetQueue, SsfStreamRepository
from lukhas_id.protocol.ssf.delivery import (
    SET_MEDIA_TYPE,
    PollRequest,
    PushOutcome,
    give_up,
    poll_answer,
    push_outcome,
    retry_delay,
    set_claims,
)
from lukhas_id.protocol.ssf.events import SetEvent
from lukhas_id.protocol.ssf.mapping import signals
from lukhas_id.protocol.ssf.subjects import iss_sub, opaque, subject_key
from lukhas_id.services.clients import ClientService
from lukhas_id.services.keys import KeyService
from lukhas_id.services.tenants import TenantService

log = logging.getLogger("lukhas_id.ssf")

_JTI_NAMESPACE: Final = uuid.UUID("5f0d9a4e-7c1b-4f7e-9a52-1d3c3b6f2e10")
CLIENT_DISABLED_REASON: Final = "the receiver's client is disabled"
INACTIVE_REASON: Final = "the receiver did not call on the stream within its inactivity_timeout"
PUSH_BATCH: Final = 50
IDLE_WAIT: Final = 1.0  # the push worker looks at the queue at least this often (other processes queue too)
COUNT_EVERY: Final = 15.0  # the push worker counts the waiting SETs (identity_ssf_sets_queued) this often
# identity_ssf_* metrics' `method` label: the delivery method's short name.
METHOD_LABEL: Final = {DeliveryMethod.PUSH: "push", DeliveryMethod.POLL: "poll"}

Subject = Callable[[Tenant, Client, str], str]


def set_jti(stream_id: str, event_id: str, event: str) -> str:
    """The jti of the SET of `event` for `event_id` on a stream: the same on every delivery of the event."""
    return uuid.uuid5(_JTI_NAMESPACE, f"{stream_id}\x00{event_id}\x00{event}").hex


class SsfDelivery:
    def __init__(
        self,
        streams: SsfStreamRepository,
        queue: SetQueue,
        keys: KeyService,
        tenants: TenantService,
        clients: ClientService,
        subject: Subject,
        outbound: OutboundHttp,
        clock: Clock,
        *,
        max_attempts: int,
        max_age: float,
        retry_base: float,
        poll_max_wait: float,
        lease: float = 60.0,
        metrics: Metrics | None = None,
    ) -> None:
        self._streams = streams
        self._queue = queue
        self._keys = keys
        self._tenants = tenants
        self._clients = clients
        self._subject = subject
        self._outbound = outbound
        self._clock = clock
        self._max_attempts = max_attempts
        self._max_age = max_age
        self._retry_base = retry_base
        self._poll_max_wait = poll_max_wait
        self._lease = lease  # a claimed SET whose sender died is tried again after this many seconds
        self._queued = asyncio.Event()
        self._metrics = metrics
        self._counted_at = -COUNT_EVERY  # time.monotonic() of the last count of the queue

    def wake(self) -> None:
        """Something was queued: the push worker and waiting polls look again."""
        self._queued.set()

    # --- queuing --------------------------------------------------------------------------------

    name = "ssf"  # an OutboxConsumer (ports/outbox.py): the relay hands it every committed event

    async def deliver(self, entries: Sequence[OutboxEntry]) -> None:
        """The outbox relay's batch, in order per tenant (at least once: `consume` is idempotent). An entry
        of a type this version does not know (written by a newer ΛiD) is passed over."""
        for entry in entries:
            try:
                event = IdentityEvent.from_dict(entry.payload)
            except ValueError:
                continue
            await self.consume(event)

    async def consume(self, event: IdentityEvent) -> None:
        """The durable consumer of identity events (module docstring); idempotent by event id."""
        if event.type is EventType.CLIENT_STATUS_CHANGED:
            await self._client_status(event)
        found = signals(event)
        if not found:
            return
        tenant = await self._tenants.by_id(event.tenant_id)
        if tenant is None:
            return
        issuer = self._tenants.issuer(tenant)
        queued: list[QueuedSet] = []
        for stream in await self._streams.for_tenant(tenant.id):
            if stream.status is StreamStatus.DISABLED:
                continue
            client = await self._clients.get(tenant.id, stream.client_id)
            if client is None:
                continue
            wanted = [s for s in found if s.event.value in stream.events_delivered]
            if not wanted:
                continue
            subjects = {s.principal: iss_sub(issuer, self._sub(tenant, client, s.principal)) for s in wanted}
            covered = await self._covered(stream, [subject_key(v) for v in subjects.values()])
            for index, signal in enumerate(wanted):
                sub_id = subjects[signal.principal]
                if subject_key(sub_id) not in covered:
                    continue
                jti = set_jti(stream.stream_id, event.id, signal.event.value)
                claims = set_claims(
                    iss=issuer, aud=stream.client_id, jti=jti, iat=int(event.at), txn=event.id, sub_id=sub_id,
                    event=signal.event.value, payload=signal.payload,
                )  # fmt: skip
                queued.append(
                    QueuedSet(jti, stream.stream_id, tenant.id, claims, False, 0, event.at + index * 1e-6, event.at)
                )
        if queued and await self._queue.enqueue(queued):
            self.wake()

    def _sub(self, tenant: Tenant, client: Client, principal: str) -> str:
        if principal.startswith(PrincipalType.USER.value):
            return self._subject(tenant, client, principal)
        return principal

    async def _covered(self, stream: Stream, keys: list[str]) -> set[str]:
        rules = await self._streams.subject_rules(stream.stream_id, keys)
        default = stream.default_subjects is DefaultSubjects.ALL
        return {k for k in keys if rules.get(k, default)}

    async def control(
        self,
        tenant: Tenant,
        stream: Stream,
        event: SetEvent,
        payload: Mapping[str, object],
        *,
        cause: str | None = None,
    ) -> str:
        """Queue a SET about the stream itself (verification, stream-updated: SSF §8.1.4.1, §8.1.5); its jti.
        Its `txn` (SSF §4.1.9: SHOULD be set, unique to the underlying cause) is `cause` (the identity event's
        id, as for a client disabled) or, for a request of the receiver's, a new value."""
        jti = uuid.uuid4().hex
        now, txn = self._clock.now(), cause or uuid.uuid4().hex
        claims = set_claims(
            iss=self._tenants.issuer(tenant), aud=stream.client_id, jti=jti, iat=int(now), txn=txn,
            sub_id=opaque(stream.stream_id), event=event.value, payload=payload,
        )  # fmt: skip
        await self._queue.enqueue([QueuedSet(jti, stream.stream_id, tenant.id, claims, True, 0, now, now)])
        self.wake()
        return jti

    async def _client_status(self, event: IdentityEvent) -> None:
        """A disabled client's streams are paused by the transmitter, and enabled again with the client; the
        receiver hears it through stream-updated (SSF §8.1.5), sent before the pause takes effect."""
        client_id, status = event.metadata.get("client_id"), event.metadata.get("status")
        tenant = await self._tenants.by_id(event.tenant_id)
        if tenant is None or client_id is None:
            return
        for stream in await self._streams.for_client(tenant.id, client_id):
            if status == ClientStatus.DISABLED.value and stream.status is StreamStatus.ENABLED:
                changed = _with_status(stream, StreamStatus.PAUSED, CLIENT_DISABLED_REASON, self._clock.now())
            elif status == ClientStatus.ACTIVE.value and stream.reason == CLIENT_DISABLED_REASON:
                changed = _with_status(stream, StreamStatus.ENABLED, None, self._clock.now())
            else:
                continue
            payload: dict[str, object] = {"status": changed.status.value}
            if changed.reason:
                payload["reason"] = changed.reason
            await self.control(tenant, stream, SetEvent.STREAM_UPDATED, payload, cause=event.id)
            await self._streams.save(changed)

    async def pause_inactive(self, idle: float) -> int:
        """SSF §8.1.1 `inactivity_timeout`: pause each enabled stream whose receiver has not called on it for
        `idle` seconds, telling it by stream-updated first (§8.1.5); how many were paused. Its held SETs
        go out once the receiver enables it again (§8.1.2.2). The maintenance pass calls it."""
        now, paused = self._clock.now(), 0
        for tenant in await self._tenants.list():
            for stream in await self._streams.for_tenant(tenant.id):
                if stream.status is not StreamStatus.ENABLED or now - stream.updated_at < idle:
                    continue
                payload = {"status": StreamStatus.PAUSED.value, "reason": INACTIVE_REASON}
                await self.control(tenant, stream, SetEvent.STREAM_UPDATED, payload)
                await self._streams.save(_with_status(stream, StreamStatus.PAUSED, INACTIVE_REASON, now))
                paused += 1
        return paused

    # --- push (RFC 8935) --------------------------------------------------------------------------

    async def _sign(self, tenant_id: str, claims: Mapping[str, object]) -> str | None:
        tenant = await self._tenants.by_id(tenant_id)
        if tenant is None:
            return None
        return sign(dict(claims), TokenPurpose.SECURITY_EVENT, await self._keys.signer(tenant))

    async def push_pass(self) -> int:
        """Send the due push SETs once; how many were delivered."""
        now = self._clock.now()
        delivered = 0
        held: set[str] = set()  # streams whose earlier SET failed in this pass: their later ones wait
        streams: dict[str, Stream | None] = {}
        for queued in await self._queue.due_push(now, PUSH_BATCH):
            if queued.stream_id in held:
                continue
            if not await self._queue.claim(queued.jti, queued.next_attempt_at, now + self._lease):
                continue  # another process sends it
            if queued.stream_id not in streams:
                streams[queued.stream_id] = await self._streams.get(queued.tenant_id, queued.stream_id)
            stream = streams[queued.stream_id]
            token = await self._sign(queued.tenant_id, queued.claims)
            if stream is None or stream.endpoint_url is None or token is None:
                await self._queue.failed(queued.jti, queued.attempts, "stream gone")
                self._count(DeliveryMethod.PUSH, "failed")
                continue
            outcome, error = await self._push(stream, token)
            attempts = queued.attempts + 1
            if outcome is PushOutcome.DELIVERED:
                await self._queue.delivered(queued.jti)
                self._count(DeliveryMethod.PUSH, "delivered", [queued.created_at])
                delivered += 1
                continue
            held.add(queued.stream_id)
            reason = error or "not accepted"
            if outcome is PushOutcome.REFUSED or give_up(
                attempts, now - queued.created_at, max_attempts=self._max_attempts, max_age=self._max_age
            ):
                await self._queue.failed(queued.jti, attempts, reason)
                self._count(DeliveryMethod.PUSH, "failed")
                log.warning("SET given up", extra={"fields": {"stream_id": stream.stream_id, "error": reason}})
            else:
                at = self._clock.now() + retry_delay(attempts, self._retry_base)
                await self._queue.retry(queued.jti, attempts, at, reason)
                self._count(DeliveryMethod.PUSH, "retry")
        return delivered

    async def _push(self, stream: Stream, token: str) -> tuple[PushOutcome, str | None]:
        headers = {"content-type": SET_MEDIA_TYPE, "accept": "application/json"}
        if stream.authorization_header:
            headers["authorization"] = stream.authorization_header
        assert stream.endpoint_url is not None  # noqa: S101 - checked by the caller
        try:
            answer = await self._outbound.post(stream.endpoint_url, token.encode("ascii"), headers)
        except (OutboundRefused, OutboundFailed) as exc:
            return PushOutcome.RETRY, str(exc)
        outcome, err = push_outcome(answer.status, answer.body)
        return outcome, err or (None if outcome is PushOutcome.DELIVERED else f"HTTP {answer.status}")

    async def run_push_worker(self) -> None:
        """Push until cancelled (web/app.py's lifespan starts it)."""
        while True:
            self._queued.clear()
            try:
                await self.push_pass()
                if time.monotonic() - self._counted_at >= COUNT_EVERY:
                    await self.count_queued()
            except Exception as exc:  # keep the worker alive; the SETs stay queued
                log.warning("SET push pass failed", extra={"fields": {"error": type(exc).__name__}})
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(IDLE_WAIT):
                    await self._queued.wait()

    # --- metrics ---------------------------------------------------------------------------------------

    def _count(self, method: DeliveryMethod, result: str, created: list[float] | None = None) -> None:
        """identity_ssf_delivery_total (one per SET) and, for delivered SETs, the lag from their event."""
        if self._metrics is None:
            return
        label = METHOD_LABEL[method]
        count = len(created) if created is not None else 1
        if count:
            self._metrics.ssf_delivery.labels(label, result).inc(count)
        if result == "delivered" and created:
            now, lag = self._clock.now(), self._metrics.ssf_delivery_lag.labels(label)
            for at in created:
                lag.observe(max(0.0, now - at))

    async def count_queued(self) -> None:
        """identity_ssf_sets_queued: the SETs waiting, by delivery method (the push worker calls it)."""
        self._counted_at = time.monotonic()
        if self._metrics is None:
            return
        for method, count in (await self._queue.pending_counts()).items():
            self._metrics.ssf_sets_queued.labels(METHOD_LABEL[method]).set(count)

    # --- poll (RFC 8936) ----------------------------------------------------------------------------

    async def poll(self, stream: Stream, request: PollRequest) -> dict[str, object]:
        """RFC 8936 §2.4/§2.5 for the caller's own poll stream (checked by the caller)."""
        if request.acks:
            acked = await self._queue.acknowledge(stream.stream_id, request.acks)
            self._count(DeliveryMethod.POLL, "delivered", acked)
        for jti, (err, description) in request.errors.items():
            refused = await self._queue.acknowledge(stream.stream_id, [jti], error=f"{err}: {description}"[:256])
            self._count(DeliveryMethod.POLL, "failed", refused)
        if request.max_events == 0:
            return poll_answer({}, False)
        deadline = time.monotonic() + (0.0 if request.return_immediately else self._poll_max_wait)
        while True:
            self._queued.clear()
            current = await self._streams.get(stream.tenant_id, stream.stream_id)
            if current is None or current.status is StreamStatus.DISABLED:
                return poll_answer({}, False)
            control_only = current.status is StreamStatus.PAUSED
            found, more = await self._queue.pending(stream.stream_id, request.max_events, control_only=control_only)
            left = deadline - time.monotonic()
            if found or left <= 0:
                break
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(min(left, IDLE_WAIT)):
                    await self._queued.wait()
        sets: dict[str, str] = {}
        for queued in found:
            token = await self._sign(queued.tenant_id, queued.claims)
            if token is not None:
                sets[queued.jti] = token
        return poll_answer(sets, more)

    async def purge(self, before: float) -> int:
        return await self._queue.purge(before)


def _with_status(stream: Stream, status: StreamStatus, reason: str | None, now: float) -> Stream:
    from dataclasses import replace

    return replace(stream, status=status, reason=reason, updated_at=now)


def is_poll(stream: Stream) -> bool:
    return stream.method is DeliveryMethod.POLL
