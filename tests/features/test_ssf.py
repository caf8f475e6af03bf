"""The Shared Signals transmitter through the HTTP edge: OpenID SSF 1.0 §7/§8, RFC 8935 push, RFC 8936 poll.

The receiver is written here: a loopback HTTP server (tests/support/receiver.py; loopback allowed by
`outbound_allow_loopback`) for push, the receiving client's own POSTs for poll, and PyJWT (not ΛiD's
jose/) verifying every SET against the JWKS fetched from the app. Both deployments; a restart is a second
app on the same database.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import jwt
import pytest

from lukhas_id.clock import SystemClock
from lukhas_id.domain.client import GrantType, SubjectType
from lukhas_id.domain.events import EventType, IdentityEvent
from lukhas_id.settings import Settings
from tests.support.harness import BASE, Harness, RegisteredClient, running
from tests.support.receiver import Answer, receiving
from tests.support.rp import REDIRECT
from tests.support.sign_in import BYE, sign_in_rp
from tests.support.ssf import CAEP, POLL, PUSH, RISC, SSF, create, new_receiver, poll, receiver_token, verified


@pytest.fixture
def prepared(settings: Settings) -> Settings:
    return settings.model_copy(
        update={
            "outbound_allow_loopback": True,
            "outbound_read_timeout": 0.5,
            "ssf_push_retry_base": 0.1,
            "ssf_poll_max_wait": 1.0,
            "ssf_min_verification_interval": 0,
        }
    )


async def test_transmitter_metadata_per_tenant(h: Harness) -> None:
    for base, path in (("", "/.well-known/ssf-configuration"), ("/t/acme", "/t/acme/.well-known/ssf-configuration")):
        await h.tenant(base.removeprefix("/t/") or None)
        doc = (await h.http.get(path)).json()
        issuer = BASE + base
        assert doc["issuer"] == issuer and doc["spec_version"] == "1_0"
        assert doc["jwks_uri"] == f"{issuer}/.well-known/jwks.json"
        assert doc["delivery_methods_supported"] == [PUSH, POLL]
        assert doc["configuration_endpoint"] == f"{issuer}/ssf/streams"
        for name in ("status_endpoint", "add_subject_endpoint", "remove_subject_endpoint", "verification_endpoint"):
            assert doc[name].startswith(issuer + "/ssf/")
        assert doc["authorization_schemes"] == [{"spec_urn": "urn:ietf:rfc:6749"}]
        assert doc["default_subjects"] == "ALL"
    inserted = await h.http.get("/.well-known/ssf-configuration/t/acme")
    assert inserted.json()["issuer"] == BASE + "/t/acme"


async def test_sign_out_over_http_is_pushed_to_the_receiver(h: Harness) -> None:
    rc, auth = await new_receiver(h)
    async with receiving(Answer(202)) as rx:
        stream = await create(
            h, auth, {"delivery": {"method": PUSH, "endpoint_url": rx.url, "authorization_header": "Bearer rx-secret"}}
        )
        assert stream["delivery"] == {"method": PUSH, "endpoint_url": rx.url}  # the header is never shown
        s = await sign_in_rp(h)
        user_lid = jwt.decode(s.id_token, options={"verify_signature": False})["sub"]
        out = await h.http.get(f"/oauth2/logout?id_token_hint={s.id_token}&post_logout_redirect_uri={BYE}")
        assert out.status_code == 303
        (request,) = await rx.wait_for(1)
        assert request.headers["content-type"] == "application/secevent+jwt"
        assert request.headers["authorization"] == "Bearer rx-secret"
        claims = await verified(h, request.body.decode(), rc.client_id)
        assert claims["sub_id"] == {"format": "iss_sub", "iss": BASE, "sub": user_lid}
        (event,) = claims["events"]
        assert event == CAEP + "session-revoked"
        assert claims["events"][event]["initiating_entity"] == "user"
        assert claims["aud"] == rc.client_id and claims["txn"]
        await asyncio.sleep(0.3)
        assert len(rx.requests) == 1  # 202: delivered once


async def test_push_retries_after_500_and_timeout_and_never_after_202(h: Harness) -> None:
    rc, auth = await new_receiver(h)
    async with receiving(Answer(500), Answer(202, delay=1.5), Answer(202)) as rx:
        stream = await create(h, auth, {"delivery": {"method": PUSH, "endpoint_url": rx.url}})
        resp = await h.http.post("/ssf/verify", json={"stream_id": stream["stream_id"], "state": "st-1"}, headers=auth)
        assert resp.status_code == 204
        requests = await rx.wait_for(3)
        jtis = {(await verified(h, r.body.decode(), rc.client_id))["jti"] for r in requests}
        assert len(jtis) == 1  # the same SET, tried again
        claims = await verified(h, requests[2].body.decode(), rc.client_id)
        assert claims["events"] == {SSF + "verification": {"state": "st-1"}}
        assert claims["sub_id"] == {"format": "opaque", "id": stream["stream_id"]}
        await asyncio.sleep(0.5)
        assert len(rx.requests) == 3


async def test_push_400_with_an_error_body_is_not_retried(h: Harness) -> None:
    rc, auth = await new_receiver(h)
    async with receiving(Answer(400, b'{"err":"invalid_key","description":"no"}'), Answer(202)) as rx:
        stream = await create(h, auth, {"delivery": {"method": PUSH, "endpoint_url": rx.url}})
        await h.http.post("/ssf/verify", json={"stream_id": stream["stream_id"]}, headers=auth)
        await rx.wait_for(1)
        await asyncio.sleep(0.6)
        assert len(rx.requests) == 1


async def test_push_survives_a_restart(prepared: Settings) -> None:
    async with receiving(Answer(503)) as rx:
        async with running(prepared, SystemClock()) as h:
            rc, auth = await new_receiver(h)
            stream = await create(h, auth, {"delivery": {"method": PUSH, "endpoint_url": rx.url}})
            await h.http.post("/ssf/verify", json={"stream_id": stream["stream_id"], "state": "x"}, headers=auth)
            await rx.wait_for(1)
            await asyncio.sleep(0.3)  # the 503 is recorded: the SET waits for its next attempt
        rx.answer_with(Answer(202))
        before = len(rx.requests)
        async with running(prepared, SystemClock()) as again:
            requests = await rx.wait_for(before + 1)
            claims = await verified(again, requests[-1].body.decode(), rc.client_id)
            assert claims["events"] == {SSF + "verification": {"state": "x"}}


async def test_poll_ack_redelivery_and_restart(prepared: Settings) -> None:
    async with running(prepared, SystemClock()) as h:
        rc, auth = await new_receiver(h)
        stream = await create(h, auth, {"events_requested": [RISC + "account-disabled", "urn:unknown"]})
        assert stream["delivery"]["method"] == POLL
        assert stream["delivery"]["endpoint_url"] == f"{BASE}/ssf/poll/{stream['stream_id']}"
        assert stream["events_delivered"] == [RISC + "account-disabled"]  # the supported ones requested
        await h.http.post("/ssf/verify", json={"stream_id": stream["stream_id"], "state": "p"}, headers=auth)
        first = await poll(h, auth, stream, returnImmediately=True)
        (jti,) = first["sets"]
        again = await poll(h, auth, stream, returnImmediately=True)
        assert list(again["sets"]) == [jti]  # not acknowledged: delivered again
    async with running(prepared, SystemClock()) as h2:
        auth = await receiver_token(h2, rc)
        after = await poll(h2, auth, stream, returnImmediately=True)
        assert list(after["sets"]) == [jti]
        claims = await verified(h2, after["sets"][jti], rc.client_id)
        assert claims["events"] == {SSF + "verification": {"state": "p"}}
        acked = await poll(h2, auth, stream, ack=[jti], returnImmediately=True)
        assert acked["sets"] == {}
        started = time.monotonic()
        waited = await poll(h2, auth, stream)  # long poll, bounded by ssf_poll_max_wait
        assert waited["sets"] == {} and 0.8 < time.monotonic() - started < 5


async def test_long_poll_returns_when_a_set_arrives(h: Harness) -> None:
    rc, auth = await new_receiver(h)
    stream = await create(h, auth, {})

    async def later() -> None:
        await asyncio.sleep(0.3)
        await h.http.post("/ssf/verify", json={"stream_id": stream["stream_id"]}, headers=auth)

    task = asyncio.create_task(later())
    answer = await poll(h, auth, stream, maxEvents=5)
    await task
    assert len(answer["sets"]) == 1


async def test_identity_events_fed_directly_map_to_sets_once_and_pairwise(h: Harness) -> None:
    tenant = await h.tenant()
    client, secret = await h.c.clients.create(
        tenant,
        name="pairwise receiver",
        grant_types=frozenset({GrantType.CLIENT_CREDENTIALS, GrantType.AUTHORIZATION_CODE}),
        scopes=frozenset({"ssf", "openid"}),
        redirect_uris=(REDIRECT,),
        subject_type=SubjectType.PAIRWISE,
    )
    assert secret is not None
    rc = RegisteredClient(client, secret, tenant)
    auth = await receiver_token(h, rc)
    stream = await create(h, auth, {})
    user = await h.c.users.create(tenant, "pw-user", display_name="P")
    pairwise = h.c.userinfo._id_tokens.subject(tenant, client, user.lid)
    assert pairwise != user.lid
    event = IdentityEvent(EventType.USER_DISABLED, tenant.id, user.lid, time.time())
    await h.c.ssf_delivery.consume(event)
    await h.c.ssf_delivery.consume(event)  # delivered twice by its source: queued once
    got = await poll(h, auth, stream, returnImmediately=True)
    tokens = list(got["sets"].values())
    claims = [await verified(h, t, client.client_id) for t in tokens]
    disabled = [c for c in claims if RISC + "account-disabled" in c["events"]]
    assert len(disabled) == 1
    assert disabled[0]["sub_id"] == {"format": "iss_sub", "iss": BASE, "sub": pairwise}
    assert disabled[0]["txn"] == event.id


async def test_subjects_removed_get_no_events(h: Harness) -> None:
    tenant = await h.tenant()
    rc, auth = await new_receiver(h)
    stream = await create(h, auth, {})
    kept = await h.c.users.create(tenant, "kept-user", display_name="K")
    gone = await h.c.users.create(tenant, "gone-user", display_name="G")
    subject = {"format": "iss_sub", "iss": BASE, "sub": gone.lid}
    resp = await h.http.post(
        "/ssf/subjects/remove", json={"stream_id": stream["stream_id"], "subject": subject}, headers=auth
    )
    assert resp.status_code == 204
    for user in (kept, gone):
        await h.c.ssf_delivery.consume(IdentityEvent(EventType.USER_ENABLED, tenant.id, user.lid, time.time()))
    got = await poll(h, auth, stream, returnImmediately=True)
    subs = [(await verified(h, t, rc.client_id))["sub_id"]["sub"] for t in got["sets"].values()]
    assert subs == [kept.lid]
    added = await h.http.post(
        "/ssf/subjects/add", json={"stream_id": stream["stream_id"], "subject": subject}, headers=auth
    )
    assert added.status_code == 200
    await h.c.ssf_delivery.consume(IdentityEvent(EventType.USER_ENABLED, tenant.id, gone.lid, time.time()))
    got = await poll(h, auth, stream, ack=list(got["sets"]), returnImmediately=True)
    assert [(await verified(h, t, rc.client_id))["sub_id"]["sub"] for t in got["sets"].values()] == [gone.lid]


async def test_stream_lifecycle_and_isolation(h: Harness) -> None:
    rc, auth = await new_receiver(h)
    _, other = await new_receiver(h)
    one = await create(h, auth, {"description": "one"})
    two = await create(h, auth, {"description": "two"})
    mine = (await h.http.get("/ssf/streams", headers=auth)).json()
    assert [s["stream_id"] for s in mine] == [one["stream_id"], two["stream_id"]]
    assert (await h.http.get("/ssf/streams", headers=other)).json() == []
    read = await h.http.get(f"/ssf/streams?stream_id={one['stream_id']}", headers=other)
    assert read.status_code == 404  # another client's stream
    patched = await h.http.patch("/ssf/streams", json={"stream_id": one["stream_id"], "description": "1"}, headers=auth)
    assert patched.status_code == 200 and patched.json()["description"] == "1"
    assert patched.json()["events_delivered"] == one["events_delivered"]
    replaced = await h.http.put(
        "/ssf/streams",
        json={"stream_id": one["stream_id"], "events_requested": [CAEP + "session-revoked"]},
        headers=auth,
    )
    assert replaced.status_code == 200
    assert "description" not in replaced.json() and replaced.json()["events_delivered"] == [CAEP + "session-revoked"]
    status = await h.http.post(
        "/ssf/status", json={"stream_id": one["stream_id"], "status": "paused", "reason": "r"}, headers=auth
    )
    assert status.json() == {"stream_id": one["stream_id"], "status": "paused", "reason": "r"}
    got = await h.http.get(f"/ssf/status?stream_id={one['stream_id']}", headers=auth)
    assert got.json()["status"] == "paused"
    deleted = await h.http.delete(f"/ssf/streams?stream_id={one['stream_id']}", headers=auth)
    assert deleted.status_code == 204
    gone = await h.http.delete(f"/ssf/streams?stream_id={one['stream_id']}", headers=auth)
    assert gone.status_code == 404


async def test_paused_holds_and_disabled_drops(h: Harness) -> None:
    tenant = await h.tenant()
    _, auth = await new_receiver(h)
    stream = await create(h, auth, {})
    sid = stream["stream_id"]
    user = await h.c.users.create(tenant, "held-user", display_name="H")
    await h.http.post("/ssf/status", json={"stream_id": sid, "status": "paused"}, headers=auth)
    await h.c.ssf_delivery.consume(IdentityEvent(EventType.USER_ENABLED, tenant.id, user.lid, time.time()))
    assert (await poll(h, auth, stream, returnImmediately=True))["sets"] == {}
    await h.http.post("/ssf/status", json={"stream_id": sid, "status": "enabled"}, headers=auth)
    assert len((await poll(h, auth, stream, returnImmediately=True))["sets"]) == 1
    await h.http.post("/ssf/status", json={"stream_id": sid, "status": "disabled"}, headers=auth)
    await h.http.post("/ssf/status", json={"stream_id": sid, "status": "enabled"}, headers=auth)
    assert (await poll(h, auth, stream, returnImmediately=True))["sets"] == {}


async def test_bad_requests_are_clear_4xx(h: Harness) -> None:
    rc, auth = await new_receiver(h)
    plain = {"Authorization": "Bearer " + await h.access_token(await h.client(scopes="api:read", resources=()))}
    stream = await create(h, auth, {})
    sid = stream["stream_id"]
    async with receiving() as rx:
        push = await create(h, auth, {"delivery": {"method": PUSH, "endpoint_url": rx.url}})
    json_headers = {**auth, "content-type": "application/json"}
    cases: list[tuple[str, str, Any, dict[str, str], int, str | None]] = [
        ("GET", "/ssf/streams", None, {}, 401, None),
        ("GET", "/ssf/streams", None, {"Authorization": "Bearer nope"}, 401, "invalid_token"),
        ("GET", "/ssf/streams", None, plain, 403, "insufficient_scope"),
        ("POST", "/ssf/streams", b"{not json", json_headers, 400, "invalid_request"),
        ("POST", "/ssf/streams", b"[]", json_headers, 400, "invalid_request"),
        ("POST", "/ssf/streams", b'{"a":1,"a":2}', json_headers, 400, "invalid_request"),
        ("POST", "/ssf/streams", b"{}", {**auth, "content-type": "text/plain"}, 400, "invalid_request"),
        ("POST", "/ssf/streams", {"delivery": {"method": "urn:x"}}, auth, 400, "invalid_request"),
        ("POST", "/ssf/streams", {"delivery": {"method": PUSH}}, auth, 400, "invalid_request"),
        ("POST", "/ssf/streams", {"delivery": {"method": PUSH, "endpoint_url": "https://10.0.0.1/x"}}, auth, 400, None),
        ("POST", "/ssf/streams", {"delivery": {"method": PUSH, "endpoint_url": "ftp://x.example/"}}, auth, 400, None),
        ("POST", "/ssf/streams", {"events_requested": "all"}, auth, 400, "invalid_request"),
        ("GET", "/ssf/streams?stream_id=nope", None, auth, 404, "not_found"),
        ("GET", f"/ssf/streams?stream_id={sid}&stream_id={sid}", None, auth, 400, "invalid_request"),
        ("DELETE", "/ssf/streams", None, auth, 400, "invalid_request"),
        ("PATCH", "/ssf/streams", {"description": "x"}, auth, 400, "invalid_request"),
        ("PATCH", "/ssf/streams", {"stream_id": sid, "events_delivered": []}, auth, 400, "invalid_request"),
        ("PATCH", "/ssf/streams", {"stream_id": sid, "iss": "https://evil.example"}, auth, 400, "invalid_request"),
        ("PUT", "/ssf/streams", {"stream_id": "nope"}, auth, 404, "not_found"),
        ("GET", "/ssf/status", None, auth, 400, "invalid_request"),
        ("POST", "/ssf/status", {"stream_id": sid, "status": "asleep"}, auth, 400, "invalid_request"),
        (
            "POST",
            "/ssf/subjects/add",
            {"stream_id": sid, "subject": {"format": "email", "email": "a@b.example"}},
            auth,
            400,
            None,
        ),
        (
            "POST",
            "/ssf/subjects/add",
            {"stream_id": sid, "subject": {"format": "iss_sub", "iss": "https://x", "sub": "s"}},
            auth,
            400,
            None,
        ),
        ("POST", "/ssf/subjects/add", {"stream_id": sid}, auth, 400, "invalid_request"),
        (
            "POST",
            "/ssf/subjects/remove",
            {"stream_id": "nope", "subject": {"format": "opaque", "id": "x"}},
            auth,
            404,
            None,
        ),
        ("POST", "/ssf/verify", {"stream_id": sid, "state": 5}, auth, 400, "invalid_request"),
        ("POST", "/ssf/verify", {"stream_id": "nope"}, auth, 404, "not_found"),
        ("POST", f"/ssf/poll/{push['stream_id']}", {}, auth, 400, "invalid_request"),
        ("POST", f"/ssf/poll/{sid}", {"maxEvents": -1}, auth, 400, "invalid_request"),
        ("POST", f"/ssf/poll/{sid}", {"ack": "x"}, auth, 400, "invalid_request"),
        ("POST", f"/ssf/poll/{sid}", {"setErrs": {"j": "bad"}}, auth, 400, "invalid_request"),
        ("POST", "/ssf/poll/nope", {}, auth, 404, "not_found"),
    ]
    for method, path, body, headers, status, error in cases:
        kwargs: dict[str, Any] = {"headers": headers}
        if isinstance(body, bytes):
            kwargs["content"] = body
        elif body is not None:
            kwargs["json"] = body
        resp = await h.http.request(method, path, **kwargs)
        assert resp.status_code == status, (method, path, body, resp.status_code, resp.text)
        if error is not None:
            assert resp.json()["error"] == error, (method, path, resp.text)
    resp = await h.http.request("PATCH", "/ssf/status", headers=auth)
    assert resp.status_code == 405


async def test_verification_too_often_is_429(prepared: Settings) -> None:
    async with running(prepared.model_copy(update={"ssf_min_verification_interval": 60}), SystemClock()) as h:
        _, auth = await new_receiver(h)
        stream = await create(h, auth, {})
        first = await h.http.post("/ssf/verify", json={"stream_id": stream["stream_id"]}, headers=auth)
        second = await h.http.post("/ssf/verify", json={"stream_id": stream["stream_id"]}, headers=auth)
        assert (first.status_code, second.status_code) == (204, 429)


def test_httpx_is_a_runtime_dependency() -> None:
    assert httpx.__version__


async def test_an_event_only_the_outbox_holds_still_becomes_a_set(h: Harness) -> None:
    """A process that committed a change and died before its in-process sink ran leaves the event in the outbox
    alone: the relay hands it to the transmitter (SsfDelivery as an OutboxConsumer), which queues the SET."""
    from lukhas_id.adapters.events.in_process import RecordingSink
    from lukhas_id.adapters.sql.outbox import SqlOutboxRecorder
    from lukhas_id.adapters.sql.unit_of_work import SqlUnitOfWork

    assert h.c.relay is not None
    rc, auth = await new_receiver(h)
    stream = await create(h, auth, {"events_requested": [RISC + "account-disabled"]})
    tenant = await h.tenant()
    user = await h.c.users.create(tenant, "outboxonly", password="a long password here")
    lost = RecordingSink()  # stands for the sink of the process that died: nobody hears it
    async with SqlUnitOfWork(h.c.database, lost, [SqlOutboxRecorder(h.c.database)])() as work:
        work.emit(IdentityEvent(EventType.USER_DISABLED, tenant.id, user.lid, time.time()))
    await h.c.relay.wake()
    for _ in range(100):
        got = await poll(h, auth, stream, returnImmediately=True)
        if got["sets"]:
            break
        await asyncio.sleep(0.05)
    (token,) = got["sets"].values()
    claims = await verified(h, token, rc.client_id)
    assert list(claims["events"]) == [RISC + "account-disabled"] and claims["txn"] == lost.events[0].id
