"""Passkeys: WebAuthn public-key credentials registered to a user (WebAuthn L3 §7.1 step 27).

`credential_id` and `public_key` (a COSE_Key, CBOR) are stored encrypted under the KEK together with
the AAGUID, transports, attestation format and the user's name for the credential; the store finds a
credential by a keyed hash of its id. Counters and flags are stored in the clear: they are updated in
place at every sign-in and say nothing about the user.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

# WebAuthn L3 §7.1 step 25: a longer credential id SHOULD fail the ceremony.
MAX_CREDENTIAL_ID_BYTES: Final = 1023
MAX_PASSKEY_NAME_LENGTH: Final = 64
MAX_PASSKEYS_PER_USER: Final = 32


@dataclass(frozen=True, slots=True)
class Passkey:
    tenant_id: str
    user_lid: str
    # The keyed hash of the credential id: the handle pages and APIs use to name a credential.
    handle: str
    credential_id: bytes = field(repr=False)
    public_key: bytes = field(repr=False)  # COSE_Key, CBOR-encoded
    sign_count: int
    aaguid: str  # canonical UUID text; all zeros when the authenticator does not say
    transports: tuple[str, ...]
    backup_eligible: bool
    backup_state: bool
    user_verified: bool  # WebAuthn's uvInitialized
    attestation_format: str
    name: str
    created_at: float
    last_used_at: float | None
    # Set when an assertion's signature counter did not increase (WebAuthn L3 §7.2 step 22).
    possibly_cloned: bool = False


@dataclass(frozen=True, slots=True)
class TotpFactor:
    tenant_id: str
    user_lid: str
    secret: bytes = field(repr=False)
    confirmed: bool
    # The last accepted time step (RFC 6238 §5.2: an OTP is never accepted twice).
    last_step: int | None
    created_at: float
