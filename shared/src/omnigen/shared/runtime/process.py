"""The process around any service: settings read once (a bad one exits 2 naming it, never its
value), waiting for its resources, and SIGTERM/SIGINT stopping every part so each drains. No
job workflow here: a service that fails no job (the webhooks worker) runs on this alone."""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Protocol, TypeVar

import structlog
from pydantic import ValidationError
from pydantic_settings import BaseSettings

from omnigen.shared.adapters.aws import AwsClients
from omnigen.shared.adapters.sns import find_topic_arn
from omnigen.shared.logging import configure_logging
from omnigen.shared.resources import Queue, ResourceSpec
from omnigen.shared.settings import LogSettings, TelemetrySettings
from omnigen.shared.telemetry import configure_telemetry

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
    topic: str | Callable[[], Awaitable[str]] | None,
    deadline_s: float,
    clock: Callable[[], float] = time.monotonic,
) -> str:
    """The events topic's ARN once the jobs table, the topic and `queue` all exist, retrying
    with capped exponential backoff (a log line per retry naming what is missing) until
    `deadline_s` has passed, then ResourcesMissing naming them (the names are the operator's
    own; they go to the log, nowhere else). `topic` is the configured ARN (taken as it is),
    the lookup that finds it (`topic_lookup`), or None for a service that publishes nothing
    (then "" is returned)."""
    began = clock()
    delay = RESOURCE_RETRY_BASE_S
    while True:
        missing: list[str] = []
        found_arn = topic if isinstance(topic, str) else None if topic is not None else ""
        checks: list[tuple[str, Callable[[], Awaitable[object]]]] = [
            (f"DynamoDB table {spec.table.name}", _table_check(aws, spec.table.name)),
            (f"SQS queue {queue.name}", _queue_check(aws, queue.name)),
        ]
        for what, check in checks:
            if not await _exists(check):
                missing.append(what)
        if found_arn is None and topic is not None and not isinstance(topic, str):
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


def start_service(name: str, read: Callable[[], S]) -> S | None:
    """Configure logging for service `name`, then read its settings: `read()`, or None after
    logging each bad setting by its variable and what is wrong (never the value given: it may
    be a secret). Traces and metrics are set up as `TelemetrySettings` say."""
    try:
        logs = LogSettings()
    except ValidationError:
        logs = LogSettings.model_construct()  # defaults, so the problem below gets logged
    configure_logging(name, level=logs.level, json_output=logs.json_output)
    try:
        LogSettings()
        telemetry = TelemetrySettings()
        loaded = read()
    except ValidationError as exc:
        for setting, problem in settings_problems(exc):
            log.error("invalid_setting", setting=setting, problem=problem)
        return None
    configure_telemetry(name, tracing=telemetry.tracing, metrics=telemetry.metrics)
    return loaded


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
