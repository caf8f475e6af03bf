"""Traces, the OpenTelemetry side: the SDK's TracerProvider, sampler, trace ids and OTLP/HTTP exporter.

Imported only by `observability.tracing.start`, so that a process without LUKHAS_ID_OTLP_ENDPOINT never
loads OpenTelemetry. Everything else in ΛiD goes through observability/tracing.py.

- Resource: `service.name` lukhas-id, `service.version`, `service.instance.id` (random per process: each
  server worker is an instance), `process.pid`; nothing about tenants (one process serves them all).
- Sampler: parent-based (W3C Trace Context's sampled flag of a caller's `traceparent` decides), new traces
  by trace-id ratio (`trace_sample_ratio`).
- Trace ids: a new trace takes the request's own trace id (observability/context.py), so the spans, the
  `X-Trace-Id` answer and the log lines of one request name the same trace; outside a request the SDK's
  random ids.
- Export: a BatchSpanProcessor (a background thread; its queue is bounded and drops when full, so a slow or
  unreachable collector never holds a request) to `{endpoint}/v1/traces`, each export bounded by
  `otlp_timeout` seconds, retries included. The standard OTEL_EXPORTER_OTLP_TRACES_HEADERS /
  OTEL_EXPORTER_OTLP_HEADERS variables add headers (a collector's credentials) and
  OTEL_EXPORTER_OTLP_CERTIFICATE a CA file, as the exporter reads them.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Mapping
from importlib.metadata import PackageNotFoundError, version
from types import TracebackType
from typing import Final

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.id_generator import RandomIdGenerator
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased
from opentelemetry.trace import NonRecordingSpan, SpanContext, SpanKind, Status, StatusCode, TraceFlags
from opentelemetry.util.types import AttributeValue

from lukhas_id.observability.context import current
from lukhas_id.observability.trace import TraceContext, is_w3c_trace_id

SERVICE_NAME: Final = "lukhas-id"
SCOPE: Final = "lukhas_id"
TRACES_PATH: Final = "/v1/traces"


def _version() -> str:
    try:
        return version("lukhas-id")
    except PackageNotFoundError:  # pragma: no cover - run from a source tree without metadata
        return "0"


class RequestIdGenerator(RandomIdGenerator):
    """The request's trace id for a new trace started in a request, else a random one (span ids: random)."""

    def generate_trace_id(self) -> int:
        context = current()
        if context is not None and is_w3c_trace_id(context.trace_id):
            return int(context.trace_id, 16)
        return super().generate_trace_id()


class Span:
    """One started span: its attributes and end; `enter` makes it the current span of this context."""

    __slots__ = ("_span", "_token")

    def __init__(self, span: trace.Span) -> None:
        self._span = span
        self._token: object | None = None

    def enter(self) -> Span:
        self._token = otel_context.attach(trace.set_span_in_context(self._span))
        return self

    def set_attribute(self, key: str, value: AttributeValue) -> None:
        self._span.set_attribute(key, value)

    def set_name(self, name: str) -> None:
        self._span.update_name(name)

    def fail(self, error_type: str) -> None:
        """Mark the span failed: `error.type` (a class name or a status code; never a message) and ERROR."""
        self._span.set_attribute("error.type", error_type)
        self._span.set_status(Status(StatusCode.ERROR))

    def end(self) -> None:
        if self._token is not None:
            otel_context.detach(self._token)  # type: ignore[arg-type]
            self._token = None
        self._span.end()

    def traceparent(self) -> bytes:
        """This span's context as a W3C `traceparent` value."""
        ctx = self._span.get_span_context()
        return f"00-{ctx.trace_id:032x}-{ctx.span_id:016x}-{int(ctx.trace_flags):02x}".encode()

    def __enter__(self) -> Span:
        return self.enter() if self._token is None else self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if kind is not None:
            self.fail(kind.__name__)
        self.end()


class Tracer:
    """The SDK's provider and tracer for this process (see the module docstring)."""

    def __init__(self, endpoint: str, ratio: float, timeout: float) -> None:
        resource = Resource.create(
            {
                "service.name": SERVICE_NAME,
                "service.version": _version(),
                "service.instance.id": str(uuid.uuid4()),
                "process.pid": os.getpid(),
            }
        )
        self.provider = TracerProvider(
            resource=resource, sampler=ParentBased(TraceIdRatioBased(ratio)), id_generator=RequestIdGenerator()
        )
        exporter = OTLPSpanExporter(endpoint=endpoint.rstrip("/") + TRACES_PATH, timeout=timeout)
        self.provider.add_span_processor(BatchSpanProcessor(exporter, export_timeout_millis=int(timeout * 1000)))
        self._tracer = self.provider.get_tracer(SCOPE, _version())

    def start(self, name: str, attributes: Mapping[str, AttributeValue] | None = None) -> Span:
        """A span, child of the current one, not made current (end it with `end`)."""
        return Span(
            self._tracer.start_span(name, attributes=attributes, record_exception=False, set_status_on_exception=False)
        )

    def child(self, name: str, attributes: Mapping[str, AttributeValue] | None = None) -> Span | None:
        """A span as `start` makes, but only under a current span that records; None otherwise (a statement
        of the start-up, or of a request that is not sampled)."""
        if not trace.get_current_span().is_recording():
            return None
        return self.start(name, attributes)

    def server(self, name: str, incoming: TraceContext, attributes: Mapping[str, AttributeValue]) -> Span:
        """The SERVER span of a request, made current: a child of the caller's span when its `traceparent`
        was continued, else the root of a new trace with the request's trace id."""
        parent = None
        if incoming.parent_id is not None:
            flags = TraceFlags(TraceFlags.SAMPLED if incoming.sampled else TraceFlags.DEFAULT)
            remote = SpanContext(int(incoming.trace_id, 16), int(incoming.parent_id, 16), True, flags)
            parent = trace.set_span_in_context(NonRecordingSpan(remote))
        span = self._tracer.start_span(
            name,
            context=parent,
            kind=SpanKind.SERVER,
            attributes=attributes,
            record_exception=False,
            set_status_on_exception=False,
        )
        return Span(span).enter()

    def shutdown(self) -> None:
        """Export what is queued (bounded by the export timeout) and stop the export thread."""
        self.provider.shutdown()
