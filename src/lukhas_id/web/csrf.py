"""CSRF protection of ΛiD's own forms: a synchronizer token bound to a pre-session cookie.

Why not double-submit: a plain double-submit cookie can be planted by any sibling subdomain (cookie
tossing), which then knows the matching form value. Here the token is
``base64url(HMAC-SHA256(K, "lukhas-id/csrf/v1" || 0x00 || pre_session_id))`` where K is a per-tenant key
derived from the tenant's ΛID secret (services/keyring.TenantKeyring, purpose "csrf"): nobody
without K can make a token for a given pre-session id, the key is the same in every worker and after
restarts, and a token of one tenant is worthless in another. Over https the pre-session cookie has the
``__Host-`` prefix (Secure, Path=/, no Domain), so a subdomain cannot set it either; over plain http
(loopback development only) it has no prefix.

Tokens are compared in constant time (hmac.compare_digest). Nothing is stored server-side: the
pre-session id is 256 random bits in an HttpOnly cookie; it is replaced after a successful sign-in.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from typing import Final

FIELD: Final = "csrf_token"
PRE_SESSION_BYTES: Final = 32
_CONTEXT: Final = b"lukhas-id/csrf/v1\x00"
_ID_RE: Final = re.compile(r"[A-Za-z0-9_-]{43}")


def new_pre_session_id() -> str:
    return secrets.token_urlsafe(PRE_SESSION_BYTES)


def valid_pre_session_id(value: str | None) -> bool:
    return value is not None and bool(_ID_RE.fullmatch(value))


def token(key: bytes, pre_session_id: str) -> str:
    """The CSRF token of the forms served to the holder of `pre_session_id`."""
    mac = hmac.new(key, _CONTEXT + pre_session_id.encode("ascii"), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode("ascii")


def verify(key: bytes, pre_session_id: str | None, candidate: str | None) -> bool:
    """Whether `candidate` is the token of `pre_session_id` (constant-time comparison)."""
    if not valid_pre_session_id(pre_session_id) or candidate is None or pre_session_id is None:
        return False
    expected = token(key, pre_session_id)
    return hmac.compare_digest(expected.encode("ascii"), candidate.encode("utf-8", "replace"))
