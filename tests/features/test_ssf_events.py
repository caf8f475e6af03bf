"""Every row of the SSF mapping table (protocol/ssf/mapping.py, docs/ssf.md) end to end: the identity change
is made for real, through the services and the pages, and the SET a receiver polls is checked as the specs
ask. OpenID SSF 1.0 §4.1 (the SET profile: `iss` §4.1.6, no `exp` §4.1.7, `aud` §4.1.8, `txn` §4.1.9),
§4.2.1 (one event per SET), RFC 9493 §3.2.6 (`iss_sub`), CAEP 1.0 §2 (`event_timestamp`) and §3.1-§3.4,
RISC 1.0 §2.2-§2.4 and §2.7. The receiver is a pairwise client, so every user subject is its pairwise `sub`.
Both deployments.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import pyotp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from lukhas_id.clock import FixedClock
from lukhas_id.domain.client import ClientStatus, GrantType, SubjectType
from lukhas_id.domain.events import EventType, IdentityEvent
from lukhas_id.domain.tenant import Tenant
from lukhas_id.domain.user import User
from lukhas_id.protocol.webauthn import WebAuthnError
from lukhas_id.settings import Settings
from lukhas_id.web.app import maintenance_pass
from tests.support.authenticator import SoftAuthenticator
from tests.support.events import recorder
from tests.support.harness import BASE, Harness, RegisteredClient, basic, running
from tests.support.receiver import Answer, receiving
from tests.support.rp import REDIRECT, RP, mint, pkce_pair, redeem
from tests.support.rp import hidden as hidden_field
from tests.support.ssf import CAEP, PUSH, RISC, SSF, create, drain, new_receiver, poll, receiver_token, verified

MFA = "urn:lukhas:acr:mfa"
PWD = "urn:lukhas:acr:pwd"
OFFLINE = ("openid", "offline_access")


@pytest.fixture
def prepared(settings: Settings) -> Settings:
    return settings.model_copy(
        update={"ssf_min_verification_interval": 0, "outbound_allow_loopback": True, "ssf_push_retry_base": 0.1}
    )


class Receiver:
    """A pairwise receiver with two poll streams: `everything` (no events_requested: every supported
    event) and `disabled_only` (RISC account-disabled only)."""

    def __init__(self, h: Harness, rc: RegisteredClient, auth: dict[str, str]) -> None:
        self.h, self.rc, self.auth = h, rc, auth
        self.everything: dict[str, Any] = {}
        self.disabled_only: dict[str, Any] = {}

    @property
    def client_id(self) -> str:
        return self.rc.client.client_id

    def sub(self, tenant: Tenant, lid: str) -> str:
        """The `sub` this client knows the user by (its ID tokens' `sub`: OIDC Core §8.1)."""
        return self.h.c.userinfo._id_tokens.subject(tenant, self.rc.client, lid)

    async def sets(self) -> list[dict[str, Any]]:
        return await drain(self.h, self.auth, self.everything, self.client_id, leeway=86400)


async def pairwise_receiver(h: Harness, tenant: Tenant) -> Receiver:
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
    rx = Receiver(h, rc, await receiver_token(h, rc))
    rx.everything = await create(h, rx.auth, {})
    rx.disabled_only = await create(h, rx.auth, {"events_requested": [RISC + "account-disabled"]})
    return rx


def check(
    claims: dict[str, Any], event: IdentityEvent, uri: str, sub: str, payload: dict[str, Any], rx: Receiver
) -> None:
    """One SET about `event`: its claims and its one event's members, exactly."""
    assert claims["iss"] == BASE  # SSF §4.1.6: the stream configuration's iss
    assert claims["aud"] == rx.client_id  # §4.1.8
    assert claims["txn"] == event.id  # §4.1.9: unique to the underlying event
    assert claims["iat"] == int(event.at)
    assert claims["sub_id"] == {"format": "iss_sub", "iss": BASE, "sub": sub}  # RFC 9493 §3.2.6
    assert list(claims["events"]) == [uri]  # §4.2.1: one event per SET
    assert claims["events"][uri] == payload, (uri, claims["events"][uri])


def only(seen: list[IdentityEvent], kind: EventType) -> IdentityEvent:
    found = [e for e in seen if e.type is kind]
    assert len(found) == 1, (kind, found)
    return found[0]


async def _page_sign_in(h: Harness, user: User, password: str) -> None:
    page = await h.http.get("/login")
    form = {"csrf_token": hidden_field(page.text, "csrf_token"), "username": user.username, "password": password}
    done = await h.http.post("/login", data=form)
    assert done.status_code == 303, done.text


async def _refresh(h: Harness, rp: RP, token: str) -> int:
    assert rp.secret is not None
    data = {"grant_type": "refresh_token", "refresh_token": token}
    return (await h.http.post("/oauth2/token", data=data, headers=basic(rp.client.client_id, rp.secret))).status_code


async def _account_csrf(h: Harness) -> str:
    return hidden_field((await h.http.get("/account")).text, "csrf_token")


async def test_every_mapped_identity_change_reaches_the_receiver(hc: Harness, clock: FixedClock) -> None:
    tenant = await hc.tenant()
    rx = await pairwise_receiver(hc, tenant)
    seen = recorder(hc)
    password = secrets.token_urlsafe(18)
    user = await hc.c.users.create(tenant, f"ssf{secrets.token_hex(3)}", password=password, display_name="S")
    sub = rx.sub(tenant, user.lid)
    assert sub != user.lid  # pairwise: the receiver never sees the ΛID
    ts: Callable[[IdentityEvent], dict[str, int]] = lambda e: {"event_timestamp": int(e.at)}  # noqa: E731

    # CAEP §3.3 credential-change: the password (update).
    password = secrets.token_urlsafe(18)
    await hc.c.users.set_password(tenant, user.username, password)
    [got] = await rx.sets()
    event = only(seen, EventType.USER_PASSWORD_CHANGED)
    change = CAEP + "credential-change"
    check(got, event, change, sub, {"credential_type": "password", "change_type": "update", **ts(event)}, rx)

    # CAEP §3.2 token-claims-change: `claims` (REQUIRED) with the claim that changed; never the address.
    await hc.c.users.change_email(tenant, user.lid, "ssf.user@example.com")
    [got] = await rx.sets()
    event = only(seen, EventType.USER_EMAIL_CHANGED)
    check(got, event, CAEP + "token-claims-change", sub, {"claims": {"updated_at": int(event.at)}, **ts(event)}, rx)
    assert "example.com" not in str(got)

    # Signed in with the password (acr pwd), then an authenticator app: credential-change app/create.
    await _page_sign_in(hc, user, password)
    enrolment = await hc.c.totp.begin_enrolment(tenant, user)
    totp = pyotp.TOTP(enrolment.secret)
    assert await hc.c.totp.confirm(tenant, user.lid, totp.at(clock.now()))
    [got] = await rx.sets()  # user.signed_in maps to nothing
    event = only(seen, EventType.TOTP_ENROLLED)
    check(got, event, change, sub, {"credential_type": "app", "change_type": "create", **ts(event)}, rx)

    # CAEP §3.4 assurance-level-change: "confirm it's you" raises the session from pwd to mfa.
    clock.advance(30)
    token = await _account_csrf(hc)
    up = await hc.http.post("/account", data={"csrf_token": token, "action": "step_up", "code": totp.at(clock.now())})
    assert up.status_code == 303, up.text
    [got] = await rx.sets()
    event = only(seen, EventType.USER_STEPPED_UP)
    check(
        got,
        event,
        CAEP + "assurance-level-change",
        sub,
        {"namespace": "acr", "current_level": MFA, "previous_level": PWD, "change_direction": "increase", **ts(event)},
        rx,
    )
    # Confirming again at mfa changes no level: no SET (CAEP §3.4 signals a change).
    clock.advance(30)
    token = await _account_csrf(hc)
    again = await hc.http.post(
        "/account", data={"csrf_token": token, "action": "step_up", "code": totp.at(clock.now())}
    )
    assert again.status_code == 303
    assert len([e for e in seen if e.type is EventType.USER_STEPPED_UP]) == 2
    assert await rx.sets() == []

    # Recovery codes: credential-change recovery-code create, then delete.
    await hc.c.recovery_codes.generate(tenant, user.lid)
    await hc.c.recovery_codes.remove(tenant, user.lid)
    made, gone = await rx.sets()
    event = only(seen, EventType.RECOVERY_CODES_GENERATED)
    check(made, event, change, sub, {"credential_type": "recovery-code", "change_type": "create", **ts(event)}, rx)
    event = only(seen, EventType.RECOVERY_CODES_REMOVED)
    check(gone, event, change, sub, {"credential_type": "recovery-code", "change_type": "delete", **ts(event)}, rx)

    # A passkey: credential-change fido2-platform create; a counter that did not increase is RISC §2.7
    # credential-compromise; its removal is credential-change delete.
    a = SoftAuthenticator(origin=BASE, rp_id=urlsplit(BASE).hostname or "")
    options = await hc.c.passkeys.begin_registration(tenant, user.lid, "sid-x")
    passkey = await hc.c.passkeys.complete_registration(tenant, user.lid, "sid-x", a.register(options, sign_count=7))
    options = await hc.c.passkeys.begin_authentication(tenant, "pre-x")
    with pytest.raises(WebAuthnError):
        await hc.c.passkeys.complete_authentication(tenant, "pre-x", a.assertion(options, sign_count=7))
    assert await hc.c.passkeys.delete(tenant, user.lid, passkey.handle)
    made, compromised, gone = await rx.sets()
    event = only(seen, EventType.PASSKEY_REGISTERED)
    check(made, event, change, sub, {"credential_type": "fido2-platform", "change_type": "create", **ts(event)}, rx)
    event = only(seen, EventType.PASSKEY_CLONE_SUSPECTED)
    check(
        compromised, event, RISC + "credential-compromise", sub, {"credential_type": "fido2-platform", **ts(event)}, rx
    )
    event = only(seen, EventType.PASSKEY_REMOVED)
    check(gone, event, change, sub, {"credential_type": "fido2-platform", "change_type": "delete", **ts(event)}, rx)

    # The authenticator app removed: credential-change app/delete.
    assert await hc.c.totp.remove(tenant, user.lid)
    [got] = await rx.sets()
    event = only(seen, EventType.TOTP_REMOVED)
    check(got, event, change, sub, {"credential_type": "app", "change_type": "delete", **ts(event)}, rx)

    # CAEP §3.1 session-revoked: the user signs out at the logout endpoint (initiating_entity user, §2).
    page = await hc.http.get("/oauth2/logout")
    out = await hc.http.post(
        "/oauth2/logout", data={"confirm": "yes", "csrf_token": hidden_field(page.text, "csrf_token")}
    )
    assert out.status_code == 200, out.text
    [got] = await rx.sets()
    event = only(seen, EventType.SESSION_ENDED)
    check(got, event, CAEP + "session-revoked", sub, {"initiating_entity": "user", **ts(event)}, rx)

    # A refresh token presented again (RFC 9700 §4.14.2): RISC §2.7 credential-compromise refresh-token.
    party, secret = await hc.c.clients.create(
        tenant,
        name="rp",
        grant_types=frozenset({GrantType.AUTHORIZATION_CODE}),
        scopes=frozenset(OFFLINE),
        redirect_uris=(REDIRECT,),
    )
    rp = RP(party, secret, tenant)
    verifier, challenge = pkce_pair()
    code, _ = await mint(hc, rp, challenge, scope=OFFLINE, user_lid=user.lid)
    status, first = await redeem(hc, rp, code, verifier)
    assert status == 200, first
    assert await _refresh(hc, rp, str(first["refresh_token"])) == 200
    assert await _refresh(hc, rp, str(first["refresh_token"])) == 400  # reuse
    got = [c for c in await rx.sets() if RISC + "credential-compromise" in c["events"]]
    event = only(seen, EventType.REFRESH_REUSE_DETECTED)
    check(got[0], event, RISC + "credential-compromise", sub, {"credential_type": "refresh-token", **ts(event)}, rx)
    assert len(got) == 1

    # The client's secret rotated: credential-change client-secret update, about the client's own ΛID
    # (a client has no pairwise identifier).
    await hc.c.clients.rotate_secret(tenant.id, party.client_id, overlap=0)
    [got] = await rx.sets()
    event = only(seen, EventType.CLIENT_SECRET_ROTATED)
    check(
        got,
        event,
        change,
        party.principal_lid,
        {"credential_type": "client-secret", "change_type": "update", **ts(event)},
        rx,
    )

    # RISC §2.3 account-disabled, §2.4 account-enabled, §2.2 account-purged: no members required.
    await hc.c.user_admin.disable(tenant, user.username)
    await hc.c.users.enable(tenant, user.username)
    await hc.c.user_admin.delete(tenant, user.username)
    after = await rx.sets()
    kinds = [next(iter(c["events"])) for c in after]
    assert kinds == [RISC + "account-disabled", RISC + "account-enabled", RISC + "account-purged"], kinds
    for claims, kind, uri in zip(
        after,
        (EventType.USER_DISABLED, EventType.USER_ENABLED, EventType.USER_DELETED),
        kinds,
        strict=True,
    ):
        check(claims, only(seen, kind), uri, sub, {}, rx)

    # The stream that asked for account-disabled only got that one SET, and nothing else (SSF §8.1.1).
    narrow = await drain(hc, rx.auth, rx.disabled_only, rx.client_id, leeway=86400)
    assert [list(c["events"]) for c in narrow] == [[RISC + "account-disabled"]]
    check(narrow[0], only(seen, EventType.USER_DISABLED), RISC + "account-disabled", sub, {}, rx)
    # Each SET was delivered once: acknowledged ones are never polled again (RFC 8936 §2.4.2).
    assert await rx.sets() == []


async def test_user_disable_with_live_sessions_disables_then_revokes_them(h: Harness) -> None:
    """`user disable` ends the user's sessions: account-disabled, then session-revoked (CAEP §3.1), each
    with the txn of its own identity event (SSF §4.1.9)."""
    tenant = await h.tenant()
    rx = await pairwise_receiver(h, tenant)
    seen = recorder(h)
    password = secrets.token_urlsafe(18)
    user = await h.c.users.create(tenant, f"ssf{secrets.token_hex(3)}", password=password, display_name="S")
    await _page_sign_in(h, user, password)
    await h.c.user_admin.disable(tenant, user.username)
    disabled, revoked = await rx.sets()  # the user is disabled, then the sweep ends the sessions
    sub = rx.sub(tenant, user.lid)
    ended = only(seen, EventType.SESSION_ENDED)
    check(revoked, ended, CAEP + "session-revoked", sub, {"event_timestamp": int(ended.at)}, rx)
    check(disabled, only(seen, EventType.USER_DISABLED), RISC + "account-disabled", sub, {}, rx)
    assert revoked["txn"] != disabled["txn"]


async def test_verification_sets_with_and_without_state(h: Harness) -> None:
    """SSF §8.1.4.1: `state` echoed when the receiver gave one, absent otherwise; `sub_id` the stream as
    `opaque`; `txn` set (§4.1.9)."""
    tenant = await h.tenant()
    rx = await pairwise_receiver(h, tenant)
    sid = rx.everything["stream_id"]
    for body in ({"stream_id": sid, "state": "s-1"}, {"stream_id": sid}):
        resp = await h.http.post("/ssf/verify", json=body, headers=rx.auth)
        assert resp.status_code == 204
    with_state, without = await rx.sets()
    assert with_state["events"] == {SSF + "verification": {"state": "s-1"}}
    assert without["events"] == {SSF + "verification": {}}
    for claims in (with_state, without):
        assert claims["sub_id"] == {"format": "opaque", "id": sid}
        assert claims["aud"] == rx.client_id and claims["iss"] == BASE and claims["txn"]
    assert with_state["txn"] != without["txn"]


async def test_client_disabled_pauses_its_streams_and_enabled_resumes_them(h: Harness) -> None:
    """SSF §8.1.5: a status ΛiD changes by itself is told by stream-updated, sent before the pause takes
    effect and upon re-enabling; the status endpoint (§8.1.2.1) shows it. SETs queued meanwhile are held
    and sent once enabled."""
    tenant = await h.tenant()
    rc, auth = await new_receiver(h)
    async with receiving(Answer(202)) as rx:
        stream = await create(h, auth, {"delivery": {"method": PUSH, "endpoint_url": rx.url}})
        sid = stream["stream_id"]
        user = await h.c.users.create(tenant, f"held{secrets.token_hex(3)}", display_name="H")
        assert await h.c.clients.set_status(tenant.id, rc.client_id, ClientStatus.DISABLED)
        (first,) = await rx.wait_for(1)
        paused = await verified(h, first.body.decode(), rc.client_id)
        reason = "the receiver's client is disabled"
        assert paused["events"] == {SSF + "stream-updated": {"status": "paused", "reason": reason}}
        assert paused["sub_id"] == {"format": "opaque", "id": sid} and paused["txn"]
        assert await h.c.ssf.status(tenant, rc.client, sid) == {"stream_id": sid, "status": "paused", "reason": reason}
        # The disabled client cannot call the API; an event meanwhile is held, not pushed.
        assert (await h.http.get(f"/ssf/status?stream_id={sid}", headers=auth)).status_code == 401
        await h.c.users.disable(tenant, user.username)
        await asyncio.sleep(0.5)
        assert len(rx.requests) == 1
        assert await h.c.clients.set_status(tenant.id, rc.client_id, ClientStatus.ACTIVE)
        requests = await rx.wait_for(3)
        got = [await verified(h, r.body.decode(), rc.client_id) for r in requests[1:]]
        events = {next(iter(c["events"])): c["events"][next(iter(c["events"]))] for c in got}
        assert events == {SSF + "stream-updated": {"status": "enabled"}, RISC + "account-disabled": {}}
        auth = await receiver_token(h, rc)
        status = await h.http.get(f"/ssf/status?stream_id={sid}", headers=auth)
        assert status.json() == {"stream_id": sid, "status": "enabled"}
        # A stream the receiver paused itself is not enabled by the client's enabling (its own choice).
        await h.http.post("/ssf/status", json={"stream_id": sid, "status": "paused"}, headers=auth)
        assert await h.c.clients.set_status(tenant.id, rc.client_id, ClientStatus.DISABLED)
        assert await h.c.clients.set_status(tenant.id, rc.client_id, ClientStatus.ACTIVE)
        auth = await receiver_token(h, rc)
        status = await h.http.get(f"/ssf/status?stream_id={sid}", headers=auth)
        assert status.json()["status"] == "paused"
        await asyncio.sleep(0.3)
        assert len(rx.requests) == 3  # no stream-updated for a status ΛiD did not change


def samples(text: str, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    """The samples of `name` in a /metrics answer, by their sorted labels."""
    return {
        tuple(sorted(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == name
    }


async def test_delivery_metrics_for_push_and_poll(h: Harness) -> None:
    """identity_ssf_delivery_total{method,result}, identity_ssf_delivery_lag_seconds{method} (push: the 202;
    poll: the acknowledgement) and identity_ssf_sets_queued{method}; no stream, client or subject label."""
    rc, auth = await new_receiver(h)
    async with receiving(Answer(500), Answer(202)) as rx:
        push = await create(h, auth, {"delivery": {"method": PUSH, "endpoint_url": rx.url}})
        await h.http.post("/ssf/verify", json={"stream_id": push["stream_id"]}, headers=auth)
        await rx.wait_for(2)
        await asyncio.sleep(0.3)
    pulled = await create(h, auth, {})
    for state in ("a", "b", "c"):
        await h.http.post("/ssf/verify", json={"stream_id": pulled["stream_id"], "state": state}, headers=auth)
    await h.c.ssf_delivery.count_queued()
    text = (await h.http.get("/metrics")).text
    assert samples(text, "identity_ssf_sets_queued") == {(("method", "poll"),): 3.0, (("method", "push"),): 0.0}
    jtis = list((await poll(h, auth, pulled, returnImmediately=True))["sets"])
    assert len(jtis) == 3
    await poll(h, auth, pulled, ack=jtis[:2], setErrs={jtis[2]: {"err": "invalid_state"}}, maxEvents=0)
    await poll(h, auth, pulled, ack=jtis[:2], maxEvents=0)  # acknowledged twice: counted once
    await h.c.ssf_delivery.count_queued()
    text = (await h.http.get("/metrics")).text
    assert samples(text, "identity_ssf_delivery_total") == {
        (("method", "push"), ("result", "retry")): 1.0,
        (("method", "push"), ("result", "delivered")): 1.0,
        (("method", "poll"), ("result", "delivered")): 2.0,
        (("method", "poll"), ("result", "failed")): 1.0,
    }
    lag = samples(text, "identity_ssf_delivery_lag_seconds_count")
    assert lag == {(("method", "push"),): 1.0, (("method", "poll"),): 2.0}
    push_lag = samples(text, "identity_ssf_delivery_lag_seconds_sum")[(("method", "push"),)]
    assert 0 < push_lag < 10  # the retry came after ssf_push_retry_base
    assert samples(text, "identity_ssf_sets_queued") == {(("method", "poll"),): 0.0, (("method", "push"),): 0.0}
    assert pulled["stream_id"] not in text and rc.client_id not in text


async def test_inactivity_timeout_pauses_a_stream_its_receiver_left(prepared: Settings, clock: FixedClock) -> None:
    """SSF §8.1.1 `inactivity_timeout` (transmitter-supplied): advertised in the configuration; any call of
    the receiver naming the stream, and a poll, restart it; past it the maintenance pass pauses the stream
    and says so by stream-updated first (§8.1.5); the receiver enables it again (§8.1.2.2)."""
    settings = prepared.model_copy(update={"ssf_inactivity_timeout": 3600})
    async with running(settings, clock) as h:
        tenant = await h.tenant()
        rx = await pairwise_receiver(h, tenant)
        sid = rx.everything["stream_id"]
        assert rx.everything["inactivity_timeout"] == 3600
        same = await h.http.patch("/ssf/streams", json={"stream_id": sid, "inactivity_timeout": 3600}, headers=rx.auth)
        assert same.status_code == 200 and same.json()["inactivity_timeout"] == 3600
        other = await h.http.patch("/ssf/streams", json={"stream_id": sid, "inactivity_timeout": 60}, headers=rx.auth)
        assert other.status_code == 400 and other.json()["error"] == "invalid_request"

        async def stay(seconds: float) -> None:
            clock.advance(seconds)
            rx.auth = await receiver_token(h, rx.rc)  # the earlier token expired meanwhile
            await maintenance_pass(h.c)

        # 50 minutes, a poll (activity), 50 more minutes: not idle for an hour, on both streams (the
        # other stream was touched by a status read).
        await stay(3000)
        assert await rx.sets() == []
        resp = await h.http.get(f"/ssf/status?stream_id={rx.disabled_only['stream_id']}", headers=rx.auth)
        assert resp.json()["status"] == "enabled"
        await stay(3000)
        for stream in (rx.everything, rx.disabled_only):
            resp = await h.http.get(f"/ssf/status?stream_id={stream['stream_id']}", headers=rx.auth)
            assert resp.json()["status"] == "enabled"
        # A status read is activity too: an hour and a bit later, both are paused, each told first.
        await stay(3601)
        reason = "the receiver did not call on the stream within its inactivity_timeout"
        for stream in (rx.everything, rx.disabled_only):
            assert await h.c.ssf.status(tenant, rx.rc.client, stream["stream_id"]) == {
                "stream_id": stream["stream_id"],
                "status": "paused",
                "reason": reason,
            }
        user = await h.c.users.create(tenant, f"idle{secrets.token_hex(3)}", display_name="I")
        await h.c.users.disable(tenant, user.username)
        [told] = await rx.sets()  # paused: the account-disabled SET is held, the stream-updated goes
        assert told["events"] == {SSF + "stream-updated": {"status": "paused", "reason": reason}}
        assert told["sub_id"] == {"format": "opaque", "id": sid}
        enabled = await h.http.post("/ssf/status", json={"stream_id": sid, "status": "enabled"}, headers=rx.auth)
        assert enabled.status_code == 200
        [held] = await rx.sets()
        assert list(held["events"]) == [RISC + "account-disabled"]
        # Not paused again right away: enabling it was activity.
        await stay(60)
        assert (await h.http.get(f"/ssf/status?stream_id={sid}", headers=rx.auth)).json()["status"] == "enabled"


async def test_no_inactivity_timeout_when_it_is_zero(prepared: Settings, clock: FixedClock) -> None:
    settings = prepared.model_copy(update={"ssf_inactivity_timeout": 0})
    async with running(settings, clock) as h:
        rx = await pairwise_receiver(h, await h.tenant())
        assert "inactivity_timeout" not in rx.everything
        clock.advance(400 * 86400)
        await maintenance_pass(h.c)
        assert await h.c.ssf.status(await h.tenant(), rx.rc.client, rx.everything["stream_id"]) == {
            "stream_id": rx.everything["stream_id"],
            "status": "enabled",
        }
