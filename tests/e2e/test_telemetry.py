"""Traces and metrics of one job through the three real service processes, on moto and on
LocalStack (+ DynamoDB on moto): the trace context rides on SNS message attributes, which each
emulator must hand to SQS. Every span reaches a local OTLP receiver, in ONE trace whose id is
the envelope's trace id, with each stage span where it belongs; and the EMF lines on each
service's stdout parse as CloudWatch embedded metric format and say what the job did."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

from omnigen.shared.telemetry import catalog
from omnigen.testing.e2e import api, running_pipeline, wait_for_end
from omnigen.testing.fixtures import Stack
from omnigen.testing.otlp_receiver import OtlpReceiver, ReceivedSpan
from omnigen.testing.queues import received_events


async def test_one_job_is_one_trace_across_three_services_and_its_metrics_are_emf(
    stack: Stack, tmp_path: Path
) -> None:
    with OtlpReceiver() as receiver:
        env = {
            "OMNIGEN_TRACING": "true",
            "OMNIGEN_METRICS": "true",
            "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.origin,
            "OTEL_BSP_SCHEDULE_DELAY": "200",
        }
        async with (
            running_pipeline(stack, tmp_path / "services", env=env) as pipeline,
            api(pipeline) as client,
        ):
            response = await client.post(
                "/v1/jobs", json={"prompt": "A lighthouse in a storm", "duration": 10}
            )
            assert response.status_code == 202, response.text
            job_id, trace_id = response.json()["job_id"], response.headers["X-Trace-Id"]
            job = await wait_for_end(client, job_id)
            assert job["status"] == "completed", job.get("error_message")
            (completed,) = await received_events(stack, stack.spec.outcomes_queue.name, expect=1)
        # The services have stopped: each flushed its spans on the way out.
        spans = receiver.spans

    assert completed.trace_id == trace_id and len(trace_id) == 32
    _assert_one_trace(spans, trace_id, job_id)
    _assert_metrics(pipeline.log_path, trace_id, job_id, scenes=len(job["scenes"]))


def _assert_one_trace(spans: list[ReceivedSpan], trace_id: str, job_id: str) -> None:
    of_job = [s for s in spans if s.trace_id == trace_id]
    pipeline_services = {"omnigen-ingest", "omnigen-scripter", "omnigen-renderer"}
    # the webhooks worker takes job.completed too: when its span is in, it is in this trace
    assert (
        pipeline_services <= {s.service for s in of_job} <= {*pipeline_services, "omnigen-webhooks"}
    )
    # Every span that names the job is in its trace: one trace, not one per service.
    assert all(
        s.trace_id == trace_id for s in spans if s.attributes.get("omnigen.job_id") == job_id
    )
    by_id = {s.span_id: s for s in of_job}
    assert len(by_id) == len(of_job), "span ids repeat"
    roots = [s for s in of_job if not s.parent_span_id]
    assert [(r.service, r.name, r.kind) for r in roots] == [
        ("omnigen-ingest", "POST /v1/jobs", "server")
    ]
    assert all(s.parent_span_id in by_id for s in of_job if s.parent_span_id), "orphan spans"
    assert not [s.name for s in of_job if s.error]

    def one(service: str, name: str) -> ReceivedSpan:
        found = [s for s in of_job if s.service == f"omnigen-{service}" and s.name == name]
        assert len(found) == 1, (service, name, sorted((s.service, s.name) for s in of_job))
        return found[0]

    def parent(span: ReceivedSpan) -> ReceivedSpan:
        return by_id[span.parent_span_id]

    # ingest: the request published job.accepted
    accepted = one("ingest", "publish job.accepted")
    assert accepted.kind == "producer"
    assert _ancestors(accepted, by_id)[-1] == roots[0]
    # scripter: its consumer span is the child of that publish; the stage under it
    script_consumer = parent(one("scripter", "stage script"))
    assert script_consumer.kind == "consumer" and parent(script_consumer) == accepted
    script = one("scripter", "stage script")
    assert parent(one("scripter", "provider llm")) == script
    ready = one("scripter", "publish script.ready")
    assert parent(ready) == script

    # renderer: script.ready's consumer plans and publishes each piece; every piece's work
    # (a clip per scene, the audio) and the compose descend from it, each under its own
    # consumer span, and the compose's step holds the encode and job.completed
    def descends_from_ready(span: ReceivedSpan) -> bool:
        return ready in _ancestors(span, by_id)

    clips = [s for s in of_job if s.name == "provider clips"]
    assert clips and all(s.kind == "client" and descends_from_ready(s) for s in clips)
    audio = one("renderer", "stage render.audio")
    assert parent(audio).kind == "consumer" and descends_from_ready(audio)
    assert parent(one("renderer", "provider music")) == audio
    assert all(parent(s) == audio for s in of_job if s.name == "provider speech")
    compose = one("renderer", "stage compose")
    assert parent(compose).kind == "consumer" and descends_from_ready(compose)
    assert parent(one("renderer", "stage render.compose")) == compose
    assert parent(one("renderer", "publish job.completed")) == compose


def _ancestors(span: ReceivedSpan, by_id: dict[str, ReceivedSpan]) -> list[ReceivedSpan]:
    chain = []
    while span.parent_span_id:
        span = by_id[span.parent_span_id]
        chain.append(span)
    return chain


def emf_lines(log: Path) -> list[dict[str, Any]]:
    """The service's EMF records, each checked against the EMF specification's shape and
    against the catalog (name, unit, dimension sets)."""
    specs = {spec.name: spec for spec in catalog.METRICS}
    records = []
    for line in log.read_text(errors="replace").splitlines():
        if '"_aws"' not in line:
            continue
        record = json.loads(line)
        meta = record["_aws"]
        assert isinstance(meta["Timestamp"], int) and meta["Timestamp"] > 1_600_000_000_000
        for directive in meta["CloudWatchMetrics"]:
            assert directive["Namespace"] == catalog.NAMESPACE
            for metric in directive["Metrics"]:
                spec = specs[metric["Name"]]
                assert metric["Unit"] == spec.unit
                assert isinstance(record[metric["Name"]], int | float)
                dimension_sets = tuple(tuple(keys) for keys in directive["Dimensions"])
                assert dimension_sets == spec.dimension_sets, metric["Name"]
            for keys in directive["Dimensions"]:
                assert all(isinstance(record[key], str) and record[key] for key in keys)
        records.append(record)
    return records


def _metric(records: list[dict[str, Any]], name: str, **dimensions: str) -> list[float]:
    return [
        r[name]
        for r in records
        if name in r and all(r.get(key) == value for key, value in dimensions.items())
    ]


def _assert_metrics(log_path: Any, trace_id: str, job_id: str, *, scenes: int) -> None:
    ingest, scripter, renderer = (emf_lines(log_path(s)) for s in catalog.SERVICES)
    assert _metric(ingest, "JobsAccepted") == [1]
    assert _metric(renderer, "JobsCompleted") == [1]
    every = ingest + scripter + renderer
    assert not _metric(every, "JobsFailed") and not _metric(every, "ProviderErrors")
    for service, records in (("scripter", scripter), ("renderer", renderer)):
        lags = _metric(records, "QueueLag", Service=service)  # the renderer: one per piece
        assert lags and all(0 <= lag < 60_000 for lag in lags)
    stages = {r["Stage"]: r["StageDuration"] for r in scripter + renderer if "StageDuration" in r}
    assert set(stages) == set(catalog.STAGES)
    assert all(value > 0 for value in stages.values())
    assert stages["compose"] >= stages["render.compose"]
    assert Counter(r["Provider"] for r in every if "ProviderLatency" in r) == {
        "llm": 1,
        "clips": scenes,
        "music": 1,
        "speech": scenes,
    } or _speech_only_for_narrated(every, scenes)
    # Each line names the job and its trace, for Logs Insights.
    job_lines = [r for r in scripter + renderer if "StageDuration" in r]
    assert all(r["job_id"] == job_id and r["trace_id"] == trace_id for r in job_lines)
    assert all(r["Service"] in catalog.SERVICES for r in every)


def _speech_only_for_narrated(records: list[dict[str, Any]], scenes: int) -> bool:
    """Scenes without narration make no speech call."""
    kinds = Counter(r["Provider"] for r in records if "ProviderLatency" in r)
    return (
        kinds["llm"] == 1
        and kinds["clips"] == scenes
        and kinds["music"] == 1
        and (1 <= kinds["speech"] <= scenes)
    )
