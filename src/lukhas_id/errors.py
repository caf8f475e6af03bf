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


class Conflict(LukhasIdError):
    """A write was refused because of state it did not expect: a uniqueness rule, or a race it lost (another
    transaction changed what it depended on first). Retrying the same write may succeed (a lost race) or not
    (a taken name: AlreadyExists)."""


class AlreadyExists(Conflict):
    """The conflict is a uniqueness rule: what the write would create exists already."""


class ConfigurationError(LukhasIdError):
    pass


class KeyUnavailable(LukhasIdError):
    """No usable signing key (or the KEK cannot decrypt it)."""


class StoreUnavailable(Exception):
    """A backing store (the database, Redis) cannot be reached or cannot serve now: connection refused or
    lost, a timeout, the server shutting down or starting, too many connections, a locked SQLite file.

    The adapters raise it in place of their driver's errors (chained as `__cause__`), so nothing above
    them needs a driver import; the web edge answers 503 temporarily_unavailable (RFC 6749 §5.2). The
    message names the store and the driver error's type, never a URL, a statement or a value. Not a
    LukhasIdError: code that turns domain errors into answers for the user must not swallow an outage.
    """

    def __init__(self, store: str, reason: str = "") -> None:
        super().__init__(f"{store} unavailable" + (f" ({reason})" if reason else ""))
        self.store = store
        self.reason = reason


def is_unavailable(exc: BaseException) -> bool:
    """True when `exc` says a backing store or the network is unreachable (answer 503, not 500).

    The adapters translate their drivers' errors into StoreUnavailable; OSError and TimeoutError stay
    outages wherever they come from (a socket refused or timed out outside an adapter)."""
    return isinstance(exc, StoreUnavailable | OSError | TimeoutError)
