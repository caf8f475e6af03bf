"""Answers to what went wrong outside the protocol: a backing service down (503) or a defect (500).

Never a traceback; only the exception's type is logged (its message may quote request data), and an
outage once (observability/outages.py).
"""

from __future__ import annotations

from starlette.responses import Response

from lukhas_id.errors import ErrorCode, OAuthError, StoreUnavailable, is_unavailable
from lukhas_id.observability import LogEvent, write
from lukhas_id.observability.outages import OutageLog
from lukhas_id.web.http_io import error_response, json_response


def unexpected_error(exc: Exception, outages: OutageLog) -> Response:
    """503 temporarily_unavailable (Retry-After 1) when a backing service is down (counted in `outages`,
    which logs the outage once, not per request), else 500 with the error's class logged."""
    if is_unavailable(exc):
        if isinstance(exc, StoreUnavailable):
            outages.failed(exc.store, _reason(exc))
        else:
            outages.failed("network", type(exc).__name__)
        return error_response(
            OAuthError(ErrorCode.TEMPORARILY_UNAVAILABLE, "a storage service is unavailable; retry shortly", 503),
            retry_after=1,
        )
    write(LogEvent.SERVER_ERROR, error=type(exc).__name__)
    return json_response({"error": "server_error"}, 500, {"cache-control": "no-store"})


def _reason(exc: StoreUnavailable) -> str:
    """What the adapter said of the driver error (its class, a SQLSTATE: never a message, which may quote a
    statement or a URL), else the class of the error it chained."""
    if exc.reason:
        return exc.reason
    cause = exc.__cause__
    return type(cause).__name__ if cause is not None else type(exc).__name__
