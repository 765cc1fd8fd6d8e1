"""Everything a request or an upstream message needs, built once per process from settings."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import httpx

from omnigen.ingest.auth import TokenVerifier, build_verifier
from omnigen.ingest.handlers import IngestPorts
from omnigen.ingest.limits import RateLimiter, TokenBucketLimiter, WindowRateLimiter
from omnigen.ingest.readiness import ReadinessProbe
from omnigen.ingest.settings import IngestSettings
from omnigen.ingest.sse import SharedJobReads, StreamSlots
from omnigen.ingest.uploads import UploadAccess
from omnigen.ingest.webhooks import WebhookAccess
from omnigen.shared.adapters.aws import AwsClients
from omnigen.shared.adapters.dynamodb import DynamoJobRepository
from omnigen.shared.adapters.netguard import UrlGuard
from omnigen.shared.adapters.rate_windows import DynamoRateWindows
from omnigen.shared.adapters.s3 import S3AssetStore
from omnigen.shared.adapters.sns import SnsEventPublisher
from omnigen.shared.adapters.upload_store import DynamoUploadStore
from omnigen.shared.adapters.webhook_store import DynamoWebhookStore


@dataclass
class IngestContext:
    settings: IngestSettings
    ports: IngestPorts
    verifier: TokenVerifier
    limiter: RateLimiter
    readiness: ReadinessProbe
    streams: StreamSlots
    job_reads: SharedJobReads  # one read per job serves all its event streams
    stopping: asyncio.Event = field(default_factory=asyncio.Event)  # set on SIGTERM: end streams


@asynccontextmanager
async def open_context(
    aws: AwsClients, settings: IngestSettings, *, events_topic_arn: str
) -> AsyncIterator[IngestContext]:
    """Adapters over the shared AWS clients, plus the HTTP client that fetches signing keys."""
    spec = settings.resources
    async with httpx.AsyncClient(timeout=settings.auth_jwks_timeout_s) as http:
        assets = S3AssetStore(await aws.s3(), spec.bucket.name, presigner=await aws.s3_presigner())
        ports = IngestPorts(
            repository=DynamoJobRepository(await aws.dynamodb(), spec.table),
            publisher=SnsEventPublisher(await aws.sns(), events_topic_arn),
            assets=assets,
            model_writes_scripts=settings.script_writer == "openai",
            webhooks=WebhookAccess(
                store=DynamoWebhookStore(await aws.dynamodb(), spec.table),
                guard=UrlGuard(allow_loopback=settings.webhooks_allow_loopback),
                requeue=await webhook_requeue(aws, spec.webhooks_queue.name),
            ),
            uploads=UploadAccess(
                store=DynamoUploadStore(await aws.dynamodb(), spec.table),
                presigner=assets,
                assets=assets,
            ),
        )
        yield IngestContext(
            settings=settings,
            ports=ports,
            verifier=build_verifier(settings, http),
            limiter=await rate_limiter(aws, settings),
            readiness=ReadinessProbe(
                aws,
                table=spec.table.name,
                topic_arn=events_topic_arn,
                bucket=spec.bucket.name,
                timeout_s=settings.readiness_timeout_s,
            ),
            streams=StreamSlots(settings.sse_max_streams_per_user),
            job_reads=SharedJobReads(
                ports.repository.get_job,
                base_s=settings.sse_poll_interval_s,
                max_s=settings.sse_poll_max_interval_s,
            ),
        )


async def rate_limiter(aws: AwsClients, settings: IngestSettings) -> RateLimiter:
    """The per-user rate limit: windows in the jobs table shared by every task, or per process
    (`OMNIGEN_RATE_LIMIT_STORE=memory`)."""
    per_minute, burst = settings.rate_limit_per_minute, settings.rate_limit_burst
    if settings.rate_limit_store == "memory":
        return TokenBucketLimiter(per_minute=per_minute, burst=burst)
    windows = DynamoRateWindows(await aws.dynamodb(), settings.resources.table)
    return WindowRateLimiter(windows, per_minute=per_minute, burst=burst)


async def webhook_requeue(aws: AwsClients, queue_name: str) -> Callable[[str], Awaitable[None]]:
    """Puts an event back onto the webhooks queue (a resend); the queue is looked up once,
    when first needed."""
    sqs = await aws.sqs()
    url: list[str] = []

    async def requeue(body: str) -> None:
        if not url:
            url.append((await sqs.get_queue_url(QueueName=queue_name))["QueueUrl"])
        await sqs.send_message(QueueUrl=url[0], MessageBody=body)

    return requeue
