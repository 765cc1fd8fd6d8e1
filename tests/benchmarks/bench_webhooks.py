"""Webhook delivery, measured: latency from publishing `job.completed` to the receiver's 2xx
for N jobs (p50/p95), against a same-run floor (the same queue and consumer with a handler that
only signs and POSTs), and the attempts schedule against a receiver that fails N times.

    .venv/bin/python tests/benchmarks/bench_webhooks.py [--jobs 200 --failures 5]
        [--pipeline-jobs 8 --slow-deliveries 1000 --slow-s 2 --ahead 32 --rounds 1]
        [--skip-latency] [--webhooks-nice 19] [--hosted-s 10]

Each latency run also prints the AWS calls per delivery by operation (counted on the worker's
own clients) and the CPU per delivery in this process and in moto.

The last part runs the whole pipeline (its four service processes) twice in the same run: alone,
and while its webhooks worker delivers 1000 events to a receiver that takes 2 s to answer each;
it prints the pipeline's throughput (jobs per minute) both times and their ratio, how many
deliveries were answered meanwhile and how many were still owed at the end, and the CPU seconds
each process (the four services, moto, this one) spent during each measurement.

How the loaded run is made fair, and why:
- One emulator for everything, as before: the worker's reads, delivery records and queue calls
  compete with the pipeline's on the same moto process, which is the strict case.
- Both runs start from the same table (the receiver's endpoint and its owner's 1000 completed
  jobs), since moto answers an index query by walking the whole table: the loaded run must not
  pay for a bigger table than the run it is compared with.
- The 1000 events are published as the receiver answers, at most `--ahead` (32) unanswered at a
  time, instead of all at once. The worker stays saturated (its 16 deliveries in flight and
  more waiting, all the time), but the queue stays 32 deep rather than 1000. On SQS a receive
  costs the same whatever the queue's depth; on moto it does not:
  for every message it returns, moto computes all of the queue's attributes, message counts
  included, walking the whole queue several times (moto 5.2.5,
  `is_message_valid_based_on_retention_period`). Measured in one process on this machine:
  10 ms of CPU per message received from a queue 200 deep, 64 ms from one 1000 deep, so a
  backlog queued whole cost the emulator some 30-60 CPU seconds that no deployment spends,
  and on 2 cores the pipeline paid for them.

- On this 2-core host the pipeline alone keeps both cores busy (its renderer encodes locally:
  some 25 CPU seconds in a 15 s run), so any other work there slows it by the CPU it takes,
  whatever that work is. In a deployment the webhooks worker is its own ECS service with its
  own CPU. `--webhooks-nice 19` runs the pipeline's webhooks worker at the lowest CPU priority
  in both runs, standing for that; the emulator (standing for AWS) stays shared, so the
  worker's reads, records and queue calls still cost the pipeline. Without it (the default)
  the figure is the CPU-share of a single shared host. `--hosted-s 10` takes the clips (and
  keyframes) from the fake Replicate server on 127.0.0.1, each prediction taking 10 s (2.5 s
  for a keyframe), as a deployment's renderer waits on its hosted models: the pipeline is
  then bound by its clip slots, not by this host's CPU, and the ratio shows what the
  deliveries take from it through the shared queues and emulator.

Everything real but the network: a moto server (SNS -> the webhooks queue, DynamoDB), the
webhooks worker's consumer, store, signer and sender in this process, and a receiver on
127.0.0.1 that verifies every signature with the Standard Webhooks library. The schedule case
runs with a short backoff (1 s doubling, capped at 8 s) and prints the production schedule
(OMNIGEN_WEBHOOKS_RETRY_BASE_S=60 doubling to 12 h over the queue's 13 receives) beside it.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import itertools
import os
import statistics
import tempfile
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from omnigen.cli.localaws.moto_server import MotoServer
from omnigen.cli.webhook_listener import Received, WebhookListener
from omnigen.shared.domain.events import Event, JobCompleted
from omnigen.shared.domain.webhooks import new_secret, schedule_s
from omnigen.shared.messages import ConsumerSettings, MessageContext
from omnigen.shared.ports import EventPublisher
from omnigen.shared.resources import WEBHOOK_MAX_RECEIVES
from omnigen.shared.runtime.consumer import Consumer
from omnigen.testing.fixtures import Stack, bootstrapped, moto_settings
from omnigen.testing.webhooks import completed_jobs, endpoint_for, eventually, webhook_worker
from omnigen.webhooks.handlers import signed_headers


def cpu_s(pid: int | None = None) -> float:
    """CPU seconds (user + system, with waited-for children such as ffmpeg) of a process,
    this one by default."""
    fields = Path(f"/proc/{pid or os.getpid()}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(v) for v in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def moto_pid(server: MotoServer) -> int:
    assert server.pid is not None, "moto must run as its own process here"
    return server.pid


def count_calls(*clients: Any) -> collections.Counter[str]:
    """Every AWS call these clients make from now on, by operation."""
    counts: collections.Counter[str] = collections.Counter()

    def on_call(model: Any, **_: Any) -> None:
        counts[model.name] += 1

    for client in clients:
        client.meta.events.register("before-call", on_call)
    return counts


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


@contextlib.asynccontextmanager
async def bare_worker(stack: Stack, secret: str, url: str, concurrency: int) -> AsyncIterator[None]:
    """The floor: the same queue and consumer, a handler that only signs and POSTs the event
    (no job read, no webhook lookup, no delivery record, no presigned links)."""
    queue = stack.spec.webhooks_queue
    consumer = Consumer(
        await stack.aws.sqs(),
        queue.name,
        ConsumerSettings(
            max_concurrency=concurrency,
            wait_time_s=1,
            visibility_timeout_s=queue.visibility_timeout_s,
            max_receive_count=queue.max_receive_count,
            receive_gather_s=0.05,
            delete_flush_s=0.1,
        ),
    )
    async with httpx.AsyncClient(timeout=5) as client:

        async def handle(event: Event, _context: MessageContext) -> None:
            body = event.to_json()
            headers = signed_headers(str(event.event_id), body, [secret], datetime.now(UTC))
            response = await client.post(url, content=body, headers=headers)
            response.raise_for_status()

        consumer.register(JobCompleted, handle)
        task = asyncio.create_task(consumer.run())
        try:
            yield
        finally:
            consumer.stop()
            await asyncio.wait_for(task, timeout=30)


async def latency(server: MotoServer, jobs: int, concurrency: int, *, bare: bool) -> list[float]:
    arrived: dict[str, float] = {}
    lock = threading.Lock()

    def on_delivery(received: Received) -> None:
        if 200 <= received.status < 300:
            with lock:
                arrived.setdefault(received.webhook_id, time.monotonic())

    secret = new_secret()
    async for stack in bootstrapped(moto_settings(server)):
        with WebhookListener([secret], on_delivery=on_delivery) as listener:
            owner = f"bench-{uuid.uuid4().hex[:8]}"
            events = await completed_jobs(stack, owner, jobs)
            async with contextlib.AsyncExitStack() as running:
                if bare:
                    await running.enter_async_context(
                        bare_worker(stack, secret, listener.url, concurrency)
                    )
                else:
                    deps = await running.enter_async_context(
                        webhook_worker(stack, concurrency=concurrency)
                    )
                    await endpoint_for(deps.store, owner, listener.url, secret)
                publisher = await stack.events_publisher()
                published: dict[str, float] = {}
                calls = count_calls(await stack.aws.dynamodb(), await stack.aws.sqs())
                cpu_before = cpu_s(), cpu_s(moto_pid(server))
                began = time.monotonic()
                for event in events:
                    published[str(event.event_id)] = time.monotonic()
                    await publisher.publish(event)
                await eventually(lambda: len(arrived) == jobs, timeout=600, every=0.05)
                took = time.monotonic() - began
                cpu = cpu_s() - cpu_before[0], cpu_s(moto_pid(server)) - cpu_before[1]
            unverified = sum(r.verified_with is None for r in listener.received)
    ms = [(arrived[i] - published[i]) * 1000 for i in published]
    what = "floor: sign and POST only" if bare else "omnigen-webhooks"
    print(f"latency, {what}, {jobs} jobs, concurrency {concurrency} (publish -> receiver's 2xx):")
    print(
        f"  p50 {percentile(ms, 50):.0f} ms   p95 {percentile(ms, 95):.0f} ms   "
        f"max {max(ms):.0f} ms   mean {statistics.fmean(ms):.0f} ms"
    )
    print(
        f"  {jobs / took:.1f} deliveries/s over {took:.1f} s; "
        f"{len(listener.received)} requests, {unverified} unverified"
    )
    per = ", ".join(f"{name} {count / jobs:.2f}" for name, count in sorted(calls.items()))
    print(f"  AWS calls per delivery: {sum(calls.values()) / jobs:.2f} ({per})")
    print(
        f"  CPU per delivery: {cpu[0] / jobs * 1000:.1f} ms in this process (worker, receiver, "
        f"publisher), {cpu[1] / jobs * 1000:.1f} ms in moto"
    )
    return ms


async def schedule(server: MotoServer, failures: int) -> None:
    answers: list[float] = []

    def respond(_received: Received) -> int:
        answers.append(time.monotonic())
        return 503 if len(answers) <= failures else 204

    secret = new_secret()
    async for stack in bootstrapped(moto_settings(server)):
        with WebhookListener([secret], respond=respond) as listener:
            async with webhook_worker(stack, retry_base_s=1, retry_max_s=8) as deps:
                owner = f"bench-{uuid.uuid4().hex[:8]}"
                await endpoint_for(deps.store, owner, listener.url, secret)
                [event] = await completed_jobs(stack, owner, 1)
                await (await stack.events_publisher()).publish(event)
                await eventually(lambda: len(listener.delivered_ids()) == 1, timeout=300)
    gaps = [b - a for a, b in itertools.pairwise(answers)]
    planned = schedule_s(len(answers), base_s=1, max_s=8)
    print(f"attempts schedule, a receiver failing {failures} times (base 1 s, cap 8 s):")
    print("  attempt  at (s)   wait before (s)  planned step (s, jitter takes 50-100%)")
    for n, at in enumerate(answers, 1):
        wait = f"{gaps[n - 2]:.2f}" if n > 1 else "-"
        plan = f"{planned[n - 2]:.0f}" if n > 1 else "-"
        print(f"  {n:>7}  {at - answers[0]:>6.2f}   {wait:>15}  {plan:>10}")
    steps = schedule_s(WEBHOOK_MAX_RECEIVES, base_s=60, max_s=43200)
    print(
        f"  production: {WEBHOOK_MAX_RECEIVES} receives, steps "
        + ", ".join(f"{s / 60:.0f}m" for s in steps)
        + f"; span {sum(steps) / 3600:.1f} h un-jittered, "
        f"{sum(steps) * 0.75 / 3600:.1f} h on average with jitter, then the DLQ"
    )


async def seeded_jobs(stack: Stack, owner: str, count: int) -> list[JobCompleted]:
    """`completed_jobs`, made 10 at a time."""
    sizes = [count // 10 + (i < count % 10) for i in range(10)]
    made = await asyncio.gather(*(completed_jobs(stack, owner, n) for n in sizes if n))
    return [event for events in made for event in events]


async def feed(
    publisher: EventPublisher, events: list[JobCompleted], answered: Any, ahead: int
) -> None:
    """Publish `events` in order, keeping at most `ahead` of them not yet answered."""
    for published, event in enumerate(events):
        while published - answered() >= ahead:
            await asyncio.sleep(0.05)
        await publisher.publish(event)


REPLICATE_TOKEN = "bench-replicate-token"  # the fake server's own; no real provider is called


@contextlib.contextmanager
def hosted_models(workdir: Path, run_s: float) -> Iterator[dict[str, dict[str, str]] | None]:
    """With `run_s` > 0, the renderer's clips (and keyframes) come from the fake Replicate
    server on 127.0.0.1, each prediction taking `run_s`: the pipeline then waits on its
    providers, as a deployment's does, instead of encoding every clip on this host's CPU."""
    if run_s <= 0:
        yield None
        return
    from omnigen.renderer.providers.settings import ProviderSettings
    from omnigen.testing.fake_replicate import Behaviour, FakeReplicate

    defaults = ProviderSettings()
    with FakeReplicate(workdir / "replicate", api_token=REPLICATE_TOKEN) as fake:
        image = Behaviour(output="image", output_as_list=True, run_s=run_s / 4)
        fake.behave(defaults.replicate_image_model, image)
        fake.behave(defaults.replicate_video_model, Behaviour(output="video", run_s=run_s))
        yield {
            "renderer": {
                "OMNIGEN_CLIP_PROVIDER": "replicate",
                "OMNIGEN_REPLICATE_API_TOKEN": REPLICATE_TOKEN,
                "OMNIGEN_REPLICATE_BASE_URL": fake.base_url,
            }
        }


async def pipeline_throughput(
    server: MotoServer,
    jobs: int,
    deliveries: int,
    slow_s: float,
    ahead: int,
    *,
    loaded: bool,
    webhooks_nice: int = 0,
    hosted_s: float = 0.0,
) -> float:
    """Jobs per minute through the real services; loaded, while `deliveries` webhook
    deliveries go to a receiver answering in `slow_s`, fed `ahead` at a time (see the module's
    docstring). Both runs start from the same table: the receiver's endpoint and `deliveries`
    completed jobs of its owner."""
    from omnigen.cli.localaws.pipeline import SERVICES
    from omnigen.shared.adapters.webhook_store import DynamoWebhookStore
    from omnigen.testing.e2e import api, running_pipeline, submit, wait_for_end

    def slow(_received: Received) -> int:
        time.sleep(slow_s)
        return 204

    secret = new_secret()
    async for stack in bootstrapped(moto_settings(server)):
        with (
            WebhookListener([secret], respond=slow) as listener,
            tempfile.TemporaryDirectory() as workdir,
            hosted_models(Path(workdir), hosted_s) as service_env,
        ):
            owner = f"bench-{uuid.uuid4().hex[:8]}"
            store = DynamoWebhookStore(await stack.aws.dynamodb(), stack.spec.table)
            await endpoint_for(store, owner, listener.url, secret)
            events = await seeded_jobs(stack, owner, deliveries)
            publisher = await stack.events_publisher()
            async with (
                running_pipeline(stack, Path(workdir), service_env=service_env) as pipeline,
                contextlib.AsyncExitStack() as feeding,
            ):
                if loaded:
                    feeder = asyncio.create_task(
                        feed(publisher, events, lambda: len(listener.received), ahead)
                    )
                    feeding.callback(feeder.cancel)
                    await eventually(lambda: len(listener.received) >= min(ahead, 16), timeout=120)
                answered_before = len(listener.received)
                pids = {name: pipeline.pid(name) for name in SERVICES}
                if webhooks_nice:  # the same in both runs: it stands for the worker's own CPU
                    os.setpriority(os.PRIO_PROCESS, pids["webhooks"], webhooks_nice)
                pids["moto"] = moto_pid(server)
                pids["bench"] = os.getpid()
                # A user runs at most 5 jobs at once: the jobs go round several users.
                users = [f"pipeline-{i}" for i in range(-(-jobs // 5))]
                async with contextlib.AsyncExitStack() as clients:
                    by_user = [
                        await clients.enter_async_context(api(pipeline, user)) for user in users
                    ]
                    cpu_before = {name: cpu_s(pid) for name, pid in pids.items()}
                    began = time.monotonic()
                    ids = [
                        (client, await submit(client, duration=10))
                        for client in itertools.islice(itertools.cycle(by_user), jobs)
                    ]
                    ends = [await wait_for_end(c, job_id, timeout=600) for c, job_id in ids]
                    took = time.monotonic() - began
                    cpu = {name: cpu_s(pid) - cpu_before[name] for name, pid in pids.items()}
                assert all(end["status"] == "completed" for end in ends), ends
                during = len(listener.received) - answered_before
                left = deliveries - len(listener.received)
    rate = jobs / took * 60
    what = f"with {deliveries} deliveries of {slow_s:.0f} s each" if loaded else "alone"
    print(f"  pipeline {what}: {jobs} jobs in {took:.1f} s = {rate:.2f} jobs/min", end="")
    print(
        f"; {during} webhook requests answered meanwhile ({during / took:.1f}/s), "
        f"{left} still owed at the end"
        if loaded
        else ""
    )
    print(
        f"    CPU s over those {took:.0f} s: "
        + ", ".join(f"{name} {seconds:.1f}" for name, seconds in cpu.items())
        + f"; load average {os.getloadavg()[0]:.2f}"
    )
    return rate


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--failures", type=int, default=5)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--pipeline-jobs", type=int, default=8, help="0: skip the pipeline part")
    parser.add_argument("--slow-deliveries", type=int, default=1000)
    parser.add_argument("--slow-s", type=float, default=2.0)
    parser.add_argument(
        "--ahead", type=int, default=32, help="slow deliveries queued ahead of the receiver"
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="alone/loaded pairs, alternated (the host's load drifts between runs)",
    )
    parser.add_argument("--skip-latency", action="store_true", help="no latency or schedule")
    parser.add_argument(
        "--hosted-s",
        type=float,
        default=0.0,
        help="clips from the fake Replicate server, each taking this long (0: the local clips)",
    )
    parser.add_argument(
        "--webhooks-nice",
        type=int,
        default=0,
        help="run the pipeline's webhooks worker at this CPU niceness in both runs (0-19; see "
        "the docstring: what stands for the worker's own ECS service on a shared 2-core host)",
    )
    args = parser.parse_args()
    with MotoServer() as server:
        if not args.skip_latency:
            floor = await latency(server, args.jobs, args.concurrency, bare=True)
            full = await latency(server, args.jobs, args.concurrency, bare=False)
            p50, p95 = (percentile(full, p) / percentile(floor, p) for p in (50, 95))
            print(
                f"same run: the worker's p50 is {p50:.2f}x and its p95 {p95:.2f}x the floor's "
                "(what its reads, delivery records and presigned links cost on this emulator)"
            )
            await schedule(server, args.failures)
        if args.pipeline_jobs:
            pipeline_args = (args.pipeline_jobs, args.slow_deliveries, args.slow_s, args.ahead)
            nice = args.webhooks_nice
            print(
                "pipeline throughput, same run (10 s jobs, the services as processes"
                + (f"; hosted clips of {args.hosted_s:g} s" if args.hosted_s else "")
                + (f"; the webhooks worker at niceness {nice}" if nice else "")
                + "):"
            )
            ratios = []
            for _ in range(args.rounds):
                options = {"webhooks_nice": nice, "hosted_s": args.hosted_s}
                alone = await pipeline_throughput(server, *pipeline_args, loaded=False, **options)
                loaded = await pipeline_throughput(server, *pipeline_args, loaded=True, **options)
                ratios.append(loaded / alone)
                print(f"  ratio loaded/alone: {loaded / alone:.2f}")
            if len(ratios) > 1:
                print(
                    f"  ratios over {len(ratios)} rounds: "
                    + ", ".join(f"{r:.2f}" for r in ratios)
                    + f"; median {statistics.median(ratios):.2f}"
                )


if __name__ == "__main__":
    asyncio.run(main())
