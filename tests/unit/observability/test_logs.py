"""Typed, structured logs (observability/logs.py) with the request's context (observability/context.py)."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import Iterator

import pytest

from lukhas_id.observability import LogEvent, configure_logging, write
from lukhas_id.observability.context import (
    RequestContext,
    bind_client,
    bind_principal,
    bind_route,
    bind_tenant,
    close_request,
    open_request,
)
from lukhas_id.observability.logs import SPECS, AccessLog, JsonFormatter, RedactingFilter, TextFormatter


@pytest.fixture
def stream() -> Iterator[io.StringIO]:
    """A JSON handler of its own on the lukhas_id logger (removed after the test)."""
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RedactingFilter())
    root = logging.getLogger("lukhas_id")
    before = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    yield out
    root.removeHandler(handler)
    root.setLevel(before)


def lines(out: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_every_log_event_declares_its_fields_and_its_text_uses_only_them() -> None:
    for spec in SPECS.values():
        spec.text.format_map({name: "x" for name in spec.fields})  # no other name in the template
    assert set(SPECS) == set(LogEvent)


def test_a_field_the_event_does_not_declare_is_refused() -> None:
    with pytest.raises(TypeError, match="no field"):
        write(LogEvent.SERVER_ERROR, logging.getLogger("lukhas_id.test"), error="KeyError", email="a@b.example")


def test_a_line_carries_the_requests_context_and_its_fields(stream: io.StringIO) -> None:
    write(LogEvent.SERVER_ERROR, error="KeyError")  # outside a request: no context fields
    token = open_request(RequestContext("4bf92f3577b34da6a3ce929d0e0e4736"))
    try:
        bind_route("/oauth2/token")
        bind_tenant("acme")
        bind_client("cl_abc")
        bind_principal("USR-0000000000000000000000000K")
        write(LogEvent.STORE_DOWN, store="redis", error="ConnectionError")
    finally:
        close_request(token)
    outside, inside = lines(stream)
    assert outside["event"] == "server.error" and "trace_id" not in outside
    assert outside["level"] == "error" and outside["message"] == "unhandled error: KeyError"
    assert inside == {
        "time": inside["time"],
        "level": "warning",
        "event": "store.down",
        "message": "redis unavailable: ConnectionError",
        "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736",
        "tenant": "acme",
        "route": "/oauth2/token",
        "principal": "USR-0000000000000000000000000K",
        "client_id": "cl_abc",
        "store": "redis",
        "error": "ConnectionError",
    }
    assert str(inside["time"]).endswith("Z") and len(str(inside["time"])) == 24


def test_the_safety_net_redacts_text_and_string_fields(stream: io.StringIO) -> None:
    jwt = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl"
    logging.getLogger("lukhas_id").warning("oops %s", f"token={jwt}")
    write(LogEvent.PASSKEY_REGISTRATION_REFUSED, reason=f"Bearer {jwt}")
    text = stream.getvalue()
    assert jwt not in text and "[redacted" in text


def test_text_format_and_auto_choice() -> None:
    record = logging.LogRecord("lukhas_id", logging.WARNING, __file__, 1, "redis unavailable", None, None)
    record.event, record.fields = "store.down", {"store": "redis"}
    line = TextFormatter().format(record)
    assert "WARNING" in line and "redis unavailable" in line and "store=redis" in line

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    root = logging.getLogger("lukhas_id")
    saved = list(root.handlers)
    try:
        for handler in saved:
            root.removeHandler(handler)
        for stream, fmt, kind in ((Terminal(), "auto", TextFormatter), (io.StringIO(), "auto", JsonFormatter)):
            configure_logging("INFO", fmt, stream=stream)
            [handler] = root.handlers
            assert isinstance(handler.formatter, kind)
            configure_logging("INFO", fmt, stream=stream)  # idempotent: still one handler
            assert len(root.handlers) == 1
            root.removeHandler(handler)
    finally:
        for handler in list(root.handlers):
            root.removeHandler(handler)
        for handler in saved:
            root.addHandler(handler)


async def test_the_access_log_writes_typed_lines_in_batches() -> None:
    out = io.StringIO()
    access = AccessLog(out, "json", flush_after=0.05, max_lines=3)
    token = open_request(RequestContext("4bf92f3577b34da6a3ce929d0e0e4736"))
    try:
        bind_tenant("acme")
        bind_client("cl_abc")
        bind_route("/oauth2/token")
        access.line("POST", 200, 1.25)
    finally:
        close_request(token)
    assert out.getvalue() == ""  # batched
    await asyncio.sleep(0.1)
    [line] = [json.loads(x) for x in out.getvalue().splitlines()]
    assert line == {
        "time": line["time"],
        "level": "info",
        "event": "http.access",
        "message": "POST /oauth2/token 200 1.25ms",
        "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736",
        "tenant": "acme",
        "route": "/oauth2/token",
        "client_id": "cl_abc",
        "method": "POST",
        "status": 200,
        "duration_ms": 1.25,
    }
    for _ in range(3):  # max_lines: written at once
        access.line("GET", 404, 0.1)
    assert len(out.getvalue().splitlines()) == 4
    access.line("GET", 200, 0.1)
    access.flush()  # at shutdown
    assert len(out.getvalue().splitlines()) == 5


def test_the_access_log_in_text_and_without_a_loop() -> None:
    out = io.StringIO()
    AccessLog(out, "text").line("GET", 404, 0.5)  # no running loop: written at once; no route matched
    assert out.getvalue().endswith("INFO    GET - 404 0.5ms\n")
