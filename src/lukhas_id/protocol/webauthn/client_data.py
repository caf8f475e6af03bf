"""Client data: reading the browser's credential JSON and checking clientDataJSON, WebAuthn L3 §7.1
steps 3-11 and §7.2 steps 3-14.

The response is the JSON of `credential.toJSON()`: base64url members, `id` equal to `rawId`, `type`
`public-key` and a `response` holding the ceremony's member (§7.1 step 3, §7.2 step 3). `clientDataJSON`
is decoded as UTF-8 with a leading BOM ignored and its members type-checked; the object keeps the bytes
as sent, so its hash is over what was sent (§7.1 steps 5-6 and 12, §7.2 steps 8-9). Its checks: the
ceremony type, the challenge (constant-time), the origin matched exactly against the configured list
(no rule that accepts subdomains of the RP ID), and `crossOrigin: true` and `topOrigin` refused, since
ΛiD's pages are never framed (§7.1 steps 7-11, §7.2 steps 10-14).
"""

from __future__ import annotations

import base64
import hmac
import json
import re
from collections.abc import Mapping
from typing import Any, Final

from fido2.webauthn import CollectedClientData, PublicKeyCredentialType

from lukhas_id.domain.passkey import MAX_CREDENTIAL_ID_BYTES
from lukhas_id.protocol.webauthn.model import CeremonyState, RelyingParty, WebAuthnError

CREATE: Final = "webauthn.create"
GET: Final = "webauthn.get"

_B64URL: Final = re.compile(r"[A-Za-z0-9_-]*")
_BOM: Final = b"\xef\xbb\xbf"


def b64(value: object, what: str) -> bytes:
    """The bytes of a base64url member (padding optional); WebAuthnError("malformed `what`") otherwise."""
    if not isinstance(value, str) or not _B64URL.fullmatch(value) or len(value) % 4 == 1:
        raise WebAuthnError(f"malformed {what}")
    return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))


class ClientData(CollectedClientData):
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
        object.__setattr__(self, "challenge", b64(challenge, "challenge"))
        object.__setattr__(self, "origin", origin)
        object.__setattr__(self, "cross_origin", data.get("crossOrigin", False))


def client_data(value: object) -> ClientData:
    """The parsed `clientDataJSON` member; WebAuthnError("malformed client data") when it is not one."""
    raw = b64(value, "client data")
    try:
        return ClientData(raw)
    except Exception:  # bad UTF-8 or JSON, wrong member types, nesting too deep
        raise WebAuthnError("malformed client data") from None


def read_credential(credential: Mapping[str, Any], member: str) -> tuple[bytes, Mapping[str, Any]]:
    """(rawId, response) of a PublicKeyCredential's JSON whose response has `member`."""
    raw_id = b64(credential.get("rawId"), "credential id")
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


def check_client_data(rp: RelyingParty, state: CeremonyState, data: CollectedClientData, kind: str) -> None:
    """The client data checks of both ceremonies (`kind` is CREATE or GET); raises WebAuthnError."""
    if data.type != kind:
        raise WebAuthnError("wrong ceremony type")  # §7.1 step 7, §7.2 step 10
    if not hmac.compare_digest(data.challenge, state.challenge):
        raise WebAuthnError("challenge mismatch")  # §7.1 step 8, §7.2 step 11
    if data.origin not in rp.origins:
        raise WebAuthnError("origin not allowed")  # §7.1 step 9, §7.2 step 12
    members = data._data  # fido2 keeps the parsed JSON here
    if members.get("crossOrigin", False) is not False or "topOrigin" in members:
        raise WebAuthnError("cross-origin use not allowed")  # §7.1 steps 10-11, §7.2 steps 13-14
