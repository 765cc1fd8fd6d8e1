"""Publishes events to SNS with `event_type` as a message attribute for subscription filters."""

from __future__ import annotations

from typing import TYPE_CHECKING

import structlog

from omnigen.shared.domain.events import Event

if TYPE_CHECKING:
    from types_aiobotocore_sns import SNSClient

log = structlog.get_logger()


class SnsEventPublisher:
    def __init__(self, client: SNSClient, topic_arn: str) -> None:
        self._client = client
        self._topic_arn = topic_arn

    async def publish(self, event: Event) -> str:
        response = await self._client.publish(
            TopicArn=self._topic_arn,
            Message=event.to_json(),
            MessageAttributes={
                "event_type": {"DataType": "String", "StringValue": event.event_type.value},
                "schema_version": {"DataType": "Number", "StringValue": str(event.schema_version)},
                "trace_id": {"DataType": "String", "StringValue": event.trace_id},
            },
        )
        log.info(
            "event_published",
            event_type=event.event_type.value,
            published_event_id=str(event.event_id),
            job_id=event.job_id,
            message_id=response["MessageId"],
        )
        return response["MessageId"]
