"""Issued-token records and revocation markers."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

# A revoked jti is remembered this many seconds past its token's expiry (clock skew between processes).
JTI_MARGIN = 60


class TokenTypeHint(StrEnum):
    ACCESS_TOKEN = "access_token"
    REFRESH_TOKEN = "refresh_token"


class MarkerKind(StrEnum):
    """Mass revocation: every token of a client / subject issued before the marker is inactive."""

    CLIENT = "client"
    SUBJECT = "subject"


@dataclass(frozen=True, slots=True)
class AccessTokenRecord:
    """What an access token grants; stored for opaque tokens, carried in the claims for JWTs."""

    tenant_id: str
    jti: str
    client_id: str
    sub: str
    lid_type: str
    scope: str
    aud: tuple[str, ...]
    iat: int
    exp: int
    # How the user authenticated (RFC 9470 §6: introspection answers them), for user tokens only.
    acr: str | None = None
    auth_time: int | None = None
