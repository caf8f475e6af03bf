"""The audit log: records of identity events in a per-tenant hash chain, and what can be wrong with one.

A record is an identity event (domain/events.py) as it landed in the audit table: its tenant, its
place `seq` in the tenant's chain (1, 2, 3... with no gap), the event's fields, the origin of the
action (a route template, `cli <command>`, `maintenance`) and `prev_hash`, the `hash` of the record
before it (GENESIS_HASH for seq 1). Its own `hash` is the lower-case hex SHA-256 of `canonical(record)`:
the record's fields (every member of `body()`, `hash` excluded) as JSON with the members sorted by
name, no whitespace, UTF-8, non-ASCII characters unescaped. Every value is a string, an integer below
2**53, null or an object of strings, so this is also the RFC 8785 (JCS) form of the object and any JSON
library can reproduce it (docs/audit.md shows how). A record holds nothing the event guard refuses.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Final

from lukhas_id.domain.events import EventType

GENESIS_HASH: Final = "0" * 64

# The event types that are not audited: none today. Every identity event is security-relevant (a sign-in
# and its failures, factor, token, key, client, user, consent and tenant changes); the token endpoint's
# issuances are not events at all. A new event type is audited unless it is added here.
NOT_AUDITED: Final[frozenset[EventType]] = frozenset()
AUDITED: Final = frozenset(EventType) - NOT_AUDITED


def format_time(micros: int) -> str:
    """The record's `time`: RFC 3339 UTC with microseconds, made from integer microseconds since the epoch
    (so the same record always encodes to the same text)."""
    seconds, fraction = divmod(micros, 1_000_000)
    stamp = datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{stamp}.{fraction:06d}Z"


def canonical(body: Mapping[str, object]) -> bytes:
    """The canonical encoding of a record's body (the module docstring)."""
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def record_hash(body: Mapping[str, object]) -> str:
    return hashlib.sha256(canonical(body)).hexdigest()


@dataclass(frozen=True, slots=True)
class AuditRecord:
    tenant_id: str
    seq: int
    event_id: str
    type: str
    time_us: int  # microseconds since the epoch
    principal: str | None
    principal_type: str | None
    client_id: str | None
    trace_id: str | None
    origin: str | None
    metadata: Mapping[str, str]
    prev_hash: str
    hash: str

    def body(self) -> dict[str, object]:
        """The hashed members (everything but `hash`), as they appear in an export line."""
        return {
            "tenant": self.tenant_id,
            "seq": self.seq,
            "id": self.event_id,
            "type": self.type,
            "time": format_time(self.time_us),
            "principal": self.principal,
            "principal_type": self.principal_type,
            "client_id": self.client_id,
            "trace_id": self.trace_id,
            "origin": self.origin,
            "metadata": dict(self.metadata),
            "prev_hash": self.prev_hash,
        }

    def computed_hash(self) -> str:
        return record_hash(self.body())

    def as_dict(self) -> dict[str, object]:
        """One export line: the body and its hash."""
        return {**self.body(), "hash": self.hash}


@dataclass(frozen=True, slots=True)
class AuditKey:
    """The key that signs checkpoints: Ed25519, one for the deployment, never a token-signing key. The
    private key (PKCS#8 DER) is encrypted under the KEK like the signing keys'."""

    kid: str
    alg: str
    public_jwk: Mapping[str, str]
    private_enc: bytes
    created_at: float


@dataclass(frozen=True, slots=True)
class AuditHead:
    """The newest record of a tenant's chain, as the head row says (seq 0 and GENESIS_HASH when empty)."""

    tenant_id: str
    seq: int
    hash: str


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A signed statement that the tenant's chain had `hash` at `seq` (the JWS says so under the audit key)."""

    tenant_id: str
    seq: int
    hash: str
    at: float
    jws: str


class Breach(StrEnum):
    """What verification found wrong with a record, and what it means."""

    EDITED = "hash mismatch: the record was edited"
    DELETED = "seq gap: the record is missing (deleted)"
    INSERTED = "prev_hash mismatch: a record was inserted or reordered here"
    BEYOND_HEAD = "record beyond the chain head: inserted"
    TRUNCATED = "missing from the end of the chain: truncated"
    CHECKPOINT_MISMATCH = "does not match its signed checkpoint: the chain was rewritten"
    CHECKPOINT_SIGNATURE = "checkpoint signature does not verify: the checkpoint was forged or altered"


@dataclass(frozen=True, slots=True)
class Finding:
    """The first broken record of one tenant's chain."""

    tenant_id: str
    seq: int
    breach: Breach
    detail: str = ""

    def describe(self) -> str:
        extra = f" ({self.detail})" if self.detail else ""
        return f"seq {self.seq}: {self.breach.value}{extra}"


class ChainChecker:
    """Checks one tenant's records fed in seq order against the chain rules and the checkpoints (seq ->
    hash, signatures already checked); `finding` is the first broken record, or None.

    Order of the checks on each record: its seq follows the previous one (else records were deleted), its
    prev_hash is the previous record's hash (else one was inserted or two were swapped), its hash is the
    hash of its body (else it was edited), and a checkpoint at its seq names its hash (else the chain was
    recomputed after the checkpoint was signed)."""

    __slots__ = ("_checkpoints", "_hash", "_seq", "count", "finding", "tenant_id")

    def __init__(
        self,
        tenant_id: str,
        checkpoints: Mapping[int, str],
        *,
        start_seq: int = 0,
        start_hash: str | None = GENESIS_HASH,
    ) -> None:
        """`start_seq`/`start_hash`: where the records fed begin (an export may start mid-chain; a None
        hash takes the first record's prev_hash on trust)."""
        self.tenant_id = tenant_id
        self._checkpoints = checkpoints
        self._seq = start_seq
        self._hash: str | None = start_hash
        self.count = 0
        self.finding: Finding | None = None

    @property
    def last_seq(self) -> int:
        return self._seq

    @property
    def last_hash(self) -> str | None:
        return self._hash

    def _found(self, seq: int, breach: Breach, detail: str = "") -> bool:
        self.finding = Finding(self.tenant_id, seq, breach, detail)
        return False

    def feed(self, record: AuditRecord) -> bool:
        """Check the next record; False once a breach is found (feed no more)."""
        if self.finding is not None:
            return False
        expected = self._seq + 1
        if record.seq != expected:
            return self._found(expected, Breach.DELETED, f"the next record present is seq {record.seq}")
        if self._hash is not None and record.prev_hash != self._hash:
            return self._found(record.seq, Breach.INSERTED)
        if record.computed_hash() != record.hash:
            return self._found(record.seq, Breach.EDITED)
        signed = self._checkpoints.get(record.seq)
        if signed is not None and signed != record.hash:
            return self._found(record.seq, Breach.CHECKPOINT_MISMATCH)
        self._seq = record.seq
        self._hash = record.hash
        self.count += 1
        return True

    def finish(self, head: AuditHead | None) -> Finding | None:
        """After the last record: the head row and the newest checkpoint must not lie beyond it."""
        if self.finding is not None:
            return self.finding
        last = self._seq
        newest_checkpoint = max(self._checkpoints, default=0)
        if newest_checkpoint > last:
            self._found(last + 1, Breach.TRUNCATED, f"a checkpoint names seq {newest_checkpoint}")
        elif head is not None and head.seq > last:
            self._found(last + 1, Breach.TRUNCATED, f"the chain head names seq {head.seq}")
        elif head is not None and head.seq < last:
            self._found(head.seq + 1, Breach.BEYOND_HEAD, f"the chain head names seq {head.seq}")
        elif head is not None and head.seq == last and last > 0 and head.hash != self._hash:
            self._found(last, Breach.EDITED, "the chain head names another hash")
        return self.finding
