"""Answers to what went wrong outside the protocol: a backing service down (503) or a defect (500).

Never a traceback; only the exception's type is logged (its message may quote request data).
"""

from __future__ import annotations

from starlette.responses import Response

from lukhas_id.errors import ErrorCode, OAuthError, StoreUnavailable, is_unavailable
from lukhas_id.observability import LogEvent, write
from lukhas_id.web.http_io import error_response, json_response


def unexpected_error(path: str, exc: Exception) -> Response:
    """503 temporarily_unavailable (Retry-After 1) when a backing service is down, else 500."""
    if is_unavailable(exc):
        if isinstance(exc, StoreUnavailable):
            write(LogEvent.STORE_UNAVAILABLE, store=exc.store, error=_reason(exc))
        else:
            write(LogEvent.STORE_UNAVAILABLE, store="network", error=type(exc).__name__)
        return error_response(
            OAuthError(ErrorCode.TEMPORARILY_UNAVAILABLE, "a storage service is unavailable; retry shortly", 503),
            retry_after=1,
        )
    write(LogEvent.SERVER_ERROR, error=type(exc).__name__)
    return json_response({"error": "server_error"}, 500, {"cache-control": "no-store"})


def _reason(exc: StoreUnavailable) -> str:
    """The driver error's class the adapter named (never a message: it may quote a statement or a URL)."""
    cause = exc.__cause__
    return type(cause).__name__ if cause is not None else type(exc).__name__
