"""Observability: trace ids (trace.py), the request's context (context.py) and typed, structured logs
(logs.py)."""

from lukhas_id.observability.logs import (
    LogEvent,
    RedactingFilter,
    configure_logging,
    redact,
    write,
)

__all__ = ["LogEvent", "RedactingFilter", "configure_logging", "redact", "write"]
