"""Trace ids at the edge (observability/trace.py): W3C traceparent, X-Trace-Id, or a new one."""

from __future__ import annotations

import re

import pytest

from lukhas_id.observability.trace import TraceContext, incoming_trace, is_w3c_trace_id, parse_traceparent

VALID = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"


def headers(*pairs: tuple[str, str]) -> list[tuple[bytes, bytes]]:
    return [(name.encode(), value.encode()) for name, value in pairs]


def test_a_valid_traceparent_is_continued() -> None:
    assert parse_traceparent(VALID) == TraceContext(TRACE, "00f067aa0ba902b7", True)
    assert parse_traceparent(VALID[:-2] + "00") == TraceContext(TRACE, "00f067aa0ba902b7", False)
    # A later version may carry more after the flags, separated by "-" (W3C Trace Context §4.3).
    assert parse_traceparent("01" + VALID[2:] + "-what-comes-next") == TraceContext(TRACE, "00f067aa0ba902b7", True)


@pytest.mark.parametrize(
    "value",
    [
        "",
        "ff" + VALID[2:],  # version ff is invalid
        VALID + "-extra",  # version 00 is exactly 55 characters
        "01" + VALID[2:] + "x",  # after the flags, a later version needs a "-"
        VALID.upper(),  # lower-case hex only
        "00-" + "0" * 32 + "-00f067aa0ba902b7-01",  # all-zero trace id
        f"00-{TRACE}-" + "0" * 16 + "-01",  # all-zero parent id
        f"00-{TRACE}-00f067aa0ba902b7-0g",
        f"00_{TRACE}-00f067aa0ba902b7-01",
        f"00-{TRACE[:-1]}x-00f067aa0ba902b7-01",
        "zz" + VALID[2:],
    ],
)
def test_an_invalid_traceparent_is_ignored(value: str) -> None:
    assert parse_traceparent(value) is None
    trace = incoming_trace(headers(("traceparent", value)))
    assert trace.parent_id is None and trace.trace_id != TRACE


def test_x_trace_id_is_honoured_when_well_formed_and_single() -> None:
    assert incoming_trace(headers(("x-trace-id", "req-42.a_b"))) == TraceContext("req-42.a_b")
    assert incoming_trace(headers(("x-trace-id", "a" * 64))).trace_id == "a" * 64
    for bad in ("a" * 65, "has space", "semi;colon", "", "new\nline", "ümlaut"):
        assert incoming_trace([(b"x-trace-id", bad.encode())]).trace_id != bad
    repeated = incoming_trace(headers(("x-trace-id", "one"), ("x-trace-id", "two")))
    assert repeated.trace_id not in {"one", "two"}


def test_traceparent_wins_over_x_trace_id_and_a_repeated_one_counts_as_none() -> None:
    assert incoming_trace(headers(("x-trace-id", "mine"), ("traceparent", VALID))).trace_id == TRACE
    twice = incoming_trace(headers(("traceparent", VALID), ("traceparent", VALID), ("x-trace-id", "mine")))
    assert twice.trace_id == "mine"


def test_a_new_trace_id_is_a_fresh_w3c_trace_id() -> None:
    ids = {incoming_trace([]).trace_id for _ in range(100)}
    assert len(ids) == 100
    assert all(re.fullmatch(r"[0-9a-f]{32}", i) for i in ids)


def test_with_tracing_on_only_a_w3c_x_trace_id_is_honoured() -> None:
    w3c = "4bf92f3577b34da6a3ce929d0e0e4736"
    assert incoming_trace([(b"x-trace-id", w3c.encode())], w3c=True) == TraceContext(w3c)
    for value in (b"req-42", b"0" * 32, w3c.upper().encode(), (w3c + "0").encode()):
        made = incoming_trace([(b"x-trace-id", value)], w3c=True).trace_id
        assert made != value.decode() and is_w3c_trace_id(made)
    assert incoming_trace([(b"x-trace-id", b"req-42")]).trace_id == "req-42"
