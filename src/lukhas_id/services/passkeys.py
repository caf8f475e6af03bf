"""Passkeys: WebAuthn registration and sign-in (protocol/webauthn/) with storage, ceremony state and policy.

Identifiers (both keyed hashes under per-tenant subkeys of services/keyring.TenantKeyring, so
they are stable across workers and restarts, differ between tenants and say nothing about the user):

- user handle = HMAC-SHA256(subkey "webauthn-user-handle", user ΛID): 32 bytes, no personal data
  (WebAuthn L3 §14.6.1); derived, never stored;
- credential handle = hex HMAC-SHA256(subkey "webauthn-credential-id", credential id): the primary
  key the store finds a credential by, and the name pages use for it;
- decoy credentials = descriptors derived from HMAC-SHA256(subkey "webauthn-decoy-credentials", username
  key): what a username-first sign-in offers for a name with no usable passkey (see "Usernames" below).

Usernames (WebAuthn L3 §14.6.2, username enumeration): the options for a username-first sign-in do not
say whether the account exists. A name that is unknown, belongs to an inactive user or to a user with no
usable passkey gets allowCredentials of one or two decoys: DECOY_ID_BYTES-byte ids with the transports of
a platform passkey or a security key, derived from the tenant key and the username key (NFKC, case fold),
so that asking again, in any spelling, gives the same list, and another tenant gives another one. The
same store reads are made either way (the user, then a passkey list, of nobody when there is nobody). A
credential that was not offered is refused as "unknown credential" whoever was named, so completing the
ceremony says no more than beginning it.

Ceremony state is single-use (KeyValueStore.pop) and lives STATE_TTL (5 minutes), under
``wa:{tenant_id}:{kind}:{sha256(binding)}``: the binding is what began the ceremony, the signed-in
session's `sid` for a registration and the browser's pre-session id (its CSRF cookie) for a sign-in.
So a complete without a begin, a second complete, or a complete from another browser or tenant finds
nothing: "no ceremony in progress".

Sign-in policy: the signature counter rule of §7.2 step 22 is enforced; a counter that did not increase
flags the credential `possibly_cloned` (it then never signs in again until removed and re-registered),
counts `webauthn_clone_signals` and emits `passkey.clone_suspected` (a warning) in the unit of work
that flags it. The counter update is a compare-and-swap, so of two sign-ins with one counter value only
one succeeds. A user who is not active cannot sign in. `amr`/`acr` follow domain/authn.py: a
user-verified passkey is MFA.

A sign-in comes in two halves: `open_authentication` takes the ceremony state and finds the credential
and its owner (one round trip to each store), `finish_authentication` verifies the assertion and records
the use. Between them services/sign_in.py applies the rate limit of the owner's account, so the
signature of a blocked account's passkey is never checked; `complete_authentication` runs both.

Known credentials: what a credential's row says that never changes after registration (its id, public
key, owner, backup eligibility, registration time) is kept per process after a sign-in with it (an LRU
of KNOWN_CREDENTIALS). The next sign-in with it verifies the assertion against that and then needs a single
statement, PasskeyRepository.record_use_if_current, which writes only if the row is still that credential,
is not flagged, passes the counter rule and its owner is active. Anything else (a refusal with the kept
data, or a statement that wrote nothing: the credential removed, flagged or re-registered, the owner
deactivated, a counter that did not increase) forgets it and runs the full path: the credential read
afresh and every check made again, which then gives the reason. So the kept data can make a sign-in
cheaper, never let through one the full path would refuse.

Events (domain/events.py): a registration, a rename and a removal are each one unit of work with their
event (`passkey.registered`, `.renamed`, `.removed`), which names the owner by ΛID and the credential by
its handle, never by its id. A refused registration changes nothing and emits nothing (the web edge logs
the reason, and `webauthn_ceremonies` counts it).
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import hmac
import secrets
import unicodedata
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any, Final, Literal, Protocol

import orjson

from lukhas_id.clock import Clock
from lukhas_id.domain.authn import AcrNames, passkey_amr
from lukhas_id.domain.events import EventType, IdentityEvent
from lukhas_id.domain.passkey import MAX_PASSKEY_NAME_LENGTH, MAX_PASSKEYS_PER_USER, Passkey
from lukhas_id.domain.tenant import Tenant
from lukhas_id.domain.user import InvalidUser, User, username_key
from lukhas_id.errors import AlreadyExists, LukhasIdError
from lukhas_id.metrics import Metrics
from lukhas_id.ports.authn import PasskeyRepository
from lukhas_id.ports.state import KeyValueStore
from lukhas_id.ports.unit_of_work import UnitOfWork
from lukhas_id.protocol.webauthn import (
    Assertion,
    AttestationRefused,
    CeremonyState,
    CounterNotIncreased,
    Descriptor,
    RelyingParty,
    Requirement,
    StoredCredential,
    WebAuthnError,
    authentication_options,
    named_credential,
    parse_assertion,
    registration_options,
    verify_assertion,
    verify_registration,
)
from lukhas_id.services.keyring import TenantKeyring

STATE_TTL: Final = 300.0
DEFAULT_NAME: Final = "Passkey"
NO_CEREMONY: Final = "no ceremony in progress"
KNOWN_CREDENTIALS: Final = 4096  # credentials kept per process (see "Known credentials" above)
DECOY_ID_BYTES: Final = 32  # a common length of a platform authenticator's credential id
# Transports of decoys: as a platform passkey or a roaming security key reports them.
DECOY_TRANSPORTS: Final = (("hybrid", "internal"), ("internal", "hybrid"), ("nfc", "usb"))
_NOBODY: Final = "USR-nobody"  # not a ΛID: the passkey list read for a name that has no user

Kind = Literal["registration", "authentication"]


class UserDirectory(Protocol):
    """The user lookups the service needs (services.users.UserService provides them)."""

    async def get(self, tenant: Tenant, username: str) -> User | None:
        """The user with this username (any case or compatibility form), or None."""
        ...

    async def by_lid(self, tenant: Tenant, lid: str) -> User | None: ...


class InvalidPasskeyName(LukhasIdError):
    """A passkey name breaks its rule; the message names the rule, not the value."""


def passkey_name(value: str | None) -> str:
    """The name to store: stripped, "Passkey" when empty, at most 64 characters, no control characters."""
    name = (value or "").strip()
    if not name:
        return DEFAULT_NAME
    if len(name) > MAX_PASSKEY_NAME_LENGTH:
        raise InvalidPasskeyName(f"a passkey name is at most {MAX_PASSKEY_NAME_LENGTH} characters")
    if any(unicodedata.category(ch) in {"Cc", "Cf", "Zl", "Zp"} for ch in name):
        raise InvalidPasskeyName("a passkey name cannot contain control characters")
    return name


@dataclasses.dataclass(frozen=True, slots=True)
class PasskeySignIn:
    """A successful passkey sign-in: who, and how (`amr`, `acr`) for SessionService.create."""

    user: User
    amr: tuple[str, ...]
    acr: str
    handle: str  # the credential's handle


async def _nothing() -> None:
    return None


@dataclasses.dataclass(frozen=True, slots=True)
class _Known:
    """A credential's unchanging facts, kept after a sign-in with it (see "Known credentials" above)."""

    stored: StoredCredential  # sign_count None: record_use_if_current applies the counter rule
    user_lid: str
    created_at: float


@dataclasses.dataclass(frozen=True, slots=True, eq=False)
class OpenedAssertion:
    """A passkey sign-in between its two halves (PasskeyService.open_authentication, then
    finish_authentication): the ceremony state is used up and the credential is one the ceremony offered
    and the store knows, owned by `owner_lid`. The other fields are the service's own."""

    owner_lid: str
    state: CeremonyState
    assertion: Assertion
    handle: str  # the credential's handle
    known: _Known | None  # its kept facts, when it is known in this process
    found: tuple[Passkey, User] | None  # else its row and owner, as read


class PasskeyService:
    def __init__(
        self,
        repo: PasskeyRepository,
        kv: KeyValueStore,
        keyring: TenantKeyring,
        users: UserDirectory,
        clock: Clock,
        uow: UnitOfWork,
        metrics: Metrics,
        rp: RelyingParty,
        acr_names: AcrNames,
    ) -> None:
        self._repo = repo
        self._uow = uow
        self._kv = kv
        self._keyring = keyring
        self._users = users
        self._clock = clock
        self._metrics = metrics
        self.rp = rp
        self._acr = acr_names
        self._known: OrderedDict[tuple[str, str], _Known] = OrderedDict()

    # -- identifiers ----------------------------------------------------------------------------

    def user_handle(self, tenant: Tenant, user_lid: str) -> bytes:
        key = self._keyring.key(tenant, "webauthn-user-handle")
        return hmac.new(key, user_lid.encode("utf-8"), hashlib.sha256).digest()

    def credential_handle(self, tenant: Tenant, credential_id: bytes) -> str:
        key = self._keyring.key(tenant, "webauthn-credential-id")
        return hmac.new(key, credential_id, hashlib.sha256).hexdigest()

    def decoy_credentials(self, tenant: Tenant, username: str) -> list[Descriptor]:
        """One or two plausible descriptors for `username`, stable per tenant and username key (§14.6.2)."""
        try:
            name = username_key(username)
        except InvalidUser:
            name = username  # no account can have it: any stable answer will do
        key = self._keyring.key(tenant, "webauthn-decoy-credentials")
        seed = hmac.new(key, name.encode("utf-8", "surrogatepass"), hashlib.sha256).digest()
        count = 2 if seed[0] < 64 else 1  # most accounts have one passkey, some two
        decoys = []
        for index in range(count):
            credential_id = hmac.new(key, seed + bytes([index]), hashlib.sha256).digest()[:DECOY_ID_BYTES]
            transports = DECOY_TRANSPORTS[seed[1 + index] % len(DECOY_TRANSPORTS)]
            decoys.append(Descriptor(credential_id, transports))
        return decoys

    # -- ceremony state -------------------------------------------------------------------------

    @staticmethod
    def _state_key(tenant: Tenant, kind: Kind, binding: str) -> str:
        digest = hashlib.sha256(binding.encode("utf-8")).hexdigest()
        return f"wa:{tenant.id}:{kind}:{digest}"

    async def _save(self, tenant: Tenant, kind: Kind, binding: str, state: CeremonyState, owner: str | None) -> None:
        value = orjson.dumps({"state": state.to_json(), "owner": owner})
        await self._kv.set(self._state_key(tenant, kind, binding), value, STATE_TTL)

    async def _take(self, tenant: Tenant, kind: Kind, binding: str) -> tuple[CeremonyState, str | None]:
        raw = await self._kv.pop(self._state_key(tenant, kind, binding))
        if raw is None:
            raise WebAuthnError(NO_CEREMONY)
        try:
            data = orjson.loads(raw)
            state = CeremonyState.from_json(data["state"])
            owner = data["owner"]
        except (ValueError, KeyError, TypeError):
            raise WebAuthnError(NO_CEREMONY) from None
        if state.kind != kind or not (owner is None or isinstance(owner, str)):
            raise WebAuthnError(NO_CEREMONY)
        return state, owner

    def _count(self, kind: Kind, ok: bool) -> None:
        outcome = "ok" if ok else "failed"
        self._metrics.webauthn_ceremonies.labels(kind, outcome).inc()
        if kind == "registration":
            self._metrics.webauthn_registration.labels(outcome).inc()

    async def _active_user(self, tenant: Tenant, user_lid: str) -> User:
        user = await self._users.by_lid(tenant, user_lid)
        if user is None or not user.active:
            raise WebAuthnError("account not active")
        return user

    # -- registration ---------------------------------------------------------------------------

    async def begin_registration(self, tenant: Tenant, user_lid: str, binding: str) -> dict[str, Any]:
        """Creation options for the signed-in user (`binding`: their session's sid)."""
        user = await self._active_user(tenant, user_lid)
        existing = await self._repo.list_for_user(tenant.id, user.lid)
        if len(existing) >= MAX_PASSKEYS_PER_USER:
            raise WebAuthnError("too many passkeys")
        options, state = registration_options(
            self.rp,
            user_handle=self.user_handle(tenant, user.lid),
            user_name=user.username,
            display_name=user.display_name,
            exclude=[Descriptor(p.credential_id, p.transports) for p in existing],
        )
        await self._save(tenant, "registration", binding, state, user.lid)
        return options

    async def complete_registration(
        self, tenant: Tenant, user_lid: str, binding: str, credential: Mapping[str, Any], name: str | None = None
    ) -> Passkey:
        """Verify and store the new credential. Raises InvalidPasskeyName (before the ceremony is used
        up) or WebAuthnError."""
        label = passkey_name(name)
        try:
            passkey = await self._register(tenant, user_lid, binding, credential, label)
        except WebAuthnError:
            self._count("registration", False)
            raise
        self._count("registration", True)
        return passkey

    async def _register(
        self, tenant: Tenant, user_lid: str, binding: str, credential: Mapping[str, Any], name: str
    ) -> Passkey:
        state, owner = await self._take(tenant, "registration", binding)
        if owner != user_lid:
            raise WebAuthnError(NO_CEREMONY)
        user = await self._active_user(tenant, user_lid)
        try:
            new = verify_registration(self.rp, state, credential, at=self._clock.now())
        except AttestationRefused:
            self._metrics.webauthn_attestation_failures.inc()
            raise
        passkey = Passkey(
            tenant_id=tenant.id,
            user_lid=user.lid,
            handle=self.credential_handle(tenant, new.credential_id),
            credential_id=new.credential_id,
            public_key=new.public_key,
            sign_count=new.sign_count,
            aaguid=new.aaguid,
            transports=new.transports,
            backup_eligible=new.backup_eligible,
            backup_state=new.backup_state,
            user_verified=new.user_verified,
            attestation_format=new.attestation_format,
            name=name,
            created_at=self._clock.now(),
            last_used_at=None,
        )
        async with self._uow() as work:
            if len(await self._repo.list_for_user(tenant.id, user.lid)) >= MAX_PASSKEYS_PER_USER:
                raise WebAuthnError("too many passkeys")
            try:
                await self._repo.add(passkey)  # §7.1 step 26: an id registered to anyone is refused
            except AlreadyExists:
                raise WebAuthnError("credential already registered") from None
            work.emit(self._event(EventType.PASSKEY_REGISTERED, tenant, user.lid, passkey.handle))
        return passkey

    def _event(self, kind: EventType, tenant: Tenant, user_lid: str, handle: str) -> IdentityEvent:
        """A passkey event: the owner's ΛID and the credential's handle (a keyed hash, not its id)."""
        return IdentityEvent(kind, tenant.id, user_lid, self._clock.now(), metadata={"handle": handle})

    # -- authentication -------------------------------------------------------------------------

    async def begin_authentication(
        self,
        tenant: Tenant,
        binding: str,
        username: str | None = None,
        *,
        user_verification: Requirement | None = None,
    ) -> dict[str, Any]:
        """Request options (`binding`: the browser's pre-session id).

        With a username: allowCredentials lists that user's passkeys (none flagged as possibly cloned),
        and only their credential will do. An unknown or inactive user, or one without a usable
        passkey, gets the same shape with that username's decoys (WebAuthn L3 §14.6.2; see "Usernames"
        above), and no credential will do. Without one: a discoverable sign-in (empty
        allowCredentials). `user_verification` overrides the setting ("required" for step-up).
        """
        allow: list[Descriptor] = []
        handle: bytes | None = None
        if username is not None:
            user = await self._users.get(tenant, username)
            # The passkey list is read whoever the name belongs to, so the store work does not tell.
            passkeys = await self._repo.list_for_user(tenant.id, user.lid if user is not None else _NOBODY)
            if user is not None and user.active:
                handle = self.user_handle(tenant, user.lid)
                allow = [Descriptor(p.credential_id, p.transports) for p in passkeys if not p.possibly_cloned]
            else:
                handle = secrets.token_bytes(32)  # nobody's: the ceremony cannot succeed
            if not allow:
                allow = self.decoy_credentials(tenant, username)
        options, state = authentication_options(
            self.rp, allow=allow, user_handle=handle, user_verification=user_verification
        )
        await self._save(tenant, "authentication", binding, state, None)
        return options

    def known_owner(self, tenant: Tenant, credential: Mapping[str, Any]) -> str | None:
        """The ΛID of the account that owns the credential an assertion names, when this process has signed
        in with that credential before (see "Known credentials" above): no I/O. None otherwise, and for a
        malformed assertion (`open_authentication` says why). A hint only: the sign-in service looks at
        that account's limit together with the client's, and again if the credential's owner turns out to
        be another account."""
        try:
            raw_id = named_credential(credential)
        except WebAuthnError:
            return None
        known = self._known.get((tenant.id, self.credential_handle(tenant, raw_id)))
        return known.user_lid if known is not None else None

    async def open_authentication(self, tenant: Tenant, binding: str, credential: Mapping[str, Any]) -> OpenedAssertion:
        """The first half of a passkey sign-in: take the ceremony state (single use), read the assertion and
        find its credential with the owner. Raises WebAuthnError, in this order: no ceremony, a malformed
        assertion, an unknown credential (or one the ceremony did not offer).

        What it returns names the account the sign-in is for (`owner_lid`), so that the caller can apply
        the account's rate limit (services/sign_in.py) before `finish_authentication` checks the signature.
        """
        try:
            return await self._open(tenant, binding, credential)
        except WebAuthnError:
            self._count("authentication", False)
            raise

    async def finish_authentication(self, tenant: Tenant, opened: OpenedAssertion) -> PasskeySignIn:
        """The second half: verify the assertion against the credential and record its use; the signed-in
        user with `amr` and `acr`. Raises WebAuthnError."""
        try:
            result = await self._finish(tenant, opened)
        except WebAuthnError:
            self._count("authentication", False)
            raise
        self._count("authentication", True)
        return result

    async def complete_authentication(
        self, tenant: Tenant, binding: str, credential: Mapping[str, Any]
    ) -> PasskeySignIn:
        """Both halves with nothing between them. Raises WebAuthnError. (A sign-in goes through
        services/sign_in.py, which applies the rate limits between the two.)"""
        return await self.finish_authentication(tenant, await self.open_authentication(tenant, binding, credential))

    async def _open(self, tenant: Tenant, binding: str, credential: Mapping[str, Any]) -> OpenedAssertion:
        # The ceremony state and (unless it is known) the credential with its owner are fetched at once (one
        # round trip to each store); their refusals keep this order: no ceremony, a malformed assertion, an
        # unknown credential.
        malformed: WebAuthnError | None = None
        try:
            assertion: Assertion | None = parse_assertion(credential)
        except WebAuthnError as exc:
            assertion, malformed = None, exc
        key = None if assertion is None else (tenant.id, self.credential_handle(tenant, assertion.credential_id))
        known = None if key is None else self._known.get(key)
        if known is not None:
            self._known.move_to_end(key)  # type: ignore[arg-type]  # key is set when known is
        taken, found = await asyncio.gather(
            self._take(tenant, "authentication", binding),
            self._lookup(key) if known is None else _nothing(),
            return_exceptions=True,
        )
        for outcome in (taken, malformed, found):
            if isinstance(outcome, BaseException):
                raise outcome
        state, _ = taken  # type: ignore[misc]  # not an exception: checked above
        if assertion is None or key is None:
            raise WebAuthnError("unknown credential")
        if state.allow_credentials and not any(
            hmac.compare_digest(assertion.credential_id, offered) for offered in state.allow_credentials
        ):
            # §7.2 step 5, answered as an unknown credential whether the offer was a user's passkeys or
            # decoys, so that completing says no more than beginning about whom the username names.
            raise WebAuthnError("unknown credential")
        if known is not None:
            return OpenedAssertion(known.user_lid, state, assertion, key[1], known, None)
        if found is None:
            raise WebAuthnError("unknown credential")
        passkey, user = found  # type: ignore[misc]  # not an exception: checked above
        return OpenedAssertion(passkey.user_lid, state, assertion, key[1], None, (passkey, user))

    async def _finish(self, tenant: Tenant, opened: OpenedAssertion) -> PasskeySignIn:
        state, assertion, key = opened.state, opened.assertion, (tenant.id, opened.handle)
        found = opened.found
        if opened.known is not None:
            signed_in = await self._known_sign_in(tenant, state, assertion, opened.handle, opened.known)
            if signed_in is not None:
                return signed_in
            self._known.pop(key, None)  # the full path decides, and says why
            found = await self._lookup(key)
        if found is None:
            raise WebAuthnError("unknown credential")
        passkey, user = found
        stored = StoredCredential(
            credential_id=passkey.credential_id,
            public_key=passkey.public_key,
            sign_count=passkey.sign_count,
            backup_eligible=passkey.backup_eligible,
            owner_handle=self.user_handle(tenant, passkey.user_lid),
        )
        try:
            verified = verify_assertion(self.rp, state, assertion, stored)
        except CounterNotIncreased:
            async with self._uow() as work:
                await self._repo.flag_cloned(tenant.id, passkey.handle)
                work.emit(self._event(EventType.PASSKEY_CLONE_SUSPECTED, tenant, passkey.user_lid, passkey.handle))
            self._metrics.webauthn_clone_signals.inc()
            raise
        if passkey.possibly_cloned:
            raise WebAuthnError("credential blocked: possible clone")
        if not user.active:
            raise WebAuthnError("account not active")
        recorded = await self._repo.record_use(
            tenant.id,
            passkey.handle,
            expected_count=passkey.sign_count,
            sign_count=verified.sign_count,
            backup_state=verified.backup_state,
            at=self._clock.now(),
        )
        if not recorded:
            raise WebAuthnError("credential used concurrently")
        self._remember(key, stored, passkey)
        return self._signed_in(user, passkey.handle, passkey.backup_eligible, verified.user_verified)

    async def _known_sign_in(
        self, tenant: Tenant, state: CeremonyState, assertion: Assertion, handle: str, known: _Known
    ) -> PasskeySignIn | None:
        """A sign-in with a known credential: verified against the kept facts, then one conditional write.
        None when either refuses: the caller then runs the full path."""
        try:
            verified = verify_assertion(self.rp, state, assertion, known.stored)
        except WebAuthnError:
            return None
        user = await self._repo.record_use_if_current(
            tenant.id,
            handle,
            user_lid=known.user_lid,
            created_at=known.created_at,
            sign_count=verified.sign_count,
            backup_state=verified.backup_state,
            at=self._clock.now(),
        )
        if user is None:
            return None
        return self._signed_in(user, handle, known.stored.backup_eligible, verified.user_verified)

    def _signed_in(self, user: User, handle: str, backup_eligible: bool, user_verified: bool) -> PasskeySignIn:
        amr = passkey_amr(backup_eligible=backup_eligible, user_verified=user_verified)
        acr = self._acr.mfa if user_verified else self._acr.passkey
        return PasskeySignIn(user=user, amr=tuple(amr), acr=acr, handle=handle)

    def _remember(self, key: tuple[str, str], stored: StoredCredential, passkey: Passkey) -> None:
        known = _Known(dataclasses.replace(stored, sign_count=None), passkey.user_lid, passkey.created_at)
        self._known[key] = known
        self._known.move_to_end(key)
        while len(self._known) > KNOWN_CREDENTIALS:
            self._known.popitem(last=False)

    async def _lookup(self, key: tuple[str, str] | None) -> tuple[Passkey, User] | None:
        if key is None:
            return None
        return await self._repo.get_with_owner(*key)

    # -- the account page -----------------------------------------------------------------------

    async def list_for_user(self, tenant: Tenant, user_lid: str) -> list[Passkey]:
        return await self._repo.list_for_user(tenant.id, user_lid)

    async def rename(self, tenant: Tenant, user_lid: str, handle: str, name: str) -> bool:
        """Rename the user's passkey; False when they have no such passkey. Raises InvalidPasskeyName."""
        label = passkey_name(name)
        async with self._uow() as work:
            renamed = await self._repo.rename(tenant.id, user_lid, handle, label)
            if renamed:
                work.emit(self._event(EventType.PASSKEY_RENAMED, tenant, user_lid, handle))
        return renamed

    async def delete(self, tenant: Tenant, user_lid: str, handle: str) -> bool:
        """Remove the user's passkey; False when they have no such passkey."""
        async with self._uow() as work:
            deleted = await self._repo.delete(tenant.id, user_lid, handle)
            if deleted:
                work.emit(self._event(EventType.PASSKEY_REMOVED, tenant, user_lid, handle))
        return deleted
