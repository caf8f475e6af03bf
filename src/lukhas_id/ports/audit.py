"""The audit log's store: the chain's records, heads and checkpoints, and the audit key (domain/audit.py).

Appending is not here: an `EventRecorder` (ports/unit_of_work.py) appends a unit's events inside its
transaction. This port reads the chain back (in seq order, in batches: a chain is never loaded whole)
and adds checkpoints and the audit key. Nothing in it updates or deletes a record.
"""

from __future__ import annotations

from typing import Protocol

from lukhas_id.domain.audit import AuditHead, AuditKey, AuditRecord, Checkpoint


class AuditStore(Protocol):
    async def tenant_ids(self) -> list[str]:
        """Every tenant with a head, a record or a checkpoint, sorted."""
        ...

    async def head(self, tenant_id: str) -> AuditHead | None: ...

    async def records(self, tenant_id: str, *, after_seq: int, limit: int) -> list[AuditRecord]:
        """Up to `limit` records of the tenant with seq > `after_seq`, in seq order."""
        ...

    async def records_in(
        self, *, since_us: int, until_us: int | None, tenant_id: str | None, after: tuple[str, int] | None, limit: int
    ) -> list[AuditRecord]:
        """Up to `limit` records with since_us <= time_us < until_us (of one tenant, or all), ordered by
        (tenant, seq) and after the (tenant, seq) `after`: the export's pages."""
        ...

    async def checkpoints(self, tenant_id: str) -> list[Checkpoint]:
        """The tenant's checkpoints in seq order."""
        ...

    async def unsealed(self) -> list[AuditHead]:
        """The heads of the tenants whose newest record has no checkpoint yet."""
        ...

    async def add_checkpoint(self, checkpoint: Checkpoint) -> bool:
        """Store a checkpoint; False when one for that (tenant, seq) exists (another process sealed it)."""
        ...

    async def keys(self) -> list[AuditKey]:
        """Every audit key, newest first (the first signs; all verify)."""
        ...

    async def add_key(self, key: AuditKey) -> None: ...
