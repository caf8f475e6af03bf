"""Errors of ΛiD: protocol errors carry an RFC 6749 §5.2 code; no HTTP framework types here."""

from __future__ import annotations

from enum import StrEnum


class ErrorCode(StrEnum):
    INVALID_REQUEST = "invalid_request"
    INVALID_CLIENT = "invalid_client"
    INVALID_GRANT = "invalid_grant"
    UNAUTHORIZED_CLIENT = "unauthorized_client"
    UNSUPPORTED_GRANT_TYPE = "unsupported_grant_type"
    INVALID_SCOPE = "invalid_scope"
    INVALID_TARGET = "invalid_target"
    UNSUPPORTED_TOKEN_TYPE = "unsupported_token_type"
    SERVER_ERROR = "server_error"
    TEMPORARILY_UNAVAILABLE = "temporarily_unavailable"


class OAuthError(Exception):
    """A protocol error answered as RFC 6749 §5.2 JSON.

    `description` must be safe to show: never a token, secret or personal value, and only
    characters %x20-21 / %x23-5B / %x5D-7E (RFC 6749 §5.2).
    `www_authenticate` is the scheme to challenge with when the client authenticated via the
    Authorization header (401 invalid_client); `retry_after` the seconds a client should wait (429, 503).
    """

    def __init__(
        self,
        code: ErrorCode,
        description: str,
        status: int = 400,
        *,
        www_authenticate: str | None = None,
        retry_after: int | None = None,
    ) -> None:
        super().__init__(f"{code}: {description}")
        self.code = code
        self.description = description
        self.status = status
        self.www_authenticate = www_authenticate
        self.retry_after = retry_after


class LukhasIdError(Exception):
    """Base of domain errors (not protocol errors)."""


class NotFound(LukhasIdError):
    pass


class AlreadyExists(LukhasIdError):
    pass


class ConfigurationError(LukhasIdError):
    pass


class KeyUnavailable(LukhasIdError):
    """No usable signing key (or the KEK cannot decrypt it)."""


# Exception class names (anywhere in the MRO) that mean "a backing service is unreachable": the
# standard library's, redis-py's, SQLAlchemy's and asyncpg's (lost or refused connections, a server
# shutting down or starting, too many connections; asyncpg's own are raised by adapters/sql/direct.py).
# Matched by name so that the web edge needs no driver imports.
_UNAVAILABLE_NAMES = frozenset(
    {
        "ConnectionError",
        "TimeoutError",
        "OperationalError",
        "InterfaceError",
        "CannotConnectNowError",
        "PostgresConnectionError",
        "OperatorInterventionError",
        "TooManyConnectionsError",
    }
)


def is_unavailable(exc: BaseException) -> bool:
    """True when `exc` says a database, Redis or the network is unreachable (answer 503, not 500)."""
    return isinstance(exc, OSError | TimeoutError) or any(c.__name__ in _UNAVAILABLE_NAMES for c in type(exc).__mro__)
