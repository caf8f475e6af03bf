"""Android Key attestation: WebAuthn L3 §8.4, a python-fido2 `Attestation` verifier.

python-fido2 2.x verifies `packed`, `tpm`, `apple`, `fido-u2f` and `android-safetynet` statements but has
no verifier for `android-key`; this module is one, on fido2's `Attestation` interface and `CoseKey`
signature verification, so that formats.py treats it like the others. §8.4's procedure:

1. the statement is `{alg, sig, x5c}` (x5c not empty);
2. `sig` verifies over authenticatorData ‖ clientDataHash with the key of the first certificate, by `alg`;
3. that key is the credential public key of the attested credential data;
4. the certificate's key description extension (OID 1.3.6.1.4.1.11129.2.1.17, Android's KeyDescription)
   has `attestationChallenge` equal to clientDataHash;
5. `allApplications` is in neither authorization list (the key must be scoped to this RP), and in the
   union of `softwareEnforced` and `teeEnforced` (§8.4 lets the RP take the union; ΛiD does, and has
   no TEE-only setting, which would mean something only with Google's roots configured) `origin` is
   KM_ORIGIN_GENERATED and `purpose` is exactly {KM_PURPOSE_SIGN}. A field given in both lists must
   say the same in both.

The result is Basic attestation with x5c as the trust path; anchoring it (to Google's roots, when the
operator configures them) is attestation.py's, as for every format. The KeyDescription is read
with a small strict DER reader (definite lengths only, bounds checked); any malformed input raises
`InvalidData`.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from cryptography import x509
from cryptography.exceptions import InvalidSignature as _CryptoInvalidSignature
from fido2.attestation.base import (
    Attestation,
    AttestationResult,
    AttestationType,
    InvalidData,
    InvalidSignature,
)
from fido2.cose import CoseKey
from fido2.webauthn import AuthenticatorData

OID_KEY_DESCRIPTION: Final = x509.ObjectIdentifier("1.3.6.1.4.1.11129.2.1.17")
KM_ORIGIN_GENERATED: Final = 0
KM_PURPOSE_SIGN: Final = 2
# AuthorizationList members (context-specific, explicitly tagged) that §8.4 reads.
TAG_PURPOSE: Final = 1
TAG_ALL_APPLICATIONS: Final = 600
TAG_ORIGIN: Final = 702

# Universal tags of the DER reader.
_INTEGER: Final = 2
_OCTET_STRING: Final = 4
_ENUMERATED: Final = 10
_SEQUENCE: Final = 16
_SET: Final = 17
_UNIVERSAL: Final = 0
_CONTEXT: Final = 2
_MAX_MEMBERS: Final = 512  # more members than any KeyDescription has: refuse rather than loop


@dataclass(frozen=True, slots=True)
class _Der:
    """One DER element: class, constructed bit, tag number and content."""

    cls: int
    constructed: bool
    number: int
    content: bytes

    def is_universal(self, number: int, *, constructed: bool = False) -> bool:
        return self.cls == _UNIVERSAL and self.number == number and self.constructed is constructed


def _read(data: bytes, pos: int) -> tuple[_Der, int]:
    """The element starting at `pos` and the position after it."""
    if pos + 2 > len(data):
        raise InvalidData("truncated DER")
    first = data[pos]
    pos += 1
    cls, constructed, number = first >> 6, bool(first & 0x20), first & 0x1F
    if number == 0x1F:  # high tag number form: base-128, minimal
        number = 0
        for _ in range(4):
            if pos >= len(data):
                raise InvalidData("truncated DER tag")
            byte = data[pos]
            pos += 1
            if number == 0 and byte == 0x80:
                raise InvalidData("non-minimal DER tag")
            number = (number << 7) | (byte & 0x7F)
            if not byte & 0x80:
                break
        else:
            raise InvalidData("DER tag too long")
        if number < 0x1F:
            raise InvalidData("non-minimal DER tag")
    if pos >= len(data):
        raise InvalidData("truncated DER length")
    length = data[pos]
    pos += 1
    if length & 0x80:
        count = length & 0x7F
        if count == 0 or count > 4 or pos + count > len(data):
            raise InvalidData("unsupported DER length")  # indefinite (0x80) is not DER
        length = int.from_bytes(data[pos : pos + count], "big")
        if length < 0x80 or data[pos] == 0:
            raise InvalidData("non-minimal DER length")
        pos += count
    end = pos + length
    if end > len(data):
        raise InvalidData("truncated DER content")
    return _Der(cls, constructed, number, data[pos:end]), end


def _one(data: bytes) -> _Der:
    element, end = _read(data, 0)
    if end != len(data):
        raise InvalidData("trailing data after DER element")
    return element


def _children(element: _Der) -> list[_Der]:
    if not element.constructed:
        raise InvalidData("expected a constructed DER element")
    items: list[_Der] = []
    pos = 0
    while pos < len(element.content):
        if len(items) >= _MAX_MEMBERS:
            raise InvalidData("too many DER members")
        item, pos = _read(element.content, pos)
        items.append(item)
    return items


def _integer(element: _Der) -> int:
    if not (element.is_universal(_INTEGER) or element.is_universal(_ENUMERATED)) or not element.content:
        raise InvalidData("expected a DER INTEGER")
    if len(element.content) > 8:
        raise InvalidData("DER INTEGER too large")
    return int.from_bytes(element.content, "big", signed=True)


def _authorization_list(element: _Der) -> dict[int, _Der]:
    """An AuthorizationList: its members by tag number, each the element inside its explicit tag."""
    if not element.is_universal(_SEQUENCE, constructed=True):
        raise InvalidData("AuthorizationList is not a SEQUENCE")
    members: dict[int, _Der] = {}
    for item in _children(element):
        if item.cls != _CONTEXT or not item.constructed:
            raise InvalidData("AuthorizationList member is not explicitly tagged")
        if item.number in members:
            raise InvalidData("AuthorizationList member repeated")
        members[item.number] = _one(item.content)
    return members


def key_description(extension: bytes) -> tuple[bytes, dict[int, _Der], dict[int, _Der]]:
    """(attestationChallenge, softwareEnforced, teeEnforced) of a DER KeyDescription."""
    fields = _children(_one(extension))
    if len(fields) < 8:
        raise InvalidData("KeyDescription has too few members")
    _integer(fields[0])  # attestationVersion
    challenge = fields[4]
    if not challenge.is_universal(_OCTET_STRING):
        raise InvalidData("attestationChallenge is not an OCTET STRING")
    return challenge.content, _authorization_list(fields[6]), _authorization_list(fields[7])


def _agreed(lists: tuple[dict[int, _Der], ...], tag: int) -> _Der:
    """The member `tag` of the union of the lists: present in at least one, the same wherever present."""
    found = [members[tag] for members in lists if tag in members]
    if not found:
        raise InvalidData("authorization list member missing")
    first = found[0]
    if any(f != first for f in found):
        raise InvalidData("authorization lists disagree")
    return first


def _check_authorizations(software: dict[int, _Der], tee: dict[int, _Der]) -> None:
    if TAG_ALL_APPLICATIONS in software or TAG_ALL_APPLICATIONS in tee:
        raise InvalidData("key not scoped to the relying party (allApplications)")
    if _integer(_agreed((software, tee), TAG_ORIGIN)) != KM_ORIGIN_GENERATED:
        raise InvalidData("key not generated in the authenticator")
    purposes = _agreed((software, tee), TAG_PURPOSE)
    if not purposes.is_universal(_SET, constructed=True):
        raise InvalidData("purpose is not a SET")
    if [_integer(p) for p in _children(purposes)] != [KM_PURPOSE_SIGN]:
        raise InvalidData("key purpose is not only signing")


def certifies_credential_key(public_key: Any, credential_key: Mapping[int, Any]) -> bool:
    """Whether a certificate's public key is the attested credential's COSE key (WebAuthn §8.4 step 3,
    §8.8 step 5). Any key fido2 cannot express in the credential key's algorithm is not it."""
    try:
        parsed = CoseKey.parse(credential_key)
        return dict(type(parsed).from_cryptography_key(public_key)) == dict(parsed)
    except Exception:  # fido2 raises AssertionError, NotImplementedError, ValueError... on a mismatched key
        return False


class AndroidKeyAttestation(Attestation):
    """`android-key` (WebAuthn L3 §8.4): see the module docstring."""

    FORMAT = "android-key"

    def verify(
        self, statement: Mapping[str, Any], auth_data: AuthenticatorData, client_data_hash: bytes
    ) -> AttestationResult:
        alg, sig, x5c = statement.get("alg"), statement.get("sig"), statement.get("x5c")
        if not isinstance(alg, int) or not isinstance(sig, bytes):
            raise InvalidData("android-key statement needs alg and sig")
        if not isinstance(x5c, list) or not x5c or not all(isinstance(c, bytes) for c in x5c):
            raise InvalidData("android-key statement needs x5c")
        credential = auth_data.credential_data
        if credential is None:
            raise InvalidData("no attested credential data")
        try:
            cert = x509.load_der_x509_certificate(x5c[0])
            cert_key = cert.public_key()
            # fido2 asserts the key type: a key that does not fit `alg` raises AssertionError, not ValueError.
            signer = CoseKey.for_alg(alg).from_cryptography_key(cert_key)
        except Exception as exc:
            raise InvalidData("unusable attestation certificate") from exc
        try:
            signer.verify(bytes(auth_data) + client_data_hash, sig)  # step 2
        except (_CryptoInvalidSignature, ValueError, TypeError) as exc:
            raise InvalidSignature() from exc
        if not certifies_credential_key(cert_key, credential.public_key):
            raise InvalidData("credential key does not match the certificate")  # step 3
        try:
            extension = cert.extensions.get_extension_for_oid(OID_KEY_DESCRIPTION).value
        except (x509.ExtensionNotFound, ValueError) as exc:
            raise InvalidData("no key description extension") from exc
        if not isinstance(extension, x509.UnrecognizedExtension):
            raise InvalidData("unreadable key description extension")
        challenge, software, tee = key_description(extension.value)
        if not hmac.compare_digest(challenge, client_data_hash):
            raise InvalidData("attestation challenge does not match")  # step 4
        _check_authorizations(software, tee)  # step 5
        return AttestationResult(AttestationType.BASIC, list(x5c))
