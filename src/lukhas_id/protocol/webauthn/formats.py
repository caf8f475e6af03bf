"""Attestation statement formats: WebAuthn L3 §8, the verifier of each format accepted and the steps
python-fido2's verifiers leave out.

Under `direct` conveyance a statement is verified by python-fido2's verifiers for `packed` (§8.2), `tpm`
(§8.3), `fido-u2f` (§8.6) and `apple` (§8.8), and for `android-key` (§8.4, which python-fido2 2.x lacks)
by android_key.py on fido2's `Attestation` interface; any other format is refused, and so is `none`
(`VERIFIERS`: the format is matched case-sensitively, §7.1 step 21). Where python-fido2's verifiers leave
a step of the format's procedure out, ΛiD makes it (`EXTRA_CHECKS`): for `apple` the credential key must
be the certificate's key (§8.8), for `tpm` `ver` must be "2.0" and an AAGUID extension in aikCert must
match (§8.3), for `fido-u2f` x5c must hold exactly one certificate (§8.6). Trust in the statement's
chain is attestation.py's.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Mapping
from typing import Final

from cryptography import x509
from fido2.attestation.apple import AppleAttestation
from fido2.attestation.base import Attestation
from fido2.attestation.packed import OID_AAGUID, PackedAttestation
from fido2.attestation.tpm import TpmAttestation
from fido2.attestation.u2f import FidoU2FAttestation
from fido2.webauthn import AttestationObject

from lukhas_id.protocol.webauthn.android_key import AndroidKeyAttestation, certifies_credential_key

# Verifiers of the attestation formats accepted under `direct` (fmt matched case-sensitively, §7.1 step 21).
VERIFIERS: Final[Mapping[str, Attestation]] = {
    PackedAttestation.FORMAT: PackedAttestation(),
    TpmAttestation.FORMAT: TpmAttestation(),
    AppleAttestation.FORMAT: AppleAttestation(),
    FidoU2FAttestation.FORMAT: FidoU2FAttestation(),
    AndroidKeyAttestation.FORMAT: AndroidKeyAttestation(),
}

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


EXTRA_CHECKS: Final[Mapping[str, Callable[[AttestationObject], None]]] = {
    AppleAttestation.FORMAT: _check_apple_key,
    TpmAttestation.FORMAT: _check_tpm,
    FidoU2FAttestation.FORMAT: _check_fido_u2f,
}
