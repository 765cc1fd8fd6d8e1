"""Delivering one outcome event to every target that wants it: the job's own `callback_url`
and each of its owner's endpoints subscribed to the event type. Plain async functions over
ports; retries come back through the queue (`RetryLater`), never by sleeping here.

Each event and target is one delivery record (its id made from both), so a redelivered message
never sends twice what was delivered: only targets still pending are tried again. Every
attempt is recorded; a 410 disables the endpoint; other 4xx fail the delivery after
`max_client_errors`; the rest retry with exponential backoff and jitter until the message's
receives run out and it lands in the DLQ (its deliveries marked dead-lettered; a redrive or a
resend tries them again).
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

import structlog
from standardwebhooks.webhooks import Webhook

from omnigen.shared.domain.events import (
    Event,
    JobCompleted,
    JobCompletedV2,
    JobFailed,
    ScriptAwaitingReview,
)
from omnigen.shared.domain.jobs import Job
from omnigen.shared.domain.webhooks import (
    JOB_CALLBACK,
    Attempt,
    AwaitingReviewData,
    CompletedData,
    Delivery,
    DeliveryStatus,
    FailedData,
    JobCompletedWebhook,
    JobFailedWebhook,
    ScriptAwaitingReviewWebhook,
    SigningSecret,
    WebhookEndpoint,
    client_errors,
    decide,
    delivery_id,
    retry_delay_s,
    signing_secrets,
)
from omnigen.shared.messages import MessageContext, PermanentFailure, RetryLater
from omnigen.shared.ports import AssetStore, JobRepository, WebhookStore
from omnigen.webhooks.reads import GatheredReads, SharedReads
from omnigen.webhooks.sender import Sender
from omnigen.webhooks.settings import DeliverySettings

log = structlog.get_logger()
T = TypeVar("T")


@dataclass
class WebhookDeps:
    jobs: JobRepository
    store: WebhookStore
    assets: AssetStore
    sender: Sender
    settings: DeliverySettings
    clock: Callable[[], float] = time.time
    rng: random.Random = field(default_factory=random.Random)
    reads: SharedReads = field(default_factory=SharedReads)
    # The jobs the deliveries of one receive ask for: read together, one BatchGetItem.
    job_reads: GatheredReads[str, Job] = field(init=False)

    def __post_init__(self) -> None:
        self.job_reads = GatheredReads(self.jobs.get_jobs)


@dataclass(frozen=True)
class Target:
    target_id: str  # JOB_CALLBACK or an endpoint id
    url: str
    secrets: list[SigningSecret]


async def handle_outcome(event: Event, context: MessageContext, *, deps: WebhookDeps) -> None:
    """Deliver `event` to each target still owed it; `RetryLater` while any is pending."""
    if event.job_id is None:
        return
    # The owner's endpoints are read alongside the job (the event names its owner), so the
    # deliveries of one receive ask for them together and share the read.
    endpoints = _reading(owner_endpoints(event.user_id, deps))
    try:
        job = await deps.job_reads.get(event.job_id)
    except BaseException:
        endpoints.cancel()
        raise
    if job is None:
        endpoints.cancel()
        log.info("webhook_job_gone", reason="the job was deleted; nothing to deliver")
        return
    if job.user_id != event.user_id:  # the job is the authority on its owner
        endpoints.cancel()
        endpoints = _reading(owner_endpoints(job.user_id, deps))
    pending: list[Delivery] = []
    for target in await targets_for(event, job, await endpoints, deps):
        delivery = await deps.store.open_delivery(_new_delivery(event, job, target, deps))
        if delivery.status.is_final:
            continue
        delivery = await attempt(event, job, target, delivery, deps)
        if not delivery.status.is_final:
            pending.append(delivery)
    if not pending:
        return
    if context.is_last_attempt:
        for delivery in pending:
            await deps.store.set_delivery_status(delivery, DeliveryStatus.DEAD_LETTERED)
        log.error("webhook_out_of_attempts", deliveries=[d.delivery_id for d in pending])
    delay = retry_delay_s(
        context.receive_count,
        base_s=deps.settings.retry_base_s,
        max_s=deps.settings.retry_max_s,
        rng=deps.rng,
    )
    raise RetryLater(f"{len(pending)} webhook deliveries pending", delay)


async def owner_endpoints(owner: str, deps: WebhookDeps) -> list[WebhookEndpoint]:
    """The owner's endpoints, read together with the deliveries asking at the same moment
    (`SharedReads`: never an answer older than the request)."""
    return await deps.reads.get(("endpoints", owner), lambda: deps.store.endpoints(owner))


async def targets_for(
    event: Event, job: Job, endpoints: list[WebhookEndpoint], deps: WebhookDeps
) -> list[Target]:
    """The job's callback and its owner's `endpoints` that want the event."""
    owner = job.user_id
    found: list[Target] = []
    if job.callback_url:
        key = await deps.reads.get(("signing", owner), lambda: deps.store.signing_key(owner))
        found.append(Target(JOB_CALLBACK, job.callback_url, key.secrets if key else []))
    for endpoint in endpoints:
        if endpoint.wants(event.event_type.value):
            found.append(Target(endpoint.endpoint_id, endpoint.url, endpoint.secrets))
    return found


async def attempt(
    event: Event, job: Job, target: Target, delivery: Delivery, deps: WebhookDeps
) -> Delivery:
    """One POST to the target, recorded with what it did to the delivery."""
    now = deps.clock()
    secrets = signing_secrets(target.secrets, now)
    if not secrets:
        record = Attempt(at=now, latency_ms=0, error="no signing secret: create one first")
        return await deps.store.record_attempt(delivery, record, DeliveryStatus.FAILED)
    body = json.dumps(
        await webhook_payload(event, job, deps), separators=(",", ":"), ensure_ascii=False
    )
    headers = signed_headers(str(event.event_id), body, secrets, datetime.fromtimestamp(now, UTC))
    result = await deps.sender.send(target.url, body.encode(), headers)
    record = Attempt(
        at=now, status_code=result.status_code, latency_ms=result.latency_ms, error=result.error
    )
    if result.refused:
        status = DeliveryStatus.FAILED
    else:
        verdict = decide(
            result.status_code,
            client_errors_so_far=client_errors([*delivery.attempts, record]),
            max_client_errors=deps.settings.max_client_errors,
        )
        status = {
            "succeeded": DeliveryStatus.SUCCEEDED,
            "gone": DeliveryStatus.GONE,
            "failed": DeliveryStatus.FAILED,
            "retry": DeliveryStatus.PENDING,
        }[verdict]
    if status is DeliveryStatus.GONE and target.target_id != JOB_CALLBACK:
        await deps.store.disable_endpoint(target.target_id, "the receiver answered 410 Gone")
    log.info(
        "webhook_attempt",
        delivery_id=delivery.delivery_id,
        target=target.target_id,
        status_code=result.status_code,
        latency_ms=result.latency_ms,
        error=result.error,
        outcome=status.value,
    )
    return await deps.store.record_attempt(delivery, record, status)


def signed_headers(message_id: str, body: str, secrets: list[str], at: datetime) -> dict[str, str]:
    """Standard Webhooks headers; during a rotation's grace each live secret signs, and the
    signatures go space-separated in one `webhook-signature` (a receiver holding either secret
    verifies)."""
    signature = " ".join(Webhook(secret).sign(message_id, at, body) for secret in secrets)
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": signature,
    }


async def webhook_payload(event: Event, job: Job, deps: WebhookDeps) -> dict[str, object]:
    """The Standard Webhooks body for `event` (`domain.webhooks.WEBHOOK_PAYLOADS`); links are
    presigned afresh for every attempt."""
    occurred = event.occurred_at.isoformat()
    body: JobCompletedWebhook | JobFailedWebhook | ScriptAwaitingReviewWebhook
    if isinstance(event, JobCompleted | JobCompletedV2):
        expires = deps.settings.link_expiry_s
        poster = event.data.thumbnail_key

        async def link(key: object) -> str | None:
            return await deps.assets.presigned_url(key, expires) if isinstance(key, str) else None

        body = JobCompletedWebhook(
            timestamp=occurred,
            data=CompletedData(
                job_id=job.job_id,
                title=job.title,
                duration=event.data.duration,
                video_url=await deps.assets.presigned_url(event.data.video_key, expires),
                poster_url=await link(poster),
                captions_srt_url=await link(job.metadata.get("captions_srt_key")),
                captions_vtt_url=await link(job.metadata.get("captions_vtt_key")),
                links_expire_at=datetime.fromtimestamp(deps.clock() + expires, UTC).isoformat(),
                version=getattr(event.data, "version", 1),
            ),
        )
    elif isinstance(event, JobFailed):
        body = JobFailedWebhook(
            timestamp=occurred,
            data=FailedData(
                job_id=job.job_id, stage=event.data.stage, reason=event.data.error_message
            ),
        )
    elif isinstance(event, ScriptAwaitingReview):  # domain.webhooks.REVIEW_HOOK
        body = ScriptAwaitingReviewWebhook(
            timestamp=occurred,
            data=AwaitingReviewData(
                job_id=job.job_id, title=event.data.title, scene_count=event.data.scene_count
            ),
        )
    else:
        raise PermanentFailure(f"no webhook payload for {event.event_type.value}")
    return body.model_dump(mode="json")


def _reading(read: Coroutine[Any, Any, T]) -> asyncio.Task[T]:
    """`read` under way; should it be dropped, its failure is not reported as unretrieved."""
    task = asyncio.ensure_future(read)
    task.add_done_callback(lambda done: done.cancelled() or done.exception())
    return task


def _new_delivery(event: Event, job: Job, target: Target, deps: WebhookDeps) -> Delivery:
    now = deps.clock()
    return Delivery(
        delivery_id=delivery_id(str(event.event_id), target.target_id),
        job_id=job.job_id,
        owner=job.user_id,
        event_id=str(event.event_id),
        event_type=event.event_type.value,
        target=target.target_id,
        url=target.url,
        created_at=now,
        updated_at=now,
        event_body=event.to_json(),
    )
