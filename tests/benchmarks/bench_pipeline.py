"""Pipeline benchmark: N jobs through ingest -> scripter -> renderer on the emulator, with
instant media providers, next to the emulator's raw capacity measured in the same run.

    .venv/bin/python tests/benchmarks/bench_pipeline.py [--jobs 100] [--concurrency 8]

The three services run in this process with their real handlers, consumers and AWS adapters
(only the media providers are instant), each on its own aiobotocore session whose botocore
`before-call` hook counts the AWS API calls it makes. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from aiobotocore.session import get_session

from omnigen.ingest.handlers import IngestPorts, submit_job
from omnigen.renderer.handlers import RendererDeps, handle_script_ready
from omnigen.renderer.media.compose import Composition, ScenePart
from omnigen.renderer.ports import ClipResult, NarrationResult
from omnigen.scripter.handlers import ScripterDeps, handle_job_accepted
from omnigen.scripter.planner import OfflinePlanner
from omnigen.shared.adapters.aws import AwsClients
from omnigen.shared.adapters.dynamodb import DynamoJobRepository
from omnigen.shared.adapters.s3 import S3AssetStore
from omnigen.shared.adapters.sns import SnsEventPublisher
from omnigen.shared.bootstrap import apply_spec
from omnigen.shared.domain.events import Event
from omnigen.shared.domain.jobs import JobRequest
from omnigen.shared.domain.scripts import Mood, Scene
from omnigen.shared.localaws.moto_server import MotoServer
from omnigen.shared.localaws.pipeline import EMULATOR_CREDENTIALS
from omnigen.shared.logging import configure_logging
from omnigen.shared.runtime.consumer import Consumer, ConsumerSettings, MessageContext
from omnigen.shared.settings import AwsSettings

TINY = b"\x00" * 2048


class CallCounter:
    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()

    def hook(self, model: Any, **_: Any) -> None:
        self.calls[f"{model.service_model.service_name}:{model.name}"] += 1

    @property
    def total(self) -> int:
        return sum(self.calls.values())


def counted_clients(settings: AwsSettings, counter: CallCounter) -> AwsClients:
    session = get_session()
    session.register("before-call", counter.hook)
    return AwsClients(settings, session=session)


# -- instant providers: the pipeline's AWS work without the media work -----------------------


class InstantClips:
    async def generate(
        self,
        scene: Scene,
        *,
        size: tuple[int, int],
        fps: int,
        start_image: Path | None,
        out_dir: Path,
    ) -> ClipResult:
        clip, frame = out_dir / f"s{scene.scene_number}.mp4", out_dir / f"s{scene.scene_number}.jpg"
        clip.write_bytes(TINY)
        frame.write_bytes(TINY)
        return ClipResult(clip, frame)


class InstantNarrator:
    async def synthesize(self, text: str, *, voice: str | None, out_path: Path) -> NarrationResult:
        out_path.write_bytes(TINY)
        return NarrationResult(out_path, duration_s=1.0)


class InstantMusic:
    async def generate(self, mood: Mood, style: str, duration_s: float, out_path: Path) -> Path:
        out_path.write_bytes(TINY)
        return out_path


async def instant_compose(
    parts: Sequence[ScenePart],
    *,
    music: Path | None,
    size: tuple[int, int],
    out_path: Path,
    poster_path: Path,
    fps: int = 30,
) -> Composition:
    out_path.write_bytes(TINY)
    poster_path.write_bytes(TINY)
    return Composition(out_path, poster_path, sum(p.duration_s for p in parts), ())


class TimedPublisher(SnsEventPublisher):
    """Notes when each job's completion is published (no extra AWS calls)."""

    def __init__(self, *args: Any, done: dict[str, float]) -> None:
        super().__init__(*args)
        self._done = done

    async def publish(self, event: Event) -> str:
        message_id = await super().publish(event)
        if event.event_type.value in ("job.completed", "job.failed") and event.job_id:
            self._done[event.job_id] = time.monotonic()
        return message_id


# -- the emulator's own capacity ---------------------------------------------------------------


async def raw_capacity(settings: AwsSettings, concurrency: int, seconds: float) -> float:
    """Calls/s the emulator sustains for a mix like the pipeline's (DynamoDB read and write,
    SQS send, S3 put, SNS publish) at the same concurrency, measured now."""
    counter = CallCounter()
    async with counted_clients(settings, counter) as aws:
        spec = settings.resources
        ddb, sqs, s3, sns = await aws.dynamodb(), await aws.sqs(), await aws.s3(), await aws.sns()
        queue = (await sqs.get_queue_url(QueueName=spec.outcomes_queue.dlq_name))["QueueUrl"]
        topic = (await sns.create_topic(Name=f"{spec.prefix}-raw"))["TopicArn"]
        key = {"job_id": {"S": "raw-probe"}}
        await ddb.put_item(TableName=spec.table.name, Item={**key, "n": {"N": "0"}})
        counter.calls.clear()
        deadline = time.monotonic() + seconds

        async def worker() -> None:
            while time.monotonic() < deadline:
                await ddb.get_item(TableName=spec.table.name, Key=key)
                await ddb.update_item(
                    TableName=spec.table.name,
                    Key=key,
                    UpdateExpression="SET n = n + :one",
                    ExpressionAttributeValues={":one": {"N": "1"}},
                )
                await sqs.send_message(QueueUrl=queue, MessageBody="raw")
                await s3.put_object(Bucket=spec.bucket.name, Key="raw/probe", Body=TINY)
                await sns.publish(TopicArn=topic, Message="raw")

        began = time.monotonic()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return counter.total / (time.monotonic() - began)


# -- the pipeline ------------------------------------------------------------------------------


async def run_pipeline(
    settings: AwsSettings, jobs: int, concurrency: int, work: Path
) -> dict[str, Any]:
    spec = settings.resources
    counters = {name: CallCounter() for name in ("ingest", "scripter", "renderer")}
    done: dict[str, float] = {}
    submitted: dict[str, float] = {}
    async with (
        counted_clients(settings, counters["ingest"]) as ingest_aws,
        counted_clients(settings, counters["scripter"]) as scripter_aws,
        counted_clients(settings, counters["renderer"]) as renderer_aws,
    ):
        topic = (await (await ingest_aws.sns()).create_topic(Name=spec.events_topic.name))[
            "TopicArn"
        ]
        for counter in counters.values():
            counter.calls.clear()

        async def repo(aws: AwsClients) -> DynamoJobRepository:
            return DynamoJobRepository(await aws.dynamodb(), spec.table)

        ingest = IngestPorts(
            await repo(ingest_aws),
            SnsEventPublisher(await ingest_aws.sns(), topic),
            S3AssetStore(await ingest_aws.s3(), spec.bucket.name),
        )
        scripter_deps = ScripterDeps(
            await repo(scripter_aws),
            SnsEventPublisher(await scripter_aws.sns(), topic),
            OfflinePlanner(),
        )
        renderer_deps = RendererDeps(
            jobs=await repo(renderer_aws),
            publisher=TimedPublisher(await renderer_aws.sns(), topic, done=done),
            assets=S3AssetStore(await renderer_aws.s3(), spec.bucket.name),
            clips=InstantClips(),
            narrator=InstantNarrator(),
            music=InstantMusic(),
            composer=instant_compose,
        )
        consumer_settings = ConsumerSettings(max_concurrency=concurrency, wait_time_s=1)
        scripter = Consumer(await scripter_aws.sqs(), spec.scripter_queue.name, consumer_settings)
        renderer = Consumer(await renderer_aws.sqs(), spec.renderer_queue.name, consumer_settings)

        async def on_accepted(event: Any, ctx: MessageContext) -> None:
            await handle_job_accepted(event, ctx, scripter_deps)

        async def on_ready(event: Any, ctx: MessageContext) -> None:
            await handle_script_ready(event, ctx, renderer_deps)

        scripter.register("job.accepted", on_accepted)
        renderer.register("script.ready", on_ready)
        consumers = [asyncio.create_task(c.run()) for c in (scripter, renderer)]

        gate = asyncio.Semaphore(concurrency)

        async def submit(index: int) -> None:
            async with gate:
                began = time.monotonic()
                result = await submit_job(
                    ingest,
                    user_id=f"bench-{index % 10}",
                    request=JobRequest(
                        prompt=f"Benchmark job {index}: a harbour at dawn", duration=10
                    ),
                    idempotency_key=None,
                    trace_id=None,
                )
                submitted[result.job.job_id] = began

        began = time.monotonic()
        await asyncio.gather(*(submit(i) for i in range(jobs)))
        while len(done) < jobs and time.monotonic() - began < 600:
            await asyncio.sleep(0.1)
        elapsed = max(done.values(), default=time.monotonic()) - began
        for consumer in (scripter, renderer):
            consumer.stop()
        await asyncio.gather(*consumers)
    statuses: Counter[str] = Counter()
    async with AwsClients(settings) as observer:  # not counted: the benchmark's own reads
        jobs_repo = DynamoJobRepository(await observer.dynamodb(), spec.table)
        for job_id in submitted:
            statuses[(await jobs_repo.get_job(job_id)).status.value] += 1
    latencies = sorted(done[j] - submitted[j] for j in submitted if j in done)
    return {
        "elapsed": elapsed,
        "completed": len(latencies),
        "statuses": dict(statuses),
        "latencies": latencies,
        "counters": counters,
    }


def percentile(values: list[float], q: float) -> float:
    return (
        statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]
        if len(values) > 1
        else values[0]
    )


async def main(jobs: int, concurrency: int) -> None:
    configure_logging("bench", level="WARNING", json_output=False)
    os.environ.update(EMULATOR_CREDENTIALS)  # the emulator only; never real credentials
    with MotoServer() as moto:
        settings = AwsSettings(endpoint_url=moto.endpoint_url, resource_prefix="bench")
        async with AwsClients(settings) as aws:
            await apply_spec(aws, settings.resources)
        raw_before = await raw_capacity(settings, concurrency, 5.0)
        result = await run_pipeline(settings, jobs, concurrency, Path("."))
        raw_after = await raw_capacity(settings, concurrency, 5.0)

    counters: dict[str, CallCounter] = result["counters"]
    total_calls = sum(c.total for c in counters.values())
    per_job = total_calls / jobs
    raw = (raw_before + raw_after) / 2
    jobs_per_s = result["completed"] / result["elapsed"]
    allowed = raw / per_job
    print(f"jobs: {jobs} submitted, {result['completed']} finished {result['statuses']}")
    print(f"throughput: {jobs_per_s:.2f} jobs/s over {result['elapsed']:.1f} s")
    lat = result["latencies"]
    p50, p95 = percentile(lat, 50), percentile(lat, 95)
    print(f"latency: p50 {p50:.2f} s, p95 {p95:.2f} s, max {lat[-1]:.2f} s")
    print(f"AWS calls per job: {per_job:.1f} (target <= 20)")
    for name, counter in counters.items():
        top = ", ".join(f"{op} {n / jobs:.1f}" for op, n in counter.calls.most_common())
        print(f"  {name:<9} {counter.total / jobs:5.1f}/job: {top}")
    print(
        f"emulator raw capacity: {raw:.0f} calls/s (before {raw_before:.0f}, after {raw_after:.0f})"
    )
    print(f"raw capacity allows {allowed:.2f} jobs/s at {per_job:.1f} calls/job")
    print(f"throughput / allowed: {jobs_per_s / allowed:.2f} (target >= 0.50)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    asyncio.run(main(args.jobs, args.concurrency))
