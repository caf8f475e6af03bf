"""Answers to what went wrong outside the protocol: a backing service down (503) or a defect (500).

Never a traceback; only the exception's type is logged (its message may quote request data).
"""

from __future__ import annotations

import logging

from starlette.responses import Response

from lukhas_id.errors import ErrorCode, OAuthError, is_unavailable
from lukhas_id.web.http_io import error_response, json_response

log = logging.getLogger("lukhas_id")


def unexpected_error(path: str, exc: Exception) -> Response:
    """503 temporarily_unavailable (Retry-After 1) when a backing service is down, else 500."""
    if is_unavailable(exc):
        log.warning("a backing service is unavailable on %s: %s", path, type(exc).__name__)
        return error_response(
            OAuthError(ErrorCode.TEMPORARILY_UNAVAILABLE, "a storage service is unavailable; retry shortly", 503),
            retry_after=1,
        )
    log.error("unhandled error on %s: %s", path, type(exc).__name__)
    return json_response({"error": "server_error"}, 500, {"cache-control": "no-store"})
