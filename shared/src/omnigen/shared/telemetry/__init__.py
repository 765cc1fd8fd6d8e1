"""Traces (OpenTelemetry over OTLP) and metrics (CloudWatch EMF on stdout), both off by default.

`configure_telemetry` is called once per process by the service's start-up; everything else
is a no-op until then. The domain knows nothing of it."""

from __future__ import annotations

from omnigen.shared.telemetry.metrics import configure_metrics
from omnigen.shared.telemetry.tracing import configure_tracing


def configure_telemetry(service: str, *, tracing: bool, metrics: bool) -> None:
    configure_tracing(service, enabled=tracing)
    configure_metrics(service, enabled=metrics)


__all__ = ["configure_telemetry"]
