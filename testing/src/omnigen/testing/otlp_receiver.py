"""A local OTLP/HTTP trace receiver: POST /v1/traces with a protobuf ExportTraceServiceRequest
(what the OpenTelemetry SDK's OTLP/HTTP exporter sends), decoded with opentelemetry-proto and
kept as `ReceivedSpan`s. Point a service at it with
OTEL_EXPORTER_OTLP_ENDPOINT=<receiver.origin>."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from omnigen.testing.http_server import ThreadedServer


@dataclass(frozen=True)
class ReceivedSpan:
    service: str  # the resource's service.name
    name: str
    kind: str  # internal, server, client, producer, consumer
    trace_id: str  # 32 hex
    span_id: str  # 16 hex
    parent_span_id: str  # "" for a root span
    attributes: dict[str, Any] = field(default_factory=dict)
    links: tuple[tuple[str, str], ...] = ()  # (trace id, span id)
    error: bool = False


def _value(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    return getattr(value, kind) if kind else None


class OtlpReceiver(ThreadedServer):
    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._spans: list[ReceivedSpan] = []
        self.requests = 0

    @property
    def spans(self) -> list[ReceivedSpan]:
        with self._lock:
            return list(self._spans)

    def setup(self, app: web.Application) -> None:
        app.router.add_post("/v1/traces", self._traces)

    async def _traces(self, request: web.Request) -> web.Response:
        if request.content_type != "application/x-protobuf":
            return web.Response(status=415, text="protobuf only")
        export = ExportTraceServiceRequest()
        export.ParseFromString(await request.read())
        received = []
        for resource_spans in export.resource_spans:
            resource = {a.key: _value(a.value) for a in resource_spans.resource.attributes}
            for scope_spans in resource_spans.scope_spans:
                received += [
                    self._span(str(resource.get("service.name", "")), span)
                    for span in scope_spans.spans
                ]
        with self._lock:
            self.requests += 1
            self._spans += received
        return web.Response(
            body=ExportTraceServiceResponse().SerializeToString(),
            content_type="application/x-protobuf",
        )

    @staticmethod
    def _span(service: str, span: Span) -> ReceivedSpan:
        kind = Span.SpanKind.Name(span.kind).removeprefix("SPAN_KIND_").lower()
        return ReceivedSpan(
            service=service,
            name=span.name,
            kind=kind,
            trace_id=span.trace_id.hex(),
            span_id=span.span_id.hex(),
            parent_span_id=span.parent_span_id.hex(),
            attributes={a.key: _value(a.value) for a in span.attributes},
            links=tuple((link.trace_id.hex(), link.span_id.hex()) for link in span.links),
            error=span.status.code == span.status.STATUS_CODE_ERROR,
        )
