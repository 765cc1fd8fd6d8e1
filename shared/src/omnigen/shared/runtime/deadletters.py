"""The dead-letter watcher of a worker's queue: no job stays `processing` because SQS gave up.

SQS moves a message to the queue's DLQ by itself once its receives are used up, whether a
handler failed on each (the job is then already failed, by the consumer's failure hook) or the
worker was killed, handed the message back on SIGTERM, or let its visibility lapse (then no
code of ours ran at the end, and the job would stay `processing`). The watcher reads every
letter: a letter naming a job that has not ended fails it with a reason a user can read and
publishes job.failed (`fail_job`), then the letter is deleted (the failed job and its event
are the report; `omnigen retry JOB` runs the job again). A letter that names no job stays in
the DLQ for the operator (`omnigen dlq list`), hidden for `park_s` between two looks.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Callable
from typing import TYPE_CHECKING

import structlog

from omnigen.shared.adapters.aws import error_code
from omnigen.shared.domain.errors import InvalidEvent
from omnigen.shared.domain.events import Event, job_id_hint, parse_event
from omnigen.shared.ports import EventPublisher, JobRepository
from omnigen.shared.resources import Queue
from omnigen.shared.telemetry import catalog
from omnigen.shared.workflow import fail_job

if TYPE_CHECKING:
    from types_aiobotocore_sqs import SQSClient
    from types_aiobotocore_sqs.type_defs import MessageTypeDef

log = structlog.get_logger()


def interrupted_reason(work: str, attempts: int, job_id: str) -> str:
    """What the user reads when a step's receives were used up without a result."""
    return (
        f"{work} was interrupted {attempts} times without finishing (the worker stopped, or "
        f"kept failing); `omnigen retry {job_id}` runs it again"
    )


class DeadLetterWatcher:
    """`run()` until `stop()`: fail the job each dead letter of `queue` names, then delete it."""

    def __init__(
        self,
        sqs: SQSClient,
        queue: Queue,
        jobs: JobRepository,
        publisher: EventPublisher,
        *,
        work: str | Callable[[Event], str],
        wait_time_s: int = 20,
        park_s: int = 900,
    ) -> None:
        self.sqs = sqs
        self.queue = queue
        self.jobs = jobs
        self.publisher = publisher
        self.work = work
        self.wait_time_s = wait_time_s
        self.park_s = park_s
        self.failed = 0  # jobs this watcher failed
        self.kept = 0  # letters that name no job, left for the operator
        self._stopping = asyncio.Event()

    def stop(self) -> None:
        self._stopping.set()

    async def run(self) -> None:
        url = await self._queue_url()
        failures = 0
        while url is not None and not self._stopping.is_set():
            try:
                response = await self.sqs.receive_message(
                    QueueUrl=url,
                    MaxNumberOfMessages=10,
                    WaitTimeSeconds=self.wait_time_s,
                    VisibilityTimeout=self.park_s,
                )
                for letter in response.get("Messages", []):
                    await self._handle(url, letter)
                failures = 0
            except Exception as exc:
                failures += 1
                await self._backoff("dead_letter_watch_failed", exc, failures)
        log.info("dead_letter_watcher_stopped", queue=self.queue.dlq_name, failed=self.failed)

    async def _handle(self, url: str, letter: MessageTypeDef) -> None:
        body = letter["Body"]
        event: Event | None = None
        try:
            event = parse_event(body)
            job_id, trace_id = event.job_id, event.trace_id
        except InvalidEvent:
            job_id, trace_id = job_id_hint(body)[0], None
        if job_id is None:
            self.kept += 1
            log.warning("dead_letter_kept", message_id=letter["MessageId"], reason="names no job")
            return
        work = self.work if isinstance(self.work, str) else None
        if work is None:
            work = self.work(event) if event is not None else "the step"  # type: ignore[operator]
        reason = interrupted_reason(work, self.queue.max_receive_count, job_id)
        failed = await fail_job(
            self.jobs,
            self.publisher,
            job_id,
            reason,
            trace_id=trace_id,
            reason_class=catalog.REASON_DEAD_LETTER,
        )
        self.failed += failed is not None
        log.warning(
            "dead_letter_recorded",
            job_id=job_id,
            message_id=letter["MessageId"],
            job_failed_now=failed is not None,
        )
        await self.sqs.delete_message(QueueUrl=url, ReceiptHandle=letter["ReceiptHandle"])

    async def _queue_url(self) -> str | None:
        attempt = 0
        while not self._stopping.is_set():
            try:
                response = await self.sqs.get_queue_url(QueueName=self.queue.dlq_name)
                return response["QueueUrl"]
            except Exception as exc:
                attempt += 1
                await self._backoff("dead_letter_queue_lookup_failed", exc, attempt)
        return None

    async def _backoff(self, what: str, exc: BaseException, attempt: int) -> None:
        delay = min(30.0, 0.2 * 2 ** min(attempt, 10)) * random.uniform(0.5, 1.0)  # noqa: S311
        log.warning(what, code=error_code(exc), attempt=attempt, retry_in_s=round(delay, 2))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), timeout=delay)
