"""Metrics as CloudWatch embedded metric format (EMF) JSON lines on stdout, written by
`aws-embedded-metrics`' stdout sink (logs go to stderr, so stdout carries only metrics): in ECS
the awslogs driver ships them and CloudWatch extracts the metrics. Off by default (nothing is
imported, every call returns at once); on with `OMNIGEN_METRICS=true`. A metric that cannot be
written is logged and dropped: metrics never fail a job.

Names, units and dimension sets come from `omnigen.shared.telemetry.catalog` only."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, Final

import structlog

from omnigen.shared.telemetry import catalog
from omnigen.shared.telemetry.catalog import MetricSpec
from omnigen.shared.telemetry.tracing import span

if TYPE_CHECKING:
    from aws_embedded_metrics.environment import Environment

log = structlog.get_logger()
_PROPERTIES: Final = ("job_id", "trace_id", "event_type")  # from the log context, when bound


class _State:
    environment: Environment | None = None
    service: str = ""


def configure_metrics(service: str, *, enabled: bool) -> None:
    """Once per process. The environment is always the library's local one (its stdout sink),
    whatever AWS_EMF_ENVIRONMENT says: no agent, no probing of instance metadata."""
    _State.service = service
    if not enabled or _State.environment is not None:
        return
    from aws_embedded_metrics.environment.local_environment import LocalEnvironment

    _State.environment = LocalEnvironment()


def disable_metrics() -> None:
    _State.environment = None


async def record(
    spec: MetricSpec, value: float, dimensions: Mapping[str, str] | None = None
) -> None:
    """One value of `spec`, with the dimensions its sets need (`Service` is filled in)."""
    environment = _State.environment
    if environment is None:
        return
    values = {"Service": _State.service, **(dimensions or {})}
    missing = spec.dimension_keys - values.keys()
    if missing:
        raise ValueError(f"{spec.name} needs dimensions {sorted(missing)}")
    try:
        from aws_embedded_metrics.logger.metrics_context import MetricsContext
        from aws_embedded_metrics.logger.metrics_logger import MetricsLogger

        async def resolve() -> Environment:
            return environment

        metrics = MetricsLogger(resolve, MetricsContext.empty())
        metrics.set_namespace(catalog.NAMESPACE)
        metrics.set_dimensions(
            *({key: values[key] for key in keys} for keys in spec.dimension_sets)
        )
        metrics.put_metric(spec.name, value, spec.unit)
        metrics.set_property("Service", _State.service)
        bound: dict[str, Any] = structlog.contextvars.get_contextvars()
        for name in _PROPERTIES:
            if bound.get(name) is not None:
                metrics.set_property(name, bound[name])
        await metrics.flush()
    except Exception as exc:
        log.warning("metric_dropped", metric=spec.name, error=str(exc))


async def count(spec: MetricSpec, dimensions: Mapping[str, str] | None = None) -> None:
    await record(spec, 1, dimensions)


def _ms(began: float) -> float:
    return round((time.perf_counter() - began) * 1000, 1)


@asynccontextmanager
async def stage(name: str, **attributes: Any) -> AsyncIterator[None]:
    """A stage of a job's work: a span, and its duration when it completes."""
    began = time.perf_counter()
    with span(f"stage {name}", attributes={"omnigen.stage": name, **attributes}):
        yield
    await record(catalog.STAGE_DURATION, _ms(began), {"Stage": name})


@asynccontextmanager
async def provider_call(kind: str, provider: str, **attributes: Any) -> AsyncIterator[None]:
    """One call to a provider of `kind` (llm, clips, speech, music; `provider` names the
    adapter): a client span, its latency when it answers, an error count when it fails."""
    began = time.perf_counter()
    dimensions = {"Provider": kind}
    try:
        with span(
            f"provider {kind}",
            kind="client",
            attributes={"omnigen.provider.kind": kind, "omnigen.provider": provider, **attributes},
        ):
            yield
    except Exception:
        await count(catalog.PROVIDER_ERRORS, dimensions)
        raise
    await record(catalog.PROVIDER_LATENCY, _ms(began), dimensions)
