"""The webhooks worker in-process over a stack (its real consumer, store, sender and handler),
for tests and benchmarks; and helpers that make jobs and endpoints to deliver to."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import time
from collections.abc import AsyncIterator
from functools import partial
from typing import Any

from omnigen.shared.adapters.netguard import UrlGuard
from omnigen.shared.adapters.webhook_store import DynamoWebhookStore
from omnigen.shared.domain.events import JobCompleted, JobCompletedData, JobFailed
from omnigen.shared.domain.jobs import JobRequest
from omnigen.shared.domain.webhooks import SigningSecret, WebhookEndpoint, new_endpoint_id
from omnigen.shared.messages import ConsumerSettings
from omnigen.shared.ports import WebhookStore
from omnigen.shared.runtime.consumer import Consumer
from omnigen.testing.fixtures import Stack
from omnigen.webhooks.handlers import WebhookDeps, handle_outcome
from omnigen.webhooks.sender import HttpSender
from omnigen.webhooks.settings import DeliverySettings

FAST: dict[str, Any] = {"allow_loopback": True, "retry_base_s": 1, "retry_max_s": 2}


@contextlib.asynccontextmanager
async def webhook_worker(
    stack: Stack, *, concurrency: int = 4, **settings: Any
) -> AsyncIterator[WebhookDeps]:
    """The worker consuming the stack's webhooks queue until the block ends (short backoff)."""
    delivery = DeliverySettings(**{**FAST, **settings})
    sender = HttpSender(
        UrlGuard(allow_loopback=delivery.allow_loopback),
        timeout_s=delivery.timeout_s,
        user_agent="omnigen-webhooks/test",
    )
    deps = WebhookDeps(
        jobs=await stack.repository(),
        store=DynamoWebhookStore(await stack.aws.dynamodb(), stack.spec.table),
        assets=await stack.assets(),
        sender=sender,
        settings=delivery,
    )
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
    handle = partial(handle_outcome, deps=deps)
    consumer.register(JobCompleted, handle)
    consumer.register(JobFailed, handle)
    task = asyncio.create_task(consumer.run())
    try:
        yield deps
    finally:
        consumer.stop()
        await asyncio.wait_for(task, timeout=30)
        await sender.aclose()


async def endpoint_for(
    store: WebhookStore, owner: str, url: str, secret: str, events: list[str] | None = None
) -> WebhookEndpoint:
    now = time.time()
    endpoint = WebhookEndpoint(
        endpoint_id=new_endpoint_id(),
        owner=owner,
        url=url,
        event_types=events or ["job.completed", "job.failed"],
        secrets=[SigningSecret(secret=secret, created_at=now)],
        created_at=now,
    )
    await store.add_endpoint(endpoint, limit=10)
    return endpoint


async def completed_jobs(stack: Stack, owner: str, count: int) -> list[JobCompleted]:
    """`count` completed jobs of `owner` and the job.completed event of each (not published).
    Completed in the table too: a job left pending would owe its announcement, and a running
    ingest's outbox sweeper would send it through the pipeline."""
    repository = await stack.repository()
    events = []
    for _ in range(count):
        request = JobRequest(prompt="A paper boat on a rainy street", duration=10)
        job = (await repository.create_job(user_id=owner, request=request)).job
        video_key = f"jobs/{job.job_id}/video.mp4"
        await repository.mark_job_complete(job.job_id, video_key)
        data = JobCompletedData(video_key=video_key, duration=10.0)
        events.append(JobCompleted.create(job_id=job.job_id, user_id=owner, data=data))
    return events


async def eventually(check: Any, *, timeout: float = 30.0, every: float = 0.1) -> Any:
    """Poll `check` (plain or async) until it returns something true, and return that."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not true after {timeout} s")
        await asyncio.sleep(every)
