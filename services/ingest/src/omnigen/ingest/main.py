"""`omnigen-ingest`: the HTTP API, the upstream consumer and the outbox sweeper in one process.
Wiring only: settings, logging, clients, app, uvicorn, the consumer and the sweeper; SIGTERM
stops them all, exit 0."""

from __future__ import annotations

import asyncio
import sys

import structlog
import uvicorn

from omnigen.ingest.api.app import create_app
from omnigen.ingest.context import open_context
from omnigen.ingest.outbox import OutboxSweeper
from omnigen.ingest.server import ApiServer, HttpService
from omnigen.ingest.settings import IngestSettings
from omnigen.ingest.upstream import build_consumer
from omnigen.shared.adapters.aws import AwsClients
from omnigen.shared.runtime.service import (
    EXIT_BAD_SETTINGS,
    EXIT_RESOURCES_MISSING,
    ResourcesMissing,
    run_until_signalled,
    start_service,
    topic_lookup,
    wait_for_resources,
)
from omnigen.shared.settings import WorkerSettings

log = structlog.get_logger()


async def serve(settings: IngestSettings, worker: WorkerSettings) -> None:
    spec = settings.resources
    async with AwsClients(settings) as aws:
        topic_arn = await wait_for_resources(
            aws,
            spec,
            queue=spec.ingest_queue,
            topic=worker.events_topic_arn or topic_lookup(aws, spec),
            deadline_s=worker.resource_wait_s,
        )
        async with open_context(aws, settings, events_topic_arn=topic_arn) as context:
            consumer = build_consumer(
                await aws.sqs(),
                spec.ingest_queue.name,
                context.ports,
                worker.consumer_settings(spec.ingest_queue),
                settings.upstream_trust,
            )
            server = ApiServer(
                uvicorn.Config(
                    create_app(context),
                    host=settings.host,
                    port=settings.port,
                    log_config=None,
                    access_log=False,
                    proxy_headers=True,
                    forwarded_allow_ips=settings.forwarded_allow_ips,
                    timeout_graceful_shutdown=int(settings.shutdown_timeout_s),
                )
            )
            sweeper = OutboxSweeper(
                context.ports,
                interval_s=settings.outbox_sweep_interval_s,
                age_s=settings.outbox_sweep_age_s,
            )
            await run_until_signalled([HttpService(server, context.stopping), consumer, sweeper])
    log.info("ingest_stopped")


def main() -> int:
    settings = start_service("ingest", lambda: (IngestSettings(), WorkerSettings()))
    if settings is None:
        return EXIT_BAD_SETTINGS
    try:
        asyncio.run(serve(*settings))
    except ResourcesMissing as exc:
        log.error("resources_missing", error=str(exc), missing=exc.missing)
        return EXIT_RESOURCES_MISSING
    return 0


if __name__ == "__main__":
    sys.exit(main())
