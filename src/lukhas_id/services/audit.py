"""The audit log's use cases: sealing chain heads with the audit key, verifying chains, exporting records.

Records are appended by an event recorder inside each unit of work (adapters/sql/audit.py); this service
reads them back. `seal` signs the head of every tenant whose chain grew since its last checkpoint with the
audit key (Ed25519, made on first use and kept encrypted under the KEK, never a token-signing key) through
jose/ (purpose `audit_checkpoint`, typ `audit-checkpoint+jwt`). `verify` recomputes each chain in seq
order, page by page, checks every checkpoint's signature and that the chain still holds the hash it
signed, and names the first broken record of each tenant. docs/audit.md describes the record, its
encoding and how a third party checks an export.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import dataclass
from typing import Final

from lukhas_id.clock import Clock
from lukhas_id.domain.audit import AuditKey, AuditRecord, Breach, ChainChecker, Checkpoint, Finding
from lukhas_id.domain.keys import SigningAlg
from lukhas_id.jose.jwt import InvalidToken, SigningKeyMaterial, TokenPurpose, VerificationKeySet, sign, verify
from lukhas_id.jose.keys import generate_private_key, public_jwk
from lukhas_id.ports.audit import AuditStore
from lukhas_id.ports.crypto import SecretBox

AUDIT_ISSUER: Final = "urn:lukhas-id:audit"
PAGE: Final = 1000


@dataclass(frozen=True, slots=True)
class ChainReport:
    """One tenant's chain as verified: how many records and checkpoints were checked, and the first broken
    record (None when the chain is intact)."""

    tenant_id: str
    records: int
    checkpoints: int
    finding: Finding | None


class AuditService:
    def __init__(self, store: AuditStore, box: SecretBox, clock: Clock) -> None:
        self._store = store
        self._box = box
        self._clock = clock
        self._signer: SigningKeyMaterial | None = None
        self._lock = asyncio.Lock()
        self._sealed_at: float | None = None

    # --- the audit key --------------------------------------------------------------------------

    async def key(self) -> AuditKey:
        """The key that signs checkpoints, generated (and stored encrypted under the KEK) on first use.
        Two processes generating at once each store one; the newest signs, both verify."""
        keys = await self._store.keys()
        if keys:
            return keys[0]
        der = generate_private_key(SigningAlg.EDDSA)
        jwk = public_jwk(der, SigningAlg.EDDSA)
        key = AuditKey(jwk["kid"], SigningAlg.EDDSA.value, jwk, self._box.encrypt(der), self._clock.now())
        await self._store.add_key(key)
        return (await self._store.keys())[0]

    async def public_keys(self) -> list[dict[str, str]]:
        """Every audit key's public JWK, newest first (the audit key itself is made when there is none)."""
        await self.key()
        return [dict(k.public_jwk) for k in await self._store.keys()]

    async def _signing_key(self) -> SigningKeyMaterial:
        async with self._lock:
            if self._signer is None:
                key = await self.key()
                self._signer = SigningKeyMaterial(key.kid, SigningAlg(key.alg), self._box.decrypt(key.private_enc))
            return self._signer

    # --- sealing --------------------------------------------------------------------------------

    async def seal_if_due(self, interval: float) -> list[Checkpoint]:
        """`seal` when this process last sealed `interval` seconds ago or more (the maintenance pass)."""
        now = self._clock.now()
        if self._sealed_at is not None and now - self._sealed_at < interval:
            return []
        self._sealed_at = now
        return await self.seal()

    async def seal(self) -> list[Checkpoint]:
        """Sign the head of every tenant whose chain grew since its last checkpoint; the new checkpoints
        (one sealed by another process at the same moment is left to it)."""
        heads = await self._store.unsealed()
        if not heads:
            return []
        signer = await self._signing_key()
        made: list[Checkpoint] = []
        for head in heads:
            now = self._clock.now()
            claims: dict[str, object] = {
                "iss": AUDIT_ISSUER,
                "sub": head.tenant_id,
                "iat": int(now),
                "seq": head.seq,
                "hash": head.hash,
            }
            checkpoint = Checkpoint(
                head.tenant_id, head.seq, head.hash, now, sign(claims, TokenPurpose.AUDIT_CHECKPOINT, signer)
            )
            if await self._store.add_checkpoint(checkpoint):
                made.append(checkpoint)
        return made

    # --- verifying ------------------------------------------------------------------------------

    async def verify(self, tenant_ids: Iterable[str] | None = None) -> list[ChainReport]:
        """Verify the chains of `tenant_ids` (default: every tenant with audit records)."""
        keys = VerificationKeySet([dict(k.public_jwk) for k in await self._store.keys()])
        tenants = sorted(tenant_ids) if tenant_ids is not None else await self._store.tenant_ids()
        return [await self._verify_chain(tenant_id, keys) for tenant_id in tenants]

    async def _verify_chain(self, tenant_id: str, keys: VerificationKeySet) -> ChainReport:
        checkpoints = await self._store.checkpoints(tenant_id)
        signed: dict[int, str] = {}
        for checkpoint in checkpoints:
            problem = self.checkpoint_problem(checkpoint, keys)
            if problem is not None:
                forged = Finding(tenant_id, checkpoint.seq, Breach.CHECKPOINT_SIGNATURE, problem)
                return ChainReport(tenant_id, 0, len(checkpoints), forged)
            signed[checkpoint.seq] = checkpoint.hash
        checker = ChainChecker(tenant_id, signed)
        after = 0
        while True:
            page = await self._store.records(tenant_id, after_seq=after, limit=PAGE)
            for record in page:
                if not checker.feed(record):
                    return ChainReport(tenant_id, checker.count, len(checkpoints), checker.finding)
            if len(page) < PAGE:
                break
            after = page[-1].seq
        finding = checker.finish(await self._store.head(tenant_id))
        return ChainReport(tenant_id, checker.count, len(checkpoints), finding)

    def checkpoint_problem(self, checkpoint: Checkpoint, keys: VerificationKeySet) -> str | None:
        """Why the checkpoint's JWS does not vouch for its (tenant, seq, hash), or None when it does."""
        return checkpoint_problem(checkpoint.jws, checkpoint.tenant_id, checkpoint.seq, checkpoint.hash, keys)

    async def checkpoints(self, tenant_id: str) -> list[Checkpoint]:
        return await self._store.checkpoints(tenant_id)

    # --- exporting ------------------------------------------------------------------------------

    async def export(self, *, since: float, until: float | None, tenant_id: str | None) -> AsyncIterator[AuditRecord]:
        """Records with since <= time < until, by tenant then seq, read page by page."""
        since_us = round(since * 1_000_000)
        until_us = None if until is None else round(until * 1_000_000)
        after: tuple[str, int] | None = None
        while True:
            page = await self._store.records_in(
                since_us=since_us, until_us=until_us, tenant_id=tenant_id, after=after, limit=PAGE
            )
            for record in page:
                yield record
            if len(page) < PAGE:
                return
            after = (page[-1].tenant_id, page[-1].seq)


def checkpoint_problem(jws: str, tenant_id: str, seq: int, hash_: str, keys: VerificationKeySet) -> str | None:
    """Why `jws` is not a valid checkpoint of (tenant_id, seq, hash_) under `keys`, or None. A checkpoint
    never expires, and its `iat` is not held against this machine's clock (now = infinity)."""
    try:
        claims = verify(jws, TokenPurpose.AUDIT_CHECKPOINT, keys, issuer=AUDIT_ISSUER, now=math.inf, check_exp=False)
    except InvalidToken as exc:
        return str(exc)
    signed: Mapping[str, object] = {"sub": tenant_id, "seq": seq, "hash": hash_}
    for name, value in signed.items():
        if claims.get(name) != value:
            return f"the signed {name} differs from the stored one"
    return None
