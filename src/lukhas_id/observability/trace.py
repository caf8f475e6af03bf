"""Trace ids at the edge: W3C Trace Context Level 1 `traceparent` (§3.2), else `X-Trace-Id`, else a new one.

Every request gets one trace id, chosen in this order:

1. a valid incoming `traceparent` (exactly one header; version two lower-case hex digits other than
   `ff`; for version `00` exactly 55 characters, for a later version at least 55 with a `-` after the
   flags; a trace id of 32 and a parent id of 16 lower-case hex digits, neither all zeros) is continued:
   its trace id is the request's, its parent id and sampled flag are kept for tracing;
2. else a well-formed `X-Trace-Id` (exactly one header, 1 to 64 characters of `A-Z a-z 0-9 . _ -`) is
   honoured as given, so a caller's own correlation id reaches ΛiD's logs; with tracing on
   (observability/tracing.py) only a W3C trace id (32 lower-case hex digits, not all zeros) is, since the
   request's spans carry the request's trace id and an OpenTelemetry trace id is exactly that;
3. else a new W3C trace id (128 random bits as 32 hex digits).

Anything malformed is ignored, never refused: a trace id is for correlation only and nothing trusts it.
The answer carries `X-Trace-Id` (web/app.py); the value is printed as is in logs, which is why only
those safe characters are accepted.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

TRACEPARENT: Final = b"traceparent"
X_TRACE_ID: Final = b"x-trace-id"
MAX_TRACE_ID: Final = 64

_HEX = frozenset("0123456789abcdef")
_SAFE = re.compile(r"[A-Za-z0-9._-]{1,64}")
_ZERO_TRACE: Final = "0" * 32
_ZERO_PARENT: Final = "0" * 16


@dataclass(frozen=True, slots=True)
class TraceContext:
    """The request's trace: its id, and when it continues a caller's W3C trace, the caller's span and flag."""

    trace_id: str
    parent_id: str | None = None
    sampled: bool = False


def new_trace_id() -> str:
    """A new W3C trace id: 128 random bits, never all zeros. Unique, not secret (nothing trusts a trace
    id), so the `random` generator serves (reseeded in each forked worker) without a system call."""
    value = random.getrandbits(128)
    while not value:
        value = random.getrandbits(128)
    return f"{value:032x}"


def _is_hex(text: str, length: int) -> bool:
    return len(text) == length and _HEX.issuperset(text)


def is_w3c_trace_id(text: str) -> bool:
    """32 lower-case hex digits, not all zeros (W3C Trace Context §3.2.2.3)."""
    return _is_hex(text, 32) and text != _ZERO_TRACE


def parse_traceparent(value: str) -> TraceContext | None:
    """The trace of a `traceparent` value (W3C Trace Context §3.2), None when it is not a valid one."""
    if len(value) < 55:
        return None
    version = value[:2]
    if not _is_hex(version, 2) or version == "ff":
        return None
    if version == "00" and len(value) != 55:
        return None
    if len(value) > 55 and value[55] != "-":
        return None
    if value[2] != "-" or value[35] != "-" or value[52] != "-":
        return None
    trace_id, parent_id, flags = value[3:35], value[36:52], value[53:55]
    if not (_is_hex(trace_id, 32) and _is_hex(parent_id, 16) and _is_hex(flags, 2)):
        return None
    if trace_id == _ZERO_TRACE or parent_id == _ZERO_PARENT:
        return None
    return TraceContext(trace_id, parent_id, bool(int(flags, 16) & 1))


def incoming_trace(headers: Iterable[tuple[bytes, bytes]], *, w3c: bool = False) -> TraceContext:
    """The request's trace from its ASGI headers (lower-case names), by the rules of the module docstring;
    `w3c` (tracing on): an `X-Trace-Id` only when it is a W3C trace id."""
    parents: list[bytes] = []
    given: list[bytes] = []
    for name, value in headers:
        if name == TRACEPARENT:
            parents.append(value)
        elif name == X_TRACE_ID:
            given.append(value)
    if len(parents) == 1:
        found = parse_traceparent(parents[0].decode("latin-1"))
        if found is not None:
            return found
    if len(given) == 1:
        text = given[0].decode("latin-1")
        if is_w3c_trace_id(text) if w3c else _SAFE.fullmatch(text) is not None:
            return TraceContext(text)
    return TraceContext(new_trace_id())
