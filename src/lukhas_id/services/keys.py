"""Signing keys of each tenant: lifecycle (next -> active -> retired -> removed), caching and JWKS.

Every process caches each tenant's key set and reloads it from the database every `reload_interval`
seconds, and at once (at most once a second) when asked to verify a token signed by a key it does not
know. A retired key stays published for `max_access_token_ttl` + a margin larger than the reload
interval, so a process that still signs with a just-retired key never produces a token that outlives
its key's publication.

A rotation is one unit of work with its `signing_key.rotated` event (the line maintenance and the CLI
log). An operator's own key (`import_key`, `lukhas-id keys import`) enters as the `next` key of its
algorithm, in place of the generated one, with its `signing_key.imported` event: published before it
signs, and made active by the next rotation like any next key. Creating a tenant's first keys of an
algorithm (`ensure`) emits nothing of its own: it runs at every start, inside the creation of a tenant
(whose event says so) or of a client that first asks for that algorithm.
"""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass, replace

import orjson

from lukhas_id.clock import Clock
from lukhas_id.domain.events import EventType, IdentityEvent
from lukhas_id.domain.keys import KeyState, SigningAlg, SigningKey
from lukhas_id.domain.tenant import Tenant
from lukhas_id.errors import AlreadyExists, Conflict, KeyUnavailable
from lukhas_id.jose.jwt import SigningKeyMaterial, VerificationKeySet
from lukhas_id.jose.keys import generate_private_key, public_jwk
from lukhas_id.ports.crypto import SecretBox
from lukhas_id.ports.repositories import SigningKeyRepository
from lukhas_id.ports.unit_of_work import UnitOfWork

RELOAD_INTERVAL = 30.0
# Retired keys stay published this long beyond the longest access token lifetime (> RELOAD_INTERVAL).
RETIRE_MARGIN = 120


@dataclass(frozen=True, slots=True)
class TenantKeySet:
    """What one tenant's keys give a process: signers per algorithm, a verifier set, the JWKS."""

    keys: tuple[SigningKey, ...]
    signers: dict[SigningAlg, SigningKeyMaterial]
    verifier: VerificationKeySet
    jwks_body: bytes
    jwks_etag: str
    loaded_at: float


def _build(keys: list[SigningKey], box: SecretBox, now: float) -> TenantKeySet:
    published = [k for k in keys if k.remove_after is None or k.remove_after > now]
    signers: dict[SigningAlg, SigningKeyMaterial] = {}
    for key in published:
        if key.state is KeyState.ACTIVE:
            signers[key.alg] = SigningKeyMaterial(key.kid, key.alg, box.decrypt(key.private_enc))
    jwks = [dict(k.public_jwk) for k in published]
    body = orjson.dumps({"keys": jwks})
    etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
    return TenantKeySet(tuple(published), signers, VerificationKeySet(jwks), body, etag, now)


class KeyService:
    def __init__(
        self,
        repo: SigningKeyRepository,
        box: SecretBox,
        clock: Clock,
        uow: UnitOfWork,
        *,
        max_access_token_ttl: int,
        jwks_max_age: int,
    ) -> None:
        self._repo = repo
        self._uow = uow
        self._box = box
        self._clock = clock
        self._max_ttl = max_access_token_ttl
        self._jwks_max_age = jwks_max_age
        self._sets: dict[str, TenantKeySet] = {}
        self._stale: set[str] = set()
        self._last_forced: dict[str, float] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    # --- reading (hot path) -------------------------------------------------------------------

    def cached(self, tenant_id: str) -> TenantKeySet | None:
        """The cached key set if it is fresh; None means `await load(tenant_id)`."""
        ks = self._sets.get(tenant_id)
        if ks is not None and tenant_id not in self._stale and self._clock.now() - ks.loaded_at < RELOAD_INTERVAL:
            return ks
        return None

    def invalidate(self, tenant_id: str) -> None:
        self._stale.add(tenant_id)

    async def get(self, tenant_id: str) -> TenantKeySet:
        return self.cached(tenant_id) or await self.load(tenant_id)

    async def load(self, tenant_id: str) -> TenantKeySet:
        lock = self._locks.setdefault(tenant_id, asyncio.Lock())
        async with lock:
            ks = self.cached(tenant_id)
            if ks is not None:
                return ks
            keys = await self._repo.list(tenant_id)
            ks = _build(keys, self._box, self._clock.now())
            self._sets[tenant_id] = ks
            self._stale.discard(tenant_id)
            return ks

    async def keyset_for(self, tenant_id: str, kid: str) -> TenantKeySet:
        """The tenant's keys for verifying a token signed by `kid`: reloaded first when this process does not
        know that kid (refresh_for_unknown_kid)."""
        ks = await self.get(tenant_id)
        return ks if kid in ks.verifier.kids() else await self.refresh_for_unknown_kid(tenant_id, kid)

    async def refresh_for_unknown_kid(self, tenant_id: str, kid: str) -> TenantKeySet:
        """Reload when a token names a kid this process doesn't know (at most once a second)."""
        now = self._clock.now()
        ks = await self.get(tenant_id)
        if kid in ks.verifier.kids() or now - self._last_forced.get(tenant_id, -1e9) < 1.0:
            return ks
        self._last_forced[tenant_id] = now
        self.invalidate(tenant_id)
        return await self.load(tenant_id)

    async def signer(self, tenant: Tenant) -> SigningKeyMaterial:
        """The key that signs the tenant's access tokens."""
        return await self.signer_for(tenant, SigningAlg(tenant.access_token_alg))

    async def signer_for(self, tenant: Tenant, alg: SigningAlg, *, create: bool = False) -> SigningKeyMaterial:
        """The active key of `alg`. With `create`, a tenant's first key of another algorithm (ID tokens
        use the client's algorithm, RS256 by default) is made on first use: an active and a next key."""
        ks = await self.get(tenant.id)
        signer = ks.signers.get(alg)
        if signer is None and create:
            # Another process (the CLI registering a client) may have made the key since the last reload.
            await self.ensure(tenant.id, alg)
            self.invalidate(tenant.id)
            signer = (await self.load(tenant.id)).signers.get(alg)
        if signer is None:
            raise KeyUnavailable(f"tenant {tenant.name} has no active {alg.value} key")
        return signer

    # --- lifecycle ----------------------------------------------------------------------------

    def _new_key(self, tenant_id: str, alg: SigningAlg, state: KeyState, now: float) -> SigningKey:
        der = generate_private_key(alg)
        jwk = public_jwk(der, alg)
        return SigningKey(
            tenant_id=tenant_id,
            kid=jwk["kid"],
            alg=alg,
            state=state,
            public_jwk=jwk,
            private_enc=self._box.encrypt(der),
            created_at=now,
            activated_at=now if state is KeyState.ACTIVE else None,
            retired_at=None,
            remove_after=None,
        )

    async def ensure(self, tenant_id: str, alg: SigningAlg) -> bool:
        """Make sure the tenant has an active and a next key of `alg`; True if anything was created."""
        keys = await self._repo.list(tenant_id)
        active = [k for k in keys if k.alg is alg and k.state is KeyState.ACTIVE]
        nxt = [k for k in keys if k.alg is alg and k.state is KeyState.NEXT]
        now = self._clock.now()
        if not active:
            upsert = [self._new_key(tenant_id, alg, KeyState.ACTIVE, now)]
            if not nxt:
                upsert.append(self._new_key(tenant_id, alg, KeyState.NEXT, now))
            # Compare-and-swap on "no active key of alg": of two processes starting at once, one wins.
            changed = await self._repo.apply_rotation(tenant_id, expect_active_kid=None, upsert=upsert, remove_kids=[])
        elif not nxt:
            await self._repo.add(self._new_key(tenant_id, alg, KeyState.NEXT, now))
            changed = True
        else:
            return False
        self.invalidate(tenant_id)
        return changed

    async def rotate(self, tenant_id: str, alg: SigningAlg) -> RotationResult:
        """Promote next to active, retire the active key, create a new next; drop expired retired keys."""
        keys = await self._repo.list(tenant_id)
        now = self._clock.now()
        active = next((k for k in keys if k.alg is alg and k.state is KeyState.ACTIVE), None)
        nxt = next((k for k in keys if k.alg is alg and k.state is KeyState.NEXT), None)
        upsert: list[SigningKey] = []
        if nxt is not None:
            promoted = replace(nxt, state=KeyState.ACTIVE, activated_at=now)
        else:
            promoted = self._new_key(tenant_id, alg, KeyState.ACTIVE, now)
        upsert.append(promoted)
        if active is not None:
            upsert.append(
                replace(
                    active,
                    state=KeyState.RETIRED,
                    retired_at=now,
                    remove_after=now + self._max_ttl + RETIRE_MARGIN,
                )
            )
        upsert.append(self._new_key(tenant_id, alg, KeyState.NEXT, now))
        removed = [k.kid for k in keys if k.state is KeyState.RETIRED and (k.remove_after or 0) <= now]
        async with self._uow() as work:
            ok = await self._repo.apply_rotation(
                tenant_id,
                expect_active_kid=active.kid if active else None,
                upsert=upsert,
                remove_kids=removed,
            )
            if ok:
                metadata = {"alg": alg.value, "kid": promoted.kid}
                work.emit(IdentityEvent(EventType.SIGNING_KEY_ROTATED, tenant_id, None, now, metadata=metadata))
        self.invalidate(tenant_id)
        return RotationResult(
            rotated=ok,
            active_kid=promoted.kid if ok else (active.kid if active else None),
            retired_kid=active.kid if (ok and active) else None,
            next_published_for=(now - nxt.created_at) if nxt is not None else 0.0,
            removed_kids=tuple(removed) if ok else (),
        )

    async def import_key(self, tenant_id: str, private_der: bytes, alg: SigningAlg) -> KeyImport:
        """Add an operator's private key (unencrypted PKCS#8 DER, fit for `alg`) as the tenant's `next` key
        of `alg`, replacing the generated next key (which never signed); one unit of work with its event.

        ValueError when the key does not fit `alg`; AlreadyExists when the tenant has this key (same
        thumbprint) in any state; Conflict when the keys changed meanwhile (a rotation), nothing changed."""
        jwk = public_jwk(private_der, alg)
        keys = await self._repo.list(tenant_id)
        present = next((k for k in keys if k.kid == jwk["kid"]), None)
        if present is not None:
            raise AlreadyExists(f"the tenant already has this key: kid {present.kid} ({present.alg}, {present.state})")
        now = self._clock.now()
        active = next((k for k in keys if k.alg is alg and k.state is KeyState.ACTIVE), None)
        replaced = tuple(k.kid for k in keys if k.alg is alg and k.state is KeyState.NEXT)
        key = SigningKey(
            tenant_id=tenant_id,
            kid=jwk["kid"],
            alg=alg,
            state=KeyState.NEXT,
            public_jwk=jwk,
            private_enc=self._box.encrypt(private_der),
            created_at=now,
            activated_at=None,
            retired_at=None,
            remove_after=None,
        )
        async with self._uow() as work:
            # Compare-and-swap on the active key: a rotation at the same moment may have promoted the
            # next key this import replaces.
            ok = await self._repo.apply_rotation(
                tenant_id, expect_active_kid=active.kid if active else None, upsert=[key], remove_kids=replaced
            )
            if not ok:
                raise Conflict("the tenant's keys changed at the same moment (a rotation?); nothing changed, try again")
            metadata = {"alg": alg.value, "kid": key.kid}
            work.emit(IdentityEvent(EventType.SIGNING_KEY_IMPORTED, tenant_id, None, now, metadata=metadata))
        self.invalidate(tenant_id)
        return KeyImport(kid=key.kid, alg=alg, replaced_kids=replaced, active_kid=active.kid if active else None)

    def rotation_due(self, keys: tuple[SigningKey, ...], alg: SigningAlg, interval: int, now: float) -> bool:
        """Automatic rotation: the active key is older than `interval` and the next key has been
        published for longer than the JWKS cache lifetime plus the reload interval."""
        active = next((k for k in keys if k.alg is alg and k.state is KeyState.ACTIVE), None)
        nxt = next((k for k in keys if k.alg is alg and k.state is KeyState.NEXT), None)
        if active is None or nxt is None or interval <= 0:
            return False
        published_long_enough = now - nxt.created_at >= self._jwks_max_age + RELOAD_INTERVAL
        return now - (active.activated_at or active.created_at) >= interval and published_long_enough


@dataclass(frozen=True, slots=True)
class RotationResult:
    rotated: bool
    active_kid: str | None
    retired_kid: str | None
    next_published_for: float
    removed_kids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class KeyImport:
    """An imported key, now the `next` key of `alg`; `replaced_kids`: the next key(s) it took the place of."""

    kid: str
    alg: SigningAlg
    replaced_kids: tuple[str, ...]
    active_kid: str | None
