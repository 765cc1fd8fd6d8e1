"""Operator tools for dead-letter queues: what is there and why, and a redrive that says what
it did with every letter.

What redrive means (docs/operating.md), per queue:
- a worker's queue (scripter, renderer): a letter's step runs again for a job that has not
  ended (it is re-queued, and the step's lease lets it take over from the holder that died); a
  failed job is re-opened as its next attempt first (`recovered`), as `omnigen retry` does,
  unless it was cancelled. A letter of a completed or deleted job is removed and reported; a
  letter that names no job stays in the DLQ.
- ingest's requests queue: an upstream request is re-queued whenever ingest can answer it
  (it parses, or its sender is readable: ingest then makes the job, idempotent on the request
  id, or publishes `job.rejected`); a body that names no sender stays.
- the webhooks queue: its letters are outcomes owed to receivers; they are re-queued while
  their job exists, whatever its state, and only the deliveries not made yet are tried.
- the outcomes queue: every outcome event is re-queued for its subscriber (its event id is
  stable, so a repeat is recognisable); only a body that is no event stays.
Listing never hides a letter, so a redrive right after a list moves what the list showed.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from omnigen.shared.adapters.aws import AwsClients
from omnigen.shared.adapters.dynamodb import DynamoJobRepository
from omnigen.shared.adapters.sns import unwrap_notification
from omnigen.shared.adapters.sqs import queue_depth
from omnigen.shared.domain.errors import InvalidEvent, JobNotFound, OmnigenError
from omnigen.shared.domain.events import job_id_hint, parse_event
from omnigen.shared.domain.jobs import ANNOUNCE_STEP, Job, LeaseClaim, clears_outbox
from omnigen.shared.domain.stages import JobStatus
from omnigen.shared.resources import Queue, ResourceSpec

if TYPE_CHECKING:
    from types_aiobotocore_sqs import SQSClient

Outcome = Literal["requeued", "recovered", "removed", "kept"]


@dataclass(frozen=True)
class DeadLetter:
    queue: str
    message_id: str
    receive_count: int
    event_type: str | None
    job_id: str | None
    problem: str | None  # why it cannot be parsed, if it cannot
    body: str
    why: str = ""  # why it died, as far as the job and the receive count tell


@dataclass(frozen=True)
class Redriven:
    """What redrive did with one letter, and why."""

    message_id: str
    job_id: str | None
    outcome: Outcome
    why: str


@dataclass(frozen=True)
class DlqDepth:
    queue: str
    dlq: str
    messages: int


def find_queue(spec: ResourceSpec, name: str) -> Queue:
    """A source queue by its name, its DLQ's name, or its short name (`renderer`)."""
    for queue in spec.queues:
        if name in (queue.name, queue.dlq_name, queue.name.removeprefix(f"{spec.prefix}-")):
            return queue
    known = ", ".join(q.name.removeprefix(f"{spec.prefix}-") for q in spec.queues)
    raise LookupError(f"no queue named {name!r} (known: {known})")


async def depths(aws: AwsClients, spec: ResourceSpec) -> list[DlqDepth]:
    """Letters in every DLQ, visible or in flight (a letter being looked at still counts)."""
    sqs = await aws.sqs()
    result = []
    for queue in spec.queues:
        url = (await sqs.get_queue_url(QueueName=queue.dlq_name))["QueueUrl"]
        result.append(DlqDepth(queue.name, queue.dlq_name, await queue_depth(sqs, url)))
    return result


async def peek(
    aws: AwsClients, queue: Queue, limit: int = 10, spec: ResourceSpec | None = None
) -> list[DeadLetter]:
    """Up to `limit` dead letters, read without hiding them (visibility 0), each with why it
    died: the job's state (with `spec`, the jobs table is read) and whether its receives were
    used up."""
    sqs = await aws.sqs()
    url = (await sqs.get_queue_url(QueueName=queue.dlq_name))["QueueUrl"]
    jobs = DynamoJobRepository(await aws.dynamodb(), spec.table) if spec else None
    seen: dict[str, DeadLetter] = {}
    quiet = 0
    while len(seen) < limit and quiet < 3:
        response = await sqs.receive_message(
            QueueUrl=url,
            MaxNumberOfMessages=min(10, limit - len(seen)),
            VisibilityTimeout=0,
            WaitTimeSeconds=1,
            MessageSystemAttributeNames=["ApproximateReceiveCount"],
        )
        fresh = [m for m in response.get("Messages", []) if m["MessageId"] not in seen]
        quiet = 0 if fresh else quiet + 1
        for message in fresh:
            letter = _describe(queue, message)
            seen[letter.message_id] = letter
        if not fresh and len(seen) >= await queue_depth(sqs, url):
            break
    letters = list(seen.values())
    if jobs is not None:
        letters = [await _with_why(jobs, queue, letter) for letter in letters]
    return letters


async def redrive(
    aws: AwsClients, queue: Queue, spec: ResourceSpec, limit: int | None = None
) -> list[Redriven]:
    """Every letter (up to `limit`) handled as the module says; returns what became of each."""
    sqs = await aws.sqs()
    jobs = DynamoJobRepository(await aws.dynamodb(), spec.table)
    dlq_url = (await sqs.get_queue_url(QueueName=queue.dlq_name))["QueueUrl"]
    source_url = (await sqs.get_queue_url(QueueName=queue.name))["QueueUrl"]
    report: dict[str, Redriven] = {}
    kept: list[str] = []  # receipt handles of letters that stay, shown again at the end
    empty_receives = 0
    while (limit is None or len(report) < limit) and empty_receives < 3:
        response = await sqs.receive_message(
            QueueUrl=dlq_url,
            MaxNumberOfMessages=10 if limit is None else min(10, limit - len(report)),
            VisibilityTimeout=60,
            WaitTimeSeconds=1,
            MessageAttributeNames=["All"],
        )
        messages = [m for m in response.get("Messages", []) if m["MessageId"] not in report]
        if not messages:
            # An empty receive is not an empty queue: stop only when the DLQ says so too.
            empty_receives = (
                3 if await queue_depth(sqs, dlq_url, in_flight=False) == 0 else empty_receives + 1
            )
            continue
        empty_receives = 0
        for message in messages:
            result = await _redrive_one(
                jobs, sqs, source_url, spec, queue, message, delivery=queue == spec.webhooks_queue
            )
            report[result.message_id] = result
            if result.outcome == "kept":
                kept.append(message["ReceiptHandle"])
            else:
                await sqs.delete_message(QueueUrl=dlq_url, ReceiptHandle=message["ReceiptHandle"])
    for handle in kept:  # visible again at once, for the operator's next look
        await sqs.change_message_visibility(
            QueueUrl=dlq_url, ReceiptHandle=handle, VisibilityTimeout=0
        )
    return list(report.values())


async def _redrive_one(
    jobs: DynamoJobRepository,
    sqs: SQSClient,
    source_url: str,
    spec: ResourceSpec,
    queue: Queue,
    message: Any,
    *,
    delivery: bool = False,
) -> Redriven:
    """`delivery`: the webhooks queue, whose letters are outcomes still owed to receivers: the
    job's state is not touched, the event is only delivered again (what was delivered is not
    sent twice)."""
    letter = _describe(queue, message)

    def result(outcome: Outcome, why: str) -> Redriven:
        return Redriven(letter.message_id, letter.job_id, outcome, why)

    async def requeue() -> None:
        send: dict[str, Any] = {"QueueUrl": source_url, "MessageBody": message["Body"]}
        if message.get("MessageAttributes"):
            send["MessageAttributes"] = message["MessageAttributes"]
        await sqs.send_message(**send)

    if queue.name == spec.ingest_queue.name:
        if letter.problem is not None and not _sender_readable(letter.body):
            return result("kept", f"names no sender ingest could answer: {letter.problem}")
        await requeue()
        return result("requeued", "an upstream request: ingest answers it again")
    if queue.name == spec.outcomes_queue.name:
        if letter.problem is not None:
            return result("kept", f"not an event: {letter.problem}")
        await requeue()
        return result("requeued", f"{letter.event_type} delivered again to its subscriber")
    if letter.job_id is None:
        return result("kept", f"names no job: {letter.problem or 'no job id'}")
    try:
        job = await jobs.get_job(letter.job_id)
    except JobNotFound:
        return result("removed", "the job was deleted")
    if delivery:
        await requeue()
        return result(
            "requeued",
            f"its {letter.event_type} webhooks are tried again (delivered ones are not resent)",
        )
    if job.status is JobStatus.COMPLETED:
        return result("removed", "the job already completed")
    if job.is_cancelled:
        return result("kept", "the job was cancelled; `omnigen retry` runs it again")
    if job.status is not JobStatus.FAILED:
        await requeue()
        return result(
            "requeued", f"the job is {job.status.value} at {job.stage}; its step runs again"
        )
    holder = uuid.uuid4().hex
    try:  # holding the announcing step, so that ingest's outbox sweeper does not also announce
        job = await jobs.reopen_job(job, lease=LeaseClaim(ANNOUNCE_STEP, holder, 30.0))
    except OmnigenError as exc:
        return result("kept", f"the job could not be re-opened: {exc}")
    await requeue()
    if letter.event_type is not None and clears_outbox(letter.event_type):
        # the letter is this attempt's announcement: it settles the attempt's outbox marker
        kind, event_id = job.published_key(letter.event_type), _event_id(letter.body)
        await jobs.record_published(job.job_id, kind, event_id)
    return result("recovered", f"the failed job runs again as attempt {job.attempt}")


def _event_id(body: str) -> str:
    return str(parse_event(body).event_id)


def _sender_readable(body: str) -> bool:
    """True when ingest can answer an unparseable request: `user_id` and `data.request_id`."""
    try:
        raw = json.loads(body)
    except ValueError:
        return False
    data = raw.get("data") if isinstance(raw, dict) else None
    return (
        isinstance(raw, dict)
        and isinstance(raw.get("user_id"), str)
        and isinstance(data, dict)
        and isinstance(data.get("request_id"), str)
    )


async def _with_why(jobs: DynamoJobRepository, queue: Queue, letter: DeadLetter) -> DeadLetter:
    used_up = letter.receive_count >= queue.max_receive_count
    receives = f"received {letter.receive_count} times (the queue allows {queue.max_receive_count})"
    if letter.problem is not None and letter.job_id is None:
        why = f"not an event of this queue: {letter.problem}"
    else:
        why = receives if used_up else "moved here by hand or by a peek"
    if letter.job_id is not None:
        try:
            job = await jobs.get_job(letter.job_id)
            why += f"; the job is {_state(job)}"
        except JobNotFound:
            why += "; the job was deleted"
    return DeadLetter(**{**letter.__dict__, "why": why})


def _state(job: Job) -> str:
    if job.status is JobStatus.FAILED:
        return f"failed at {job.stage}: {job.error_message}"
    return f"{job.status.value} at {job.stage}"


def _describe(queue: Queue, message: Any) -> DeadLetter:
    body = unwrap_notification(message["Body"])[0]  # the requests topics deliver envelopes
    event_type = job_id = problem = None
    try:
        event = parse_event(body)
        event_type, job_id = event.event_type.value, event.job_id
    except InvalidEvent as exc:
        problem = str(exc)
        job_id = job_id_hint(body)[0]
    return DeadLetter(
        queue=queue.dlq_name,
        message_id=message["MessageId"],
        receive_count=int(message.get("Attributes", {}).get("ApproximateReceiveCount", 0)),
        event_type=event_type,
        job_id=job_id,
        problem=problem,
        body=body,
    )
