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

`passes` is the one check of every state-changing request from a page (the forms' ``csrf_token`` field,
the passkey endpoints' ``X-CSRF-Token`` header): the token of the pre-session cookie, and, as defense in
depth, no Origin header naming another site. web/session_cookies.py `require_csrf` applies it to a
request.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from typing import Final
from urllib.parse import urlsplit

FIELD: Final = "csrf_token"
HEADER: Final = "x-csrf-token"
FORBIDDEN: Final = "the form has expired or did not come from this site; go back, reload it and retry"
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


def same_origin(origin: str | None, public_url: str) -> bool:
    """Whether a request's Origin header allows it: absent or "null" (browsers send "null" under the
    no-referrer policy of our own pages, and some clients send none), or the public URL's origin."""
    if origin is None or origin == "null":
        return True
    public = urlsplit(public_url)
    return origin.rstrip("/").lower() == f"{public.scheme}://{public.netloc}".lower()


def passes(key: bytes, pre_session_id: str | None, candidate: str | None, origin: str | None, public_url: str) -> bool:
    """The CSRF check of a state-changing request: `candidate` is the token of the browser's pre-session
    id, and the Origin is not another site's."""
    return same_origin(origin, public_url) and verify(key, pre_session_id, candidate)
