"""Events of mass revocation and of rate limits: `token.mass_revoked` for each not-before marker, one
`rate_limit.tripped` per bucket that empties (sign-in and client authentication), and `sign_in.throttled`
kept out of the recorders (a flood of refused attempts costs no write)."""

from __future__ import annotations

import secrets

import httpx

from lukhas_id.adapters.events.in_process import RecordingSink
from lukhas_id.adapters.sql.unit_of_work import SqlUnitOfWork
from lukhas_id.domain.events import VOLATILE, EventType, IdentityEvent
from lukhas_id.domain.token import MarkerKind
from tests.support.events import assert_clean, of, recorder
from tests.support.harness import BASE, Harness, basic
from tests.support.rp import hidden

FORM = {"content-type": "application/x-www-form-urlencoded"}
GRANT = "grant_type=client_credentials"


async def test_mass_revocation_emits_one_event_naming_the_client_or_the_subject(h: Harness) -> None:
    rc = await h.client()
    seen = recorder(h)
    at = await h.c.tokens.revoke_all(rc.tenant, MarkerKind.CLIENT, rc.client_id)
    await h.c.tokens.revoke_all(rc.tenant, MarkerKind.SUBJECT, rc.client.principal_lid)
    by_client, by_subject = of(seen, EventType.TOKENS_MASS_REVOKED)
    assert by_client.principal is None
    assert dict(by_client.metadata) == {"kind": "client", "client_id": rc.client_id, "not_before": str(at)}
    assert by_subject.principal == rc.client.principal_lid and by_subject.metadata["kind"] == "subject"
    assert by_client.client_id == rc.client_id and by_subject.principal_type == "SVC"
    assert_clean(seen)


async def sign_in_page(h: Harness) -> dict[str, str]:
    page = await h.http.get("/login")
    return {"csrf_token": hidden(page.text, "csrf_token")}


async def test_the_failure_that_empties_the_sign_in_bucket_trips_the_limit_once(h: Harness) -> None:
    tenant = await h.tenant()
    password = secrets.token_urlsafe(18)
    await h.c.users.create(tenant, "grace-limits", password=password, display_name="Grace")
    form = {**(await sign_in_page(h)), "username": "grace-limits"}
    seen = recorder(h)
    limit = h.settings.sign_in_rate_limit
    for _ in range(limit + 3):
        assert (await h.http.post("/login", data={**form, "password": "wrong"})).status_code in (200, 429)
    refused = of(seen, EventType.SIGN_IN_REFUSED)
    throttled = of(seen, EventType.SIGN_IN_THROTTLED)
    tripped = of(seen, EventType.RATE_LIMIT_TRIPPED)
    assert len(refused) == limit and len(throttled) == 3
    assert len(tripped) == 1 and dict(tripped[0].metadata) == {"limit": "sign_in", "method": "password"}
    # The trip is emitted with the failure that emptied the bucket, right after its refusal.
    assert seen.index(tripped[0]) == seen.index(refused[-1]) + 1
    assert_clean(seen, "grace-limits", password)


async def post_token(h: Harness, auth: dict[str, str]) -> httpx.Response:
    transport = httpx.ASGITransport(app=h.app, client=("203.0.113.7", 4711))
    async with httpx.AsyncClient(transport=transport, base_url=BASE) as http:
        return await http.post("/oauth2/token", content=GRANT, headers={**FORM, **auth})


async def test_client_authentication_trips_once_and_names_only_a_real_client(h: Harness) -> None:
    rc = await h.client()
    seen = recorder(h)
    limit = h.settings.client_auth_rate_limit
    for auth in (basic(rc.client_id, rc.secret + "x"), basic("mallory@example.com", "guess")):
        for _ in range(limit + 2):
            assert (await post_token(h, auth)).status_code in (401, 429)
    real, made_up = of(seen, EventType.RATE_LIMIT_TRIPPED)
    assert dict(real.metadata) == {"limit": "client_auth", "client_id": rc.client_id}
    assert dict(made_up.metadata) == {"limit": "client_auth"}  # a made-up id is written nowhere
    assert_clean(seen, "mallory@example.com", rc.secret)


class Recorder:
    def __init__(self) -> None:
        self.batches: list[list[EventType]] = []

    async def record(self, events: object) -> None:
        self.batches.append([e.type for e in events])  # type: ignore[attr-defined]


async def test_recorders_are_not_given_volatile_events(h: Harness) -> None:
    tenant = await h.tenant()
    rec = Recorder()
    uow = SqlUnitOfWork(h.c.database, RecordingSink(), [rec])
    assert EventType.SIGN_IN_THROTTLED in VOLATILE
    async with uow() as work:
        work.emit(IdentityEvent(EventType.SIGN_IN_THROTTLED, tenant.id, None, 1.0, metadata={"method": "password"}))
    async with uow() as work:
        work.emit(IdentityEvent(EventType.SIGN_IN_THROTTLED, tenant.id, None, 1.0, metadata={"method": "password"}))
        work.emit(IdentityEvent(EventType.RATE_LIMIT_TRIPPED, tenant.id, None, 1.0, metadata={"limit": "sign_in"}))
    assert rec.batches == [[EventType.RATE_LIMIT_TRIPPED]]
