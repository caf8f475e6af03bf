"""Principals: the four kinds of identities that ΛiD issues ΛIDs to."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class PrincipalType(StrEnum):
    USER = "USR"
    AGENT = "AGT"
    SERVICE = "SVC"
    SYSTEM = "SYS"


class PrincipalStatus(StrEnum):
    ACTIVE = "active"
    DISABLED = "disabled"
    # A deleted user's tombstone: the row keeps the ΛID taken forever (never issued again) and nothing else.
    DELETED = "deleted"


@dataclass(frozen=True, slots=True)
class Principal:
    tenant_id: str
    lid: str
    type: PrincipalType
    display_name: str
    status: PrincipalStatus
    created_at: float
