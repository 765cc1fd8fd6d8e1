"""Small reads of SQS queues that operators and tests share."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from types_aiobotocore_sqs import SQSClient

_Count = Literal["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]


async def queue_depth(sqs: SQSClient, url: str, *, in_flight: bool = True) -> int:
    """Messages in the queue at `url`: visible, and (with `in_flight`) those being worked on."""
    names: list[_Count] = ["ApproximateNumberOfMessages"]
    if in_flight:
        names.append("ApproximateNumberOfMessagesNotVisible")
    attributes = await sqs.get_queue_attributes(QueueUrl=url, AttributeNames=list(names))
    return sum(int(attributes["Attributes"][name]) for name in names)
