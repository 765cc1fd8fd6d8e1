"""Webhooks: a user's endpoints, a job's callback, what one delivery of one event to one target
went through, and the rules that decide what happens after an attempt.

Pure: no I/O. Resolving a host (the SSRF guard's second half) lives in
`adapters.netguard`; signing and sending live in the webhooks service.
"""

from __future__ import annotations

import base64
import ipaddress
import random
import secrets
import uuid
from collections.abc import Iterable, Sequence
from enum import StrEnum
from typing import Final, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field

from omnigen.shared.domain.errors import OmnigenError
from omnigen.shared.domain.events import EventType

# The events a webhook can carry: a job's outcome, and (review before render) its script
# waiting for its owner; script.ready stays an internal step.
REVIEW_HOOK: Final = EventType.SCRIPT_AWAITING_REVIEW.value
WEBHOOK_EVENTS: Final = (EventType.JOB_COMPLETED.value, EventType.JOB_FAILED.value, REVIEW_HOOK)
MAX_URL_LENGTH: Final = 2000
MAX_ENDPOINTS_PER_USER: Final = 10
MAX_ATTEMPTS_KEPT: Final = 30  # per delivery; older attempts are dropped from the record
SECRET_PREFIX: Final = "whsec_"  # noqa: S105 - the format's prefix, not a secret
SECRET_BYTES: Final = 32
MAX_GRACE_S: Final = 7 * 24 * 3600
JOB_CALLBACK: Final = "job"  # the target id of a job's own callback_url
_DELIVERY_IDS: Final = uuid.UUID("6a1d2c9e-3b4f-4e58-8a7b-0c1d2e3f4a5b")
# Metadata endpoints of cloud providers, refused whatever range they fall in.
METADATA_ADDRESSES: Final = frozenset(
    {ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")}
)


class UnsafeWebhookUrl(OmnigenError):
    """A webhook URL that omnigen will not call; the message says why (never an address of
    ours, only what the caller gave)."""


class WebhookNotFound(OmnigenError):
    def __init__(self, endpoint_id: str) -> None:
        super().__init__(f"webhook {endpoint_id} not found")
        self.endpoint_id = endpoint_id


class TooManyEndpoints(OmnigenError):
    def __init__(self, limit: int) -> None:
        super().__init__(f"at most {limit} webhooks per user; delete one first")
        self.limit = limit


def new_secret() -> str:
    """A Standard Webhooks secret: `whsec_` and 32 random bytes in base64."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def new_endpoint_id() -> str:
    return "wh_" + uuid.uuid4().hex


def delivery_id(event_id: str, target_id: str) -> str:
    """The same event to the same target is one delivery, however often it is received."""
    return "dl_" + uuid.uuid5(_DELIVERY_IDS, f"{event_id}\x00{target_id}").hex


# --- the SSRF guard, first half: what the URL says ---------------------------------------------


def check_url(url: str, *, allow_loopback: bool) -> tuple[str, int]:
    """(host, port) of a URL omnigen may call, else `UnsafeWebhookUrl`: https only (plain http
    only to a loopback host, and only when the local stack allows loopback), no credentials in
    it, and a literal address must be public (a name is resolved and checked by the caller)."""
    if len(url) > MAX_URL_LENGTH:
        raise UnsafeWebhookUrl(f"must be at most {MAX_URL_LENGTH} characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise UnsafeWebhookUrl(f"is not a valid URL ({exc})") from None
    host = parts.hostname
    if parts.scheme not in ("https", "http") or not host:
        raise UnsafeWebhookUrl("must be an absolute https:// URL")
    if parts.username is not None or parts.password is not None:
        raise UnsafeWebhookUrl("must not carry credentials")
    if any(ch.isspace() or ord(ch) < 0x20 for ch in url):
        raise UnsafeWebhookUrl("must not contain spaces or control characters")
    if parts.scheme == "http" and not (allow_loopback and _names_loopback(host)):
        raise UnsafeWebhookUrl("must use https")
    literal = _literal_address(host)
    if literal is not None:
        refusal = address_refusal(literal, allow_loopback=allow_loopback)
        if refusal:
            raise UnsafeWebhookUrl(f"points at {refusal}")
    return host, port or (443 if parts.scheme == "https" else 80)


def address_refusal(
    address: ipaddress.IPv4Address | ipaddress.IPv6Address, *, allow_loopback: bool
) -> str | None:
    """Why omnigen will not connect to `address` (None: it may): metadata, loopback (unless
    allowed), private, link-local, or otherwise not a public address."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if address in METADATA_ADDRESSES:
        return "a cloud metadata address"
    if address.is_loopback:
        return None if allow_loopback else "a loopback address"
    if address.is_link_local:
        return "a link-local address"
    if address.is_private:
        return "a private address"
    if address.is_multicast or address.is_reserved or address.is_unspecified:
        return "a reserved address"
    if not address.is_global:
        return "a non-public address"
    return None


def _literal_address(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def _names_loopback(host: str) -> bool:
    literal = _literal_address(host)
    return host.lower() == "localhost" if literal is None else literal.is_loopback


# --- secrets and rotation ----------------------------------------------------------------------


class SigningSecret(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    secret: str
    created_at: float
    expires_at: float | None = None  # set on the old secret by a rotation: its grace period

    def live(self, now: float) -> bool:
        return self.expires_at is None or now < self.expires_at


def rotated(
    current: Sequence[SigningSecret], new: str, *, now: float, grace_s: float
) -> list[SigningSecret]:
    """The secrets after a rotation: the new one, plus the previous current one signing along
    for `grace_s` (0: retired at once); secrets already past their grace are dropped."""
    kept = [
        s.model_copy(update={"expires_at": now + grace_s}) if s.expires_at is None else s
        for s in current
        if s.live(now)
    ]
    return [
        SigningSecret(secret=new, created_at=now),
        *[s for s in kept if s.expires_at is not None and s.expires_at > now],
    ]


def signing_secrets(stored: Iterable[SigningSecret], now: float) -> list[str]:
    """The secrets that sign a delivery now: the current one and any still in their grace."""
    return [s.secret for s in stored if s.live(now)]


class WebhookEndpoint(BaseModel):
    """A user's registered endpoint (`POST /v1/webhooks`)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    endpoint_id: str
    owner: str
    url: str
    event_types: list[str]
    secrets: list[SigningSecret]
    created_at: float
    disabled: bool = False
    disabled_reason: str | None = None

    def wants(self, event_type: str) -> bool:
        return not self.disabled and event_type in self.event_types


class SigningKey(BaseModel):
    """A user's secret for the callbacks of their jobs (`callback_url`)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    owner: str
    secrets: list[SigningSecret]


# --- deliveries --------------------------------------------------------------------------------


class DeliveryStatus(StrEnum):
    PENDING = "pending"  # not delivered yet; more attempts follow
    SUCCEEDED = "succeeded"
    GONE = "gone"  # the receiver answered 410: the target is disabled
    FAILED = "failed"  # a 4xx retried its share of times, or an address the guard refused
    DEAD_LETTERED = "dead_lettered"  # out of attempts: the event sits in the DLQ (redrive)

    @property
    def is_final(self) -> bool:
        return self in (DeliveryStatus.SUCCEEDED, DeliveryStatus.GONE, DeliveryStatus.FAILED)


class Attempt(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    at: float
    status_code: int | None = None
    latency_ms: int
    error: str | None = None


class Delivery(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    delivery_id: str
    job_id: str
    owner: str
    event_id: str
    event_type: str
    target: str  # JOB_CALLBACK or an endpoint id
    url: str
    status: DeliveryStatus = DeliveryStatus.PENDING
    attempts: list[Attempt] = Field(default_factory=list)
    created_at: float
    updated_at: float
    event_body: str  # the event as published, so that a resend can run it again


Decision = Literal["succeeded", "retry", "gone", "failed"]
RETRIED_4XX: Final = frozenset({408, 425, 429})


def decide(
    status_code: int | None, *, client_errors_so_far: int, max_client_errors: int
) -> Decision:
    """What an attempt's answer means: 2xx delivered; 410 the target is gone; 408, 425 and 429
    are retried like a 5xx or a network error; any other 4xx is retried until the target has
    answered `max_client_errors` of them (counting this one), then the delivery failed."""
    if status_code is not None and 200 <= status_code < 300:
        return "succeeded"
    if status_code == 410:
        return "gone"
    if status_code is not None and 400 <= status_code < 500 and status_code not in RETRIED_4XX:
        return "failed" if client_errors_so_far >= max_client_errors else "retry"
    return "retry"


def client_errors(attempts: Iterable[Attempt]) -> int:
    return sum(
        1
        for a in attempts
        if a.status_code is not None
        and 400 <= a.status_code < 500
        and a.status_code not in RETRIED_4XX
        and a.status_code != 410
    )


# --- the retry schedule ------------------------------------------------------------------------

MAX_STEP_S: Final = 12 * 3600  # SQS's largest visibility timeout


def retry_delay_s(
    attempt: int, *, base_s: float, max_s: float, rng: random.Random | None = None
) -> int:
    """Seconds to wait after failed attempt `attempt` (1-based): exponential from `base_s`,
    capped at `max_s` (and at SQS's 12 h), with jitter over the upper half of the step so that
    many deliveries failing together do not all come back together."""
    step = min(base_s * 2 ** max(attempt - 1, 0), max_s, MAX_STEP_S)
    jitter = (rng or random).uniform(0.5, 1.0)
    return max(int(step * jitter), 1 if base_s > 0 else 0)


def schedule_s(attempts: int, *, base_s: float, max_s: float) -> list[float]:
    """The un-jittered wait before each retry, for `attempts` attempts (len: attempts - 1)."""
    return [min(base_s * 2 ** (n - 1), max_s, MAX_STEP_S) for n in range(1, attempts)]


# --- payloads (what a receiver gets; docs/asyncapi.yaml publishes their schemas) -------------


class _Payload(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class CompletedData(_Payload):
    job_id: str
    status: Literal["completed"] = "completed"
    title: str | None = Field(default=None, description="the script's title")
    duration: float = Field(description="the video's length in seconds")
    video_url: str = Field(description="presigned GET of the video; short-lived")
    poster_url: str | None = Field(default=None, description="presigned GET of the poster")
    captions_srt_url: str | None = Field(
        default=None, description="presigned GET of the SRT captions (captions mode sidecar/both)"
    )
    captions_vtt_url: str | None = Field(
        default=None, description="presigned GET of the WebVTT captions (sidecar/both)"
    )
    links_expire_at: str = Field(description="when every link stops working (ISO 8601)")
    version: int = Field(
        default=1, description="the job's video version (2 and up: a regenerated scene)"
    )


class FailedData(_Payload):
    job_id: str
    status: Literal["failed"] = "failed"
    stage: str = Field(description="where the job stopped")
    reason: str = Field(description="why, in words a user can read")


class JobCompletedWebhook(_Payload):
    """The body of a `job.completed` webhook (Standard Webhooks: type, timestamp, data)."""

    type: Literal["job.completed"] = "job.completed"
    timestamp: str = Field(description="when the job completed (ISO 8601)")
    data: CompletedData


class JobFailedWebhook(_Payload):
    """The body of a `job.failed` webhook (Standard Webhooks: type, timestamp, data)."""

    type: Literal["job.failed"] = "job.failed"
    timestamp: str = Field(description="when the job failed (ISO 8601)")
    data: FailedData


class AwaitingReviewData(_Payload):
    job_id: str
    status: Literal["pending"] = "pending"
    stage: Literal["awaiting_review"] = "awaiting_review"
    title: str = Field(description="the script's title")
    scene_count: int = Field(ge=1)


class ScriptAwaitingReviewWebhook(_Payload):
    """The body of a `script.awaiting_review` webhook: the job's script waits for its owner
    (GET/PUT /v1/jobs/{id}/script, POST /v1/jobs/{id}/render)."""

    type: Literal["script.awaiting_review"] = "script.awaiting_review"
    timestamp: str = Field(description="when the script was written (ISO 8601)")
    data: AwaitingReviewData


WEBHOOK_PAYLOADS: Final[dict[str, type[_Payload]]] = {
    "job.completed": JobCompletedWebhook,
    "job.failed": JobFailedWebhook,
    "script.awaiting_review": ScriptAwaitingReviewWebhook,
}
WEBHOOK_HEADERS: Final = {
    "webhook-id": "the event's stable id (event_id): the same for every attempt and resend; "
    "drop repeats by it",
    "webhook-timestamp": "seconds since the epoch when this attempt was signed",
    "webhook-signature": "space-separated `v1,<base64 HMAC-SHA256>`; two while a rotated "
    "secret is in its grace period",
}
