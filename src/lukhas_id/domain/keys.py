"""Signing keys and their lifecycle.

```mermaid
stateDiagram-v2
    [*] --> next: generated or imported (published in JWKS, does not sign)
    next --> active: rotation (signs new tokens)
    active --> retired: rotation (published, verifies only)
    retired --> [*]: removed once every token it signed has expired
```
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class KeyState(StrEnum):
    NEXT = "next"
    ACTIVE = "active"
    RETIRED = "retired"


class SigningAlg(StrEnum):
    RS256 = "RS256"
    PS256 = "PS256"
    ES256 = "ES256"
    EDDSA = "EdDSA"


@dataclass(frozen=True, slots=True)
class SigningKey:
    tenant_id: str
    kid: str
    alg: SigningAlg
    state: KeyState
    # Public JWK (RFC 7517) as a JSON object: kty, crv/x/y or n/e, kid, alg, use.
    public_jwk: dict[str, str]
    # The private key (PKCS#8 DER) encrypted with AES-256-GCM under the KEK.
    private_enc: bytes
    created_at: float
    activated_at: float | None
    retired_at: float | None
    # A retired key is removed from the JWKS after this time (every token it signed has expired).
    remove_after: float | None
