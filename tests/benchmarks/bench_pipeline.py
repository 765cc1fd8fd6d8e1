"""Pipeline benchmark: N jobs submitted through ingest's HTTP API, carried through scripter and
renderer to `job.completed`, next to the emulator's raw capacity measured in the same run.

    .venv/bin/python tests/benchmarks/bench_pipeline.py [--jobs 100] [--concurrency N]
        [--backend moto|localstack]

What runs, all in this process on one event loop (the emulator is a separate process):

- ingest: the real FastAPI app (`create_app(open_context(...))`) with HS256 auth, driven over
  `httpx.ASGITransport`. Ten users (`bench-0` .. `bench-9`, each with its own signed token)
  POST /v1/jobs; every POST passes auth, the rate limit (raised to 100000/min, burst 1000,
  but still counted: one DynamoDB UpdateItem per POST) and the running-jobs cap (raised to
  1000, but still checked: the create is one TransactWriteItems with the user's counter), and
  must answer 202. Its upstream consumer (ingest-requests queue) runs as in
  `omnigen-ingest`, idle.
- scripter and renderer: their real handlers and `Consumer`s with the failure hooks, built
  by `job_worker_consumer`, as `run_job_worker` builds them (20 s long
  polls, the queues' visibility timeouts, ...). Only the media providers are instant (clips,
  narration, music and composition write a few bytes), so the figures are the pipeline's own
  AWS and Python work, not ffmpeg's.

Each service has its own aiobotocore session whose botocore `before-call` hook counts every AWS
API call it makes (an `after-call` hook notes long polls that came back empty). Set-up (apply
the resource spec, one /readyz probe) is not counted; the consumers' start-up calls, idle long
polls and the final polls while they stop are. Latency runs from just before a job's POST to
the renderer publishing its `job.completed`; throughput is finished jobs over the time from the
first POST to the last completion (stopping the consumers afterwards, which may take one long
poll, is not timed).

Raw capacity is what the emulator sustains for a mix like the pipeline's calls (DynamoDB
GetItem + UpdateItem, SQS SendMessage, S3 PutObject, SNS Publish) at the same concurrency,
measured before and after the pipeline. `allowed` = raw capacity / calls per job: the jobs/s the
emulator could serve if the pipeline did nothing but its AWS calls. Targets: at most 20 calls
per job, and throughput at least half of what is allowed.

Backends: `moto` (default) is the embedded moto server for everything; `localstack` runs host
LocalStack (`scripts/install-localstack.sh`) for SQS, SNS and S3 with DynamoDB on moto, as the
integration tests do.

`--concurrency` sets the workers' handler concurrency, the number of concurrent submitters and
the raw-capacity probe's concurrency; by default the workers' own default
(`OMNIGEN_WORKER_CONCURRENCY`), raised to 8 if lower. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import statistics
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any, Final

import httpx
import jwt
from aiobotocore.session import get_session

from omnigen.cli.localaws.localstack import LocalStackServer
from omnigen.cli.localaws.moto_server import MotoServer
from omnigen.cli.localaws.pipeline import EMULATOR_CREDENTIALS
from omnigen.ingest.api.app import create_app
from omnigen.ingest.context import open_context
from omnigen.ingest.settings import IngestSettings
from omnigen.ingest.upstream import build_consumer
from omnigen.renderer.handlers import RendererDeps
from omnigen.renderer.media.compose import Composition, ScenePart
from omnigen.renderer.ports import ClipLook, ClipResult, NarrationResult
from omnigen.renderer.routing import renderer_handlers
from omnigen.scripter.handlers import ScripterDeps, handle_job_accepted
from omnigen.scripter.planner import OfflinePlanner
from omnigen.shared.adapters.aws import AwsClients
from omnigen.shared.adapters.dynamodb import DynamoJobRepository
from omnigen.shared.adapters.s3 import S3AssetStore
from omnigen.shared.adapters.sns import SnsEventPublisher
from omnigen.shared.bootstrap import apply_spec
from omnigen.shared.domain.events import (
    AudioRequested,
    ComposeRequested,
    Event,
    JobAccepted,
    SceneRequested,
    ScriptReady,
)
from omnigen.shared.domain.scripts import Mood, Scene
from omnigen.shared.logging import configure_logging
from omnigen.shared.messages import MessageContext
from omnigen.shared.runtime.service import job_worker_consumer
from omnigen.shared.settings import AwsSettings, WorkerSettings

TINY: Final = b"\x00" * 2048
USERS: Final = 10
MIN_CONCURRENCY: Final = 8
FINISH_TIMEOUT_S: Final = 600.0
RAW_SECONDS: Final = 5.0
SERVICES: Final = ("ingest", "scripter", "renderer")
BACKENDS: Final = ("moto", "localstack")


class CallCounter:
    """botocore hooks: every API call made through the session, and empty long polls."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.empty_receives = 0

    def before_call(self, model: Any, **_: Any) -> None:
        self.calls[f"{model.service_model.service_name}:{model.name}"] += 1

    def after_call(self, model: Any, parsed: Any = None, **_: Any) -> None:
        receive = model.name == "ReceiveMessage" and isinstance(parsed, dict)
        if receive and not parsed.get("Messages"):
            self.empty_receives += 1

    def clear(self) -> None:
        self.calls.clear()
        self.empty_receives = 0

    @property
    def total(self) -> int:
        return sum(self.calls.values())


def counted_clients(settings: AwsSettings, counter: CallCounter) -> AwsClients:
    session = get_session()
    session.register("before-call", counter.before_call)
    session.register("after-call", counter.after_call)
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
        look: ClipLook | None = None,
    ) -> ClipResult:
        clip, frame = out_dir / f"s{scene.scene_number}.mp4", out_dir / f"s{scene.scene_number}.jpg"
        clip.write_bytes(TINY)
        frame.write_bytes(TINY)
        return ClipResult(clip, frame)


class InstantNarrator:
    async def synthesize(
        self,
        text: str,
        *,
        voice: str | None,
        out_path: Path,
        language: str | None = None,
        rate: float = 1.0,
    ) -> NarrationResult:
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
    """Notes when each job's outcome is published (no extra AWS calls)."""

    def __init__(self, *args: Any, done: dict[str, float]) -> None:
        super().__init__(*args)
        self._done = done

    async def publish(self, event: Event) -> str:
        message_id = await super().publish(event)
        if event.event_type.value in ("job.completed", "job.failed") and event.job_id:
            self._done.setdefault(event.job_id, time.monotonic())
        return message_id


# -- the emulator's own capacity ---------------------------------------------------------------


async def raw_capacity(settings: AwsSettings, concurrency: int, seconds: float) -> float:
    """Calls/s the emulator sustains for a mix like the pipeline's (DynamoDB read and write,
    SQS send, S3 put, SNS publish) at the same concurrency, measured now. The probe sends to a
    queue of its own, deleted afterwards, so its messages do not slow the emulator's SQS for
    the pipeline or for the next probe (moto's SQS slows as a queue grows)."""
    counter = CallCounter()
    async with counted_clients(settings, counter) as aws:
        spec = settings.resources
        ddb, sqs, s3, sns = await aws.dynamodb(), await aws.sqs(), await aws.s3(), await aws.sns()
        queue = (await sqs.create_queue(QueueName=f"{spec.prefix}-raw-probe"))["QueueUrl"]
        topic = (await sns.create_topic(Name=f"{spec.prefix}-raw"))["TopicArn"]
        key = {"job_id": {"S": "raw-probe"}}
        await ddb.put_item(TableName=spec.table.name, Item={**key, "n": {"N": "0"}})
        counter.clear()
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
        calls_per_s = counter.total / (time.monotonic() - began)
        await sqs.delete_queue(QueueUrl=queue)
        return calls_per_s


# -- the pipeline ------------------------------------------------------------------------------


def mint_token(secret: str, user_id: str, ttl_s: int = 3600) -> str:
    """As `LocalPipeline.mint_token`: HS256 with `sub`, `iat` and `exp`."""
    now = int(time.time())
    claims = {"sub": user_id, "iat": now, "exp": now + ttl_s}
    return str(jwt.encode(claims, secret, algorithm="HS256"))


async def run_pipeline(
    settings: AwsSettings, jobs: int, concurrency: int, worker: WorkerSettings, topic_arn: str
) -> dict[str, Any]:
    spec = settings.resources
    secret = secrets.token_urlsafe(48)
    ingest_settings = IngestSettings(
        **settings.model_dump(),
        auth_hs256_secret=secret,
        rate_limit_per_minute=100_000,
        rate_limit_burst=1_000,
        max_running_jobs=1_000,
    )
    counters = {name: CallCounter() for name in SERVICES}
    done: dict[str, float] = {}
    submitted: dict[str, float] = {}
    statuses: Counter[str] = Counter()
    rejections: list[str] = []
    async with (
        counted_clients(ingest_settings, counters["ingest"]) as ingest_aws,
        counted_clients(settings, counters["scripter"]) as scripter_aws,
        counted_clients(settings, counters["renderer"]) as renderer_aws,
        open_context(ingest_aws, ingest_settings, events_topic_arn=topic_arn) as context,
    ):
        app = create_app(context)
        upstream = build_consumer(
            await ingest_aws.sqs(),
            spec.ingest_queue.name,
            context.ports,
            worker.consumer_settings(spec.ingest_queue),
        )

        scripter_jobs = DynamoJobRepository(await scripter_aws.dynamodb(), spec.table)
        scripter_publisher = TimedPublisher(await scripter_aws.sns(), topic_arn, done=done)
        scripter_deps = ScripterDeps(scripter_jobs, scripter_publisher, OfflinePlanner())
        renderer_jobs = DynamoJobRepository(await renderer_aws.dynamodb(), spec.table)
        renderer_publisher = TimedPublisher(await renderer_aws.sns(), topic_arn, done=done)
        renderer_deps = RendererDeps(
            jobs=renderer_jobs,
            publisher=renderer_publisher,
            assets=S3AssetStore(await renderer_aws.s3(), spec.bucket.name),
            clips=InstantClips(),
            narrator=InstantNarrator(),
            music=InstantMusic(),
            composer=instant_compose,
        )

        async def on_accepted(event: Any, ctx: MessageContext) -> None:
            await handle_job_accepted(event, ctx, scripter_deps)

        rendering = renderer_handlers(renderer_deps)

        scripter = job_worker_consumer(
            await scripter_aws.sqs(),
            spec.scripter_queue,
            worker,
            event=JobAccepted,
            handle=on_accepted,
            jobs=scripter_jobs,
            publisher=scripter_publisher,
        )
        renderer = job_worker_consumer(
            await renderer_aws.sqs(),
            spec.renderer_queue,
            worker,
            event=ScriptReady,
            handle=rendering[ScriptReady],
            jobs=renderer_jobs,
            publisher=renderer_publisher,
        )
        renderer.register(AudioRequested, rendering[AudioRequested])
        renderer.register(ComposeRequested, rendering[ComposeRequested])
        scenes = job_worker_consumer(
            await renderer_aws.sqs(),
            spec.scenes_queue,
            worker,
            event=SceneRequested,
            handle=rendering[SceneRequested],
            jobs=renderer_jobs,
            publisher=renderer_publisher,
        )
        tokens = {f"bench-{u}": mint_token(secret, f"bench-{u}") for u in range(USERS)}
        transport = httpx.ASGITransport(app=app)
        # The app defines no lifespan today; run whatever it has, as uvicorn would.
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=transport, base_url="http://ingest", timeout=60) as http,
        ):
            ready = await http.get("/readyz")  # set-up: not counted
            if ready.status_code != 200:
                raise RuntimeError(f"ingest is not ready: {ready.status_code} {ready.text}")
            for counter in counters.values():
                counter.clear()

            consumers = [upstream, scripter, renderer, scenes]
            running = [asyncio.create_task(c.run()) for c in consumers]
            gate = asyncio.Semaphore(concurrency)

            async def submit(index: int) -> None:
                user = f"bench-{index % USERS}"
                body = {
                    "prompt": f"Benchmark job {index}: a harbour at dawn",
                    "duration": 10,
                    "aspect_ratio": "16:9",
                }
                async with gate:
                    began = time.monotonic()
                    try:
                        response = await http.post(
                            "/v1/jobs",
                            json=body,
                            headers={"Authorization": f"Bearer {tokens[user]}"},
                        )
                    except Exception as exc:  # reported, not hidden
                        statuses[f"error {type(exc).__name__}"] += 1
                        rejections.append(f"{type(exc).__name__}: {exc}")
                        return
                statuses[str(response.status_code)] += 1
                if response.status_code == 202:
                    submitted[response.json()["job_id"]] = began
                else:
                    rejections.append(f"{response.status_code} {response.text[:300]}")

            began = time.monotonic()
            await asyncio.gather(*(submit(i) for i in range(jobs)))
            submit_s = time.monotonic() - began
            while (
                len(done.keys() & submitted.keys()) < len(submitted)
                and time.monotonic() - began < FINISH_TIMEOUT_S
            ):
                await asyncio.sleep(0.05)
            finished = [done[j] for j in submitted if j in done]
            elapsed = max(finished, default=time.monotonic()) - began
            stop_began = time.monotonic()
            for consumer in consumers:
                consumer.stop()
            await asyncio.gather(*running)
            stop_s = time.monotonic() - stop_began
    outcomes: Counter[str] = Counter()
    async with AwsClients(settings) as observer:  # not counted: the benchmark's own reads
        jobs_repo = DynamoJobRepository(await observer.dynamodb(), spec.table)
        for job_id in submitted:
            outcomes[(await jobs_repo.get_job(job_id)).status.value] += 1
    latencies = sorted(done[j] - submitted[j] for j in submitted if j in done)
    return {
        "elapsed": elapsed,
        "submit_s": submit_s,
        "stop_s": stop_s,
        "accepted": len(submitted),
        "completed": len(latencies),
        "http": statuses,
        "rejections": rejections,
        "outcomes": dict(outcomes),
        "latencies": latencies,
        "counters": counters,
    }


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


@contextmanager
def emulator(backend: str) -> Iterator[AwsSettings]:
    """Settings for a fresh emulator: moto for everything, or LocalStack + DynamoDB on moto."""
    with ExitStack() as stack:
        moto = stack.enter_context(MotoServer())
        if backend == "localstack":
            localstack = stack.enter_context(LocalStackServer())
            yield AwsSettings(
                endpoint_url=localstack.endpoint_url,
                dynamodb_endpoint_url=moto.endpoint_url,
                resource_prefix="bench",
            )
        else:
            yield AwsSettings(endpoint_url=moto.endpoint_url, resource_prefix="bench")


async def main(jobs: int, concurrency: int | None, backend: str) -> None:
    configure_logging("bench", level="WARNING", json_output=False)
    os.environ.update(EMULATOR_CREDENTIALS)  # the emulator only; never real credentials
    for name in ("AWS_SESSION_TOKEN", "AWS_PROFILE"):
        os.environ.pop(name, None)
    default = WorkerSettings().concurrency
    concurrency = concurrency or max(default, MIN_CONCURRENCY)
    worker = WorkerSettings(concurrency=concurrency)
    with emulator(backend) as settings:
        async with AwsClients(settings) as aws:
            applied = await apply_spec(aws, settings.resources)
        topic_arn = applied.topic_arns[settings.resources.events_topic.name]
        raw_before = await raw_capacity(settings, concurrency, RAW_SECONDS)
        result = await run_pipeline(settings, jobs, concurrency, worker, topic_arn)
        raw_after = await raw_capacity(settings, concurrency, RAW_SECONDS)

    counters: dict[str, CallCounter] = result["counters"]
    total_calls = sum(c.total for c in counters.values())
    per_job = total_calls / jobs
    raw = (raw_before + raw_after) / 2
    elapsed = result["elapsed"]
    jobs_per_s = result["completed"] / elapsed if elapsed > 0 else 0.0
    allowed = raw / per_job
    lat = result["latencies"]
    http: Counter[str] = result["http"]
    consumer = worker.consumer_settings(settings.resources.renderer_queue)
    print(
        f"backend: {backend}; workers: concurrency {worker.concurrency} (service default "
        f"{default}), long poll {consumer.wait_time_s} s, {USERS} users, "
        f"{concurrency} concurrent submitters"
    )
    print(f"POST /v1/jobs: {jobs} sent, HTTP {dict(sorted(http.items()))}")
    for rejection in result["rejections"][:5]:
        print(f"  not accepted: {rejection}")
    print(
        f"jobs: {result['accepted']} accepted, {result['completed']} finished {result['outcomes']}"
    )
    print(
        f"throughput: {jobs_per_s:.2f} jobs/s over {elapsed:.1f} s "
        f"(submitting took {result['submit_s']:.1f} s; stopping afterwards "
        f"{result['stop_s']:.1f} s, not timed)"
    )
    if lat:
        p50, p95 = percentile(lat, 50), percentile(lat, 95)
        print(f"latency: p50 {p50:.2f} s, p95 {p95:.2f} s, max {lat[-1]:.2f} s")
    else:
        print("latency: no job finished")
    print(f"AWS calls per job: {per_job:.1f} (target <= 20), {total_calls} calls in all")
    for name, counter in counters.items():
        print(
            f"  {name:<9} {counter.total / jobs:5.1f}/job ({counter.total} calls, "
            f"{counter.empty_receives} empty long polls)"
        )
        for op, n in counter.calls.most_common():
            print(f"    {op:<34} {n / jobs:5.2f}/job  ({n})")
    print(
        f"emulator raw capacity: {raw:.0f} calls/s (before {raw_before:.0f}, after {raw_after:.0f})"
    )
    print(f"raw capacity allows {allowed:.2f} jobs/s at {per_job:.1f} calls/job")
    print(f"throughput / allowed: {jobs_per_s / allowed:.2f} (target >= 0.50)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--jobs", type=int, default=100, help="jobs to submit (default 100)")
    parser.add_argument(
        "--concurrency",
        type=int,
        default=None,
        help="worker handler concurrency, submitters and raw probe "
        f"(default: the workers' default, at least {MIN_CONCURRENCY})",
    )
    parser.add_argument(
        "--backend",
        choices=BACKENDS,
        default="moto",
        help="moto (default), or LocalStack for SQS/SNS/S3 with DynamoDB on moto",
    )
    args = parser.parse_args()
    if args.jobs < 1 or (args.concurrency is not None and not 1 <= args.concurrency <= 64):
        parser.error("--jobs must be >= 1 and --concurrency 1..64")
    asyncio.run(main(args.jobs, args.concurrency, args.backend))
