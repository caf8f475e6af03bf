"""Sign-in: one entry per factor, each owning the rate limit, the factor check, the failure count, the
session and the record of what happened (RFC 8176 `amr`, RFC 9470 `acr`, RFC 9700 §4.12 for the edge).

`SignInService` has one entry per way in: `password`, `second_factor` (the code of a second-factor
provider after the password: TOTP, or one of the user's recovery codes), `account_recovery` (an
administrator-issued code, docs/recovery.md), `passkey` (WebAuthn, services/passkeys.py), and `step_up`
(a second-factor code on the account page, which raises the session instead of opening one). Each entry:

1. names the rate-limit buckets (services/rate_limit.py SignInLimiter): the client's network address,
   and the account: by username before the user is known (password, account recovery), by ΛID once it
   is (second factor, step-up, and a passkey's owner);
2. refuses with `Throttled` while either bucket is empty, without checking the factor;
3. checks the factor; a failure takes a token from both buckets and is `Refused`; a right password
   refills the account's bucket;
4. on success ends the browser's previous session in this tenant and opens a new one (a new id: no
   fixation; services/sessions.py) with the factor's `amr` and `acr`, and answers `SignedIn`; a right
   password for a user with a second factor is remembered instead (`PendingSignIns`) and answers
   `SecondFactorNeeded`;
5. records the outcome in one place (`_record`), one line per attempt without secrets or personal data.

Second factors are providers (`SecondFactor`) in a tuple built in bootstrap.py: services/totp.py first,
then services/recovery_codes.py. A code goes to the first provider whose format accepts it (six digits:
TOTP; anything that reads as a recovery code: that); a code no provider accepts is wrong. A user needs
the second step when any provider says it is enrolled.

A passkey sign-in comes in two halves (PasskeyService.open_authentication, finish_authentication): the
client's bucket is checked while the ceremony state and the credential are fetched, and the bucket of
the credential's owner before the signature is checked (together with the client's when the passkey
service already knows the credential's owner, else once the credential is found), so a blocked account
cannot sign in with a passkey either, and a failed passkey counts against its owner as well as the
client. An assertion for no known credential (or one the ceremony did not offer) counts against the
client only.

Outcomes are plain values; the edges (web/routes/login.py, webauthn.py, account.py) render them.

The pending second step (`PendingSignIns`) is kept in the key-value store for PENDING_TTL (5 minutes)
under a hash of the browser's pre-session id (the CSRF cookie), so only the browser that gave the
password can finish it, and only once: the session is made when the second factor is accepted, and the
pending record is deleted then. Failed codes leave it in place (the rate limit bounds the guessing).
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final, Protocol, TypeVar, cast

import orjson

from lukhas_id.clock import Clock
from lukhas_id.domain.authn import AcrNames, Amr
from lukhas_id.domain.events import EventType, IdentityEvent
from lukhas_id.domain.session import Session
from lukhas_id.domain.tenant import Tenant
from lukhas_id.domain.user import User
from lukhas_id.metrics import Metrics
from lukhas_id.observability import tracing
from lukhas_id.observability.context import bind_principal
from lukhas_id.ports.state import KeyValueStore
from lukhas_id.ports.unit_of_work import UnitOfWork
from lukhas_id.protocol.webauthn import WebAuthnError
from lukhas_id.services.passkeys import OpenedAssertion, PasskeySignIn
from lukhas_id.services.rate_limit import SignInLimiter
from lukhas_id.services.sessions import SessionService

log = logging.getLogger("lukhas_id")

PENDING_TTL: Final = 300


# -- what an entry is given, and what it answers ------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Browser:
    """The browser asking to sign in: its network address (the client's rate-limit bucket; the edge
    resolves it, trusted proxies included), its pre-session id (what binds the pending second step and
    the passkey ceremony) and the id of the session it already has in this tenant, if any (ended when a
    new one opens)."""

    address: str | None
    pre_session: str
    session: str | None = None


@dataclass(frozen=True, slots=True)
class SignedIn:
    """A new session; the browser goes back to the pending authorization request (`return_to`) or to
    the account page (None)."""

    session: Session
    return_to: str | None


@dataclass(frozen=True, slots=True)
class SecondFactorNeeded:
    """The password was right and the user has a second factor: the step is remembered, no session yet."""


@dataclass(frozen=True, slots=True)
class Elevated:
    """A step-up passed: the same session, raised to a second factor's level."""

    session: Session
    previous_acr: str  # the session's level before: an assurance-level change only when they differ


class Refusal(StrEnum):
    MISSING = "missing"  # a field the factor needs is empty: nothing was checked or counted
    WRONG = "wrong"  # the factor did not verify (one answer for every cause)
    EXPIRED = "expired"  # a second factor without a pending password step (too late, or none)
    FINISHED = "finished"  # the pending step was finished meanwhile by another request


@dataclass(frozen=True, slots=True)
class Refused:
    """No session. `detail` is a passkey's WebAuthn reason (short; it names no user or credential)."""

    reason: Refusal
    detail: str = ""


@dataclass(frozen=True, slots=True)
class Throttled:
    """The client's or the account's bucket is empty: try again in `retry_after` seconds."""

    retry_after: int


Outcome = SignedIn | Refused | Throttled
PasswordOutcome = SignedIn | SecondFactorNeeded | Refused | Throttled
StepUpOutcome = Elevated | Refused | Throttled
_O = TypeVar("_O", SignedIn, SecondFactorNeeded, Elevated, Refused, Throttled)


# -- what the service calls ----------------------------------------------------------------------------


class SecondFactor(Protocol):
    """A second-factor provider: a code after the password (and, where `step_up`, on the account page).

    `kind` names it in records and metrics; `amr` are the RFC 8176 values it adds (the service adds
    "mfa"); `accepts` says whether a code has its format (no I/O); `enrolled` whether the user has it;
    `verify` checks a code, using it up where the factor is single use, and counts its own failures.
    """

    @property
    def kind(self) -> str: ...

    @property
    def amr(self) -> tuple[str, ...]: ...

    @property
    def step_up(self) -> bool: ...

    def accepts(self, code: str) -> bool: ...

    async def enrolled(self, tenant: Tenant, user_lid: str) -> bool: ...

    async def verify(self, tenant: Tenant, user_lid: str, code: str) -> bool: ...


class Users(Protocol):
    """The user lookups and the password check (services/users.py UserService)."""

    async def authenticate(self, tenant: Tenant, username: str, password: str) -> User | None: ...

    async def by_lid(self, tenant: Tenant, lid: str) -> User | None: ...


class AccountRecoveryCodes(Protocol):
    """Administrator-issued account recovery codes (services/account_recovery.py)."""

    async def redeem(self, tenant: Tenant, username: str, code: str) -> User | None: ...


class PasskeyCeremonies(Protocol):
    """The two halves of a passkey sign-in (services/passkeys.py PasskeyService)."""

    def known_owner(self, tenant: Tenant, credential: Mapping[str, Any]) -> str | None: ...

    async def open_authentication(
        self, tenant: Tenant, binding: str, credential: Mapping[str, Any]
    ) -> OpenedAssertion: ...

    async def finish_authentication(self, tenant: Tenant, opened: OpenedAssertion) -> PasskeySignIn: ...


# -- the pending second step ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PendingSignIn:
    user_lid: str
    return_to: str | None


class PendingSignIns:
    def __init__(self, kv: KeyValueStore) -> None:
        self._kv = kv

    @staticmethod
    def _key(tenant: Tenant, binding: str) -> str:
        return f"2fa:{tenant.id}:{hashlib.sha256(binding.encode('utf-8')).hexdigest()}"

    async def remember(self, tenant: Tenant, binding: str, user_lid: str, return_to: str | None) -> None:
        record = {"user_lid": user_lid, "return_to": return_to}
        await self._kv.set(self._key(tenant, binding), orjson.dumps(record), PENDING_TTL)

    async def recall(self, tenant: Tenant, binding: str) -> PendingSignIn | None:
        raw = await self._kv.get(self._key(tenant, binding))
        if raw is None:
            return None
        try:
            data = orjson.loads(raw)
            return_to = data.get("return_to")
            return PendingSignIn(str(data["user_lid"]), str(return_to) if return_to else None)
        except (orjson.JSONDecodeError, KeyError, TypeError, AttributeError):
            return None

    async def finish(self, tenant: Tenant, binding: str) -> bool:
        """Delete the pending step; False when it was already gone (another request finished it)."""
        return await self._kv.pop(self._key(tenant, binding)) is not None


# -- the service ----------------------------------------------------------------------------------------


_Entry = TypeVar("_Entry", bound=Callable[..., Awaitable[Any]])


def _timed(factor: str) -> Callable[[_Entry], _Entry]:
    """identity_auth_latency_seconds{factor}: how long one sign-in attempt with `factor` took, whatever
    its outcome (argon2id, a Redis round trip, a signature check...); and the `sign_in` span with the factor and
    the outcome's kind (SignedIn, Refused, Throttled...; observability/tracing.py)."""
    attributes = {"lukhas_id.sign_in.factor": factor}

    def wrap(entry: _Entry) -> _Entry:
        @functools.wraps(entry)
        async def timed(self: SignInService, *args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                with tracing.span("sign_in", attributes) as span:
                    outcome = await entry(self, *args, **kwargs)
                    span.set_attribute("lukhas_id.sign_in.outcome", type(outcome).__name__)
                    return outcome
            finally:
                if self._metrics is not None:
                    self._metrics.auth_latency.labels(factor).observe(time.perf_counter() - started)

        return cast(_Entry, timed)

    return wrap


class SignInService:
    """Every way of signing in, each behind the same rate limit, failure count, session and record."""

    def __init__(
        self,
        limiter: SignInLimiter,
        users: Users,
        second_factors: Sequence[SecondFactor],
        account_recovery: AccountRecoveryCodes,
        passkeys: PasskeyCeremonies,
        sessions: SessionService,
        pending: PendingSignIns,
        acr: AcrNames,
        *,
        uow: UnitOfWork,
        clock: Clock,
        metrics: Metrics | None = None,
    ) -> None:
        self._uow = uow
        self._clock = clock
        self._metrics = metrics
        self._limiter = limiter
        self._users = users
        self.second_factors = tuple(second_factors)
        self._account_recovery = account_recovery
        self._passkeys = passkeys
        self._sessions = sessions
        self._pending = pending
        self._acr = acr

    # -- entries ---------------------------------------------------------------------------------------

    @_timed("password")
    async def password(
        self, tenant: Tenant, username: str, password: str, browser: Browser, return_to: str | None = None
    ) -> PasswordOutcome:
        """The sign-in form: a username and a password."""
        if not username or not password:
            return await self._record(tenant, "password", Refused(Refusal.MISSING))
        account = self._limiter.account(tenant, username)
        client = self._limiter.client(tenant, browser.address)
        wait = await self._limiter.retry_after(tenant, account=account, client=client)
        if wait is not None:
            return await self._record(tenant, "password", Throttled(wait))
        user = await self._users.authenticate(tenant, username, password)
        if user is None:
            tripped = await self._limiter.failed(tenant, account=account, client=client)
            return await self._record(tenant, "password", Refused(Refusal.WRONG), tripped=tripped)
        await self._limiter.succeeded(tenant, account=account)
        if await self.second_factor_enrolled(tenant, user.lid):
            await self._pending.remember(tenant, browser.pre_session, user.lid, return_to)
            return await self._record(tenant, "password", SecondFactorNeeded())
        session = await self._open(tenant, browser, user, (Amr.PASSWORD,), self._acr.password)
        return await self._record(tenant, "password", SignedIn(session, return_to))

    @_timed("second_factor")
    async def second_factor(self, tenant: Tenant, code: str, browser: Browser) -> Outcome:
        """The second step after a right password: a code of a second-factor provider (spaces ignored)."""
        pending = await self._pending.recall(tenant, browser.pre_session)
        if pending is None:
            return await self._record(tenant, "second_factor", Refused(Refusal.EXPIRED))
        code = "".join(code.split())
        if not code:
            return await self._record(tenant, "second_factor", Refused(Refusal.MISSING))
        account = self._limiter.account(tenant, pending.user_lid, lid=True)
        client = self._limiter.client(tenant, browser.address)
        wait = await self._limiter.retry_after(tenant, account=account, client=client)
        if wait is not None:
            return await self._record(tenant, "second_factor", Throttled(wait))
        factor = self._provider(code)
        ok = factor is not None and await factor.verify(tenant, pending.user_lid, code)
        user = await self._users.by_lid(tenant, pending.user_lid) if ok else None
        if factor is None or user is None or not user.active:
            tripped = await self._limiter.failed(tenant, account=account, client=client)
            return await self._record(
                tenant, factor.kind if factor else "second_factor", Refused(Refusal.WRONG), tripped=tripped
            )
        if not await self._pending.finish(tenant, browser.pre_session):
            return await self._record(tenant, factor.kind, Refused(Refusal.FINISHED))
        amr = (Amr.PASSWORD, *factor.amr, Amr.MFA)
        session = await self._open(tenant, browser, user, amr, self._acr.mfa)
        return await self._record(tenant, factor.kind, SignedIn(session, pending.return_to))

    @_timed("account_recovery")
    async def account_recovery(self, tenant: Tenant, username: str, code: str, browser: Browser) -> Outcome:
        """An administrator's account recovery code: a recovery session (AuthLevel.RECOVERY, no `amr`),
        which may only add a passkey (docs/recovery.md)."""
        username, code = username.strip(), code.strip()
        if not username or not code:
            return await self._record(tenant, "account_recovery", Refused(Refusal.MISSING))
        account = self._limiter.account(tenant, username)
        client = self._limiter.client(tenant, browser.address)
        wait = await self._limiter.retry_after(tenant, account=account, client=client)
        if wait is not None:
            return await self._record(tenant, "account_recovery", Throttled(wait))
        user = await self._account_recovery.redeem(tenant, username, code)
        if user is None:
            tripped = await self._limiter.failed(tenant, account=account, client=client)
            return await self._record(tenant, "account_recovery", Refused(Refusal.WRONG), tripped=tripped)
        session = await self._open(tenant, browser, user, (), self._acr.recovery)
        return await self._record(tenant, "account_recovery", SignedIn(session, None))

    @_timed("passkey")
    async def passkey(
        self, tenant: Tenant, credential: Mapping[str, Any], browser: Browser, return_to: str | None = None
    ) -> Outcome:
        """A passkey assertion (credential.toJSON()) for the ceremony bound to the browser's pre-session."""
        client = self._limiter.client(tenant, browser.address)
        # The client's bucket is looked at while the ceremony and the credential are fetched, and with it
        # the account's when the credential is one this process knows (no I/O to name its owner); a
        # throttled attempt still uses the ceremony up.
        owner = self._passkeys.known_owner(tenant, credential)
        early = self._limiter.account(tenant, owner, lid=True) if owner is not None else None
        wait, opened = await asyncio.gather(
            self._limiter.retry_after(tenant, account=early, client=client),
            self._passkeys.open_authentication(tenant, browser.pre_session, credential),
            return_exceptions=True,
        )
        if isinstance(wait, BaseException):
            raise wait
        if wait is not None:
            return await self._record(tenant, "passkey", Throttled(wait))
        if isinstance(opened, WebAuthnError):
            tripped = await self._limiter.failed(tenant, account=None, client=client)
            return await self._record(tenant, "passkey", Refused(Refusal.WRONG, opened.reason), tripped=tripped)
        if isinstance(opened, BaseException):
            raise opened
        account = self._limiter.account(tenant, opened.owner_lid, lid=True)
        if account != early:
            wait = await self._limiter.retry_after(tenant, account=account, client=None)
            if wait is not None:
                return await self._record(tenant, "passkey", Throttled(wait))
        try:
            signed_in = await self._passkeys.finish_authentication(tenant, opened)
        except WebAuthnError as exc:
            tripped = await self._limiter.failed(tenant, account=account, client=client)
            return await self._record(tenant, "passkey", Refused(Refusal.WRONG, exc.reason), tripped=tripped)
        session = await self._open(tenant, browser, signed_in.user, signed_in.amr, signed_in.acr)
        return await self._record(tenant, "passkey", SignedIn(session, return_to))

    @_timed("step_up")
    async def step_up(self, tenant: Tenant, session: Session, code: str, address: str | None) -> StepUpOutcome:
        """ "Confirm it's you" on the account page: a code of a provider that confirms step-ups raises the
        signed-in session to the second factor's level (the session keeps its id)."""
        code = "".join(code.split())
        account = self._limiter.account(tenant, session.user_lid, lid=True)
        client = self._limiter.client(tenant, address)
        wait = await self._limiter.retry_after(tenant, account=account, client=client)
        if wait is not None:
            return await self._record(tenant, "step_up", Throttled(wait))
        factor = self._provider(code, step_up=True)
        if factor is None or not await factor.verify(tenant, session.user_lid, code):
            tripped = await self._limiter.failed(tenant, account=account, client=client)
            return await self._record(tenant, "step_up", Refused(Refusal.WRONG), tripped=tripped)
        elevated = await self._sessions.elevate(tenant, session, (*factor.amr, Amr.MFA), self._acr.mfa)
        return await self._record(tenant, f"step_up {factor.kind}", Elevated(elevated, session.acr))

    async def second_factor_enrolled(self, tenant: Tenant, user_lid: str) -> bool:
        """Whether the user has a second factor (any provider), so that a password alone is not enough."""
        for factor in self.second_factors:
            if await factor.enrolled(tenant, user_lid):
                return True
        return False

    # -- the shared steps ------------------------------------------------------------------------------

    def _provider(self, code: str, *, step_up: bool = False) -> SecondFactor | None:
        """The first provider whose format accepts `code` (among those that confirm step-ups, for one)."""
        for factor in self.second_factors:
            if (factor.step_up or not step_up) and factor.accepts(code):
                return factor
        return None

    async def _open(self, tenant: Tenant, browser: Browser, user: User, amr: Sequence[str], acr: str) -> Session:
        """A new session for `user` (a new id: no fixation); the browser's previous session in this tenant ends."""
        if browser.session:
            await self._sessions.end(tenant, browser.session)
        return await self._sessions.create(tenant, user, amr, acr)

    async def _record(self, tenant: Tenant, method: str, outcome: _O, *, tripped: bool = False) -> _O:
        """The one record of a sign-in attempt: an event (domain/events.py) through the unit of work, whose
        log subscriber writes the line. It names the tenant, the method and the outcome, and for a session
        the user's ΛID, its public `sid` and `amr`; never a username, address, code, password or session id.
        A failure that `tripped` the limit adds `rate_limit.tripped` (which bucket is not said: the account's
        and the client address's are keyed hashes)."""
        metadata = {"method": method}
        principal: str | None = None
        if isinstance(outcome, SignedIn | Elevated):
            session = outcome.session
            bind_principal(session.user_lid)  # the request's log lines name the user (observability/context.py)
            kind = EventType.USER_SIGNED_IN if isinstance(outcome, SignedIn) else EventType.USER_STEPPED_UP
            principal = session.user_lid
            metadata |= {"sid": session.sid, "amr": ",".join(session.amr), "acr": session.acr}
            if isinstance(outcome, Elevated):
                metadata["previous_acr"] = outcome.previous_acr
        elif isinstance(outcome, SecondFactorNeeded):
            kind = EventType.SIGN_IN_SECOND_FACTOR_NEEDED
        elif isinstance(outcome, Throttled):
            kind = EventType.SIGN_IN_THROTTLED
        else:
            kind = EventType.SIGN_IN_REFUSED
            metadata["reason"] = outcome.reason.value
            if outcome.detail:
                metadata["detail"] = outcome.detail
        if self._metrics is not None:
            # method is a factor kind, or "step_up <kind>": a small fixed set; the outcome is the event's.
            self._metrics.sign_in.labels(method.replace(" ", "_"), kind.value).inc()
        async with self._uow() as work:
            now = self._clock.now()
            work.emit(IdentityEvent(kind, tenant.id, principal, now, metadata=metadata))
            if tripped:
                limit = {"limit": "sign_in", "method": metadata["method"]}
                work.emit(IdentityEvent(EventType.RATE_LIMIT_TRIPPED, tenant.id, None, now, metadata=limit))
        return outcome
