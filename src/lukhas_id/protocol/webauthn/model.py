"""WebAuthn L3 relying party model: the relying party, ceremony state, credential records, errors (§5, §7).

Frozen values that the ceremony modules take and return: `RelyingParty` (the policy), `CeremonyState`
(what the caller keeps between options and response, §13.4.3), `NewCredential` (§7.1 step 27),
`Assertion`, `StoredCredential` and `VerifiedAssertion` (§7.2). Failures raise `WebAuthnError` with a
short reason that is safe to show (no credential id, key or user data); `AttestationRefused` and
`CounterNotIncreased` are its subclasses for the cases the caller counts or acts on.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from cryptography import x509
from fido2.cose import ES256, RS256, EdDSA
from fido2.utils import websafe_decode, websafe_encode
from fido2.webauthn import AuthenticatorData, AuthenticatorTransport, CollectedClientData

Requirement = Literal["required", "preferred", "discouraged"]
Conveyance = Literal["none", "direct"]

# The pubKeyCredParams offered, in order of preference: the explicit allow-list (§7.1 step 20).
ALLOWED_ALGORITHMS: Final[tuple[int, ...]] = (ES256.ALGORITHM, EdDSA.ALGORITHM, RS256.ALGORITHM)
# The transports this version of WebAuthn names (§5.8.4); others are left out of what is stored or sent.
TRANSPORTS: Final = frozenset(t.value for t in AuthenticatorTransport)


class WebAuthnError(Exception):
    """A failed ceremony; `reason` is short and safe to show."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class AttestationRefused(WebAuthnError):
    """The attestation statement failed verification or policy (registration under `direct`)."""


class CounterNotIncreased(WebAuthnError):
    """A valid assertion whose signature counter did not increase: a possible cloned authenticator."""

    def __init__(self) -> None:
        super().__init__("counter did not increase")


@dataclass(frozen=True, slots=True)
class RelyingParty:
    id: str
    name: str
    origins: tuple[str, ...]  # exact origins (scheme://host[:port]) accepted in client data
    user_verification: Requirement = "preferred"
    resident_key: Requirement = "preferred"
    attestation: Conveyance = "none"
    aaguids: frozenset[str] = frozenset()  # canonical lower-case UUID text; empty: any (with `direct`)
    # Attestation trust anchors (with `direct`): every statement must chain to one; empty: not anchored.
    roots: tuple[x509.Certificate, ...] = field(default=(), repr=False)

    def __post_init__(self) -> None:
        if not self.id or not self.origins:
            raise ValueError("a relying party needs an id and at least one origin")
        object.__setattr__(self, "aaguids", frozenset(a.lower() for a in self.aaguids))


@dataclass(frozen=True, slots=True)
class Descriptor:
    """A registered credential as named in excludeCredentials / allowCredentials."""

    id: bytes = field(repr=False)
    transports: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class CeremonyState:
    """What must be kept server-side between options and response (§13.4.3): the challenge and policy."""

    kind: Literal["registration", "authentication"]
    challenge: bytes = field(repr=False)
    user_verification: Requirement
    # Authentication: the credential ids offered in allowCredentials (empty: any).
    allow_credentials: tuple[bytes, ...] = field(default=(), repr=False)
    # The user handle of the user the ceremony is for, when known beforehand (§7.2 step 6).
    user_handle: bytes | None = field(default=None, repr=False)

    def to_json(self) -> dict[str, Any]:
        return {
            "k": self.kind,
            "c": websafe_encode(self.challenge),
            "uv": self.user_verification,
            "a": [websafe_encode(i) for i in self.allow_credentials],
            "u": None if self.user_handle is None else websafe_encode(self.user_handle),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> CeremonyState:
        """The state `to_json` made (stored server-side; raises ValueError/KeyError when not that)."""
        kind, uv = data["k"], data["uv"]
        if kind not in ("registration", "authentication") or uv not in ("required", "preferred", "discouraged"):
            raise ValueError("not a ceremony state")
        return cls(
            kind=kind,
            challenge=websafe_decode(data["c"]),
            user_verification=uv,
            allow_credentials=tuple(websafe_decode(i) for i in data["a"]),
            user_handle=None if data["u"] is None else websafe_decode(data["u"]),
        )


@dataclass(frozen=True, slots=True)
class NewCredential:
    """A verified registration: the record to store (§7.1 step 27)."""

    credential_id: bytes = field(repr=False)
    public_key: bytes = field(repr=False)  # COSE_Key, CBOR
    sign_count: int
    aaguid: str
    transports: tuple[str, ...]
    backup_eligible: bool
    backup_state: bool
    user_verified: bool
    attestation_format: str


@dataclass(frozen=True, slots=True)
class Assertion:
    """A parsed (not yet verified) assertion response: the caller finds the credential by its id."""

    credential_id: bytes = field(repr=False)
    user_handle: bytes | None = field(repr=False)
    client_data: CollectedClientData = field(repr=False)
    authenticator_data: AuthenticatorData = field(repr=False)
    signature: bytes = field(repr=False)


@dataclass(frozen=True, slots=True)
class StoredCredential:
    """What the caller knows of the credential an assertion names."""

    credential_id: bytes = field(repr=False)
    public_key: bytes = field(repr=False)
    # None: the caller's store applies the counter rule (`counter_increased`) when it records the use
    sign_count: int | None
    backup_eligible: bool
    owner_handle: bytes = field(repr=False)  # the user handle of the account that owns it


@dataclass(frozen=True, slots=True)
class VerifiedAssertion:
    sign_count: int
    backup_state: bool
    user_verified: bool
