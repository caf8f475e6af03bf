"""Client secrets (RFC 6749 §2.3.1): generation, and a keyed hash (HMAC-SHA256, random per-secret key).

Client secrets are 256-bit random values, so a slow password hash adds nothing but latency on the token
endpoint (DESIGN.md); argon2id is for passwords people choose.
"""

from __future__ import annotations

import base64
import functools
import hmac
import secrets

_PREFIX = "hs256v1"


def new_client_secret() -> str:
    return secrets.token_urlsafe(32)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def hash_secret(secret: str) -> str:
    salt = secrets.token_bytes(16)
    mac = hmac.digest(salt, secret.encode("utf-8"), "sha256")
    return f"{_PREFIX}${_b64(salt)}${_b64(mac)}"


@functools.lru_cache(maxsize=4096)
def _parse(stored: str) -> tuple[bytes, bytes] | None:
    try:
        prefix, salt_b64, mac_b64 = stored.split("$")
        if prefix != _PREFIX:
            return None
        return _unb64(salt_b64), _unb64(mac_b64)
    except ValueError:
        return None


def verify_secret(secret: str, stored: str) -> bool:
    parsed = _parse(stored)
    if parsed is None:
        return False
    salt, expected = parsed
    mac = hmac.digest(salt, secret.encode("utf-8", "surrogatepass"), "sha256")
    return hmac.compare_digest(mac, expected)
