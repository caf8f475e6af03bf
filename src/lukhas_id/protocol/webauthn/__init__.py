"""WebAuthn Level 3 relying party ceremonies: registration (§7.1) and authentication (§7.2), over python-fido2.

Pure and synchronous: options and ceremony state in, verified results out; the caller (the passkey
service) keeps the state, the credentials and the counters.

python-fido2's `Fido2Server` builds the options of both ceremonies and does the base checks of a
registration (client data type, challenge, origin, RP ID hash, UP, UV when required). This package runs
those checks first, one named step each, so that a failure has a clear reason; for an assertion it makes
them itself and has python-fido2's COSE key verify the signature. It adds what `Fido2Server` does not
do: exact origins, no cross-origin use, BE/BS consistency, an algorithm allow-list, the credential id
length and the `rawId` match, `allowCredentials` membership, the user handle rules, the signature counter
rule, and attestation statements verified per format and anchored to the operator's roots. One module
per concern, each naming its steps:

- model.py: `RelyingParty`, `CeremonyState`, the credential records and the errors (`WebAuthnError`,
  whose reason is safe to show; `AttestationRefused`, `CounterNotIncreased`);
- options.py: creation and request options and the ceremony state (§5.4, §5.5, §13.4.3);
- client_data.py: the browser's credential JSON and clientDataJSON (§7.1 steps 3-11, §7.2 steps 3-14);
- authenticator_data.py: RP ID hash, flags and algorithm (§7.1 steps 14-17, 20; §7.2 steps 15-18);
- registration.py: `verify_registration` (§7.1);
- assertion.py: `parse_assertion`, `verify_assertion`, `counter_increased` (§7.2);
- attestation.py: attestation trust, the chain and the configured roots (§7.1 steps 21-24);
- formats.py and android_key.py: the verifier of each attestation format and the steps python-fido2's
  verifiers leave out (§8).

The names below are the package's interface; the services and the composition root import them from here.
"""

from lukhas_id.protocol.webauthn.assertion import (
    counter_increased,
    named_credential,
    parse_assertion,
    verify_assertion,
)
from lukhas_id.protocol.webauthn.client_data import CREATE, GET
from lukhas_id.protocol.webauthn.model import (
    ALLOWED_ALGORITHMS,
    Assertion,
    AttestationRefused,
    CeremonyState,
    Conveyance,
    CounterNotIncreased,
    Descriptor,
    NewCredential,
    RelyingParty,
    Requirement,
    StoredCredential,
    VerifiedAssertion,
    WebAuthnError,
)
from lukhas_id.protocol.webauthn.options import (
    CHALLENGE_BYTES,
    TIMEOUT_MS,
    authentication_options,
    cache_fido2_type_hints,
    registration_options,
)
from lukhas_id.protocol.webauthn.registration import MAX_TRANSPORTS, verify_registration

__all__ = [
    "ALLOWED_ALGORITHMS",
    "CHALLENGE_BYTES",
    "CREATE",
    "GET",
    "MAX_TRANSPORTS",
    "TIMEOUT_MS",
    "Assertion",
    "AttestationRefused",
    "CeremonyState",
    "Conveyance",
    "CounterNotIncreased",
    "Descriptor",
    "NewCredential",
    "RelyingParty",
    "Requirement",
    "StoredCredential",
    "VerifiedAssertion",
    "WebAuthnError",
    "authentication_options",
    "cache_fido2_type_hints",
    "counter_increased",
    "named_credential",
    "parse_assertion",
    "registration_options",
    "verify_assertion",
    "verify_registration",
]
