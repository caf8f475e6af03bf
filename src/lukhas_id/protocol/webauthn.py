"""WebAuthn Level 3 relying party ceremonies: registration (§7.1) and authentication (§7.2), over python-fido2.

Pure and synchronous: options and ceremony state in, verified results out; the caller (the passkey
service) keeps the state, the credentials and the counters.

python-fido2's `Fido2Server` builds the options of both ceremonies and does the base checks of a
registration (client data type, challenge, origin, RP ID hash, UP, UV when required, the attestation
through the verifiers below). This module runs those checks first, one named step each, so that a
failure has a clear reason; for an assertion it makes them itself and has python-fido2's COSE key verify
the signature (what `Fido2Server.authenticate_complete` would do after the same checks, without parsing
the assertion a second time: half a millisecond per sign-in). It adds what `Fido2Server` does not do:

- origins are matched exactly against the configured list (no rule that accepts subdomains of the RP ID);
- `crossOrigin: true` and `topOrigin` are refused: ΛiD's pages are never framed (§7.1 steps 10-11,
  §7.2 steps 13-14);
- `clientDataJSON` is decoded as UTF-8 with a leading BOM ignored, hashed as sent (§7.1 steps 5-6);
- BE clear => BS clear (§7.1 step 17, §7.2 step 18); at sign-in BE must equal the stored value (§7.2
  step 19);
- the credential public key's algorithm is one that was offered: ES256, EdDSA, RS256 (§7.1 step 20),
  an explicit allow-list, checked again at every sign-in;
- the credential id is at most 1023 bytes (§7.1 step 25) and equals the `rawId` sent;
- `allowCredentials` membership when it was not empty (§7.2 step 5) and the user handle rules (§7.2
  step 6: a user known beforehand must own the credential and a present userHandle must be theirs;
  without one the userHandle must be present and be the owner's);
- the signature counter rule (§7.2 step 22, `counter_increased`): when either the stored or the new count
  is non-zero the new one must be greater; otherwise `CounterNotIncreased` (a possible cloned
  authenticator). A caller whose store applies the rule itself, atomically with the update (the passkey
  service's sign-in with a credential it already knows), passes no stored count.

Extensions: none are requested, so extension outputs (authenticator or client) are ignored (§7.1
step 28, §7.2 step 23).

Attestation (§7.1 steps 21-24). With conveyance `none` the statement is ignored, whatever its format
(not every client strips it). With `direct` the statement is verified by python-fido2's verifiers for
`packed`, `tpm`, `apple` and `fido-u2f`, and for `android-key` (which python-fido2 2.x lacks) by
protocol/android_key.py on fido2's `Attestation` interface; any other format is refused, and so is
`none`. Where python-fido2's verifiers leave a step of the format's procedure out, ΛiD makes it
(`_EXTRA_CHECKS`): for `apple` the credential key must be the certificate's key (§8.8), for `tpm` `ver`
must be "2.0" and an AAGUID extension in aikCert must match (§8.3), for `fido-u2f` x5c must hold exactly
one certificate (§8.6). An x5c chain must be
internally consistent (each certificate signed by the next). Trust anchors are the operator's
(`RelyingParty.roots`, from a PEM file: ΛiD ships no FIDO metadata): when there are some, the chain
must end at one of them or at a certificate one of them issued, every issuer in it must be a CA and
every certificate valid at the registration's time, and self attestation (nothing to anchor) is
refused ("attestation not trusted"). Without roots the chain is NOT anchored: attestation then shows
that a statement is well formed, not that the authenticator model is genuine. With a non-empty AAGUID
allow-list the credential's AAGUID must be listed, and self attestation (which any software can make
for any AAGUID) is refused.

Failures raise `WebAuthnError` with a short reason that is safe to show (no credential id, key or user
data); `AttestationRefused` and `CounterNotIncreased` are its subclasses for the cases the caller
counts or acts on.
"""

from __future__ import annotations

import base64
import datetime
import functools
import hmac
import json
import re
import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal

import orjson
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from fido2 import cbor
from fido2.attestation.apple import AppleAttestation
from fido2.attestation.base import Attestation, AttestationType, verify_x509_chain
from fido2.attestation.packed import OID_AAGUID, PackedAttestation
from fido2.attestation.tpm import TpmAttestation
from fido2.attestation.u2f import FidoU2FAttestation
from fido2.cose import ES256, RS256, CoseKey, EdDSA
from fido2.server import Fido2Server
from fido2.utils import sha256, websafe_decode, websafe_encode
from fido2.webauthn import (
    AttestationConveyancePreference,
    AttestationObject,
    AuthenticatorAttestationResponse,
    AuthenticatorData,
    AuthenticatorTransport,
    CollectedClientData,
    PublicKeyCredentialDescriptor,
    PublicKeyCredentialParameters,
    PublicKeyCredentialRpEntity,
    PublicKeyCredentialType,
    PublicKeyCredentialUserEntity,
    RegistrationResponse,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from lukhas_id.domain.passkey import MAX_CREDENTIAL_ID_BYTES
from lukhas_id.protocol.android_key import AndroidKeyAttestation, certifies_credential_key

Requirement = Literal["required", "preferred", "discouraged"]
Conveyance = Literal["none", "direct"]

# The pubKeyCredParams offered, in order of preference: the explicit allow-list (§7.1 step 20).
ALLOWED_ALGORITHMS: Final[tuple[int, ...]] = (ES256.ALGORITHM, EdDSA.ALGORITHM, RS256.ALGORITHM)
CHALLENGE_BYTES: Final = 32  # §13.4.3: at least 16 random bytes
TIMEOUT_MS: Final = 300_000  # the ceremony state lives as long (services/passkeys.py)
MAX_TRANSPORTS: Final = 8
CREATE: Final = "webauthn.create"
GET: Final = "webauthn.get"

_B64URL: Final = re.compile(r"[A-Za-z0-9_-]*")
_BOM: Final = b"\xef\xbb\xbf"
_TRANSPORTS: Final = frozenset(t.value for t in AuthenticatorTransport)
# Verifiers of the attestation formats accepted under `direct` (fmt matched case-sensitively, §7.1 step 21).
_VERIFIERS: Final[Mapping[str, Attestation]] = {
    PackedAttestation.FORMAT: PackedAttestation(),
    TpmAttestation.FORMAT: TpmAttestation(),
    AppleAttestation.FORMAT: AppleAttestation(),
    FidoU2FAttestation.FORMAT: FidoU2FAttestation(),
    AndroidKeyAttestation.FORMAT: AndroidKeyAttestation(),
}


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

    def _fido2(self) -> dict[str, Any]:
        # The state dictionary Fido2Server's *_complete methods read.
        return {
            "challenge": websafe_encode(self.challenge),
            "user_verification": UserVerificationRequirement(self.user_verification),
        }


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


# -- options -----------------------------------------------------------------------------------------


def cache_fido2_type_hints() -> None:
    """Make python-fido2 compute each of its data classes' type hints once instead of at every parse.

    fido2 (2.2) calls `typing.get_type_hints(cls)` each time one of its option or response objects is
    built or parsed, which was about half the CPU of a ceremony. A class's hints never change after its
    definition, so caching them by class is safe. This swaps the name fido2.utils looks up; called once
    by the composition root (bootstrap.build_container), idempotent.
    """
    import fido2.utils as fido2_utils

    current: Callable[..., dict[str, Any]] = getattr(fido2_utils, "get_type_hints")  # noqa: B009
    if getattr(current, "lukhas_cached", False):
        return
    cached = functools.cache(current)

    def get_type_hints(obj: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
        if args or kwargs or not isinstance(obj, type):
            return current(obj, *args, **kwargs)
        return dict(cached(obj))

    get_type_hints.lukhas_cached = True  # type: ignore[attr-defined]
    setattr(fido2_utils, "get_type_hints", get_type_hints)  # noqa: B010


@functools.lru_cache(maxsize=16)
def _server(rp: RelyingParty) -> Fido2Server:
    """One Fido2Server per relying party configuration (it holds no ceremony state; building one costs
    about 2 ms of type introspection, so it is made once)."""
    conveyance = AttestationConveyancePreference(rp.attestation)
    server = Fido2Server(
        PublicKeyCredentialRpEntity(name=rp.name, id=rp.id),
        attestation=conveyance,
        verify_origin=lambda origin: origin in rp.origins,
        # verify_registration verifies the statement itself (_verify_attestation, with the time), before.
        verify_attestation=lambda obj, client_data_hash: None,
    )
    server.allowed_algorithms = [
        PublicKeyCredentialParameters(type=PublicKeyCredentialType.PUBLIC_KEY, alg=alg) for alg in ALLOWED_ALGORITHMS
    ]
    server.timeout = TIMEOUT_MS  # type: ignore[assignment]  # fido2 declares it as None only
    return server


def _descriptors(credentials: Sequence[Descriptor]) -> list[PublicKeyCredentialDescriptor]:
    return [
        PublicKeyCredentialDescriptor(
            type=PublicKeyCredentialType.PUBLIC_KEY,
            id=c.id,
            transports=[AuthenticatorTransport(t) for t in c.transports if t in _TRANSPORTS] or None,
        )
        for c in credentials
    ]


def registration_options(
    rp: RelyingParty,
    *,
    user_handle: bytes,
    user_name: str,
    display_name: str,
    exclude: Sequence[Descriptor],
    challenge: bytes | None = None,
) -> tuple[dict[str, Any], CeremonyState]:
    """The `{"publicKey": ...}` JSON for PublicKeyCredential.parseCreationOptionsFromJSON, and the state."""
    if not 1 <= len(user_handle) <= 64:
        raise ValueError("a user handle is 1 to 64 bytes (§5.4.3)")
    options, _ = _server(rp).register_begin(
        PublicKeyCredentialUserEntity(id=user_handle, name=user_name, display_name=display_name),
        _descriptors(exclude),
        resident_key_requirement=ResidentKeyRequirement(rp.resident_key),
        user_verification=UserVerificationRequirement(rp.user_verification),
        challenge=challenge or _new_challenge(),
    )
    state = CeremonyState("registration", options.public_key.challenge, rp.user_verification)
    return _json(options), state


def authentication_options(
    rp: RelyingParty,
    *,
    allow: Sequence[Descriptor],
    user_handle: bytes | None,
    user_verification: Requirement | None = None,
    challenge: bytes | None = None,
) -> tuple[dict[str, Any], CeremonyState]:
    """The `{"publicKey": ...}` JSON for PublicKeyCredential.parseRequestOptionsFromJSON, and the state.

    `allow` empty: any credential (discoverable sign-in). `user_handle`: the handle of the user named
    beforehand (username-first), whose credential the assertion must be.
    """
    uv: Requirement = user_verification or rp.user_verification
    challenge = challenge or _new_challenge()
    # PublicKeyCredentialRequestOptionsJSON (§5.5, L3 §5.1.4): written out directly (the members are
    # few and flat; Fido2Server.authenticate_begin made the same JSON through its data classes at about
    # a tenth of the sign-in's CPU). A unit test checks both give the same JSON.
    public_key: dict[str, Any] = {
        "challenge": websafe_encode(challenge),
        "timeout": TIMEOUT_MS,
        "rpId": rp.id,
        "allowCredentials": [_descriptor_json(c) for c in allow],
        "userVerification": uv,
    }
    state = CeremonyState(
        "authentication",
        challenge,
        uv,
        allow_credentials=tuple(c.id for c in allow),
        user_handle=user_handle,
    )
    return {"publicKey": public_key}, state


def _descriptor_json(credential: Descriptor) -> dict[str, Any]:
    """PublicKeyCredentialDescriptorJSON; transports this version of WebAuthn does not name are left out."""
    descriptor: dict[str, Any] = {"type": "public-key", "id": websafe_encode(credential.id)}
    transports = [t for t in credential.transports if t in _TRANSPORTS]
    if transports:
        descriptor["transports"] = transports
    return descriptor


def _new_challenge() -> bytes:
    return secrets.token_bytes(CHALLENGE_BYTES)


def _json(options: Mapping[str, Any]) -> dict[str, Any]:
    # fido2's option objects map to the WebAuthn JSON form (base64url bytes) with dict().
    parsed: dict[str, Any] = orjson.loads(orjson.dumps(dict(options)))
    return parsed


# -- reading the browser's JSON (credential.toJSON()) -----------------------------------------------


def _b64(value: object, what: str) -> bytes:
    if not isinstance(value, str) or not _B64URL.fullmatch(value) or len(value) % 4 == 1:
        raise WebAuthnError(f"malformed {what}")
    return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))


class _ClientData(CollectedClientData):
    """fido2's CollectedClientData, read per §7.1 steps 5-6 / §7.2 steps 8-9: UTF-8 with a leading BOM
    ignored, members type-checked; the object stays the raw bytes, so its hash is over what was sent."""

    def __init__(self, _: bytes) -> None:
        raw = bytes(self)
        data = json.loads((raw[len(_BOM) :] if raw.startswith(_BOM) else raw).decode("utf-8"))
        if not isinstance(data, dict):
            raise ValueError("not an object")
        kind, challenge, origin = data.get("type"), data.get("challenge"), data.get("origin")
        if not (isinstance(kind, str) and isinstance(challenge, str) and isinstance(origin, str)):
            raise ValueError("missing members")
        object.__setattr__(self, "_data", data)
        object.__setattr__(self, "type", kind)
        object.__setattr__(self, "challenge", _b64(challenge, "challenge"))
        object.__setattr__(self, "origin", origin)
        object.__setattr__(self, "cross_origin", data.get("crossOrigin", False))


def _client_data(value: object) -> _ClientData:
    raw = _b64(value, "client data")
    try:
        return _ClientData(raw)
    except Exception:  # bad UTF-8 or JSON, wrong member types, nesting too deep
        raise WebAuthnError("malformed client data") from None


def _credential(credential: Mapping[str, Any], member: str) -> tuple[bytes, Mapping[str, Any]]:
    """(rawId, response) of a PublicKeyCredential's JSON whose response has `member`."""
    raw_id = _b64(credential.get("rawId"), "credential id")
    if credential.get("id") != credential.get("rawId"):
        raise WebAuthnError("malformed credential: id and rawId differ")
    if credential.get("type") != PublicKeyCredentialType.PUBLIC_KEY.value:
        raise WebAuthnError("malformed credential: not a public-key credential")
    response = credential.get("response")
    if not isinstance(response, Mapping) or member not in response:
        raise WebAuthnError(f"malformed credential: response.{member} is missing")  # §7.1 step 3, §7.2 step 3
    if not raw_id or len(raw_id) > MAX_CREDENTIAL_ID_BYTES:
        raise WebAuthnError("credential id too long" if raw_id else "malformed credential id")  # §7.1 step 25
    return raw_id, response


def _transports(value: object) -> tuple[str, ...]:
    if not isinstance(value, list):
        return ()
    known = [t for t in value if isinstance(t, str) and t in _TRANSPORTS]
    return tuple(dict.fromkeys(known))[:MAX_TRANSPORTS]


def parse_assertion(credential: Mapping[str, Any]) -> Assertion:
    """The assertion in a `credential.toJSON()` result (structure only; nothing is verified yet)."""
    raw_id, response = _credential(credential, "authenticatorData")
    client_data = _client_data(response.get("clientDataJSON"))
    try:
        authenticator_data = AuthenticatorData(_b64(response.get("authenticatorData"), "authenticator data"))
    except WebAuthnError:
        raise
    except Exception:  # fido2's parser raises assorted errors on bad input
        raise WebAuthnError("malformed authenticator data") from None
    signature = _b64(response.get("signature"), "signature")
    handle = response.get("userHandle")
    user_handle = _b64(handle, "user handle") if handle not in (None, "") else None
    return Assertion(raw_id, user_handle, client_data, authenticator_data, signature)


# -- the checks -------------------------------------------------------------------------------------


def _check_client_data(rp: RelyingParty, state: CeremonyState, client_data: CollectedClientData, kind: str) -> None:
    if client_data.type != kind:
        raise WebAuthnError("wrong ceremony type")  # §7.1 step 7, §7.2 step 10
    if not hmac.compare_digest(client_data.challenge, state.challenge):
        raise WebAuthnError("challenge mismatch")  # §7.1 step 8, §7.2 step 11
    if client_data.origin not in rp.origins:
        raise WebAuthnError("origin not allowed")  # §7.1 step 9, §7.2 step 12
    members = client_data._data  # fido2 keeps the parsed JSON here
    if members.get("crossOrigin", False) is not False or "topOrigin" in members:
        raise WebAuthnError("cross-origin use not allowed")  # §7.1 steps 10-11, §7.2 steps 13-14


def _check_authenticator_data(rp: RelyingParty, state: CeremonyState, data: AuthenticatorData) -> None:
    if not hmac.compare_digest(data.rp_id_hash, sha256(rp.id.encode("utf-8"))):
        raise WebAuthnError("wrong relying party id")  # §7.1 step 14, §7.2 step 15
    if not data.is_user_present():
        raise WebAuthnError("user not present")  # §7.1 step 15, §7.2 step 16
    if state.user_verification == "required" and not data.is_user_verified():
        raise WebAuthnError("user verification required")  # §7.1 step 16, §7.2 step 17
    if data.is_backed_up() and not data.is_backup_eligible():
        raise WebAuthnError("backup state without backup eligibility")  # §7.1 step 17, §7.2 step 18


def _algorithm(public_key: Mapping[int, Any]) -> int:
    alg = public_key.get(3)
    if not isinstance(alg, int) or alg not in ALLOWED_ALGORITHMS:
        raise WebAuthnError("algorithm not allowed")  # §7.1 step 20
    return alg


def _verify_attestation(rp: RelyingParty, obj: AttestationObject, client_data_hash: bytes, at: float) -> None:
    """The attestation statement under `direct`: §7.1 steps 21-24 (see the module docstring)."""
    verifier = _VERIFIERS.get(obj.fmt)
    if verifier is None:
        raise AttestationRefused("attestation not accepted")
    try:
        result = verifier.verify(obj.att_stmt, obj.auth_data, client_data_hash)
        if len(result.trust_path) > 1:
            verify_x509_chain(result.trust_path)
        extra = _EXTRA_CHECKS.get(obj.fmt)
        if extra is not None:
            extra(obj)
    except Exception:  # InvalidAttestation, and whatever a verifier's parser raises on a bad statement
        raise AttestationRefused("attestation not accepted") from None
    if rp.roots:
        if not result.trust_path:  # self attestation: no chain to anchor
            raise AttestationRefused("attestation not trusted")
        try:
            _anchor(rp.roots, result.trust_path, at)
        except Exception:  # not anchored, outside its validity, or a certificate that does not parse
            raise AttestationRefused("attestation not trusted") from None
    if rp.aaguids:
        credential = obj.auth_data.credential_data
        if result.attestation_type in (AttestationType.SELF, AttestationType.NONE) or credential is None:
            raise AttestationRefused("attestation not accepted")
        if str(credential.aaguid) not in rp.aaguids:
            raise AttestationRefused("authenticator model not allowed")


def _anchor(roots: Sequence[x509.Certificate], trust_path: Sequence[bytes], at: float) -> None:
    """§7.1 step 24 with configured trust anchors: the chain (already checked to be consistent, each
    certificate signed by the next) ends at one of `roots`, or at a certificate one of them issued; every
    certificate of it, and the root, is valid at `at`, and every issuer in it is a CA. Raises otherwise."""
    when = datetime.datetime.fromtimestamp(at, datetime.UTC)
    chain = [x509.load_der_x509_certificate(der) for der in trust_path]
    for position, cert in enumerate(chain):
        if not cert.not_valid_before_utc <= when <= cert.not_valid_after_utc:
            raise ValueError("certificate outside its validity period")
        if position and not _is_ca(cert):
            raise ValueError("issuer is not a CA")
    last = chain[-1]
    for root in roots:
        if not root.not_valid_before_utc <= when <= root.not_valid_after_utc:
            continue
        if last == root:
            return
        try:
            last.verify_directly_issued_by(root)
        except (ValueError, TypeError, InvalidSignature):
            continue
        return
    raise ValueError("no trust anchor for the chain")


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        return bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        return False


# What python-fido2's verifiers leave out of a format's verification procedure; each raises on failure.


def _check_apple_key(obj: AttestationObject) -> None:
    # WebAuthn §8.8 step 5: the credential public key is the certificate's.
    credential = obj.auth_data.credential_data
    if credential is None:
        raise ValueError("no credential")
    cert = x509.load_der_x509_certificate(obj.att_stmt["x5c"][0])
    if not certifies_credential_key(cert.public_key(), credential.public_key):
        raise ValueError("the credential key is not the certified key")


def _check_tpm(obj: AttestationObject) -> None:
    # WebAuthn §8.3: `ver` is "2.0"; an AAGUID extension in aikCert matches authenticatorData's AAGUID.
    if obj.att_stmt.get("ver") != "2.0":
        raise ValueError("unsupported TPM version")
    credential = obj.auth_data.credential_data
    if credential is None:
        raise ValueError("no credential")
    cert = x509.load_der_x509_certificate(obj.att_stmt["x5c"][0])
    try:
        extension = cert.extensions.get_extension_for_oid(OID_AAGUID).value
    except x509.ExtensionNotFound:
        return
    if not isinstance(extension, x509.UnrecognizedExtension):
        raise ValueError("unreadable AAGUID extension")
    if not hmac.compare_digest(extension.value, b"\x04\x10" + bytes(credential.aaguid)):
        raise ValueError("the certificate's AAGUID is not the authenticator's")


def _check_fido_u2f(obj: AttestationObject) -> None:
    # WebAuthn §8.6 step 2: x5c has exactly one element. (Its key being on P-256 needs no check here:
    # fido2 verifies the signature as ES256, which fails for any other key.)
    x5c = obj.att_stmt["x5c"]
    if not isinstance(x5c, list) or len(x5c) != 1:
        raise ValueError("fido-u2f needs exactly one certificate")


_EXTRA_CHECKS: Final[Mapping[str, Callable[[AttestationObject], None]]] = {
    AppleAttestation.FORMAT: _check_apple_key,
    TpmAttestation.FORMAT: _check_tpm,
    FidoU2FAttestation.FORMAT: _check_fido_u2f,
}


# -- registration (§7.1) ----------------------------------------------------------------------------


def verify_registration(
    rp: RelyingParty, state: CeremonyState, credential: Mapping[str, Any], *, at: float | None = None
) -> NewCredential:
    """Verify a registration response (`credential.toJSON()` of navigator.credentials.create).

    `at` (Unix time; default: now) is when attestation certificates must be valid, with trust anchors.
    Does not check that the credential id is new (§7.1 step 26): the caller's store does.
    """
    if state.kind != "registration":
        raise WebAuthnError("no registration in progress")
    raw_id, response = _credential(credential, "attestationObject")
    client_data = _client_data(response.get("clientDataJSON"))
    try:
        attestation = AttestationObject(_b64(response.get("attestationObject"), "attestation object"))
        if not isinstance(attestation.fmt, str) or not isinstance(attestation.att_stmt, Mapping):
            raise ValueError("bad members")
    except WebAuthnError:
        raise
    except Exception:  # fido2's CBOR parser raises assorted errors on bad input
        raise WebAuthnError("malformed attestation object") from None
    _check_client_data(rp, state, client_data, CREATE)
    auth_data = attestation.auth_data
    _check_authenticator_data(rp, state, auth_data)
    attested = auth_data.credential_data
    if attested is None:
        raise WebAuthnError("no credential in the authenticator data")
    if len(attested.credential_id) > MAX_CREDENTIAL_ID_BYTES:
        raise WebAuthnError("credential id too long")  # §7.1 step 25
    if not hmac.compare_digest(attested.credential_id, raw_id):
        raise WebAuthnError("credential id mismatch")
    _algorithm(attested.public_key)  # §7.1 step 20
    if rp.attestation == "direct":
        _verify_attestation(rp, attestation, client_data.hash, time.time() if at is None else at)
    registration = RegistrationResponse(
        raw_id=raw_id,
        response=AuthenticatorAttestationResponse(client_data=client_data, attestation_object=attestation),
    )
    try:
        # The base checks again (the attestation statement was verified above).
        _server(rp).register_complete(state._fido2(), registration)
    except WebAuthnError:
        raise
    except ValueError:
        raise WebAuthnError("registration response invalid") from None
    return NewCredential(
        credential_id=attested.credential_id,
        public_key=cbor.encode(dict(attested.public_key)),
        sign_count=auth_data.counter,
        aaguid=str(attested.aaguid),
        transports=_transports(response.get("transports")),
        backup_eligible=auth_data.is_backup_eligible(),
        backup_state=auth_data.is_backed_up(),
        user_verified=auth_data.is_user_verified(),
        attestation_format=attestation.fmt if rp.attestation == "direct" else "none",
    )


# -- authentication (§7.2) --------------------------------------------------------------------------


def verify_assertion(
    rp: RelyingParty, state: CeremonyState, assertion: Assertion, stored: StoredCredential
) -> VerifiedAssertion:
    """Verify an assertion against the stored credential it names.

    Raises CounterNotIncreased (after the signature verified) when the counter rule fails; with no stored
    count (`stored.sign_count` None) the counter rule is left to the caller.
    """
    if state.kind != "authentication":
        raise WebAuthnError("no authentication in progress")
    credential_id = assertion.credential_id
    if state.allow_credentials and not any(hmac.compare_digest(credential_id, a) for a in state.allow_credentials):
        raise WebAuthnError("credential not allowed")  # §7.2 step 5
    if not hmac.compare_digest(credential_id, stored.credential_id):
        raise WebAuthnError("unknown credential")
    _check_user_handle(state, assertion, stored)  # §7.2 step 6
    _check_client_data(rp, state, assertion.client_data, GET)
    data = assertion.authenticator_data
    _check_authenticator_data(rp, state, data)
    if data.is_backup_eligible() != stored.backup_eligible:
        raise WebAuthnError("backup eligibility changed")  # §7.2 step 19
    try:
        decoded = cbor.decode(stored.public_key)
        if not isinstance(decoded, Mapping):
            raise ValueError("not a COSE key")
        public_key = CoseKey.parse(decoded)
    except Exception:  # a stored key the library cannot read
        raise WebAuthnError("signature invalid") from None
    _algorithm(public_key)
    try:
        # The signature over authData || SHA-256(clientDataJSON) (§7.2 steps 20-21), by python-fido2's
        # COSE key (the same call Fido2Server.authenticate_complete makes; every check it does before the
        # signature is made above, so the assertion is not parsed and checked twice: measured).
        public_key.verify(bytes(data) + assertion.client_data.hash, assertion.signature)
    except Exception:  # a bad signature, or a stored key the library cannot use
        raise WebAuthnError("signature invalid") from None
    if stored.sign_count is not None and not counter_increased(stored.sign_count, data.counter):
        raise CounterNotIncreased()  # §7.2 step 22
    return VerifiedAssertion(
        sign_count=data.counter, backup_state=data.is_backed_up(), user_verified=data.is_user_verified()
    )


def counter_increased(stored: int, new: int) -> bool:
    """The signature counter rule (§7.2 step 22): the new count is greater than the stored one, unless both
    are 0 (an authenticator that keeps no counter)."""
    return new > stored or new == stored == 0


def _check_user_handle(state: CeremonyState, assertion: Assertion, stored: StoredCredential) -> None:
    if state.user_handle is not None:
        # The user was identified beforehand: the credential must be theirs, and a userHandle too.
        if not hmac.compare_digest(stored.owner_handle, state.user_handle):
            raise WebAuthnError("unknown credential")
        if assertion.user_handle is not None and not hmac.compare_digest(assertion.user_handle, state.user_handle):
            raise WebAuthnError("user handle mismatch")
        return
    if assertion.user_handle is None:
        raise WebAuthnError("user handle missing")
    if not hmac.compare_digest(assertion.user_handle, stored.owner_handle):
        raise WebAuthnError("user handle mismatch")
