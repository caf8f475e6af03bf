"""OpenTelemetry traces (observability/tracing.py) received by a real OTLP/HTTP receiver on loopback that
decodes the protobuf (tests/support/otlp.py): a token request is one trace, from the server span through
the use case to its SQL and Redis statements, continuing a caller's `traceparent`; sampling; an unreachable
collector; and, with tracing off, no OpenTelemetry at all (both deployments)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import literal, select

from lukhas_id.domain.client import TokenFormat
from lukhas_id.observability import tracing
from lukhas_id.observability.trace import parse_traceparent
from lukhas_id.settings import Settings
from tests.support.harness import BASE, Harness, running
from tests.support.otlp import ReceivedSpan, Receiver, receiving

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
CALLER_SPAN = "00f067aa0ba902b7"


def traced(backend: dict[str, object], endpoint: str, **more: Any) -> Settings:
    return Settings(public_url=BASE, otlp_endpoint=endpoint, **backend, **more)  # type: ignore[arg-type]


def by_id(spans: list[ReceivedSpan]) -> dict[str, ReceivedSpan]:
    return {s.span_id: s for s in spans}


def ancestors(span: ReceivedSpan, spans: dict[str, ReceivedSpan]) -> list[str]:
    names = []
    while span.parent_id in spans:
        span = spans[span.parent_id]
        names.append(span.name)
    return names


async def test_a_token_request_is_one_trace_end_to_end(backend: dict[str, object]) -> None:
    production = "redis_url" in backend
    with receiving() as receiver:
        async with running(traced(backend, receiver.url)) as h:
            rc = await h.client(token_format=TokenFormat.OPAQUE)
            resp = await h.http.post(
                "/oauth2/token",
                data={"grant_type": "client_credentials"},
                headers={**rc.auth, "traceparent": f"00-{TRACE}-{CALLER_SPAN}-01"},
            )
            assert resp.status_code == 200, resp.text
            token = resp.json()["access_token"]
        spans = receiver.spans  # the lifespan's end flushed them
    assert resp.headers["x-trace-id"] == TRACE
    assert {s.trace_id for s in spans} == {TRACE}, "one trace, and no span outside the request"
    index = by_id(spans)
    [server] = [s for s in spans if s.kind == "server"]
    assert server.name == "POST /oauth2/token" and server.parent_id == CALLER_SPAN
    assert server.attributes == {
        "http.request.method": "POST",
        "http.route": "/oauth2/token",
        "http.response.status_code": 200,
        "url.scheme": "http",
        "network.protocol.version": "1.1",
        "lukhas_id.tenant": "default",
        "lukhas_id.client_id": rc.client_id,
    }
    answered = parse_traceparent(resp.headers["traceparent"])
    assert answered is not None and answered.sampled
    assert (answered.trace_id, answered.parent_id) == (TRACE, server.span_id)
    [use_case] = [s for s in spans if s.name == "oauth.token"]
    assert use_case.parent_id == server.span_id
    assert use_case.attributes == {"oauth.grant_type": "client_credentials"}
    statements = [s for s in spans if "db.system" in s.attributes]
    sql = [s for s in statements if s.attributes["db.system"] == ("postgresql" if production else "sqlite")]
    assert any(s.attributes["db.operation"] == "SELECT" for s in sql), "the client was read"
    if production:
        redis = [s for s in statements if s.attributes["db.system"] == "redis"]
        assert [(s.name, s.attributes["db.operation"]) for s in redis] == [("SET", "SET")], "the opaque token"
    else:
        assert any(s.attributes["db.operation"] == "INSERT" for s in sql), "the opaque token's state"
    for statement in statements:
        assert ancestors(statement, index)[-2:] == ["oauth.token", "POST /oauth2/token"]
        assert server.start_ns <= statement.start_ns <= statement.end_ns <= server.end_ns
    assert {s.resource["service.name"] for s in spans} == {"lukhas-id"}
    assert not any("tenant" in key for key in spans[0].resource)
    exported = repr([(s.name, s.attributes) for s in spans])
    assert token not in exported and rc.secret not in exported and "127.0.0.1" not in exported
    assert receiver.requests and {path for path, _ in receiver.requests} == {"/v1/traces"}


@pytest.mark.postgres
async def test_direct_asyncpg_statements_are_spans_of_the_current_trace(pg_migrated_url: str, tmp_path: Path) -> None:
    from lukhas_id.adapters.crypto.kek import new_kek_b64

    backend = {"var_dir": tmp_path, "database_url": pg_migrated_url, "kek": new_kek_b64()}
    with receiving() as receiver:
        async with running(traced(backend, receiver.url)) as h:
            database = h.c.database
            assert database.direct is not None
            with tracing.span("test.parent", {"test": True}):
                row = await database.fetch_first(select(literal(7).label("seven")), {})
            assert row is not None and row["seven"] == 7
            await database.fetch_first(select(literal(8).label("eight")), {})  # outside any span: none
        spans = receiver.spans
    [parent] = [s for s in spans if s.name == "test.parent"]
    [statement] = [s for s in spans if s.name != "test.parent"]
    assert (statement.trace_id, statement.parent_id) == (parent.trace_id, parent.span_id)
    assert statement.name == "SELECT"
    assert statement.attributes == {"db.system": "postgresql", "db.operation": "SELECT", "lukhas_id.db.lane": "asyncpg"}


async def test_a_new_trace_takes_the_request_trace_id(backend: dict[str, object]) -> None:
    with receiving() as receiver:
        async with running(traced(backend, receiver.url)) as h:
            fresh = await h.http.get("/healthz")
            given = await h.http.get("/healthz", headers={"x-trace-id": TRACE})
            # A correlation id that cannot be an OpenTelemetry trace id is not honoured with tracing on.
            other = await h.http.get("/healthz", headers={"x-trace-id": "req-42"})
            missing = await h.http.get("/nowhere/42")
        spans = {s.trace_id: s for s in receiver.spans}
    assert given.headers["x-trace-id"] == TRACE
    assert other.headers["x-trace-id"] != "req-42"
    for resp, status in ((fresh, 200), (given, 200), (other, 200), (missing, 404)):
        trace_id = resp.headers["x-trace-id"]
        assert resp.status_code == status and len(trace_id) == 32
        span = spans[trace_id]
        assert span.parent_id == "" and span.kind == "server"
        assert resp.headers["traceparent"] == f"00-{trace_id}-{span.span_id}-{resp.headers['traceparent'][-2:]}"
        assert span.attributes["http.response.status_code"] == status
    assert spans[fresh.headers["x-trace-id"]].name == "GET /healthz"
    assert spans[missing.headers["x-trace-id"]].name == "GET", "no route template, and never the raw path"
    assert "http.route" not in spans[missing.headers["x-trace-id"]].attributes


async def test_sign_in_is_a_span(backend: dict[str, object]) -> None:
    with receiving() as receiver:
        async with running(traced(backend, receiver.url)) as h:
            page = await h.http.get("/login")
            csrf = page.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
            form = {"csrf_token": csrf, "username": "ghost@example.com", "password": "Not-The-Password-1"}
            resp = await h.http.post("/login", data=form)
        spans = receiver.spans
    assert resp.status_code in {200, 400, 401}
    [sign_in] = [s for s in spans if s.name == "sign_in"]
    assert sign_in.attributes == {"lukhas_id.sign_in.factor": "password", "lukhas_id.sign_in.outcome": "Refused"}
    [server] = [s for s in spans if s.span_id == sign_in.parent_id]
    assert server.name == "POST /login" and server.trace_id == resp.headers["x-trace-id"]
    exported = repr([(s.name, s.attributes) for s in spans])
    assert "ghost@example.com" not in exported and "Not-The-Password-1" not in exported


async def test_sampling_follows_the_ratio_and_the_callers_flag(backend: dict[str, object]) -> None:
    with receiving() as receiver:
        async with running(traced(backend, receiver.url, trace_sample_ratio=0.0)) as h:
            rc = await h.client()
            unsampled = await h.token(rc)
            caller_sampled = await h.http.post(
                "/oauth2/token",
                data={"grant_type": "client_credentials"},
                headers={**rc.auth, "traceparent": f"00-{TRACE}-{CALLER_SPAN}-01"},
            )
        spans = receiver.spans
    assert unsampled.status_code == 200 and len(unsampled.headers["x-trace-id"]) == 32
    answered = parse_traceparent(unsampled.headers["traceparent"])
    assert answered is not None and not answered.sampled
    assert answered.trace_id == unsampled.headers["x-trace-id"]
    assert caller_sampled.status_code == 200
    assert {s.trace_id for s in spans} == {TRACE}, "only the trace the caller sampled"

    with receiving() as receiver:
        async with running(traced(backend, receiver.url)) as h:
            rc = await h.client()
            declined = await h.http.post(
                "/oauth2/token",
                data={"grant_type": "client_credentials"},
                headers={**rc.auth, "traceparent": f"00-{TRACE}-{CALLER_SPAN}-00"},
            )
        assert declined.status_code == 200 and declined.headers["x-trace-id"] == TRACE
        assert receiver.spans == [] and receiver.requests == []


def _silent_listener() -> socket.socket:
    """A port that accepts connections (the kernel's backlog) and never answers: a hung collector."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    return listener


@pytest.mark.parametrize("collector", ["refused", "hung"])
async def test_an_unreachable_collector_never_fails_or_holds_a_request(
    backend: dict[str, object], collector: str
) -> None:
    listener = _silent_listener()
    port = listener.getsockname()[1]
    if collector == "refused":
        listener.close()
    try:
        settings = traced(backend, f"http://127.0.0.1:{port}", otlp_timeout=0.5)
        async with running(settings) as h:
            rc = await h.client()
            for _ in range(3):
                started = time.monotonic()
                resp = await h.token(rc)
                assert resp.status_code == 200 and time.monotonic() - started < 0.4
            started = time.monotonic()
        assert time.monotonic() - started < 3.0, "the flush at shutdown is bounded by LUKHAS_ID_OTLP_TIMEOUT"
        assert not tracing.enabled()
    finally:
        listener.close()


def test_tracing_off_imports_no_opentelemetry(tmp_path: Path) -> None:
    """Serving a token request without LUKHAS_ID_OTLP_ENDPOINT loads no OpenTelemetry module (a fresh
    interpreter: this test process has imported it for the others)."""
    script = f"""
import asyncio, sys
from pathlib import Path
from lukhas_id.settings import Settings
from tests.support.harness import running

async def main():
    async with running(Settings(public_url="http://testserver", var_dir=Path({str(tmp_path)!r}))) as h:
        rc = await h.client()
        resp = await h.token(rc)
        assert resp.status_code == 200 and "traceparent" not in resp.headers, resp.headers
asyncio.run(main())
print(sorted(m for m in sys.modules if m.startswith("opentelemetry")))
"""
    root = Path(__file__).resolve().parents[2]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LUKHAS_ID_", "OTEL_"))}
    proc = subprocess.run(
        [sys.executable, "-c", script], cwd=root, env=env, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip().splitlines()[-1] == "[]"


def test_the_receiver_decodes_what_it_is_sent() -> None:
    """The test receiver itself: a hand-made export request comes back as the span it describes."""
    import httpx
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
    from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

    span = Span(trace_id=bytes.fromhex(TRACE), span_id=bytes.fromhex(CALLER_SPAN), name="x", kind=2)
    body = ExportTraceServiceRequest(resource_spans=[ResourceSpans(scope_spans=[ScopeSpans(spans=[span])])])
    receiver = Receiver()
    receiver.start()
    try:
        url = receiver.url + "/v1/traces"
        resp = httpx.post(url, content=body.SerializeToString(), headers={"content-type": "application/x-protobuf"})
        assert resp.status_code == 200
        [got] = receiver.wait_for(1)
    finally:
        receiver.stop()
    assert (got.trace_id, got.span_id, got.name, got.kind) == (TRACE, CALLER_SPAN, "x", "server")


async def test_an_error_that_escapes_the_app_fails_the_server_span(backend: dict[str, object]) -> None:
    import httpx

    async def broken(request: object) -> None:
        raise RuntimeError("boom: a message that must not be exported")

    with receiving() as receiver:
        async with running(traced(backend, receiver.url)) as h:
            h.app.fast["/oauth2/token"] = broken  # type: ignore[attr-defined]
            transport = httpx.ASGITransport(app=h.app, raise_app_exceptions=False)
            async with httpx.AsyncClient(transport=transport, base_url=BASE) as http:
                resp = await http.post("/oauth2/token", data={"grant_type": "client_credentials"})
        spans = receiver.spans
    assert resp.status_code == 500
    [server] = spans
    assert server.status == 2 and server.attributes["error.type"] == "RuntimeError"
    assert "boom" not in repr(server)


@pytest.mark.nats
async def test_the_relay_publishing_to_nats_is_a_span(backend: dict[str, object], nats_url: str) -> None:
    """NATS (issue 11: spans for the request, SQL, Redis and NATS): each batch the relay publishes is an
    `events.publish` span with the messaging attributes, and the event itself names the request's trace."""
    from tests.support.nats import Names, delete_stream, read_stream, until

    async def published(h: Harness) -> bool:
        return h.c.relay is not None and h.c.relay.published > 0

    names = Names.unique()
    try:
        with receiving() as receiver:
            async with running(traced(backend, receiver.url, **names.settings(nats_url))) as h:
                rc = await h.client()  # client.created: one event through the outbox
                assert h.c.relay is not None
                await until(lambda: published(h), 20)  # the relay made the stream and published into it
                messages = await read_stream(nats_url, names, at_least=2, seconds=5)  # tenant.created, client.created
                assert all(m.subject.startswith(f"{names.prefix}.") for m in messages)
                assert any(m.data.get("client_id") == rc.client_id for m in messages)
            spans = receiver.spans
    finally:
        await delete_stream(nats_url, names.stream)
    batches = [s for s in spans if s.name == "events.publish"]
    assert batches, [s.name for s in spans]
    attributes = batches[0].attributes
    assert attributes["messaging.system"] == "nats" and attributes["messaging.destination.name"] == names.stream
    assert attributes["messaging.batch.message_count"] >= 1 and attributes["lukhas_id.events.acknowledged"] >= 1
