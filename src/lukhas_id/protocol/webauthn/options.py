"""Ceremony options: WebAuthn L3 §5.4 (creation) and §5.5 (request) options as the browser's JSON, and the
ceremony state to keep (§13.4.3).

`registration_options` and `authentication_options` return the `{"publicKey": ...}` JSON for
PublicKeyCredential.parseCreationOptionsFromJSON / parseRequestOptionsFromJSON and the `CeremonyState`
the caller keeps server-side: a fresh random challenge of 32 bytes (§13.4.3: at least 16), the user
verification requirement, and for a sign-in the credentials offered and the user known beforehand.
The creation options are python-fido2's `Fido2Server.register_begin` (one server per relying party,
`fido2_server`, which registration.py reuses for its base checks); the request options are written out
directly, and a unit test checks that they equal what `Fido2Server.authenticate_begin` makes.
"""

from __future__ import annotations

import functools
import secrets
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

import orjson
from fido2.server import Fido2Server
from fido2.utils import websafe_encode
from fido2.webauthn import (
    AttestationConveyancePreference,
    AuthenticatorTransport,
    PublicKeyCredentialDescriptor,
    PublicKeyCredentialParameters,
    PublicKeyCredentialRpEntity,
    PublicKeyCredentialType,
    PublicKeyCredentialUserEntity,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from lukhas_id.protocol.webauthn.model import (
    ALLOWED_ALGORITHMS,
    TRANSPORTS,
    CeremonyState,
    Descriptor,
    RelyingParty,
    Requirement,
)

CHALLENGE_BYTES: Final = 32  # §13.4.3: at least 16 random bytes
TIMEOUT_MS: Final = 300_000  # the ceremony state lives as long (services/passkeys.py)


def cache_fido2_type_hints() -> None:
    """Make python-fido2 compute each of its data classes' type hints once instead of at every parse.

    fido2 (2.2) calls `typing.get_type_hints(cls)` each time one of its option or response objects is
    built or parsed, a large part of a ceremony's CPU (docs/PERFORMANCE.md). A class's hints never
    change after its definition, so caching them by class is safe. This swaps the name fido2.utils looks
    up; called once by the composition root (bootstrap.build_container), idempotent.
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
def fido2_server(rp: RelyingParty) -> Fido2Server:
    """One Fido2Server per relying party configuration (it holds no ceremony state; building one is costly
    type introspection, so it is made once)."""
    conveyance = AttestationConveyancePreference(rp.attestation)
    server = Fido2Server(
        PublicKeyCredentialRpEntity(name=rp.name, id=rp.id),
        attestation=conveyance,
        verify_origin=lambda origin: origin in rp.origins,
        # verify_registration verifies the statement itself (attestation.verify_attestation, with the time), before.
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
            transports=[AuthenticatorTransport(t) for t in c.transports if t in TRANSPORTS] or None,
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
    options, _ = fido2_server(rp).register_begin(
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
    # few and flat; Fido2Server.authenticate_begin made the same JSON through its data classes at a
    # noticeable share of the sign-in's CPU). A unit test checks both give the same JSON.
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
    transports = [t for t in credential.transports if t in TRANSPORTS]
    if transports:
        descriptor["transports"] = transports
    return descriptor


def _new_challenge() -> bytes:
    return secrets.token_bytes(CHALLENGE_BYTES)


def _json(options: Mapping[str, Any]) -> dict[str, Any]:
    # fido2's option objects map to the WebAuthn JSON form (base64url bytes) with dict().
    parsed: dict[str, Any] = orjson.loads(orjson.dumps(dict(options)))
    return parsed
