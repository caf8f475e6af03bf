"""PKCE: RFC 7636, OAuth 2.1 §4.1.1 (S256 only).

The authorization endpoint stores the challenge with the code (`validate_challenge`); the token
endpoint checks the verifier against it (`verify`) and refuses a verifier for a code that was issued
without a challenge (`reject_downgrade`, RFC 9700 §4.8.2).

Only S256 is offered: `plain` protects nothing against an attacker who can read the authorization
request, and RFC 7636 §4.2 makes S256 the method servers must implement. Because a code only ever
carries an S256 challenge, `verify` needs no method argument (RFC 7636 §4.4/§4.5: the stored method,
not the token request, decides how to verify).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re

from lukhas_id.errors import ErrorCode, OAuthError

S256 = "S256"
# For discovery: code_challenge_methods_supported (RFC 8414 §2, RFC 9700 §2.1.1).
CODE_CHALLENGE_METHODS_SUPPORTED: tuple[str, ...] = (S256,)

# code-verifier = 43*128unreserved; code-challenge has the same grammar (RFC 7636 §4.1, §4.2).
# Explicit ASCII ranges: `\w` or str.isalnum() would also accept non-ASCII letters and digits.
_GRAMMAR = re.compile(r"[A-Za-z0-9\-._~]{43,128}")


def s256(verifier: str) -> str:
    """BASE64URL-ENCODE(SHA256(ASCII(code_verifier))), without padding (RFC 7636 §4.2)."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def validate_challenge(challenge: str | None, method: str | None) -> str:
    """The challenge to store with the code; invalid_request when missing, malformed or not S256.

    PKCE is required of every client (OAuth 2.1 §4.1.1). An absent method means `plain` (RFC 7636
    §4.3), never S256, so it is refused like `plain` itself (RFC 7636 §4.4.1, OAuth 2.1 §4.1.2.1).
    """
    if challenge is None:
        raise OAuthError(ErrorCode.INVALID_REQUEST, "code_challenge is required")
    if method != S256:
        raise OAuthError(ErrorCode.INVALID_REQUEST, "only S256 is supported as code_challenge_method")
    if not _GRAMMAR.fullmatch(challenge):
        raise OAuthError(ErrorCode.INVALID_REQUEST, "code_challenge must be 43-128 characters of [A-Za-z0-9-._~]")
    return challenge


def verify(verifier: str | None, challenge: str) -> None:
    """Check `code_verifier` against the S256 challenge stored with the code (RFC 7636 §4.6).

    Missing verifier: invalid_request (OAuth 2.1 §4.1.3). Malformed or mismatching: invalid_grant.
    """
    if verifier is None:
        raise OAuthError(ErrorCode.INVALID_REQUEST, "code_verifier is required")
    if not _GRAMMAR.fullmatch(verifier):
        raise OAuthError(ErrorCode.INVALID_GRANT, "code_verifier must be 43-128 characters of [A-Za-z0-9-._~]")
    if not hmac.compare_digest(s256(verifier).encode("ascii"), challenge.encode("utf-8")):
        raise OAuthError(ErrorCode.INVALID_GRANT, "code_verifier does not match the code_challenge")


def reject_downgrade(verifier: str | None, code_had_challenge: bool) -> None:
    """A code_verifier for a code issued without a challenge is invalid_request (RFC 9700 §4.8.2).

    Without this check an attacker who strips the challenge from the authorization request could
    still look like a PKCE client at the token endpoint (OAuth 2.1 §3.2.4).
    """
    if verifier is not None and not code_had_challenge:
        raise OAuthError(ErrorCode.INVALID_REQUEST, "code_verifier was sent but the code was issued without PKCE")
