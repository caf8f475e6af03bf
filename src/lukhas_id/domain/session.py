"""Sign-in sessions: what the server remembers about a browser that signed a user in.

The session id (the cookie value) is a bearer secret: it is never stored (the store holds its SHA-256),
never logged, and never put in a token. `sid` is a separate random public identifier for the same
session, the one that goes into ID tokens (OIDC Front/Back-Channel Logout) and logs.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Session:
    # The secret cookie value (43 characters of base64url, 256 bits). Kept out of repr.
    id: str = field(repr=False)
    tenant_id: str
    # Public random identifier: the `sid` claim of ID tokens.
    sid: str
    # The ΛID of the signed-in user (the `sub`).
    user_lid: str
    # Authentication methods references (RFC 8176; domain/authn.py), e.g. ("pwd",).
    amr: tuple[str, ...]
    acr: str
    # When the user authenticated (the `auth_time` claim); kept across rotation.
    auth_time: float
    created_at: float
    last_seen: float
    # The absolute end of the session: never extended by activity.
    expires_at: float
