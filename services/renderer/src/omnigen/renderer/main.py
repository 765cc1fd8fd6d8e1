"""Renderer entry point: read settings, build adapters and providers, register the handler, run."""

from __future__ import annotations

import asyncio
from typing import Any

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from omnigen.renderer.handlers import RendererDeps, handle_script_ready
from omnigen.renderer.providers.factory import build_providers
from omnigen.renderer.providers.settings import ProviderSettings
from omnigen.shared.adapters.aws import AwsClients
from omnigen.shared.adapters.dynamodb import DynamoJobRepository
from omnigen.shared.adapters.s3 import S3AssetStore
from omnigen.shared.adapters.sns import SnsEventPublisher, find_topic_arn
from omnigen.shared.domain.events import EventType
from omnigen.shared.logging import configure_logging
from omnigen.shared.runtime.consumer import MessageContext
from omnigen.shared.runtime.service import run_job_worker
from omnigen.shared.settings import AwsSettings, LogSettings, WorkerSettings


class RenderSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="OMNIGEN_RENDER_", extra="ignore")

    scale: float = Field(default=1.0, gt=0, le=1, description="< 1 renders smaller frames")


async def serve(
    aws_settings: AwsSettings,
    worker: WorkerSettings,
    providers_settings: ProviderSettings,
    render: RenderSettings,
) -> None:
    spec = aws_settings.resources
    providers = build_providers(providers_settings)
    async with AwsClients(aws_settings) as aws:
        jobs = DynamoJobRepository(await aws.dynamodb(), spec.table)
        topic_arn = worker.events_topic_arn or await find_topic_arn(
            await aws.sns(), spec.events_topic.name
        )
        publisher = SnsEventPublisher(await aws.sns(), topic_arn)
        deps = RendererDeps(
            jobs=jobs,
            publisher=publisher,
            assets=S3AssetStore(await aws.s3(), spec.bucket.name),
            clips=providers.clips,
            narrator=providers.narrator,
            music=providers.music,
            scale=render.scale,
        )

        async def handle(event: Any, ctx: MessageContext) -> None:
            await handle_script_ready(event, ctx, deps)

        await run_job_worker(
            await aws.sqs(),
            spec.renderer_queue,
            worker,
            event_type=EventType.SCRIPT_READY,
            handle=handle,
            jobs=jobs,
            publisher=publisher,
            on_stop=providers.aclose,
        )


def main() -> None:
    logs = LogSettings()
    configure_logging("renderer", level=logs.level, json_output=logs.json_output)
    asyncio.run(serve(AwsSettings(), WorkerSettings(), ProviderSettings(), RenderSettings()))


if __name__ == "__main__":
    main()
