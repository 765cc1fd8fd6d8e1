"""`omnigen-webhooks`: job.completed and job.failed from its own queue -> signed deliveries to
the job's callback and its owner's endpoints. Wiring only.

Unlike the pipeline's workers it never fails a job: an event it cannot deliver stays in its
queue through the backoff, then goes to its DLQ (`omnigen dlq redrive webhooks`)."""

from __future__ import annotations

import asyncio
import sys
from dataclasses import replace
from functools import partial

import structlog

from omnigen.shared.adapters.aws import AwsClients
from omnigen.shared.adapters.dynamodb import DynamoJobRepository
from omnigen.shared.adapters.netguard import UrlGuard
from omnigen.shared.adapters.s3 import S3AssetStore
from omnigen.shared.adapters.webhook_store import DynamoWebhookStore
from omnigen.shared.domain.events import JobCompleted, JobCompletedV2, JobFailed
from omnigen.shared.runtime.consumer import Consumer
from omnigen.shared.runtime.process import (
    EXIT_BAD_SETTINGS,
    EXIT_RESOURCES_MISSING,
    ResourcesMissing,
    run_until_signalled,
    start_service,
    wait_for_resources,
)
from omnigen.shared.settings import AwsSettings, WorkerSettings
from omnigen.webhooks.handlers import WebhookDeps, handle_outcome
from omnigen.webhooks.sender import HttpSender
from omnigen.webhooks.settings import DeliverySettings

log = structlog.get_logger()
USER_AGENT = "omnigen-webhooks/1"


async def serve(
    aws_settings: AwsSettings, worker: WorkerSettings, settings: DeliverySettings
) -> None:
    spec = aws_settings.resources
    queue = spec.webhooks_queue
    async with AwsClients(aws_settings) as aws:
        await wait_for_resources(
            aws,
            spec,
            queue=queue,
            topic=None,  # it publishes nothing
            deadline_s=worker.resource_wait_s,
        )
        sender = HttpSender(
            UrlGuard(allow_loopback=settings.allow_loopback),
            timeout_s=settings.timeout_s,
            user_agent=USER_AGENT,
        )
        try:
            deps = WebhookDeps(
                jobs=DynamoJobRepository(await aws.dynamodb(), spec.table),
                store=DynamoWebhookStore(await aws.dynamodb(), spec.table),
                assets=S3AssetStore(
                    await aws.s3(), spec.bucket.name, presigner=await aws.s3_presigner()
                ),
                sender=sender,
                settings=settings,
            )
            consuming = replace(
                worker.consumer_settings(queue), max_concurrency=settings.concurrency
            )
            consumer = Consumer(await aws.sqs(), queue.name, consuming)
            handle = partial(handle_outcome, deps=deps)
            consumer.register(JobCompleted, handle)
            consumer.register(JobCompletedV2, handle)
            consumer.register(JobFailed, handle)
            await run_until_signalled([consumer])
        finally:
            await sender.aclose()


def main() -> int:
    loaded = start_service(
        "webhooks", lambda: (AwsSettings(), WorkerSettings(), DeliverySettings())
    )
    if loaded is None:
        return EXIT_BAD_SETTINGS
    try:
        asyncio.run(serve(*loaded))
    except ResourcesMissing as exc:
        log.error("resources_missing", error=str(exc), missing=exc.missing)
        return EXIT_RESOURCES_MISSING
    return 0


if __name__ == "__main__":
    sys.exit(main())
