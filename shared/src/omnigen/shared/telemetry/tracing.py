"""OpenTelemetry traces: off by default and then free (no SDK is even imported); on with
`OMNIGEN_TRACING=true`, spans go over OTLP/HTTP where the standard `OTEL_EXPORTER_OTLP_*`
variables say (default http://localhost:4318).

One job is one trace, and the trace's id IS the event envelope's `trace_id`: every event a job
causes carries it, and the W3C `traceparent` of the span that published it travels beside the
event as an SNS message attribute (raw delivery hands it to SQS), so the consumer's span is the
publisher's child. When the attribute is missing (an event published with tracing off, a
re-announcement from another trace) the consumer starts a root span in the envelope's trace
(and links the other trace's span, if any). An envelope trace id that is not a W3C trace id
(32 hex, not all zero: e.g. one an upstream publisher chose) is mapped to the first 32 hex
digits of its SHA-256 (`otel_trace_id`), so that job's spans still form one trace; the original
value is on every span as `omnigen.trace_id`.
"""

from __future__ import annotations

import contextvars
import hashlib
import os
import re
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from opentelemetry.trace import Tracer

TRACEPARENT: Final = "traceparent"
_W3C_TRACE_ID: Final = re.compile(r"^[0-9a-f]{32}$")
_OFF: Final[AbstractContextManager[None]] = nullcontext()
_forced_trace_id: contextvars.ContextVar[int | None] = contextvars.ContextVar(
    "omnigen_forced_trace_id", default=None
)


class _State:
    tracer: Tracer | None = None


def is_w3c_trace_id(value: str) -> bool:
    return bool(_W3C_TRACE_ID.match(value)) and int(value, 16) != 0


def w3c_trace_id(value: str) -> str:
    """`value` when it is a W3C trace id, else its mapping (see the module's docstring)."""
    if is_w3c_trace_id(value):
        return value
    return hashlib.sha256(value.encode()).hexdigest()[:32]


def otel_trace_id(value: str) -> int:
    return int(w3c_trace_id(value), 16)


def configure_tracing(service: str, *, enabled: bool) -> None:
    """Once per process, before any span: an OTLP/HTTP exporter behind a batch processor (both
    tuned by the standard OTEL_* variables; the provider flushes at exit). Off: nothing."""
    if not enabled or _State.tracer is not None:
        return
    from opentelemetry import trace
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    from opentelemetry.sdk.trace.id_generator import RandomIdGenerator

    class EnvelopeIds(RandomIdGenerator):
        """A root span takes the trace id its event envelope names."""

        def generate_trace_id(self) -> int:
            forced = _forced_trace_id.get()
            return forced if forced is not None else super().generate_trace_id()

    attributes: dict[str, Any] = {"service.namespace": "omnigen"}
    if not os.environ.get("OTEL_SERVICE_NAME"):
        attributes["service.name"] = f"omnigen-{service}"
    provider = TracerProvider(resource=Resource.create(attributes), id_generator=EnvelopeIds())
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    _State.tracer = provider.get_tracer("omnigen")


def span(
    name: str, *, attributes: Mapping[str, Any] | None = None, kind: str = "internal"
) -> AbstractContextManager[None]:
    """A child of the current span (`kind`: internal, server, client, producer, consumer);
    an error escaping it is recorded on it. Tracing off: a shared no-op."""
    if _State.tracer is None:
        return _OFF
    return _span(_State.tracer, name, attributes, kind)


@contextmanager
def _span(
    tracer: Tracer, name: str, attributes: Mapping[str, Any] | None, kind: str
) -> Iterator[None]:
    from opentelemetry.trace import SpanKind

    with tracer.start_as_current_span(
        name, kind=SpanKind[kind.upper()], attributes=dict(attributes or {})
    ):
        yield


def event_span(
    name: str,
    trace_id: str,
    carrier: Mapping[str, str],
    *,
    attributes: Mapping[str, Any] | None = None,
    kind: str = "consumer",
) -> AbstractContextManager[None]:
    """The span of work an event caused, in the event's trace: the child of the span named by
    the `traceparent` in `carrier` when that span is in the same trace, else a root span of
    the envelope's trace (linked to the other span, if any)."""
    if _State.tracer is None:
        return _OFF
    return _event_span(_State.tracer, name, trace_id, carrier, attributes, kind)


@contextmanager
def _event_span(
    tracer: Tracer,
    name: str,
    trace_id: str,
    carrier: Mapping[str, str],
    attributes: Mapping[str, Any] | None,
    kind: str,
) -> Iterator[None]:
    from opentelemetry import trace
    from opentelemetry.context import Context
    from opentelemetry.trace import Link, SpanKind
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    wanted = otel_trace_id(trace_id)
    parent = TraceContextTextMapPropagator().extract(dict(carrier))
    remote = trace.get_current_span(parent).get_span_context()
    links = []
    token = None
    if remote.is_valid and remote.trace_id == wanted:
        context = parent
    else:
        context = Context()  # a root span: the id generator gives it the envelope's trace id
        links = [Link(remote)] if remote.is_valid else []
        token = _forced_trace_id.set(wanted)
    span_attributes = {"omnigen.trace_id": trace_id, **(attributes or {})}
    try:
        started = tracer.start_span(
            name,
            context=context,
            kind=SpanKind[kind.upper()],
            attributes=span_attributes,
            links=links,
        )
    finally:
        if token is not None:
            _forced_trace_id.reset(token)
    with trace.use_span(started, end_on_exit=True):
        yield


def request_span(
    name: str, trace_id: str, headers: Mapping[str, str], *, attributes: Mapping[str, Any]
) -> AbstractContextManager[None]:
    """An HTTP request's server span: the caller's `traceparent` is its parent when it names
    the request's trace; else a root span of `trace_id`."""
    return event_span(name, trace_id, headers, attributes=attributes, kind="server")


def incoming_trace_id(headers: Mapping[str, str]) -> str | None:
    """The trace id of a valid W3C `traceparent` header (whether or not tracing is on)."""
    value = headers.get(TRACEPARENT, "")
    parts = value.split("-")
    if len(parts) == 4 and parts[0] == "00" and is_w3c_trace_id(parts[1]):
        return parts[1]
    return None


def propagation_headers() -> dict[str, str]:
    """The `traceparent` of the current span, to travel with an event (the consumer's span is
    its child when it is in the event's trace, else linked to it); nothing when tracing is off
    or there is no current span."""
    if _State.tracer is None:
        return {}
    from opentelemetry import trace
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    if not trace.get_current_span().get_span_context().is_valid:
        return {}
    carrier: dict[str, str] = {}
    TraceContextTextMapPropagator().inject(carrier)
    return carrier
