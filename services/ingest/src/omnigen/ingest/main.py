"""`omnigen-ingest`: the HTTP API and the upstream consumer in one process. Wiring only:
settings, logging, clients, app, uvicorn and the consumer; SIGTERM stops both, exit 0."""

from __future__ import annotations

import asyncio
import signal
import sys

import structlog
import uvicorn

from omnigen.ingest.api.app import create_app
from omnigen.ingest.context import open_context
from omnigen.ingest.server import ApiServer
from omnigen.ingest.settings import IngestSettings
from omnigen.ingest.upstream import build_consumer
from omnigen.shared.adapters.aws import AwsClients
from omnigen.shared.adapters.sns import find_topic_arn
from omnigen.shared.logging import configure_logging
from omnigen.shared.settings import LogSettings, WorkerSettings

log = structlog.get_logger()


async def serve(settings: IngestSettings, worker: WorkerSettings) -> None:
    spec = settings.resources
    async with AwsClients(settings) as aws:
        topic_arn = worker.events_topic_arn or await find_topic_arn(
            await aws.sns(), spec.events_topic.name
        )
        async with open_context(aws, settings, events_topic_arn=topic_arn) as context:
            consumer = build_consumer(
                await aws.sqs(),
                spec.ingest_queue.name,
                context.ports,
                worker.consumer_settings(spec.ingest_queue),
            )
            server = ApiServer(
                uvicorn.Config(
                    create_app(context),
                    host=settings.host,
                    port=settings.port,
                    log_config=None,
                    access_log=False,
                    proxy_headers=True,
                    timeout_graceful_shutdown=int(settings.shutdown_timeout_s),
                )
            )

            def stop(signame: str) -> None:
                log.info("shutdown_requested", signal=signame)
                context.stopping.set()  # event streams end, so connections can close
                consumer.stop()
                server.should_exit = True

            loop = asyncio.get_running_loop()
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, stop, sig.name)
            try:
                await server.run_with(consumer)
            finally:
                # A second signal while closing must not kill the process half-way through.
                for sig in (signal.SIGTERM, signal.SIGINT):
                    loop.add_signal_handler(sig, log.info, "shutdown_already_in_progress")
    log.info("ingest_stopped")


def main() -> int:
    logs = LogSettings()
    configure_logging("ingest", level=logs.level, json_output=logs.json_output)
    try:
        settings = IngestSettings()
    except ValueError as exc:
        log.error("invalid_settings", error=str(exc))
        return 2
    asyncio.run(serve(settings, WorkerSettings()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
