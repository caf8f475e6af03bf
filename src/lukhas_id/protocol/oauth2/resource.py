"""Resource indicators: RFC 8707 §2 (absolute URI, no fragment; the token's audience)."""

from __future__ import annotations

from urllib.parse import urlsplit

from lukhas_id.errors import ErrorCode, OAuthError


def valid_resource_uri(value: str) -> bool:
    if len(value) > 2048 or any(c.isspace() for c in value):
        return False
    try:
        parts = urlsplit(value)
    except ValueError:
        return False
    if not parts.scheme or "#" in value:
        return False
    # An absolute URI: a scheme and something after it (https://host/..., urn:example:api).
    return bool(parts.netloc or parts.path)


def select_audience(requested: list[str], allowed: tuple[str, ...], default: str) -> tuple[str, ...]:
    """The audience of the access token: the requested resources, else the default one."""
    if not requested:
        return (default,)
    for value in requested:
        if not valid_resource_uri(value):
            raise OAuthError(ErrorCode.INVALID_TARGET, "resource must be an absolute URI without a fragment")
        if value not in allowed:
            raise OAuthError(ErrorCode.INVALID_TARGET, "resource is not allowed for this client")
    return tuple(dict.fromkeys(requested))
