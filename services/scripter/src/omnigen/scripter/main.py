"""Scripter entry point: read settings, build adapters, register the handler, run."""

from __future__ import annotations

import asyncio
from typing import Any

from omnigen.scripter.handlers import ScripterDeps, handle_job_accepted
from omnigen.scripter.settings import WriterSettings
from omnigen.scripter.writers import build_writer
from omnigen.shared.adapters.aws import AwsClients
from omnigen.shared.adapters.dynamodb import DynamoJobRepository
from omnigen.shared.adapters.sns import SnsEventPublisher, find_topic_arn
from omnigen.shared.domain.events import EventType
from omnigen.shared.logging import configure_logging
from omnigen.shared.runtime.consumer import MessageContext
from omnigen.shared.runtime.service import run_job_worker
from omnigen.shared.settings import AwsSettings, LogSettings, WorkerSettings


async def serve(
    aws_settings: AwsSettings, worker: WorkerSettings, writer_settings: WriterSettings
) -> None:
    spec = aws_settings.resources
    writer = build_writer(writer_settings)
    async with AwsClients(aws_settings) as aws:
        jobs = DynamoJobRepository(await aws.dynamodb(), spec.table)
        topic_arn = worker.events_topic_arn or await find_topic_arn(
            await aws.sns(), spec.events_topic.name
        )
        publisher = SnsEventPublisher(await aws.sns(), topic_arn)
        deps = ScripterDeps(jobs=jobs, publisher=publisher, writer=writer)

        async def handle(event: Any, ctx: MessageContext) -> None:
            await handle_job_accepted(event, ctx, deps)

        await run_job_worker(
            await aws.sqs(),
            spec.scripter_queue,
            worker,
            event_type=EventType.JOB_ACCEPTED,
            handle=handle,
            jobs=jobs,
            publisher=publisher,
            on_stop=writer.aclose,
        )


def main() -> None:
    logs = LogSettings()
    configure_logging("scripter", level=logs.level, json_output=logs.json_output)
    asyncio.run(serve(AwsSettings(), WorkerSettings(), WriterSettings()))


if __name__ == "__main__":
    main()
