"""Logs: typed log events, one JSON object per line (or a readable line on a terminal), with the request's
trace id, route, tenant, principal and client (observability/context.py).

What may be logged is decided where the line is declared, not where it is written: every line is a
`LogEvent` with a fixed text and a fixed set of field names (`write` refuses any other field: a test
catches a careless one), and values are identifiers, enum values, numbers and error class names. Identity
events (domain/events.py) are written by their log subscriber with the fields the event carries, which are
checked when the event is made. No token, secret, password, code, cookie, Authorization header, consent
string, e-mail address or IP address is a field of any of them. The redaction filter (`redact`) stays as a
safety net over the text and every string field.

Format (`LUKHAS_ID_LOG_FORMAT`): `json` (one object per line: time, level, event, message, then trace_id,
tenant, route, principal, client_id where known, then the line's fields), `text` (the same, readable), or
`auto` (text when the log stream is a terminal, else JSON). The access log (`LUKHAS_ID_ACCESS_LOG`, on by
default; `AccessLog`) writes one `http.access` line per request: method, route template, status, duration
in ms; it is on or off by that setting alone, whatever LUKHAS_ID_LOG_LEVEL says.
"""

from __future__ import annotations

import asyncio
import logging
import re
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType
from typing import IO, Final

import orjson

from lukhas_id.observability.context import current

log = logging.getLogger("lukhas_id")

FieldValue = str | int | float | bool | None


class LogEvent(StrEnum):
    SERVER_ERROR = "server.error"
    STORE_DOWN = "store.down"
    STORE_STILL_DOWN = "store.still_down"
    STORE_BACK = "store.back"
    MAINTENANCE_FAILED = "maintenance.failed"
    PUBLIC_URL_NOT_HTTPS = "config.public_url_not_https"
    KEK_GENERATED = "config.kek_generated"
    SUBSCRIBER_FAILED = "events.subscriber_failed"
    PASSKEY_REGISTRATION_REFUSED = "passkey.registration_refused"
    HTTP_ACCESS = "http.access"


@dataclass(frozen=True, slots=True)
class LogSpec:
    level: int
    text: str  # str.format template over the fields
    fields: frozenset[str]


def _spec(level: int, text: str, *fields: str) -> LogSpec:
    return LogSpec(level, text, frozenset(fields))


SPECS: Final[Mapping[LogEvent, LogSpec]] = MappingProxyType(
    {
        LogEvent.SERVER_ERROR: _spec(logging.ERROR, "unhandled error: {error}", "error"),
        LogEvent.STORE_DOWN: _spec(logging.WARNING, "{store} unavailable: {error}", "store", "error"),
        LogEvent.STORE_STILL_DOWN: _spec(
            logging.WARNING,
            "{store} still unavailable after {seconds} s: {failures} more requests failed",
            "store",
            "seconds",
            "failures",
        ),
        LogEvent.STORE_BACK: _spec(
            logging.WARNING,
            "{store} is back after {seconds} s; {failures} requests failed",
            "store",
            "seconds",
            "failures",
        ),
        LogEvent.MAINTENANCE_FAILED: _spec(logging.WARNING, "maintenance pass failed: {error}", "error"),
        LogEvent.PUBLIC_URL_NOT_HTTPS: _spec(
            logging.WARNING,
            "LUKHAS_ID_PUBLIC_URL is not https: OAuth 2.1 requires TLS for every endpoint but loopback",
        ),
        LogEvent.KEK_GENERATED: _spec(logging.WARNING, "{notice}", "notice"),
        LogEvent.SUBSCRIBER_FAILED: _spec(logging.WARNING, "event subscriber failed: {error}", "error"),
        LogEvent.PASSKEY_REGISTRATION_REFUSED: _spec(logging.INFO, "passkey registration refused: {reason}", "reason"),
        # Written by AccessLog, not through `write`; declared here for the reference and the field list.
        LogEvent.HTTP_ACCESS: _spec(
            logging.INFO, "{method} {route} {status} {duration_ms}ms", "method", "route", "status", "duration_ms"
        ),
    }
)


def write(event: LogEvent, logger: logging.Logger = log, **fields: FieldValue) -> None:
    """Write one typed log line; a field the event does not declare is a programming error (TypeError)."""
    spec = SPECS[event]
    if not logger.isEnabledFor(spec.level):
        return
    unknown = fields.keys() - spec.fields
    if unknown:
        raise TypeError(f"log event {event.value} has no field(s) {sorted(unknown)}")
    logger.log(spec.level, spec.text.format_map(fields), extra={"event": event.value, "fields": fields})


# -- formatting -----------------------------------------------------------------------------------------

_REDACT = [
    re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*"),  # JWS compact
    re.compile(r"(?i)(client_secret|token|password|secret|authorization)(\s*[=:]\s*)([^\s&,;]+)"),
    re.compile(r"(?i)(basic|bearer)\s+[A-Za-z0-9._~+/=-]{8,}"),
]


def redact(text: str) -> str:
    """The safety net: JWTs, `secret=...`-like pairs and Basic/Bearer credentials masked."""
    text = _REDACT[0].sub("[redacted-jwt]", text)
    text = _REDACT[1].sub(lambda m: f"{m.group(1)}{m.group(2)}[redacted]", text)
    return _REDACT[2].sub(lambda m: f"{m.group(1)} [redacted]", text)


class RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        fields = getattr(record, "fields", None)
        if fields:
            record.fields = {k: redact(v) if isinstance(v, str) else v for k, v in fields.items()}
        return True


_CONTEXT_FIELDS: Final = ("trace_id", "tenant", "route", "principal", "client_id")


def _snapshot() -> tuple[str | None, ...] | None:
    context = current()
    if context is None:
        return None
    return (context.trace_id, context.tenant, context.route, context.principal, context.client_id)


def _install_record_factory() -> None:
    """Every record takes a copy of the request's context when it is made, so that a handler that formats
    it later (or elsewhere: a test's capture, a queue) still names the request."""
    factory = logging.getLogRecordFactory()
    if getattr(factory, "lukhas_id", False):
        return

    def with_context(*args: object, **kwargs: object) -> logging.LogRecord:
        record = factory(*args, **kwargs)
        record.context = _snapshot()
        return record

    with_context.lukhas_id = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(with_context)


def _timestamp(created: float) -> str:
    seconds = int(created)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{int((created - seconds) * 1000):03d}Z"


def record_fields(record: logging.LogRecord) -> dict[str, FieldValue]:
    """The line's structured content: time, level, event, message, the request's context, the fields."""
    out: dict[str, FieldValue] = {
        "time": _timestamp(record.created),
        "level": record.levelname.lower(),
        "event": getattr(record, "event", None) or record.name,
        "message": record.getMessage(),
    }
    context = getattr(record, "context", None)
    if context is None:
        context = _snapshot()
    if context is not None:
        for name, value in zip(_CONTEXT_FIELDS, context, strict=True):
            if value is not None:
                out[name] = value
    fields = getattr(record, "fields", None)
    if fields:
        out.update((k, v) for k, v in fields.items() if v is not None)
    return out


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out = record_fields(record)
        if record.exc_info:  # never from ΛiD's own lines; a library's traceback, by class only
            out["error"] = record.exc_info[0].__name__ if record.exc_info[0] else None
        return orjson.dumps(out).decode()


class TextFormatter(logging.Formatter):
    _FIRST: Final = frozenset({"time", "level", "event", "message"})

    def format(self, record: logging.LogRecord) -> str:
        out = record_fields(record)
        rest = " ".join(f"{k}={v}" for k, v in out.items() if k not in self._FIRST)
        return f"{out['time']} {str(out['level']).upper():7} {out['message']}" + (f"  [{rest}]" if rest else "")


class AccessLog:
    """The `http.access` lines (one per request), written without the logging machinery: a logging record,
    its filters, its formatter and a flushed write per line cost about as much as issuing a token. Every
    field is typed (a method from a fixed set, a route template, a status, a duration, and the request's
    trace id, tenant, client and principal), so no redaction pass is needed. Lines are formatted as the
    answer starts and written in batches: at most `flush_after` seconds later, at once when `max_lines`
    wait, and at shutdown (`flush`). Each batch is one write of whole lines; other log lines go straight
    through, so the two may interleave out of order by up to that delay."""

    def __init__(
        self, stream: IO[str] | None = None, fmt: str = "auto", *, flush_after: float = 0.5, max_lines: int = 256
    ) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self._text = fmt == "text" or (fmt == "auto" and self.stream.isatty())
        self._flush_after = flush_after
        self._max_lines = max_lines
        self._lines: list[str] = []
        self._scheduled = False
        self._second = -1
        self._stamp = ""

    def _time(self, now: float) -> str:
        second = int(now)
        if second != self._second:
            self._second = second
            self._stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        return f"{self._stamp}.{int((now - second) * 1000):03d}Z"

    def line(self, method: str, status: int, duration_ms: float) -> None:
        """One request's line; its route template and the rest come from the request's context."""
        stamp = self._time(time.time())
        context = current()
        route = (context.route if context is not None else None) or "-"
        message = f"{method} {route} {status} {duration_ms}ms"
        if self._text:
            rest = "" if context is None else f"  [trace_id={context.trace_id}]"
            self._lines.append(f"{stamp} INFO    {message}{rest}\n")
        else:
            out: dict[str, FieldValue] = {
                "time": stamp,
                "level": "info",
                "event": LogEvent.HTTP_ACCESS.value,
                "message": message,
            }
            if context is not None:
                out["trace_id"] = context.trace_id
                if context.tenant is not None:
                    out["tenant"] = context.tenant
            out["route"] = route
            if context is not None:
                if context.principal is not None:
                    out["principal"] = context.principal
                if context.client_id is not None:
                    out["client_id"] = context.client_id
            out["method"] = method
            out["status"] = status
            out["duration_ms"] = duration_ms
            self._lines.append(orjson.dumps(out).decode() + "\n")
        if len(self._lines) >= self._max_lines:
            self.flush()
        elif not self._scheduled:
            try:
                asyncio.get_running_loop().call_later(self._flush_after, self.flush)
            except RuntimeError:  # no loop (a test calling it directly): write now
                self.flush()
                return
            self._scheduled = True

    def flush(self) -> None:
        self._scheduled = False
        if self._lines:
            batch, self._lines = "".join(self._lines), []
            try:
                self.stream.write(batch)
                self.stream.flush()
            except (OSError, ValueError):  # a closed or broken stream: the lines are lost, not the request
                pass


def configure_logging(level: str, fmt: str = "auto", *, stream: IO[str] | None = None) -> None:
    """One handler on the `lukhas_id` logger (idempotent), its formatter by `fmt` (see the module docstring)."""
    _install_record_factory()
    root = logging.getLogger("lukhas_id")
    root.setLevel(level)
    for handler in root.handlers:
        if any(isinstance(f, RedactingFilter) for f in handler.filters):
            return
    out = stream if stream is not None else sys.stderr
    text = fmt == "text" or (fmt == "auto" and out.isatty())
    handler = logging.StreamHandler(out)
    handler.setFormatter(TextFormatter() if text else JsonFormatter())
    handler.addFilter(RedactingFilter())
    root.addHandler(handler)
    # python-fido2 logs credential ids at INFO and DEBUG: never let them through, whatever the config.
    logging.getLogger("fido2").setLevel(logging.WARNING)
