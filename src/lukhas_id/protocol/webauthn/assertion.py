"""Authentication ceremony: WebAuthn L3 §7.2, an assertion parsed and verified against its credential.

`parse_assertion` reads the response's structure (the caller then finds the credential by its id);
`verify_assertion` makes every check of §7.2 as a named step (client_data.py, authenticator_data.py)
and has python-fido2's COSE key verify the signature (what `Fido2Server.authenticate_complete` would
do after the same checks, without parsing the assertion a second time). It adds what `Fido2Server`
does not do: `allowCredentials` membership when it was not empty (§7.2 step 5); the user handle rules
(§7.2 step 6: a user known beforehand must own the credential and a present userHandle must be theirs;
without one the userHandle must be present and be the owner's); at sign-in BE must equal the stored
value (§7.2 step 19); the credential key's algorithm is checked again; and the signature counter rule
(§7.2 step 22, `counter_increased`): when either the stored or the new count is non-zero the new one
must be greater; otherwise `CounterNotIncreased` (a possible cloned authenticator). A caller whose
store applies the rule itself, atomically with the update (the passkey service's sign-in with a
credential it already knows), passes no stored count. Extension outputs are ignored (§7.2 step 23).
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from typing import Any

from fido2 import cbor
from fido2.cose import CoseKey
from fido2.webauthn import AuthenticatorData

from lukhas_id.protocol.webauthn.authenticator_data import check_algorithm, check_authenticator_data
from lukhas_id.protocol.webauthn.client_data import GET, b64, check_client_data, client_data, read_credential
from lukhas_id.protocol.webauthn.model import (
    Assertion,
    CeremonyState,
    CounterNotIncreased,
    RelyingParty,
    StoredCredential,
    VerifiedAssertion,
    WebAuthnError,
)


def named_credential(credential: Mapping[str, Any]) -> bytes:
    """The id of the credential an assertion names (its `rawId`, checked as `parse_assertion` checks it),
    without reading the rest; WebAuthnError when malformed."""
    raw_id, _ = read_credential(credential, "authenticatorData")
    return raw_id


def parse_assertion(credential: Mapping[str, Any]) -> Assertion:
    """The assertion in a `credential.toJSON()` result (structure only; nothing is verified yet)."""
    raw_id, response = read_credential(credential, "authenticatorData")
    data = client_data(response.get("clientDataJSON"))
    try:
        authenticator_data = AuthenticatorData(b64(response.get("authenticatorData"), "authenticator data"))
    except WebAuthnError:
        raise
    except Exception:  # fido2's parser raises assorted errors on bad input
        raise WebAuthnError("malformed authenticator data") from None
    signature = b64(response.get("signature"), "signature")
    handle = response.get("userHandle")
    user_handle = b64(handle, "user handle") if handle not in (None, "") else None
    return Assertion(raw_id, user_handle, data, authenticator_data, signature)


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
    check_client_data(rp, state, assertion.client_data, GET)
    data = assertion.authenticator_data
    check_authenticator_data(rp, state, data)
    if data.is_backup_eligible() != stored.backup_eligible:
        raise WebAuthnError("backup eligibility changed")  # §7.2 step 19
    try:
        decoded = cbor.decode(stored.public_key)
        if not isinstance(decoded, Mapping):
            raise ValueError("not a COSE key")
        public_key = CoseKey.parse(decoded)
    except Exception:  # a stored key the library cannot read
        raise WebAuthnError("signature invalid") from None
    check_algorithm(public_key)
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
