"""The consumer of upstream job requests: the shared SQS runtime with one handler registered."""

from __future__ import annotations

from typing import TYPE_CHECKING

import structlog

from omnigen.ingest.handlers import IngestPorts, handle_job_requested
from omnigen.shared.domain.events import JobRequested
from omnigen.shared.messages import ConsumerSettings, MessageContext
from omnigen.shared.runtime.consumer import Consumer

if TYPE_CHECKING:
    from types_aiobotocore_sqs import SQSClient

log = structlog.get_logger()


def build_consumer(
    sqs: SQSClient, queue_name: str, ports: IngestPorts, settings: ConsumerSettings
) -> Consumer:
    """Valid requests become jobs, invalid ones a `job.rejected` event (message deleted);
    unparseable bodies take the runtime's poison path to the DLQ."""

    async def on_job_requested(event: JobRequested, _context: MessageContext) -> None:
        await handle_job_requested(ports, event)

    async def on_poison(reason: str, context: MessageContext) -> None:
        log.error(
            "job_request_unparseable",
            message_id=context.message_id,
            receive_count=context.receive_count,
            to_dlq_after=context.max_receive_count,
            reason=reason,
        )

    consumer = Consumer(sqs=sqs, queue_name=queue_name, settings=settings, on_poison=on_poison)
    consumer.register(JobRequested, on_job_requested)
    return consumer
