"""Authenticator data checks of both ceremonies: WebAuthn L3 §7.1 steps 14-17 and 20, §7.2 steps 15-18.

The RP ID hash, the UP flag, the UV flag when the ceremony requires user verification, BE clear =>
BS clear; and the credential public key's algorithm, one that was offered (ES256, EdDSA, RS256: an
explicit allow-list, checked at registration and again at every sign-in).
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from typing import Any

from fido2.utils import sha256
from fido2.webauthn import AuthenticatorData

from lukhas_id.protocol.webauthn.model import ALLOWED_ALGORITHMS, CeremonyState, RelyingParty, WebAuthnError


def check_authenticator_data(rp: RelyingParty, state: CeremonyState, data: AuthenticatorData) -> None:
    """The flags and RP ID hash of `data`; raises WebAuthnError."""
    if not hmac.compare_digest(data.rp_id_hash, sha256(rp.id.encode("utf-8"))):
        raise WebAuthnError("wrong relying party id")  # §7.1 step 14, §7.2 step 15
    if not data.is_user_present():
        raise WebAuthnError("user not present")  # §7.1 step 15, §7.2 step 16
    if state.user_verification == "required" and not data.is_user_verified():
        raise WebAuthnError("user verification required")  # §7.1 step 16, §7.2 step 17
    if data.is_backed_up() and not data.is_backup_eligible():
        raise WebAuthnError("backup state without backup eligibility")  # §7.1 step 17, §7.2 step 18


def check_algorithm(public_key: Mapping[int, Any]) -> int:
    """The COSE key's algorithm when it is one of ALLOWED_ALGORITHMS (§7.1 step 20); raises WebAuthnError."""
    alg = public_key.get(3)
    if not isinstance(alg, int) or alg not in ALLOWED_ALGORITHMS:
        raise WebAuthnError("algorithm not allowed")  # §7.1 step 20
    return alg
