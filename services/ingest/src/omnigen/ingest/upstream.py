"""The consumer of upstream job requests: the shared SQS runtime with its handlers registered
(a job request; the approval of a reviewed job's script)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import structlog

from omnigen.ingest.handlers import IngestPorts, handle_job_requested, reject_unparseable
from omnigen.ingest.review import handle_render_requested
from omnigen.ingest.trust import UNRESTRICTED, Origin, UpstreamTrust
from omnigen.ingest.versions import handle_regeneration_requested
from omnigen.shared.domain.events import JobRenderRequested, JobRequested, RegenerationRequested
from omnigen.shared.messages import ConsumerSettings, MessageContext
from omnigen.shared.runtime.consumer import Consumer

if TYPE_CHECKING:
    from types_aiobotocore_sqs import SQSClient

log = structlog.get_logger()


def build_consumer(
    sqs: SQSClient,
    queue_name: str,
    ports: IngestPorts,
    settings: ConsumerSettings,
    trust: UpstreamTrust | None = None,
) -> Consumer:
    """Every request gets an answer. Valid requests from a publisher that may act for their
    user become jobs; invalid or refused ones a `job.rejected` event (message deleted). The
    queue receives SNS envelopes: the topic a request came through names its publisher, whose
    rule in `trust` says which user ids it may act for (None: every publisher may act for any
    user, as before publishers had topics of their own). A body that is not a valid
    `job.requested` (unknown version, a `job_id`, a bad `data.request`, missing fields) is
    rejected too, naming the fields, when its sender can be identified (`user_id` and
    `data.request_id` readable), then deleted; the rest take the runtime's poison path to the
    DLQ, the reason logged."""
    queue_url: list[str] = []  # looked up once, when first needed

    def origin_of(context: MessageContext) -> Origin:
        return UNRESTRICTED if trust is None else trust.origin(context.topic_arn)

    async def on_job_requested(event: JobRequested, context: MessageContext) -> None:
        await handle_job_requested(ports, event, origin_of(context))

    async def on_render_requested(event: JobRenderRequested, context: MessageContext) -> None:
        await handle_render_requested(ports, event, origin_of(context))

    async def on_regeneration_requested(
        event: RegenerationRequested, context: MessageContext
    ) -> None:
        await handle_regeneration_requested(ports, event, origin_of(context))

    async def on_poison(reason: str, context: MessageContext) -> None:
        # A failed publish raises: the message stays, and is retried until the DLQ takes it.
        if await reject_unparseable(ports, context.body, reason, origin_of(context)):
            if not queue_url:
                queue_url.append((await sqs.get_queue_url(QueueName=queue_name))["QueueUrl"])
            # Answered: delete it now (the runtime's visibility reset that follows then finds
            # it gone). If this delete is lost, the redelivery publishes the same rejection id.
            await sqs.delete_message(QueueUrl=queue_url[0], ReceiptHandle=context.receipt_handle)
            return
        log.error(
            "job_request_unparseable",
            message_id=context.message_id,
            receive_count=context.receive_count,
            to_dlq_after=context.max_receive_count,
            reason=reason,
        )

    consumer = Consumer(
        sqs=sqs, queue_name=queue_name, settings=settings, on_poison=on_poison, sns_envelopes=True
    )
    consumer.register(JobRequested, on_job_requested)
    consumer.register(JobRenderRequested, on_render_requested)
    consumer.register(RegenerationRequested, on_regeneration_requested)
    return consumer
