"""Scopes: RFC 6749 §3.3 syntax, checked against what the client may ask for."""

from __future__ import annotations

import re

from lukhas_id.errors import ErrorCode, OAuthError

# scope-token = 1*( %x21 / %x23-5B / %x5D-7E )
_SCOPE_TOKEN = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]+")


def valid_scope_token(token: str) -> bool:
    return bool(_SCOPE_TOKEN.fullmatch(token))


def parse_scope(text: str) -> tuple[str, ...]:
    """Scope tokens in request order, without duplicates; invalid_scope on bad syntax."""
    tokens = text.split(" ")
    if any(not valid_scope_token(t) for t in tokens):
        raise OAuthError(ErrorCode.INVALID_SCOPE, "scope is not a space-separated list of scope tokens")
    return tuple(dict.fromkeys(tokens))


def grant_scope(requested: str | None, allowed: frozenset[str]) -> str:
    """The granted scope string.

    Omitted scope: the documented default is every scope the client is allowed (RFC 6749 §3.3).
    A scope the client may not ask for is invalid_scope; the spec allows narrowing instead, but a
    silent narrowing hides configuration mistakes from the client's developer.
    """
    if requested is None:
        return " ".join(sorted(allowed))
    tokens = parse_scope(requested)
    unknown = [t for t in tokens if t not in allowed]
    if unknown:
        raise OAuthError(ErrorCode.INVALID_SCOPE, "requested scope is not allowed for this client")
    return " ".join(tokens)
