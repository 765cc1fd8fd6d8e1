"""What telemetry costs a worker's step: `run_step` (claim, work, announce) over the in-memory
ports, with its stage span, duration metric and one provider call, in three modes run in
alternating rounds in this process:

- bare: the instrumentation replaced by plain no-ops (as if the code had none);
- off: as shipped, tracing and metrics off (the default);
- on: spans exported over OTLP/HTTP to a local receiver, EMF lines written (to a buffer).

    .venv/bin/python tests/benchmarks/bench_telemetry.py [--steps 300 --rounds 5]

Prints microseconds per step and the ratios off/bare (the cost of shipping it off) and
on/bare.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import os
import statistics
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

from omnigen.shared import workflow
from omnigen.shared.domain.events import JobAccepted, JobAcceptedData, ScriptReady
from omnigen.shared.domain.events import ScriptReadyData as Ready
from omnigen.shared.domain.jobs import Job, JobRequest
from omnigen.shared.domain.stages import SCRIPT_GENERATING
from omnigen.shared.messages import MessageContext
from omnigen.shared.telemetry import configure_telemetry, metrics, tracing
from omnigen.testing.fakes import InMemoryJobRepository, RecordingPublisher
from omnigen.testing.otlp_receiver import OtlpReceiver

REQUEST = JobRequest(prompt="A lighthouse keeper's last night on a stormy island", duration=10)


async def _work(job: Job, _event: JobAccepted, _ctx: MessageContext) -> str:
    async with metrics.provider_call("llm", "Bench"):
        return job.job_id


STEP = workflow.Step(
    name="script",
    first_stage=SCRIPT_GENERATING,
    lease_s=60,
    finished=lambda job: False,
    recorded=lambda job: None,
    work=_work,
    announce=lambda job, outcome, event: ScriptReady.create(
        job_id=job.job_id, user_id=job.user_id, data=Ready(title="t", scene_count=1)
    ),
)


async def steps(count: int) -> float:
    jobs, publisher = InMemoryJobRepository(), RecordingPublisher()
    prepared = []
    for i in range(count):
        job = (await jobs.create_job(user_id=f"u{i}", request=REQUEST)).job
        event = JobAccepted.create(
            job_id=job.job_id,
            user_id=job.user_id,
            data=JobAcceptedData(duration=10, aspect_ratio="16:9"),
        )
        prepared.append((event, MessageContext(f"m{i}", f"r{i}", 1, 5, "{}")))
    began = time.perf_counter()
    for event, ctx in prepared:
        await workflow.run_step(STEP, event, ctx, jobs, publisher)
    return (time.perf_counter() - began) / count * 1e6


@contextlib.contextmanager
def bare() -> Iterator[None]:
    """The instrumentation points as plain no-ops."""
    saved = (workflow.span, workflow.metrics.record, metrics.provider_call)

    async def record(*_args: Any, **_kwargs: Any) -> None:
        return None

    @contextlib.asynccontextmanager
    async def provider_call(*_args: Any, **_kwargs: Any) -> AsyncIterator[None]:
        yield

    workflow.span = lambda *a, **k: contextlib.nullcontext()  # type: ignore[assignment]
    workflow.metrics.record = record  # type: ignore[assignment]
    metrics.provider_call = provider_call  # type: ignore[assignment]
    try:
        yield
    finally:
        workflow.span, workflow.metrics.record, metrics.provider_call = saved  # type: ignore[assignment]


@contextlib.contextmanager
def switched(on: bool, tracer: Any, environment: Any) -> Iterator[None]:
    tracing._State.tracer = tracer if on else None
    metrics._State.environment = environment if on else None
    with contextlib.redirect_stdout(io.StringIO()):
        yield


async def main(count: int, rounds: int) -> None:
    with OtlpReceiver() as receiver:
        os.environ["OTEL_EXPORTER_OTLP_ENDPOINT"] = receiver.origin
        configure_telemetry("scripter", tracing=True, metrics=True)
        tracer, environment = tracing._State.tracer, metrics._State.environment
        results: dict[str, list[float]] = {"bare": [], "off": [], "on": []}
        with switched(False, tracer, environment):
            await steps(50)  # warm-up
        for _ in range(rounds):
            with switched(False, tracer, environment), bare():
                results["bare"].append(await steps(count))
            with switched(False, tracer, environment):
                results["off"].append(await steps(count))
            with switched(True, tracer, environment):
                results["on"].append(await steps(count))
        tracing._State.tracer = tracer
        with contextlib.suppress(Exception):
            from opentelemetry import trace

            trace.get_tracer_provider().shutdown()  # type: ignore[attr-defined]
        spans = len(receiver.spans)
    median = {mode: statistics.median(values) for mode, values in results.items()}
    print(f"run_step over in-memory ports, {count} steps x {rounds} rounds (median per step)")
    for mode, value in median.items():
        print(f"  {mode:<5} {value:8.1f} us")
    off, on = median["off"] / median["bare"], median["on"] / median["bare"]
    print(f"  off/bare {off:.2f}   on/bare {on:.2f}")
    print(f"  spans the receiver got while on: {spans}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    asyncio.run(main(args.steps, args.rounds))
