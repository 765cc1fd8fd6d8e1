"""Running a job worker: SIGTERM/SIGINT stop every part and let it drain, then the process
exits 0 inside the ECS stop timeout. `run_worker` is a whole worker's console script: its
queue, the event it handles and a factory for the handler; everything else is the same for
every worker. The process plumbing under it (settings, waiting for resources, signals) is
`runtime.process`, re-exported here."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import structlog

from omnigen.shared.adapters.aws import AwsClients
from omnigen.shared.adapters.dynamodb import DynamoJobRepository
from omnigen.shared.adapters.sns import SnsEventPublisher
from omnigen.shared.domain.events import Event
from omnigen.shared.messages import EventT, Handler
from omnigen.shared.ports import EventPublisher, JobRepository
from omnigen.shared.resources import Queue, ResourceSpec
from omnigen.shared.runtime.consumer import Consumer
from omnigen.shared.runtime.deadletters import DeadLetterWatcher
from omnigen.shared.runtime.process import (
    EXIT_BAD_SETTINGS,
    EXIT_RESOURCES_MISSING,
    RESOURCE_RETRY_BASE_S,
    RESOURCE_RETRY_MAX_S,
    ResourcesMissing,
    S,
    Service,
    run_until_signalled,
    settings_problems,
    start_service,
    topic_lookup,
    wait_for_resources,
)
from omnigen.shared.settings import AwsSettings, WorkerSettings
from omnigen.shared.workflow import failure_hooks

if TYPE_CHECKING:
    from types_aiobotocore_sqs import SQSClient

log = structlog.get_logger()

__all__ = [
    "EXIT_BAD_SETTINGS",
    "EXIT_RESOURCES_MISSING",
    "RESOURCE_RETRY_BASE_S",
    "RESOURCE_RETRY_MAX_S",
    "HandlerFactory",
    "ResourcesMissing",
    "Service",
    "WorkerContext",
    "job_worker_consumer",
    "run_until_signalled",
    "run_worker",
    "serve_worker",
    "settings_problems",
    "start_service",
    "topic_lookup",
    "wait_for_resources",
]


def job_worker_consumer(
    sqs: SQSClient,
    queue: Queue,
    worker: WorkerSettings,
    *,
    event: type[EventT],
    handle: Handler[EventT],
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
    consumer.register(event, handle)
    return consumer


@dataclass(frozen=True)
class WorkerContext:
    """What every worker has: the AWS clients, the resource names, the jobs table and the
    events topic. A handler factory builds its own further adapters from `aws`."""

    aws: AwsClients
    spec: ResourceSpec
    jobs: JobRepository
    publisher: EventPublisher
    lease_s: float  # how long a step's lease lasts between two heartbeats of its worker


HandlerFactory = Callable[[WorkerContext, S], AbstractAsyncContextManager[Handler[EventT]]]


@dataclass(frozen=True)
class Route:
    """One queue a worker consumes: the event types it handles there, and what its dead
    letters tell the user was interrupted (a text, or one made from the dead event)."""

    queue: Callable[[ResourceSpec], Queue]
    events: tuple[type[Event], ...]
    work: str | Callable[[Event], str] = "the step"


Handlers = Mapping[type[Event], Handler[Any]]
RoutesFactory = Callable[[WorkerContext, S], AbstractAsyncContextManager[Handlers]]
# Further parts a worker runs beside its routes' consumers (e.g. a poll of a queue that
# carries no events of ours); stopped and drained with them.
ServicesFactory = Callable[[WorkerContext, S], Awaitable[Sequence[Service]]]


async def serve_worker(
    aws_settings: AwsSettings,
    worker: WorkerSettings,
    service_settings: S,
    *,
    queue: Callable[[ResourceSpec], Queue],
    event: type[EventT],
    handler: HandlerFactory[S, EventT],
    work: str = "the step",
) -> None:
    """A worker's whole run: clients, the jobs table, the topic, the handler the factory
    builds (and closes at the end), one consumer of `queue` and the watcher of its DLQ (which
    fails a job whose message SQS gave up on: `work` names the step to the user) until
    SIGTERM."""

    @asynccontextmanager
    async def one(context: WorkerContext, settings: S) -> AsyncIterator[Handlers]:
        async with handler(context, settings) as handle:
            yield {event: handle}

    await serve_routes(
        aws_settings,
        worker,
        service_settings,
        routes=[Route(queue, (event,), work)],
        handlers=one,
    )


async def serve_routes(
    aws_settings: AwsSettings,
    worker: WorkerSettings,
    service_settings: S,
    *,
    routes: Sequence[Route],
    handlers: RoutesFactory[S],
    services: ServicesFactory[S] | None = None,
) -> None:
    """`serve_worker` for a worker of several queues: one consumer and one DLQ watcher per
    route, the handlers the factory builds shared between them, and the `services` parts."""
    spec = aws_settings.resources
    async with AwsClients(aws_settings) as aws:
        jobs = DynamoJobRepository(await aws.dynamodb(), spec.table)
        topic: str | Callable[[], Awaitable[str]] = worker.events_topic_arn or topic_lookup(
            aws, spec
        )
        for route in routes:
            topic = await wait_for_resources(
                aws, spec, queue=route.queue(spec), topic=topic, deadline_s=worker.resource_wait_s
            )
        assert isinstance(topic, str)
        publisher = SnsEventPublisher(await aws.sns(), topic)
        context = WorkerContext(
            aws=aws,
            spec=spec,
            jobs=jobs,
            publisher=publisher,
            lease_s=min(worker.step_lease_s(route.queue(spec)) for route in routes),
        )
        async with handlers(context, service_settings) as handle:
            parts: list[Service] = []
            for route in routes:
                queue = route.queue(spec)
                on_poison, on_failure = failure_hooks(jobs, publisher)
                consumer = Consumer(
                    await aws.sqs(),
                    queue.name,
                    worker.consumer_settings(queue),
                    on_poison=on_poison,
                    on_failure=on_failure,
                )
                for event in route.events:
                    consumer.register(event, handle[event])
                watcher = DeadLetterWatcher(
                    await aws.sqs(),
                    queue,
                    jobs,
                    publisher,
                    work=route.work,
                    wait_time_s=worker.wait_time_s,
                )
                parts += [consumer, watcher]
            if services is not None:
                parts += await services(context, service_settings)
            await run_until_signalled(parts)


def run_worker(
    name: str,
    *,
    settings: Callable[[], S],
    queue: Callable[[ResourceSpec], Queue],
    event: type[EventT],
    handler: HandlerFactory[S, EventT],
    work: str = "the step",
) -> int:
    """A worker's console script: logging, settings (exit 2 on a bad one), `serve_worker`."""
    loaded = start_service(name, lambda: (AwsSettings(), WorkerSettings(), settings()))
    if loaded is None:
        return EXIT_BAD_SETTINGS
    aws_settings, worker, service_settings = loaded
    try:
        asyncio.run(
            serve_worker(
                aws_settings,
                worker,
                service_settings,
                queue=queue,
                event=event,
                handler=handler,
                work=work,
            )
        )
    except ResourcesMissing as exc:
        log.error("resources_missing", error=str(exc), missing=exc.missing)
        return EXIT_RESOURCES_MISSING
    return 0


def run_routes(
    name: str,
    *,
    settings: Callable[[], S],
    routes: Callable[[S], Sequence[Route]],
    handlers: RoutesFactory[S],
    services: ServicesFactory[S] | None = None,
) -> int:
    """`run_worker` for a worker of several queues (`routes` may depend on its settings)."""
    loaded = start_service(name, lambda: (AwsSettings(), WorkerSettings(), settings()))
    if loaded is None:
        return EXIT_BAD_SETTINGS
    aws_settings, worker, service_settings = loaded
    try:
        asyncio.run(
            serve_routes(
                aws_settings,
                worker,
                service_settings,
                routes=routes(service_settings),
                handlers=handlers,
                services=services,
            )
        )
    except ResourcesMissing as exc:
        log.error("resources_missing", error=str(exc), missing=exc.missing)
        return EXIT_RESOURCES_MISSING
    return 0
