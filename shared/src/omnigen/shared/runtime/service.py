"""Running consumers as a service: SIGTERM/SIGINT stop polling and drain, then the process
exits 0 inside the ECS stop timeout."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING

import structlog

from omnigen.shared.ports import EventPublisher, JobRepository
from omnigen.shared.resources import Queue
from omnigen.shared.runtime.consumer import Consumer, Handler
from omnigen.shared.settings import WorkerSettings
from omnigen.shared.workflow import failure_hooks

if TYPE_CHECKING:
    from types_aiobotocore_sqs import SQSClient

log = structlog.get_logger()


async def run_until_signalled(
    consumers: Iterable[Consumer], *, on_stop: Callable[[], Awaitable[None]] | None = None
) -> None:
    """Run every consumer until SIGTERM or SIGINT, then let each drain."""
    consumers = list(consumers)
    loop = asyncio.get_running_loop()

    def stop(signame: str) -> None:
        log.info("shutdown_requested", signal=signame)
        for consumer in consumers:
            consumer.stop()

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop, sig.name)
    try:
        await asyncio.gather(*(consumer.run() for consumer in consumers))
    finally:
        # A second signal while closing must not kill the process half-way through.
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, log.info, "shutdown_already_in_progress")
        if on_stop is not None:
            await on_stop()


async def run_job_worker(
    sqs: SQSClient,
    queue: Queue,
    worker: WorkerSettings,
    *,
    event_type: str,
    handle: Handler,
    jobs: JobRepository,
    publisher: EventPublisher,
    on_stop: Callable[[], Awaitable[None]] | None = None,
) -> None:
    """A worker's whole run: `job_worker_consumer` until SIGTERM."""
    consumer = job_worker_consumer(
        sqs, queue, worker, event_type=event_type, handle=handle, jobs=jobs, publisher=publisher
    )
    await run_until_signalled([consumer], on_stop=on_stop)


def job_worker_consumer(
    sqs: SQSClient,
    queue: Queue,
    worker: WorkerSettings,
    *,
    event_type: str,
    handle: Handler,
    jobs: JobRepository,
    publisher: EventPublisher,
) -> Consumer:
    """A worker's consumer: its queue, one handler, and the failure hooks that fail a job whose
    message is poison or exhausted."""
    on_poison, on_failure = failure_hooks(jobs, publisher)
    consumer = Consumer(
        sqs,
        queue.name,
        worker.consumer_settings(queue),
        on_poison=on_poison,
        on_failure=on_failure,
    )
    consumer.register(event_type, handle)
    return consumer
