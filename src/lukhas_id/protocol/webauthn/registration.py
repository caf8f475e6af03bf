"""Registration ceremony: WebAuthn L3 §7.1, a new credential's registration response verified.

Each check of §7.1 is one named step (client_data.py, authenticator_data.py, attestation.py), run before
python-fido2's `Fido2Server.register_complete` makes its base checks again, so that a failure has a
clear reason. Beyond those: the credential id is at most 1023 bytes (§7.1 step 25) and equals the
`rawId` sent; the credential public key's algorithm is one that was offered (§7.1 step 20); under
`direct` conveyance the attestation statement is verified and its trust assessed (§7.1 steps 21-24,
attestation.py), under `none` it is ignored. Extensions: none are requested, so extension outputs are
ignored (§7.1 step 28). Whether the credential id is new (§7.1 step 26) is the caller's store's to say.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Mapping
from typing import Any, Final

from fido2 import cbor
from fido2.utils import websafe_encode
from fido2.webauthn import (
    AttestationObject,
    AuthenticatorAttestationResponse,
    RegistrationResponse,
    UserVerificationRequirement,
)

from lukhas_id.domain.passkey import MAX_CREDENTIAL_ID_BYTES
from lukhas_id.protocol.webauthn.attestation import verify_attestation
from lukhas_id.protocol.webauthn.authenticator_data import check_algorithm, check_authenticator_data
from lukhas_id.protocol.webauthn.client_data import CREATE, b64, check_client_data, client_data, read_credential
from lukhas_id.protocol.webauthn.model import TRANSPORTS, CeremonyState, NewCredential, RelyingParty, WebAuthnError
from lukhas_id.protocol.webauthn.options import fido2_server

MAX_TRANSPORTS: Final = 8


def verify_registration(
    rp: RelyingParty, state: CeremonyState, credential: Mapping[str, Any], *, at: float | None = None
) -> NewCredential:
    """Verify a registration response (`credential.toJSON()` of navigator.credentials.create).

    `at` (Unix time; default: now) is when attestation certificates must be valid, with trust anchors.
    Does not check that the credential id is new (§7.1 step 26): the caller's store does.
    """
    if state.kind != "registration":
        raise WebAuthnError("no registration in progress")
    raw_id, response = read_credential(credential, "attestationObject")
    data = client_data(response.get("clientDataJSON"))
    try:
        attestation = AttestationObject(b64(response.get("attestationObject"), "attestation object"))
        if not isinstance(attestation.fmt, str) or not isinstance(attestation.att_stmt, Mapping):
            raise ValueError("bad members")
    except WebAuthnError:
        raise
    except Exception:  # fido2's CBOR parser raises assorted errors on bad input
        raise WebAuthnError("malformed attestation object") from None
    check_client_data(rp, state, data, CREATE)
    auth_data = attestation.auth_data
    check_authenticator_data(rp, state, auth_data)
    attested = auth_data.credential_data
    if attested is None:
        raise WebAuthnError("no credential in the authenticator data")
    if len(attested.credential_id) > MAX_CREDENTIAL_ID_BYTES:
        raise WebAuthnError("credential id too long")  # §7.1 step 25
    if not hmac.compare_digest(attested.credential_id, raw_id):
        raise WebAuthnError("credential id mismatch")
    check_algorithm(attested.public_key)  # §7.1 step 20
    if rp.attestation == "direct":
        verify_attestation(rp, attestation, data.hash, time.time() if at is None else at)
    registration = RegistrationResponse(
        raw_id=raw_id,
        response=AuthenticatorAttestationResponse(client_data=data, attestation_object=attestation),
    )
    try:
        # The base checks again (the attestation statement was verified above).
        fido2_server(rp).register_complete(_fido2_state(state), registration)
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


def _fido2_state(state: CeremonyState) -> dict[str, Any]:
    # The state dictionary Fido2Server's *_complete methods read.
    return {
        "challenge": websafe_encode(state.challenge),
        "user_verification": UserVerificationRequirement(state.user_verification),
    }


def _transports(value: object) -> tuple[str, ...]:
    if not isinstance(value, list):
        return ()
    known = [t for t in value if isinstance(t, str) and t in TRANSPORTS]
    return tuple(dict.fromkeys(known))[:MAX_TRANSPORTS]
