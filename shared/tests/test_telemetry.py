"""Telemetry without processes: off it costs nothing (no SDK imported, shared no-ops), the
trace-id mapping, and EMF records as the catalog describes them (written by the library's
stdout sink, read back as JSON)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from omnigen.shared.domain.jobs import JobRequest
from omnigen.shared.telemetry import catalog, metrics, tracing
from omnigen.shared.workflow import fail_job
from omnigen.testing.fakes import InMemoryJobRepository, RecordingPublisher


def test_off_by_default_imports_no_sdk_and_every_span_is_one_shared_no_op() -> None:
    code = (
        "import sys\n"
        "import omnigen.shared.runtime.service, omnigen.shared.workflow\n"
        "from omnigen.shared.telemetry import tracing\n"
        "assert tracing.span('a') is tracing.span('b', kind='client')\n"
        "assert tracing.event_span('c', 'x' * 32, {}) is tracing.span('d')\n"
        "assert tracing.propagation_headers() == {}\n"
        "loaded = sorted(m for m in sys.modules if m.startswith(('opentelemetry.sdk', "
        "'opentelemetry.exporter', 'aws_embedded_metrics')))\n"
        "print(loaded)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "[]"


def test_a_w3c_trace_id_is_kept_and_any_other_is_mapped_to_one_deterministically() -> None:
    w3c = "4bf92f3577b34da6a3ce929d0e0e4736"
    assert tracing.w3c_trace_id(w3c) == w3c
    mapped = tracing.w3c_trace_id("trace-7")
    assert tracing.is_w3c_trace_id(mapped) and mapped == tracing.w3c_trace_id("trace-7")
    assert mapped != tracing.w3c_trace_id("trace-8")
    for not_w3c in ("0" * 32, w3c.upper(), w3c[:31], w3c + "0"):
        assert not tracing.is_w3c_trace_id(not_w3c)
        assert tracing.is_w3c_trace_id(tracing.w3c_trace_id(not_w3c))
    header = {"traceparent": f"00-{w3c}-00f067aa0ba902b7-01"}
    assert tracing.incoming_trace_id(header) == w3c
    assert tracing.incoming_trace_id({"traceparent": f"00-{'0' * 32}-00f067aa0ba902b7-01"}) is None


@pytest.fixture
def emf() -> Iterator[None]:
    """Metrics on (as service "scripter") for one test."""
    metrics.configure_metrics("scripter", enabled=True)
    try:
        yield
    finally:
        metrics.disable_metrics()


def lines(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    """The EMF records written to stdout (unconfigured structlog prints there too in tests)."""
    out = capsys.readouterr().out.splitlines()
    return [json.loads(line) for line in out if line.startswith("{") and '"_aws"' in line]


async def test_a_record_is_emf_with_the_catalogs_dimension_sets(
    emf: None, capsys: pytest.CaptureFixture[str]
) -> None:
    await metrics.record(catalog.STAGE_DURATION, 12.5, {"Stage": "script"})
    (record,) = lines(capsys)
    (directive,) = record["_aws"]["CloudWatchMetrics"]
    assert directive == {
        "Namespace": "Omnigen",
        "Dimensions": [["Service", "Stage"]],
        "Metrics": [{"Name": "StageDuration", "Unit": "Milliseconds"}],
    }
    assert (record["Service"], record["Stage"], record["StageDuration"]) == (
        "scripter",
        "script",
        12.5,
    )
    with pytest.raises(ValueError, match="Provider"):
        await metrics.record(catalog.PROVIDER_LATENCY, 1.0)


async def test_a_failed_job_counts_once_under_its_reason_class_and_in_the_total(
    emf: None, capsys: pytest.CaptureFixture[str]
) -> None:
    jobs, publisher = InMemoryJobRepository(), RecordingPublisher()
    request = JobRequest(prompt="A lighthouse on a stormy night, told in scenes", duration=10)
    job = (await jobs.create_job(user_id="u1", request=request, trace_id="t-1")).job
    for _ in range(2):  # the second call finds it failed already: not counted again
        await fail_job(jobs, publisher, job.job_id, "no", reason_class=catalog.REASON_PROVIDER)
    (record,) = lines(capsys)
    (directive,) = record["_aws"]["CloudWatchMetrics"]
    assert directive["Dimensions"] == [[], ["ReasonClass"]]
    assert (record["JobsFailed"], record["ReasonClass"]) == (1, "provider")


async def test_off_writes_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    await metrics.count(catalog.JOBS_ACCEPTED)
    async with metrics.stage("script"), metrics.provider_call("llm", "Planner"):
        pass
    assert lines(capsys) == []
