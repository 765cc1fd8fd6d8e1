"""Operator tools for dead-letter queues: look at what is there, move it back to its source."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from omnigen.shared.adapters.aws import AwsClients
from omnigen.shared.domain.errors import InvalidEvent
from omnigen.shared.domain.events import parse_event
from omnigen.shared.resources import Queue, ResourceSpec


@dataclass(frozen=True)
class DeadLetter:
    queue: str
    message_id: str
    receive_count: int
    event_type: str | None
    job_id: str | None
    problem: str | None  # why it cannot be parsed, if it cannot
    body: str


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
    sqs = await aws.sqs()
    result = []
    for queue in spec.queues:
        url = (await sqs.get_queue_url(QueueName=queue.dlq_name))["QueueUrl"]
        attributes = await sqs.get_queue_attributes(
            QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"]
        )
        count = int(attributes["Attributes"]["ApproximateNumberOfMessages"])
        result.append(DlqDepth(queue.name, queue.dlq_name, count))
    return result


async def peek(aws: AwsClients, queue: Queue, limit: int = 10) -> list[DeadLetter]:
    """Read up to `limit` dead letters without removing them (they stay hidden for 2 s)."""
    sqs = await aws.sqs()
    url = (await sqs.get_queue_url(QueueName=queue.dlq_name))["QueueUrl"]
    seen: dict[str, DeadLetter] = {}
    while len(seen) < limit:
        response = await sqs.receive_message(
            QueueUrl=url,
            MaxNumberOfMessages=min(10, limit - len(seen)),
            VisibilityTimeout=2,
            WaitTimeSeconds=1,
            MessageSystemAttributeNames=["ApproximateReceiveCount"],
        )
        messages = response.get("Messages", [])
        if not messages:
            break
        for message in messages:
            seen.setdefault(message["MessageId"], _describe(queue.dlq_name, message))
    return list(seen.values())


async def redrive(aws: AwsClients, queue: Queue, limit: int | None = None) -> int:
    """Move dead letters back to the source queue (send, then delete); returns how many moved."""
    sqs = await aws.sqs()
    dlq_url = (await sqs.get_queue_url(QueueName=queue.dlq_name))["QueueUrl"]
    source_url = (await sqs.get_queue_url(QueueName=queue.name))["QueueUrl"]
    moved = 0
    while limit is None or moved < limit:
        batch = 10 if limit is None else min(10, limit - moved)
        response = await sqs.receive_message(
            QueueUrl=dlq_url,
            MaxNumberOfMessages=batch,
            VisibilityTimeout=30,
            WaitTimeSeconds=1,
            MessageAttributeNames=["All"],
        )
        messages = response.get("Messages", [])
        if not messages:
            break
        for message in messages:
            send: dict[str, Any] = {"QueueUrl": source_url, "MessageBody": message["Body"]}
            if message.get("MessageAttributes"):
                send["MessageAttributes"] = message["MessageAttributes"]
            await sqs.send_message(**send)
            await sqs.delete_message(QueueUrl=dlq_url, ReceiptHandle=message["ReceiptHandle"])
            moved += 1
    return moved


def _describe(queue: str, message: Any) -> DeadLetter:
    body = message["Body"]
    event_type = job_id = problem = None
    try:
        event = parse_event(body)
        event_type, job_id = event.event_type.value, event.job_id
    except InvalidEvent as exc:
        problem = str(exc)
    return DeadLetter(
        queue=queue,
        message_id=message["MessageId"],
        receive_count=int(message.get("Attributes", {}).get("ApproximateReceiveCount", 0)),
        event_type=event_type,
        job_id=job_id,
        problem=problem,
        body=body,
    )
