"""Running a service: settings read once (a bad one exits 2 naming it, never its value),
SIGTERM/SIGINT stop every part and let it drain, then the process exits 0 inside the ECS stop
timeout. `run_worker` is a whole worker's console script: its queue, the event it handles and
a factory for the handler; everything else is the same for every worker."""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import structlog
from pydantic import ValidationError
from pydantic_settings import BaseSettings

from omnigen.shared.adapters.aws import AwsClients
from omnigen.shared.adapters.dynamodb import DynamoJobRepository
from omnigen.shared.adapters.sns import SnsEventPublisher, find_topic_arn
from omnigen.shared.domain.events import Event
from omnigen.shared.logging import configure_logging
from omnigen.shared.messages import EventT, Handler
from omnigen.shared.ports import EventPublisher, JobRepository
from omnigen.shared.resources import Queue, ResourceSpec
from omnigen.shared.runtime.consumer import Consumer
from omnigen.shared.runtime.deadletters import DeadLetterWatcher
from omnigen.shared.settings import AwsSettings, LogSettings, WorkerSettings
from omnigen.shared.workflow import failure_hooks

if TYPE_CHECKING:
    from types_aiobotocore_sqs import SQSClient

log = structlog.get_logger()
S = TypeVar("S")
EXIT_BAD_SETTINGS = 2
EXIT_RESOURCES_MISSING = 2
RESOURCE_RETRY_BASE_S = 0.5
RESOURCE_RETRY_MAX_S = 10.0


class ResourcesMissing(Exception):
    """The resources a service needs did not appear before its deadline."""

    def __init__(self, missing: list[str], waited_s: float) -> None:
        super().__init__(f"still missing after {waited_s:.0f} s: {', '.join(missing)}")
        self.missing = missing


async def wait_for_resources(
    aws: AwsClients,
    spec: ResourceSpec,
    *,
    queue: Queue,
    topic: str | Callable[[], Awaitable[str]],
    deadline_s: float,
    clock: Callable[[], float] = time.monotonic,
) -> str:
    """The events topic's ARN once the jobs table, the topic and `queue` all exist, retrying
    with capped exponential backoff (a log line per retry naming what is missing) until
    `deadline_s` has passed, then ResourcesMissing naming them (the names are the operator's
    own; they go to the log, nowhere else). `topic` is the configured ARN (taken as it is) or
    the lookup that finds it (`topic_lookup`)."""
    began = clock()
    delay = RESOURCE_RETRY_BASE_S
    while True:
        missing: list[str] = []
        found_arn = topic if isinstance(topic, str) else None
        checks: list[tuple[str, Callable[[], Awaitable[object]]]] = [
            (f"DynamoDB table {spec.table.name}", _table_check(aws, spec.table.name)),
            (f"SQS queue {queue.name}", _queue_check(aws, queue.name)),
        ]
        for what, check in checks:
            if not await _exists(check):
                missing.append(what)
        if found_arn is None and not isinstance(topic, str):
            try:
                found_arn = await topic()
            except Exception:
                missing.append(f"SNS topic {spec.events_topic.name}")
        if not missing and found_arn is not None:
            return found_arn
        waited = clock() - began
        if waited >= deadline_s:
            raise ResourcesMissing(missing, waited)
        pause = min(delay, RESOURCE_RETRY_MAX_S, max(0.0, deadline_s - waited))
        log.warning(
            "waiting_for_resources",
            missing=missing,
            retry_in_s=round(pause, 2),
            gives_up_in_s=round(deadline_s - waited, 1),
            hint="run omnigen-bootstrap",
        )
        await asyncio.sleep(pause)
        delay *= 2


def topic_lookup(aws: AwsClients, spec: ResourceSpec) -> Callable[[], Awaitable[str]]:
    """The events topic's ARN by name (needs sns:ListTopics; a deployment sets the ARN)."""

    async def lookup() -> str:
        return await find_topic_arn(await aws.sns(), spec.events_topic.name)

    return lookup


def _table_check(aws: AwsClients, name: str) -> Callable[[], Awaitable[object]]:
    async def check() -> object:  # a read every service may make; missing table: an error
        key = {"job_id": {"S": "__startup_probe__"}}
        return await (await aws.dynamodb()).get_item(TableName=name, Key=key)

    return check


def _queue_check(aws: AwsClients, name: str) -> Callable[[], Awaitable[object]]:
    async def check() -> object:
        return await (await aws.sqs()).get_queue_url(QueueName=name)

    return check


async def _exists(check: Callable[[], Awaitable[object]]) -> bool:
    try:
        await check()
    except Exception:  # not found, or the endpoint not answering yet: both mean "wait"
        return False
    return True


class Service(Protocol):
    """A part of a process that runs until told to stop (a consumer, an HTTP server)."""

    async def run(self) -> None: ...

    def stop(self) -> None: ...


async def run_until_signalled(
    services: Iterable[Service], *, on_stop: Callable[[], Awaitable[None]] | None = None
) -> None:
    """Run every part until SIGTERM or SIGINT (or until one of them ends), then stop them all
    and wait for each to drain."""
    services = list(services)
    loop = asyncio.get_running_loop()

    def stop(signame: str) -> None:
        log.info("shutdown_requested", signal=signame)
        for service in services:
            service.stop()

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop, sig.name)
    tasks = [asyncio.create_task(service.run()) for service in services]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for service in services:  # one part ended by itself: the process ends with it
            service.stop()
        for outcome in await asyncio.gather(*tasks, return_exceptions=True):
            if isinstance(outcome, BaseException):
                raise outcome
    finally:
        # A second signal while closing must not kill the process half-way through.
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, log.info, "shutdown_already_in_progress")
        if on_stop is not None:
            await on_stop()


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
) -> None:
    """`serve_worker` for a worker of several queues: one consumer and one DLQ watcher per
    route, the handlers the factory builds shared between them."""
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
            )
        )
    except ResourcesMissing as exc:
        log.error("resources_missing", error=str(exc), missing=exc.missing)
        return EXIT_RESOURCES_MISSING
    return 0


def start_service(name: str, read: Callable[[], S]) -> S | None:
    """Configure logging for service `name`, then read its settings: `read()`, or None after
    logging each bad setting by its variable and what is wrong (never the value given: it may
    be a secret)."""
    try:
        logs = LogSettings()
    except ValidationError:
        logs = LogSettings.model_construct()  # defaults, so the problem below gets logged
    configure_logging(name, level=logs.level, json_output=logs.json_output)
    try:
        LogSettings()
        return read()
    except ValidationError as exc:
        for setting, problem in settings_problems(exc):
            log.error("invalid_setting", setting=setting, problem=problem)
        return None


def settings_problems(exc: ValidationError) -> list[tuple[str, str]]:
    """(environment variable, message) per bad setting of a pydantic-settings class; the
    input value is never part of it."""
    prefix = _env_prefixes().get(exc.title, "")
    problems = []
    for error in exc.errors(include_input=False, include_url=False, include_context=False):
        field = ".".join(str(part) for part in error["loc"])
        variable = field.upper() if field.upper().startswith("OMNIGEN_") else f"{prefix}{field}"
        problems.append((variable.upper() if field else exc.title, error["msg"]))
    return problems


def _env_prefixes() -> dict[str, str]:
    """Every settings class loaded in this process, by name, with its env prefix."""
    found: dict[str, str] = {}
    todo: list[type[BaseSettings]] = [BaseSettings]
    while todo:
        cls = todo.pop()
        for sub in cls.__subclasses__():
            found[sub.__name__] = str(sub.model_config.get("env_prefix", ""))
            todo.append(sub)
    return found
