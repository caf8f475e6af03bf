"""Attestation trust: WebAuthn L3 §7.1 steps 21-24, the statement verified and its trust path assessed.

With conveyance `none` the statement is ignored, whatever its format (not every client strips it):
registration.py does not call this module. With `direct` the statement is verified by its format's
verifier and extra checks (formats.py). An x5c chain must be internally consistent (each certificate
signed by the next), every certificate must parse completely and a self-issued last one must carry its own
valid signature. Trust anchors are the operator's (`RelyingParty.roots`, from a PEM file: ΛiD ships
no FIDO metadata): when there are some, the chain must end at one of them or at a certificate one of
them issued, every issuer in it must be a CA and every certificate valid at the registration's time,
and self attestation (nothing to anchor) is refused ("attestation not trusted"). Without roots the
chain is NOT anchored: attestation then shows that a statement is well formed, not that the
authenticator model is genuine. With a non-empty AAGUID allow-list the credential's AAGUID must be
listed, and self attestation (which any software can make for any AAGUID) is refused.
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from fido2.attestation.base import AttestationType, verify_x509_chain
from fido2.webauthn import AttestationObject

from lukhas_id.protocol.webauthn.formats import EXTRA_CHECKS, VERIFIERS
from lukhas_id.protocol.webauthn.model import AttestationRefused, RelyingParty


def verify_attestation(rp: RelyingParty, obj: AttestationObject, client_data_hash: bytes, at: float) -> None:
    """The attestation statement under `direct`: §7.1 steps 21-24 (see the module docstring)."""
    verifier = VERIFIERS.get(obj.fmt)
    if verifier is None:
        raise AttestationRefused("attestation not accepted")
    try:
        result = verifier.verify(obj.att_stmt, obj.auth_data, client_data_hash)
        if len(result.trust_path) > 1:
            verify_x509_chain(result.trust_path)
        _check_certificates(result.trust_path)
        extra = EXTRA_CHECKS.get(obj.fmt)
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


def _check_certificates(trust_path: Sequence[bytes]) -> None:
    """Every x5c certificate parses completely (names, extensions, public key: §8.2 and its kin say x5c
    holds X.509 certificates), and the last one, when it names itself as its issuer, carries a valid
    signature of its own. The chain check above covers every certificate but the last, and without trust
    anchors nothing else reads it: a statement whose last certificate was altered is malformed, not
    merely unanchored. Raises ValueError (or InvalidSignature)."""
    chain = [x509.load_der_x509_certificate(der) for der in trust_path]
    for cert in chain:
        _ = cert.subject, cert.issuer, cert.extensions, cert.public_key()
    if chain and chain[-1].issuer == chain[-1].subject:
        chain[-1].verify_directly_issued_by(chain[-1])


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
