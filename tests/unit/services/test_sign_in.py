"""SignInService (services/sign_in.py): each entry's outcomes, the rate limit around each factor, the failure
counting, the session, and the one record per attempt. Real limiter, sessions and pending steps on the
memory adapters with a fixed clock; fake users, second factors, account recovery codes and passkeys."""

from __future__ import annotations

import dataclasses
import logging
import re
from collections.abc import Mapping
from typing import Any

import pytest

from lukhas_id.adapters.events.in_process import InProcessSink, InProcessUnitOfWork, RecordingSink
from lukhas_id.adapters.memory.rate_limit import MemoryRateLimiter
from lukhas_id.adapters.memory.state import MemoryKeyValueStore
from lukhas_id.clock import FixedClock
from lukhas_id.domain.authn import AcrNames, Amr
from lukhas_id.domain.events import EventType, IdentityEvent
from lukhas_id.domain.principal import PrincipalType
from lukhas_id.domain.tenant import Tenant
from lukhas_id.domain.user import User, UserStatus
from lukhas_id.ids import generate
from lukhas_id.metrics import Metrics
from lukhas_id.protocol.webauthn import WebAuthnError
from lukhas_id.services.keyring import TenantKeyring
from lukhas_id.services.passkeys import PasskeySignIn
from lukhas_id.services.rate_limit import SignInLimiter
from lukhas_id.services.sessions import SessionService
from lukhas_id.services.sign_in import (
    Browser,
    Elevated,
    PendingSignIns,
    Refusal,
    Refused,
    SecondFactorNeeded,
    SignedIn,
    SignInService,
    Throttled,
)

ACR = AcrNames()
PASSWORD = "correct horse battery staple"
HERE = "203.0.113.7"
ELSEWHERE = "198.51.100.9"
TOTP_CODE = "123456"
RECOVERY_CODE = "ABCDE-FGHJK"
RETURN_TO = "aBcD1234_-efGH5678ijkl"


class _PlainBox:
    def encrypt(self, plaintext: bytes) -> bytes:
        return plaintext

    def decrypt(self, blob: bytes) -> bytes:
        return blob


TENANT = Tenant(id="tnt-acme", name="acme", id_secret_enc=b"a" * 32, access_token_alg="ES256", created_at=0.0)


def _user(username: str, status: UserStatus = UserStatus.ACTIVE) -> User:
    lid = generate(PrincipalType.USER)
    return User(TENANT.id, lid, username, username, None, False, username.title(), status, "hash", 0.0, 0.0)


class Users:
    def __init__(self, *users: User) -> None:
        self.by_name = {u.username: u for u in users}
        self.calls = 0

    async def authenticate(self, tenant: Tenant, username: str, password: str) -> User | None:
        self.calls += 1
        user = self.by_name.get(username)
        return user if user is not None and user.active and password == PASSWORD else None

    async def by_lid(self, tenant: Tenant, lid: str) -> User | None:
        return next((u for u in self.by_name.values() if u.lid == lid), None)


@dataclasses.dataclass
class Factor:
    """A second-factor provider: accepts codes matching `pattern`; `good` is the one right code."""

    kind: str
    pattern: str
    good: str
    step_up: bool = True
    amr: tuple[str, ...] = (Amr.OTP,)
    users: set[str] = dataclasses.field(default_factory=set)
    verified: list[str] = dataclasses.field(default_factory=list)

    def accepts(self, code: str) -> bool:
        return re.fullmatch(self.pattern, code) is not None

    async def enrolled(self, tenant: Tenant, user_lid: str) -> bool:
        return user_lid in self.users

    async def verify(self, tenant: Tenant, user_lid: str, code: str) -> bool:
        self.verified.append(code)
        return user_lid in self.users and code == self.good


class AccountRecovery:
    def __init__(self, user: User, code: str) -> None:
        self.user, self.code, self.calls = user, code, 0

    async def redeem(self, tenant: Tenant, username: str, code: str) -> User | None:
        self.calls += 1
        return self.user if (username, code) == (self.user.username, self.code) else None


@dataclasses.dataclass
class Opened:
    owner_lid: str


class Passkeys:
    """The two halves of a passkey sign-in. A credential is {"owner": lid or None, "known": lid}: no owner is
    an unknown credential (refused by the first half); `ok` False is a bad signature (by the second);
    "known" is the owner the service names before any I/O (a credential it has signed in with before)."""

    def __init__(self, users: Users) -> None:
        self.users = users
        self.calls: list[str] = []

    def known_owner(self, tenant: Tenant, credential: Mapping[str, Any]) -> str | None:
        known: str | None = credential.get("known")
        return known

    async def open_authentication(self, tenant: Tenant, binding: str, credential: Mapping[str, Any]) -> Opened:
        self.calls.append("open")
        if credential["owner"] is None:
            raise WebAuthnError("unknown credential")
        return Opened(credential["owner"])

    async def finish_authentication(self, tenant: Tenant, opened: Opened) -> PasskeySignIn:
        self.calls.append("finish")
        user = await self.users.by_lid(tenant, opened.owner_lid)
        if user is None or not self.ok:
            raise WebAuthnError("signature invalid")
        return PasskeySignIn(user, (Amr.HARDWARE_KEY, Amr.USER_PRESENCE, Amr.MFA), ACR.mfa, "handle")

    ok = True


class World:
    def __init__(self) -> None:
        self.clock = FixedClock()
        self.kv = MemoryKeyValueStore(self.clock)
        self.metrics = Metrics()
        self.limiter = SignInLimiter(
            MemoryRateLimiter(), TenantKeyring(_PlainBox()), self.clock, self.metrics, limit=5, window=60
        )
        self.sessions = SessionService(self.kv, self.clock)
        self.pending = PendingSignIns(self.kv)
        self.alice = _user("alice")
        self.bob = _user("bob")  # has a second factor
        self.carol = _user("carol", UserStatus.DISABLED)
        self.users = Users(self.alice, self.bob, self.carol)
        self.totp = Factor("totp", r"[0-9]{6}", TOTP_CODE, users={self.bob.lid, self.carol.lid})
        self.recovery = Factor(
            "recovery_code", r"[A-Z]{5}-[A-Z]{5}", RECOVERY_CODE, step_up=False, users={self.bob.lid}
        )
        self.account_recovery = AccountRecovery(self.alice, "issued-code-0123456789")
        self.passkeys = Passkeys(self.users)
        self.events = RecordingSink()
        self.uow = InProcessUnitOfWork(self.events)
        self.svc = SignInService(
            self.limiter,
            self.users,
            (self.totp, self.recovery),
            self.account_recovery,
            self.passkeys,
            self.sessions,
            self.pending,
            ACR,
            uow=self.uow,
            clock=self.clock,
            metrics=self.metrics,
        )

    def browser(self, address: str | None = HERE, pre: str = "pre-1", session: str | None = None) -> Browser:
        return Browser(address, pre, session)

    async def password(self, username: str, password: str, **browser: Any) -> Any:
        return await self.svc.password(TENANT, username, password, self.browser(**browser), RETURN_TO)


@pytest.fixture
def w() -> World:
    return World()


# -- password -------------------------------------------------------------------------------------------


async def test_password_opens_a_session_and_ends_the_browsers_previous_one(w: World) -> None:
    previous = await w.sessions.create(TENANT, w.alice, (Amr.PASSWORD,), ACR.password)
    outcome = await w.password("alice", PASSWORD, session=previous.id)
    assert isinstance(outcome, SignedIn) and outcome.return_to == RETURN_TO
    session = outcome.session
    assert session.user_lid == w.alice.lid and session.amr == ("pwd",) and session.acr == ACR.password
    assert session.id != previous.id and await w.sessions.get(TENANT, session.id) is not None
    assert await w.sessions.get(TENANT, previous.id) is None


async def test_wrong_passwords_count_and_then_the_password_is_not_checked(w: World) -> None:
    for _ in range(5):
        assert await w.password("alice", "wrong") == Refused(Refusal.WRONG)
    assert w.users.calls == 5
    blocked = await w.password("alice", PASSWORD)  # the right one, but the account's bucket is empty
    assert blocked == Throttled(12) and w.users.calls == 5
    # The account is blocked from every address; the address for every account.
    assert await w.password("alice", PASSWORD, address=ELSEWHERE) == Throttled(12)
    assert await w.password("bob", PASSWORD) == Throttled(12)
    w.clock.advance(12)
    assert isinstance(await w.password("alice", PASSWORD, address=ELSEWHERE), SignedIn)


async def test_a_missing_field_is_refused_without_counting(w: World) -> None:
    for _ in range(6):
        assert await w.password("alice", "") == Refused(Refusal.MISSING)
        assert await w.password("", PASSWORD) == Refused(Refusal.MISSING)
    assert w.users.calls == 0
    assert isinstance(await w.password("alice", PASSWORD), SignedIn)


async def test_a_right_password_refills_the_account_but_not_the_client(w: World) -> None:
    for _ in range(4):
        await w.password("alice", "wrong")
    assert isinstance(await w.password("alice", PASSWORD), SignedIn)
    # The client has one token left; the account has five again.
    assert await w.password("alice", "wrong") == Refused(Refusal.WRONG)
    assert await w.password("alice", "wrong") == Throttled(12)
    for _ in range(4):
        assert await w.password("alice", "wrong", address=ELSEWHERE) == Refused(Refusal.WRONG)


async def test_a_user_with_a_second_factor_gets_the_second_step_not_a_session(w: World) -> None:
    assert await w.password("bob", PASSWORD) == SecondFactorNeeded()
    pending = await w.pending.recall(TENANT, "pre-1")
    assert pending is not None and pending.user_lid == w.bob.lid and pending.return_to == RETURN_TO
    assert await w.sessions.list_for_user(TENANT, w.bob.lid) == []
    assert await w.svc.second_factor_enrolled(TENANT, w.bob.lid)
    assert not await w.svc.second_factor_enrolled(TENANT, w.alice.lid)


# -- second factor --------------------------------------------------------------------------------------


async def test_each_code_goes_to_the_provider_whose_format_takes_it(w: World) -> None:
    for code, factor in ((f" {TOTP_CODE[:3]} {TOTP_CODE[3:]} ", w.totp), (RECOVERY_CODE, w.recovery)):
        previous = await w.sessions.create(TENANT, w.alice, (Amr.PASSWORD,), ACR.password)
        assert await w.password("bob", PASSWORD) == SecondFactorNeeded()
        outcome = await w.svc.second_factor(TENANT, code, w.browser(session=previous.id))
        assert isinstance(outcome, SignedIn) and outcome.return_to == RETURN_TO
        assert outcome.session.amr == ("pwd", "otp", "mfa") and outcome.session.acr == ACR.mfa
        assert factor.verified == [code.replace(" ", "")]
        assert await w.sessions.get(TENANT, previous.id) is None
        # The pending step is finished: the same browser cannot use it twice.
        again = await w.svc.second_factor(TENANT, code, w.browser())
        assert again == Refused(Refusal.EXPIRED)


async def test_second_factor_refusals(w: World) -> None:
    assert await w.svc.second_factor(TENANT, TOTP_CODE, w.browser()) == Refused(Refusal.EXPIRED)
    assert await w.password("bob", PASSWORD) == SecondFactorNeeded()
    assert await w.svc.second_factor(TENANT, "  ", w.browser()) == Refused(Refusal.MISSING)
    assert await w.svc.second_factor(TENANT, "654321", w.browser()) == Refused(Refusal.WRONG)
    # A code no provider's format takes is wrong, and no provider is asked.
    assert await w.svc.second_factor(TENANT, "hello", w.browser()) == Refused(Refusal.WRONG)
    assert w.totp.verified == ["654321"] and w.recovery.verified == []
    # Another browser (pre-session) has no pending step.
    assert await w.svc.second_factor(TENANT, TOTP_CODE, w.browser(pre="pre-2")) == Refused(Refusal.EXPIRED)
    # A right code for a user who is no longer active.
    await w.pending.remember(TENANT, "pre-3", w.carol.lid, None)
    assert await w.svc.second_factor(TENANT, TOTP_CODE, w.browser(pre="pre-3")) == Refused(Refusal.WRONG)


async def test_wrong_second_factor_codes_count_against_the_user_and_the_client(w: World) -> None:
    assert await w.password("bob", PASSWORD) == SecondFactorNeeded()
    for _ in range(5):
        assert await w.svc.second_factor(TENANT, "000000", w.browser()) == Refused(Refusal.WRONG)
    assert await w.svc.second_factor(TENANT, TOTP_CODE, w.browser()) == Throttled(12)
    assert len(w.totp.verified) == 5  # not asked while throttled
    # The user's bucket (by ΛID), from another address too.
    await w.pending.remember(TENANT, "pre-2", w.bob.lid, None)
    assert await w.svc.second_factor(TENANT, TOTP_CODE, w.browser(ELSEWHERE, "pre-2")) == Throttled(12)
    w.clock.advance(12)
    assert isinstance(await w.svc.second_factor(TENANT, TOTP_CODE, w.browser(ELSEWHERE, "pre-2")), SignedIn)


# -- account recovery -----------------------------------------------------------------------------------


async def test_account_recovery_opens_a_recovery_session(w: World) -> None:
    browser = w.browser()
    assert await w.svc.account_recovery(TENANT, "alice", "  ", browser) == Refused(Refusal.MISSING)
    assert await w.svc.account_recovery(TENANT, "alice", "wrong-code-0123456789", browser) == Refused(Refusal.WRONG)
    outcome = await w.svc.account_recovery(TENANT, " alice ", " issued-code-0123456789 ", browser)
    assert isinstance(outcome, SignedIn) and outcome.return_to is None
    assert outcome.session.amr == () and outcome.session.acr == ACR.recovery


async def test_wrong_account_recovery_codes_count_and_then_no_code_is_redeemed(w: World) -> None:
    for _ in range(5):
        await w.svc.account_recovery(TENANT, "Alice", "wrong-code-0123456789", w.browser(ELSEWHERE))
    outcome = await w.svc.account_recovery(TENANT, "alice", "issued-code-0123456789", w.browser())
    assert outcome == Throttled(12) and w.account_recovery.calls == 5  # the username's bucket


# -- passkey --------------------------------------------------------------------------------------------


async def test_a_passkey_opens_a_session_with_its_amr_and_acr(w: World) -> None:
    previous = await w.sessions.create(TENANT, w.alice, (Amr.PASSWORD,), ACR.password)
    outcome = await w.svc.passkey(TENANT, {"owner": w.alice.lid}, w.browser(session=previous.id), RETURN_TO)
    assert isinstance(outcome, SignedIn) and outcome.return_to == RETURN_TO
    assert outcome.session.amr == ("hwk", "user", "mfa") and outcome.session.acr == ACR.mfa
    assert await w.sessions.get(TENANT, previous.id) is None
    assert w.passkeys.calls == ["open", "finish"]


async def test_an_unknown_credential_counts_against_the_client_only(w: World) -> None:
    for _ in range(5):
        outcome = await w.svc.passkey(TENANT, {"owner": None}, w.browser())
        assert outcome == Refused(Refusal.WRONG, "unknown credential")
    assert await w.svc.passkey(TENANT, {"owner": w.alice.lid}, w.browser()) == Throttled(12)
    assert isinstance(await w.svc.passkey(TENANT, {"owner": w.alice.lid}, w.browser(ELSEWHERE)), SignedIn)


async def test_a_throttled_client_uses_the_ceremony_up_but_nothing_is_verified(w: World) -> None:
    for _ in range(5):
        await w.password("nobody", "wrong")  # one bucket per address, whatever the way in
    w.passkeys.calls.clear()
    assert await w.svc.passkey(TENANT, {"owner": w.alice.lid}, w.browser()) == Throttled(12)
    assert w.passkeys.calls == ["open"]


async def test_failed_passkeys_count_against_their_owner_whose_passkeys_then_wait(w: World) -> None:
    """The rider: a known credential's failures count against its owner's account, from any address, and
    a blocked account is refused before the signature is checked."""
    w.passkeys.ok = False
    for i in range(5):
        outcome = await w.svc.passkey(TENANT, {"owner": w.alice.lid}, w.browser(f"192.0.2.{i}"))
        assert outcome == Refused(Refusal.WRONG, "signature invalid")
    w.passkeys.ok = True
    w.passkeys.calls.clear()
    assert await w.svc.passkey(TENANT, {"owner": w.alice.lid}, w.browser(ELSEWHERE)) == Throttled(12)
    assert w.passkeys.calls == ["open"]  # not verified
    # The same bucket as the user's second factor (by ΛID); other accounts are not affected.
    await w.pending.remember(TENANT, "pre-9", w.alice.lid, None)
    assert await w.svc.second_factor(TENANT, TOTP_CODE, w.browser(ELSEWHERE, "pre-9")) == Throttled(12)
    w.users.by_name["bob"] = w.bob
    assert isinstance(await w.svc.passkey(TENANT, {"owner": w.bob.lid}, w.browser(ELSEWHERE)), SignedIn)
    w.clock.advance(12)
    assert isinstance(await w.svc.passkey(TENANT, {"owner": w.alice.lid}, w.browser(ELSEWHERE)), SignedIn)


async def test_a_known_credentials_owner_is_checked_with_the_client_in_one_look(w: World) -> None:
    """When the passkey service names the owner before any I/O, the owner's bucket is looked at together
    with the client's (one limiter look per ceremony, not two), still before the signature is checked."""
    looks: list[tuple[str | None, str | None]] = []
    look = w.limiter.retry_after

    async def counted(tenant: Tenant, *, account: str | None, client: str | None) -> int | None:
        looks.append((account, client))
        return await look(tenant, account=account, client=client)

    w.limiter.retry_after = counted  # type: ignore[method-assign]
    known = {"owner": w.alice.lid, "known": w.alice.lid}
    assert isinstance(await w.svc.passkey(TENANT, known, w.browser()), SignedIn)
    assert len(looks) == 1 and None not in looks[0]
    looks.clear()
    assert isinstance(await w.svc.passkey(TENANT, {"owner": w.alice.lid}, w.browser()), SignedIn)
    assert len(looks) == 2  # the client's while the credential is fetched, then its owner's
    # A blocked owner named up front: refused, the ceremony used up, nothing verified.
    w.passkeys.ok = False
    for i in range(5):
        await w.svc.passkey(TENANT, known, w.browser(f"192.0.2.{i}"))
    w.passkeys.ok = True
    w.passkeys.calls.clear()
    assert await w.svc.passkey(TENANT, known, w.browser(ELSEWHERE)) == Throttled(12)
    assert w.passkeys.calls == ["open"]


async def test_a_wrong_hint_still_checks_the_real_owner(w: World) -> None:
    """The service's hint may be stale: the bucket of the credential's real owner is looked at all the same."""
    w.passkeys.ok = False
    for i in range(5):
        await w.svc.passkey(TENANT, {"owner": w.alice.lid}, w.browser(f"192.0.2.{i}"))
    w.passkeys.ok = True
    w.passkeys.calls.clear()
    stale = {"owner": w.alice.lid, "known": w.bob.lid}
    assert await w.svc.passkey(TENANT, stale, w.browser(ELSEWHERE)) == Throttled(12)
    assert w.passkeys.calls == ["open"]


# -- step-up --------------------------------------------------------------------------------------------


async def test_step_up_raises_the_session_with_a_factor_that_confirms_step_ups(w: World) -> None:
    session = await w.sessions.create(TENANT, w.bob, (Amr.PASSWORD,), ACR.password)
    assert await w.svc.step_up(TENANT, session, RECOVERY_CODE, HERE) == Refused(Refusal.WRONG)
    assert w.recovery.verified == []  # recovery codes do not confirm step-ups
    outcome = await w.svc.step_up(TENANT, session, TOTP_CODE, HERE)
    assert isinstance(outcome, Elevated) and outcome.session.sid == session.sid
    assert outcome.session.amr == ("pwd", "otp", "mfa") and outcome.session.acr == ACR.mfa


async def test_wrong_step_up_codes_count_against_the_user(w: World) -> None:
    session = await w.sessions.create(TENANT, w.bob, (Amr.PASSWORD,), ACR.password)
    for i in range(5):
        assert await w.svc.step_up(TENANT, session, "000000", f"192.0.2.{i}") == Refused(Refusal.WRONG)
    assert await w.svc.step_up(TENANT, session, TOTP_CODE, ELSEWHERE) == Throttled(12)
    assert len(w.totp.verified) == 5


# -- one bucket per address, one record per attempt -----------------------------------------------------


async def test_one_client_bucket_per_address_across_every_entry(w: World) -> None:
    for _ in range(5):
        await w.password("nobody", "wrong")
    session = await w.sessions.create(TENANT, w.bob, (Amr.PASSWORD,), ACR.password)
    browser = w.browser()
    assert await w.svc.account_recovery(TENANT, "alice", "issued-code-0123456789", browser) == Throttled(12)
    assert await w.svc.step_up(TENANT, session, TOTP_CODE, HERE) == Throttled(12)
    await w.pending.remember(TENANT, "pre-1", w.bob.lid, None)
    assert await w.svc.second_factor(TENANT, TOTP_CODE, browser) == Throttled(12)
    # An unnamed peer is one client too.
    for i in range(5):
        assert await w.password(f"nobody{i}", "wrong", address=None) == Refused(Refusal.WRONG)
    assert await w.password("alice", PASSWORD, address=None) == Throttled(12)


async def test_one_record_per_attempt_without_secrets(w: World, caplog: pytest.LogCaptureFixture) -> None:
    """One event per attempt (its log subscriber writes the line), naming no username, address, secret or
    session id; a signed-in event names the user's ΛID, the session's public sid and its amr."""
    caplog.set_level(logging.INFO, logger="lukhas_id")
    sink = InProcessSink()  # the production fan-out: its log subscriber, and a recorder
    seen: list[IdentityEvent] = []

    async def record(event: IdentityEvent) -> None:
        seen.append(event)

    sink.subscribe(record)
    w.uow = InProcessUnitOfWork(sink)
    w.svc._uow = w.uow
    await w.password("alice", "a wrong password")
    signed = await w.password("alice", PASSWORD)
    await w.password("bob", PASSWORD)
    await w.svc.second_factor(TENANT, TOTP_CODE, w.browser())
    for _ in range(5):
        await w.password("alice", "a wrong password", address=ELSEWHERE)
    await w.password("alice", "a wrong password", address=ELSEWHERE)
    assert isinstance(signed, SignedIn)
    assert [e.type for e in seen] == [
        EventType.SIGN_IN_REFUSED,
        EventType.USER_SIGNED_IN,
        EventType.SIGN_IN_SECOND_FACTOR_NEEDED,
        EventType.USER_SIGNED_IN,
        *[EventType.SIGN_IN_REFUSED] * 5,
        EventType.RATE_LIMIT_TRIPPED,  # the fifth failure emptied the bucket: once
        EventType.SIGN_IN_THROTTLED,
    ]
    assert seen[0].metadata == {"method": "password", "reason": "wrong"} and seen[0].principal is None
    assert seen[1].principal == w.alice.lid
    assert seen[1].metadata == {"method": "password", "sid": signed.session.sid, "amr": "pwd", "acr": ACR.password}
    assert seen[3].principal == w.bob.lid and seen[3].metadata["amr"] == "pwd,otp,mfa"
    assert all(e.tenant_id == TENANT.id for e in seen)
    messages = [r.getMessage() for r in caplog.records if r.name == "lukhas_id.events"]
    assert messages[:4] == ["sign-in refused", "sign-in", "sign-in: second factor needed", "sign-in"]
    assert messages[-2:] == ["rate limit tripped", "sign-in rate limited"] and len(messages) == 11
    logged = "\n".join(messages) + repr([vars(r) for r in caplog.records]) + repr(seen)
    for secret in (PASSWORD, "a wrong password", TOTP_CODE, HERE, ELSEWHERE, "alice", "bob", signed.session.id):
        assert secret not in logged


async def test_every_attempt_is_timed_by_factor(w: World) -> None:
    """identity_auth_latency_seconds{factor}: one observation per attempt, refused or not."""
    await w.password("alice", PASSWORD)
    await w.password("alice", "wrong")
    await w.svc.passkey(TENANT, {"owner": w.alice.lid}, w.browser())
    registry = w.metrics.registry

    def count(factor: str) -> float | None:
        return registry.get_sample_value("identity_auth_latency_seconds_count", {"factor": factor})

    assert (count("password"), count("passkey"), count("step_up")) == (2, 1, None)
    outcomes = {
        (sample.labels["method"], sample.labels["outcome"]): sample.value
        for metric in registry.collect()
        if metric.name == "identity_sign_in"
        for sample in metric.samples
        if sample.name.endswith("_total")
    }
    assert outcomes == {
        ("password", "user.signed_in"): 1,
        ("password", "sign_in.refused"): 1,
        ("passkey", "user.signed_in"): 1,
    }
