"""Publishes events to SNS with `event_type` as a message attribute for subscription filters,
and, with tracing on, the publishing span's `traceparent` (see `omnigen.shared.telemetry`)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING

import structlog

from omnigen.shared.domain.events import Event
from omnigen.shared.telemetry.tracing import propagation_headers, span

if TYPE_CHECKING:
    from types_aiobotocore_sns import SNSClient
    from types_aiobotocore_sns.type_defs import (
        MessageAttributeValueTypeDef,
        PublishBatchRequestEntryTypeDef,
    )

log = structlog.get_logger()
_BATCH = 10  # SNS PublishBatch's most entries a call


class PublishRefused(Exception):
    """SNS refused an entry of a batch (e.g. throttled): the caller's message is retried."""


class SnsEventPublisher:
    def __init__(self, client: SNSClient, topic_arn: str) -> None:
        self._client = client
        self._topic_arn = topic_arn

    async def publish_all(self, events: Sequence[Event]) -> list[str]:
        """Publish `events` in as few calls as SNS allows (PublishBatch, 10 a call); returns
        their message ids in order. A batch entry SNS refuses raises `PublishRefused` (after
        the rest were sent; a retry of the whole call only repeats stable event ids)."""
        ids: list[str] = []
        for start in range(0, len(events), _BATCH):
            ids += await self._publish_batch(events[start : start + _BATCH])
        return ids

    async def _publish_batch(self, events: Sequence[Event]) -> list[str]:
        if len(events) == 1:
            return [await self.publish(events[0])]
        kinds = sorted({e.event_type.value for e in events})
        with span(
            f"publish {','.join(kinds)}",
            kind="producer",
            attributes={
                "messaging.system": "aws_sns",
                "messaging.batch.message_count": len(events),
            },
        ):
            entries: list[PublishBatchRequestEntryTypeDef] = [
                {"Id": str(i), "Message": e.to_json(), "MessageAttributes": self._attributes(e)}
                for i, e in enumerate(events)
            ]
            response = await self._client.publish_batch(
                TopicArn=self._topic_arn, PublishBatchRequestEntries=entries
            )
        if response.get("Failed"):
            failed = response["Failed"][0]
            raise PublishRefused(f"SNS refused a batch entry: {failed.get('Code')}")
        ids = {item["Id"]: item["MessageId"] for item in response.get("Successful", [])}
        for i, event in enumerate(events):
            log.info(
                "event_published",
                event_type=event.event_type.value,
                published_event_id=str(event.event_id),
                job_id=event.job_id,
                message_id=ids.get(str(i)),
            )
        return [ids.get(str(i), "") for i in range(len(events))]

    def _attributes(self, event: Event) -> dict[str, MessageAttributeValueTypeDef]:
        attributes: dict[str, MessageAttributeValueTypeDef] = {
            "event_type": {"DataType": "String", "StringValue": event.event_type.value},
            "schema_version": {"DataType": "Number", "StringValue": str(event.schema_version)},
            "trace_id": {"DataType": "String", "StringValue": event.trace_id},
        }
        # The publishing span's W3C trace context: the consumer's span becomes its child.
        for name, value in propagation_headers().items():
            attributes[name] = {"DataType": "String", "StringValue": value}
        return attributes

    async def publish(self, event: Event) -> str:
        with span(
            f"publish {event.event_type.value}",
            kind="producer",
            attributes={
                "messaging.system": "aws_sns",
                "omnigen.event_type": event.event_type.value,
                "omnigen.event_id": str(event.event_id),
                "omnigen.job_id": event.job_id or "",
            },
        ):
            response = await self._client.publish(
                TopicArn=self._topic_arn,
                Message=event.to_json(),
                MessageAttributes=self._attributes(event),
            )
        log.info(
            "event_published",
            event_type=event.event_type.value,
            published_event_id=str(event.event_id),
            job_id=event.job_id,
            message_id=response["MessageId"],
        )
        return response["MessageId"]


async def find_topic_arn(client: SNSClient, name: str) -> str:
    """The ARN of an existing topic, by name (services never create resources)."""
    paginator = client.get_paginator("list_topics")
    async for page in paginator.paginate():
        for topic in page.get("Topics", []):
            if topic["TopicArn"].rsplit(":", 1)[-1] == name:
                return topic["TopicArn"]
    raise LookupError(f"SNS topic {name!r} does not exist; run omnigen-bootstrap first")


def unwrap_notification(body: str) -> tuple[str, str | None]:
    """An SQS body delivered by SNS without raw delivery is SNS's envelope: returns the message
    the publisher published and the topic SNS says it came through. Any other body (sent to
    the queue directly, or raw delivery) is returned as it is, with no topic."""
    try:
        envelope = json.loads(body)
    except ValueError:
        return body, None
    if not isinstance(envelope, dict) or envelope.get("Type") != "Notification":
        return body, None
    message, topic_arn = envelope.get("Message"), envelope.get("TopicArn")
    if not isinstance(message, str) or not isinstance(topic_arn, str):
        return body, None
    return message, topic_arn
