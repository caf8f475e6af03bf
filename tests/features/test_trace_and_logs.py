"""Trace ids and structured logs over HTTP: every answer has X-Trace-Id, a caller's trace is continued, the
access log names the route template, and every line of a request carries its trace id, tenant and client,
and nothing secret (both deployments)."""

from __future__ import annotations

import io
import json
import logging
from typing import Any

import pytest

from lukhas_id.observability.logs import JsonFormatter, record_fields
from lukhas_id.settings import Settings
from tests.support.harness import Harness, running

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACEPARENT = f"00-{TRACE}-00f067aa0ba902b7-01"


def access_lines(h: Harness) -> list[dict[str, Any]]:
    """The access log's lines so far (flushed now), from the StringIO the test put in place."""
    log = h.app.state.access_log
    log.flush()
    return [json.loads(line) for line in log.stream.getvalue().splitlines()]


def structured(caplog: pytest.LogCaptureFixture) -> list[dict[str, object]]:
    return [record_fields(r) for r in caplog.records if r.name.startswith("lukhas_id")]


async def test_a_token_request_is_one_trace_in_the_logs(h: Harness, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="lukhas_id")
    rc = await h.client(tenant="acme")
    caplog.clear()
    h.app.state.access_log.stream = io.StringIO()
    resp = await h.http.post(
        "/t/acme/oauth2/token",
        data={"grant_type": "client_credentials"},
        headers={**rc.auth, "traceparent": TRACEPARENT},
    )
    assert resp.status_code == 200 and resp.headers["x-trace-id"] == TRACE
    token = resp.json()["access_token"]
    revoked = await h.http.post("/t/acme/oauth2/revoke", data={"token": token}, headers=rc.auth)
    assert revoked.status_code == 200
    trace = revoked.headers["x-trace-id"]
    assert trace != TRACE and len(trace) == 32
    lines = structured(caplog)
    access = access_lines(h)
    assert [(a["method"], a["route"], a["status"], a["trace_id"]) for a in access] == [
        ("POST", "/oauth2/token", 200, TRACE),
        ("POST", "/oauth2/revoke", 200, trace),
    ]
    for line in access:
        assert line["tenant"] == "acme" and line["client_id"] == rc.client.client_id
        assert isinstance(line["duration_ms"], float) and line["duration_ms"] >= 0
    revocation = [line for line in lines if line["event"] == "token.revoked"]
    assert len(revocation) == 1 and revocation[0]["trace_id"] == trace
    logged = "\n".join(JsonFormatter().format(r) for r in caplog.records) + h.app.state.access_log.stream.getvalue()
    assert token not in logged and rc.secret not in logged and "Basic" not in logged


async def test_x_trace_id_is_honoured_and_unknown_paths_are_traced_too(h: Harness) -> None:
    resp = await h.http.get("/healthz", headers={"x-trace-id": "req-42"})
    assert resp.headers["x-trace-id"] == "req-42"
    resp = await h.http.get("/healthz", headers={"x-trace-id": "bad value; injected"})
    assert len(resp.headers["x-trace-id"]) == 32
    resp = await h.http.get("/nowhere")
    assert resp.status_code == 404 and len(resp.headers["x-trace-id"]) == 32


async def test_a_failed_sign_in_line_names_the_route_and_nothing_typed(
    h: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="lukhas_id")
    page = await h.http.get("/login")
    token = page.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    password = "Correct-Horse-Battery-9"  # noqa: S105  (a canary)
    form = {"csrf_token": token, "username": "ghost@example.com", "password": password}
    resp = await h.http.post("/login", data=form)
    assert resp.status_code in (200, 400, 401)
    lines = structured(caplog)
    refused = [line for line in lines if line["event"] == "sign_in.refused"]
    assert refused and refused[0]["route"] == "/login" and refused[0]["tenant"]
    logged = "\n".join(JsonFormatter().format(r) for r in caplog.records)
    assert password not in logged and "ghost@example.com" not in logged


async def test_the_access_log_can_be_turned_off(prepared: Settings) -> None:
    async with running(prepared.model_copy(update={"access_log": False})) as quiet:
        assert quiet.app.state.access_log is None
        assert (await quiet.http.get("/healthz")).status_code == 200
    async with running(prepared) as loud:
        loud.app.state.access_log.stream = io.StringIO()
        assert (await loud.http.get("/healthz")).status_code == 200
        [line] = access_lines(loud)
        assert (line["route"], line["status"]) == ("/healthz", 200)
