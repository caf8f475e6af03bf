"""Logging: one line per event, with a redaction filter as a safety net (nothing secret is logged)."""

from __future__ import annotations

import logging
import re

# Safety net only: code must not log secrets in the first place.
_REDACT = [
    re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*"),  # JWS compact
    re.compile(r"(?i)(client_secret|token|password|secret|authorization)(\s*[=:]\s*)([^\s&,;]+)"),
    re.compile(r"(?i)(basic|bearer)\s+[A-Za-z0-9._~+/=-]{8,}"),
]


def redact(text: str) -> str:
    text = _REDACT[0].sub("[redacted-jwt]", text)
    text = _REDACT[1].sub(lambda m: f"{m.group(1)}{m.group(2)}[redacted]", text)
    return _REDACT[2].sub(lambda m: f"{m.group(1)} [redacted]", text)


class RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


def configure_logging(level: str) -> None:
    root = logging.getLogger("lukhas_id")
    if any(isinstance(f, RedactingFilter) for h in root.handlers for f in h.filters):
        return
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    handler.addFilter(RedactingFilter())
    root.addHandler(handler)
    root.setLevel(level)
    # python-fido2 logs credential ids at INFO and DEBUG: never let them through, whatever the config.
    logging.getLogger("fido2").setLevel(logging.WARNING)
