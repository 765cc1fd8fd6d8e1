"""The SQS consumer every service runs.

Long-polls its queue, runs one plain async handler per event type with bounded concurrency,
keeps each running message invisible with a heartbeat, deletes successes in batches and backs
off failures through the visibility timeout, so that poison messages reach the DLQ through the
queue's redrive policy instead of looping. `stop()` (wired to SIGTERM) stops polling, gives
running handlers a deadline, and hands every unfinished message back to the queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import time
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import structlog
from structlog.contextvars import bound_contextvars

from omnigen.shared.adapters.aws import error_code
from omnigen.shared.adapters.sns import unwrap_notification
from omnigen.shared.domain.errors import InvalidEvent
from omnigen.shared.domain.events import Event, parse_event
from omnigen.shared.messages import (
    ConsumerSettings,
    EventT,
    FailureHook,
    Handler,
    MessageContext,
    PermanentFailure,
    PoisonHook,
    RetryLater,
    WorkLost,
)
from omnigen.shared.telemetry import catalog, metrics
from omnigen.shared.telemetry.tracing import event_span

if TYPE_CHECKING:
    from types_aiobotocore_sqs import SQSClient

log = structlog.get_logger()


@dataclass
class _Stats:
    received: int = 0
    succeeded: int = 0
    retried: int = 0
    poisoned: int = 0
    released: int = 0
    settled: int = 0
    lost: int = 0  # stopped by the heartbeat: another receive or worker holds the work


@dataclass
class Consumer:
    """One queue, handlers registered per event type, `run()` until `stop()`."""

    sqs: SQSClient
    queue_name: str
    settings: ConsumerSettings = field(default_factory=ConsumerSettings)
    on_poison: PoisonHook | None = None
    on_failure: FailureHook | None = None
    # The queue's subscriptions deliver SNS envelopes: handlers get the published message as
    # the body and the topic it came through as `MessageContext.topic_arn`.
    sns_envelopes: bool = False

    def __post_init__(self) -> None:
        self._handlers: dict[type[Event], Handler[Event]] = {}
        self._stopping = asyncio.Event()
        self._running: dict[asyncio.Task[None], MessageContext] = {}
        self._deletes: asyncio.Queue[MessageContext] = asyncio.Queue()
        self._slot_freed = asyncio.Event()
        self._queue_url = ""
        self._max_receive = self.settings.max_receive_count or 0
        self._stop_requested_at = 0.0
        self.stats = _Stats()

    def register(self, event_class: type[EventT], handler: Handler[EventT]) -> None:
        """Run `handler` for every event of `event_class` (one type and schema version)."""
        self._handlers[event_class] = handler  # type: ignore[assignment]

    def stop(self) -> None:
        if not self._stopping.is_set():
            self._stop_requested_at = time.monotonic()
        self._stopping.set()

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    async def run(self) -> None:
        await self._connect()
        deleter = asyncio.create_task(self._delete_loop(), name="sqs-deleter")
        log.info("consumer_started", queue=self.queue_name, max_receive=self._max_receive)
        try:
            await self._poll_loop()
        finally:
            await self._drain()
            self._deletes.put_nowait(_FLUSH_AND_EXIT)
            await deleter
            log.info("consumer_stopped", queue=self.queue_name, **vars(self.stats))

    # -- polling ----------------------------------------------------------------------------

    async def _connect(self) -> None:
        attempt = 0
        while not self.stopping:
            try:
                self._queue_url = (await self.sqs.get_queue_url(QueueName=self.queue_name))[
                    "QueueUrl"
                ]
                if not self._max_receive:
                    attributes = await self.sqs.get_queue_attributes(
                        QueueUrl=self._queue_url, AttributeNames=["RedrivePolicy"]
                    )
                    policy = json.loads(attributes["Attributes"].get("RedrivePolicy", "{}"))
                    self._max_receive = int(policy.get("maxReceiveCount", 0)) or 10
                return
            except Exception as exc:
                attempt += 1
                await self._backoff("consumer_connect_failed", exc, attempt)

    async def _poll_loop(self) -> None:
        failures = 0
        while not self.stopping:
            free = await self._free_slots()
            if free == 0:
                break
            try:
                messages = await self._receive(min(free, 10))
                failures = 0
            except Exception as exc:
                failures += 1
                await self._backoff("receive_failed", exc, failures)
                continue
            for message in messages:
                context = self._context(message)
                if self.stopping:
                    await self._release(context)
                    continue
                task = asyncio.create_task(self._process(context), name=context.message_id)
                self._running[task] = context
                task.add_done_callback(self._finished)

    async def _free_slots(self) -> int:
        """Wait until a handler slot is free (or we are stopping); 0 means stop. While other
        handlers still run, give more slots `receive_gather_s` to free up first, so that one
        receive brings a batch instead of one message per call."""
        limit = self.settings.max_concurrency
        await self._until_free(1)
        if self._running and limit - len(self._running) < self.settings.receive_batch:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    self._until_free(self.settings.receive_batch), self.settings.receive_gather_s
                )
        return 0 if self.stopping else limit - len(self._running)

    async def _until_free(self, slots: int) -> None:
        while self.settings.max_concurrency - len(self._running) < slots and not self.stopping:
            self._slot_freed.clear()
            freed = asyncio.ensure_future(self._slot_freed.wait())
            stopping = asyncio.ensure_future(self._stopping.wait())
            try:
                await asyncio.wait({freed, stopping}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                freed.cancel()
                stopping.cancel()

    async def _receive(self, count: int) -> list[Any]:
        """One long poll. If asked to stop meanwhile, the poll is not abandoned: the server
        could still hand it messages (hidden for a whole visibility timeout); it is awaited
        (at most `wait_time_s`) and the caller releases whatever it brought."""
        response = await self.sqs.receive_message(
            QueueUrl=self._queue_url,
            MaxNumberOfMessages=count,
            WaitTimeSeconds=self.settings.wait_time_s,
            VisibilityTimeout=self.settings.visibility_timeout_s,
            MessageSystemAttributeNames=["ApproximateReceiveCount", "SentTimestamp"],
            MessageAttributeNames=["All"],
        )
        return list(response.get("Messages", []))

    def _context(self, message: dict[str, Any]) -> MessageContext:
        self.stats.received += 1
        body, topic_arn = message["Body"], None
        if self.sns_envelopes:
            body, topic_arn = unwrap_notification(body)
        system = message.get("Attributes", {})
        sent = system.get("SentTimestamp")
        return MessageContext(
            message_id=message["MessageId"],
            receipt_handle=message["ReceiptHandle"],
            receive_count=int(system.get("ApproximateReceiveCount", 1)),
            max_receive_count=self._max_receive,
            body=body,
            topic_arn=topic_arn,
            attributes={
                name: value["StringValue"]
                for name, value in message.get("MessageAttributes", {}).items()
                if value.get("DataType") == "String" and "StringValue" in value
            },
            sent_at=int(sent) / 1000 if sent and sent.isdigit() else None,
        )

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._running.pop(task, None)
        self._slot_freed.set()

    # -- one message ------------------------------------------------------------------------

    async def _process(self, context: MessageContext) -> None:
        try:
            event = parse_event(context.body)
        except InvalidEvent as exc:
            await self._poison(context, str(exc))
            return
        handler = self._handlers.get(type(event))
        if handler is None:
            await self._poison(
                context,
                f"no handler for {event.event_type.value} v{event.schema_version} on this queue",
            )
            return
        with (
            bound_contextvars(
                job_id=event.job_id,
                event_id=str(event.event_id),
                trace_id=event.trace_id,
                event_type=event.event_type.value,
                receive_count=context.receive_count,
            ),
            event_span(
                f"{self.queue_name} process",
                event.trace_id,
                context.attributes,
                attributes={
                    "messaging.system": "aws_sqs",
                    "messaging.destination.name": self.queue_name,
                    "messaging.message.id": context.message_id,
                    "omnigen.event_type": event.event_type.value,
                    "omnigen.job_id": event.job_id or "",
                    "omnigen.receive_count": context.receive_count,
                },
            ),
        ):
            if context.sent_at is not None:
                lag_ms = max(0.0, (time.time() - context.sent_at) * 1000)
                await metrics.record(catalog.QUEUE_LAG, round(lag_ms, 1))
            lost = asyncio.Event()
            work = asyncio.current_task()
            assert work is not None
            heartbeat = asyncio.create_task(self._heartbeat(context, work, lost))
            try:
                await handler(event, context)
            except PermanentFailure as exc:
                await self._settle(event, context, str(exc))
            except asyncio.CancelledError:
                if not lost.is_set():
                    raise
                work.uncancel()  # stopped by its own heartbeat: the message is someone else's
                self.stats.lost += 1
                log.warning("work_stopped", reason="the message or its step is held elsewhere")
            except Exception as exc:
                await self._retry(event, context, exc)
            else:
                self.stats.succeeded += 1
                self._deletes.put_nowait(context)
            finally:
                heartbeat.cancel()

    async def _heartbeat(
        self, context: MessageContext, work: asyncio.Task[None], lost: asyncio.Event
    ) -> None:
        """Keep the message invisible and run the handler's keep-alives (its step's lease).
        When this receive can no longer hold the message (its receipt is stale, or the message
        would be visible to others before we could try again) or a keep-alive says the work is
        someone else's, stop the handler: two workers must not do one message's work."""
        held_until = time.monotonic() + self.settings.visibility_timeout_s
        while True:
            await asyncio.sleep(self.settings.heartbeat_s)
            try:
                await self.sqs.change_message_visibility(
                    QueueUrl=self._queue_url,
                    ReceiptHandle=context.receipt_handle,
                    VisibilityTimeout=self.settings.visibility_timeout_s,
                )
                for keep_alive in context.keep_alive:
                    await keep_alive()
                held_until = time.monotonic() + self.settings.visibility_timeout_s
                log.debug("visibility_extended", message_id=context.message_id)
            except WorkLost as exc:
                log.warning("heartbeat_lost_work", message_id=context.message_id, error=str(exc))
            except Exception as exc:
                code = error_code(exc)
                log.warning("heartbeat_failed", message_id=context.message_id, code=code)
                stale = code in _STALE_RECEIPT
                if not stale and time.monotonic() + self.settings.heartbeat_s < held_until:
                    continue  # a passing fault: the message stays hidden until the next try
            else:
                continue
            lost.set()
            work.cancel()
            return

    async def _poison(self, context: MessageContext, reason: str) -> None:
        """A message no handler can process: fail its job, then let redrive move it to the DLQ."""
        self.stats.poisoned += 1
        log.error(
            "poison_message",
            message_id=context.message_id,
            receive_count=context.receive_count,
            reason=reason,
        )
        if self.on_poison is not None:
            await _quietly(self.on_poison(reason, context), "poison_hook_failed")
        await self._set_visibility(context, 0)

    async def _retry(self, event: Event, context: MessageContext, exc: Exception) -> None:
        reason = f"{type(exc).__name__}: {exc}"
        if context.is_last_attempt:
            log.error("handler_gave_up", attempts=context.receive_count, error=reason)
            if self.on_failure is not None:
                message = f"gave up after {context.receive_count} attempts: {reason}"
                await _quietly(self.on_failure(event, context, message), "failure_hook_failed")
            await self._set_visibility(context, 0)
            return
        self.stats.retried += 1
        delay = self.settings.retry_delay(context.receive_count)
        if isinstance(exc, RetryLater):  # the handler's own schedule (SQS's cap: 12 h)
            delay = max(0, min(exc.delay_s, MAX_VISIBILITY_S))
            log.info("handler_retries_later", reason=str(exc), retry_in_s=delay)
        else:
            log.warning("handler_failed", error=reason, retry_in_s=delay, exc_info=exc)
        await self._set_visibility(context, delay)

    async def _settle(self, event: Event, context: MessageContext, reason: str) -> None:
        self.stats.settled += 1
        log.error("handler_failed_permanently", reason=reason)
        if self.on_failure is not None:
            await _quietly(self.on_failure(event, context, reason), "failure_hook_failed")
        self._deletes.put_nowait(context)

    async def _release(self, context: MessageContext) -> None:
        self.stats.released += 1
        await self._set_visibility(context, 0)

    async def _set_visibility(self, context: MessageContext, seconds: int) -> None:
        try:
            await self.sqs.change_message_visibility(
                QueueUrl=self._queue_url,
                ReceiptHandle=context.receipt_handle,
                VisibilityTimeout=seconds,
            )
        except Exception as exc:
            log.warning("visibility_change_failed", message_id=context.message_id, error=str(exc))

    # -- deletes and shutdown ---------------------------------------------------------------

    async def _delete_loop(self) -> None:
        """Delete successes in batches of up to 10, gathered for at most `delete_window_s`
        after the first; on the exit marker, flush what is left and return."""
        exiting = False
        while not (exiting and self._deletes.empty()):
            item = self._deletes.get_nowait() if exiting else await self._deletes.get()
            batch: list[MessageContext] = []
            deadline = time.monotonic() + self.settings.delete_window_s
            while True:
                if item is _FLUSH_AND_EXIT:
                    exiting = True
                else:
                    batch.append(item)
                if len(batch) == 10:
                    break
                if not self._deletes.empty():
                    item = self._deletes.get_nowait()
                    continue
                remaining = deadline - time.monotonic()
                if exiting or not batch or remaining <= 0:
                    break
                try:
                    item = await asyncio.wait_for(self._deletes.get(), remaining)
                except TimeoutError:
                    break
            if batch:
                await self._delete_batch(batch)

    async def _delete_batch(self, batch: list[MessageContext]) -> None:
        entries = [
            {"Id": str(i), "ReceiptHandle": ctx.receipt_handle} for i, ctx in enumerate(batch)
        ]
        for attempt in range(1, 6):
            try:
                response = await self.sqs.delete_message_batch(
                    QueueUrl=self._queue_url,
                    Entries=entries,  # type: ignore[arg-type]
                )
            except Exception as exc:
                await self._backoff("delete_failed", exc, attempt)
                continue
            retryable = set()
            for failure in response.get("Failed", []):
                log.error(
                    "delete_rejected", code=failure.get("Code"), reason=failure.get("Message")
                )
                if not failure.get("SenderFault"):
                    retryable.add(failure["Id"])
            entries = [entry for entry in entries if entry["Id"] in retryable]
            if not entries:
                return
        log.error("delete_abandoned", count=len(entries))

    async def _drain(self) -> None:
        if not self._running:
            return
        log.info("consumer_draining", in_flight=len(self._running))
        tasks = set(self._running)
        # The deadline runs from the stop request, so the last poll does not extend it.
        deadline = self._stop_requested_at + self.settings.drain_timeout_s
        _done, pending = await asyncio.wait(tasks, timeout=max(deadline - time.monotonic(), 0.1))
        for task in pending:
            context = self._running.get(task)
            task.cancel()
            if context is not None:
                await self._release(context)
        if pending:
            await asyncio.wait(pending, timeout=5)
            log.warning("consumer_released_unfinished", count=len(pending))

    async def _backoff(self, what: str, exc: BaseException, attempt: int) -> None:
        delay = min(self.settings.reconnect_max_s, 0.2 * 2 ** min(attempt, 10))
        delay *= random.uniform(0.5, 1.0)  # noqa: S311 - jitter, not cryptography
        log.warning(what, error=str(exc), code=error_code(exc), attempt=attempt, retry_in_s=delay)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), timeout=delay)


MAX_VISIBILITY_S = 43200
_FLUSH_AND_EXIT: Any = object()
# SQS's answers to a receipt handle that a later receive of the message replaced.
_STALE_RECEIPT = frozenset(
    {
        "ReceiptHandleIsInvalid",
        "InvalidParameterValue",
        "AWS.SimpleQueueService.InvalidReceiptHandle",
    }
)


async def _quietly(awaitable: Awaitable[None], what: str) -> None:
    try:
        await awaitable
    except Exception as exc:
        log.error(what, error=str(exc), exc_info=exc)
