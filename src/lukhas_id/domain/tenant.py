"""Tenants: each has its own issuer, keys, clients and principals."""

from __future__ import annotations

import re
from dataclasses import dataclass

# A tenant name is a URL path segment: lower-case letters, digits and hyphens, 1-63 characters.
TENANT_NAME_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")


def valid_tenant_name(name: str) -> bool:
    return bool(TENANT_NAME_RE.fullmatch(name))


@dataclass(frozen=True, slots=True)
class Tenant:
    id: str
    name: str
    # 32 random bytes, encrypted under the KEK; keys the deterministic ΛID generation of this tenant.
    id_secret_enc: bytes
    access_token_alg: str
    created_at: float
