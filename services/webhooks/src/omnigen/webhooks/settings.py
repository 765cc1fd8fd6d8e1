"""The webhooks worker's settings (`OMNIGEN_WEBHOOKS_*`)."""

from __future__ import annotations

from pydantic import Field

from omnigen.shared.settings import WebhookGuardSettings


class DeliverySettings(WebhookGuardSettings):
    concurrency: int = Field(
        default=16,
        ge=1,
        le=64,
        description="deliveries in flight at once; each mostly waits on its receiver, so this "
        "worker runs more than OMNIGEN_WORKER_CONCURRENCY, which it does not read",
    )
    timeout_s: float = Field(
        default=5.0, gt=0, le=30, description="one attempt's whole time: connect, send, answer"
    )
    retry_base_s: float = Field(
        default=60.0, ge=0, description="the wait after the first failed attempt; doubles"
    )
    retry_max_s: float = Field(
        default=43200.0, ge=0, le=43200, description="the longest wait between two attempts"
    )
    max_client_errors: int = Field(
        default=3,
        ge=1,
        description="a target answering this many 4xx (other than 408, 425, 429 and 410) "
        "fails the delivery",
    )
    link_expiry_s: int = Field(
        default=3600,
        ge=60,
        le=7 * 24 * 3600,
        description="how long the presigned video and poster links in job.completed work",
    )
