"""/v1/webhooks: a user's webhook endpoints and the signing secret of their job callbacks;
/v1/jobs/{id}/deliveries: every attempt at delivering a job's outcomes, and a resend."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Final, Literal

from fastapi import APIRouter, Path, Response
from pydantic import BaseModel, ConfigDict, Field

from omnigen.ingest.api.deps import Context, UserId
from omnigen.ingest.api.errors import ApiError, ErrorBody
from omnigen.ingest.api.routes import JobId, _owned_job
from omnigen.ingest.api.schemas import timestamp
from omnigen.ingest.context import IngestContext
from omnigen.ingest.webhooks import (
    DeliveryNotFound,
    WebhookAccess,
    register,
    resend,
    rotate_endpoint_secret,
    rotate_signing_key,
)
from omnigen.shared.domain.text import LineText
from omnigen.shared.domain.webhooks import (
    MAX_GRACE_S,
    MAX_URL_LENGTH,
    WEBHOOK_EVENTS,
    Delivery,
    SigningSecret,
    TooManyEndpoints,
    UnsafeWebhookUrl,
    WebhookEndpoint,
    WebhookNotFound,
)

router = APIRouter(tags=["webhooks"])
EventName = Literal["job.completed", "job.failed", "script.awaiting_review"]
assert set(EventName.__args__) == set(WEBHOOK_EVENTS)  # type: ignore[attr-defined]
EndpointId = Annotated[str, Path(pattern=r"^wh_[0-9a-f]{32}$", description="the id POST returned")]
DeliveryId = Annotated[str, Path(pattern=r"^dl_[0-9a-f]{32}$")]
DEFAULT_GRACE_S: Final = 24 * 3600
NO_STORE: Final = {"Cache-Control": "no-store"}


def _default_events() -> list[EventName]:
    """A job's outcomes; `script.awaiting_review` is asked for by name (as endpoints made
    before review existed were registered)."""
    return ["job.completed", "job.failed"]


class NewWebhook(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    url: LineText = Field(
        min_length=1, max_length=MAX_URL_LENGTH, description="https, to a public address"
    )
    event_types: list[EventName] = Field(
        default_factory=_default_events, min_length=1, max_length=10
    )


class Rotation(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)  # "60", 60.0 and true are no int

    grace_period_s: int = Field(
        default=DEFAULT_GRACE_S,
        ge=0,
        le=MAX_GRACE_S,
        description="how long the previous secret still signs next to the new one",
    )


class Webhook(BaseModel):
    id: str
    url: str
    event_types: list[str]
    created_at: datetime
    disabled: bool
    disabled_reason: str | None = None
    secrets_expiring_at: list[datetime] = Field(
        default_factory=list, description="previous secrets still signing until then"
    )


class WebhookCreated(Webhook):
    secret: str = Field(description="shown this once: verify signatures with it")


class WebhookList(BaseModel):
    webhooks: list[Webhook]


class SecretRotated(BaseModel):
    secret: str = Field(description="shown this once")
    previous_secrets_expire_at: list[datetime]


class AttemptOut(BaseModel):
    at: datetime
    status_code: int | None
    latency_ms: int
    error: str | None


class DeliveryOut(BaseModel):
    delivery_id: str
    event_id: str
    event_type: str
    target: str = Field(description="`job` (the job's callback_url) or a webhook id")
    url: str
    status: str
    attempts: list[AttemptOut]


class DeliveryList(BaseModel):
    deliveries: list[DeliveryOut]


def _errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return {status: {"model": ErrorBody} for status in (401, 422, 429, *statuses)}


def _access(ctx: IngestContext) -> WebhookAccess:
    if ctx.ports.webhooks is None:
        raise ApiError(503, "webhooks_unavailable", "webhooks are not configured here")
    return ctx.ports.webhooks


def _expiring(secrets: list[SigningSecret]) -> list[datetime]:
    return [t for s in secrets if s.expires_at is not None if (t := timestamp(s.expires_at))]


def _webhook(endpoint: WebhookEndpoint) -> dict[str, Any]:
    return {
        "id": endpoint.endpoint_id,
        "url": endpoint.url,
        "event_types": endpoint.event_types,
        "created_at": timestamp(endpoint.created_at),
        "disabled": endpoint.disabled,
        "disabled_reason": endpoint.disabled_reason,
        "secrets_expiring_at": _expiring(endpoint.secrets),
    }


@router.post(
    "/v1/webhooks",
    status_code=201,
    response_model=WebhookCreated,
    responses=_errors(409),
    summary="Register a webhook endpoint",
)
async def create_webhook(
    body: NewWebhook, ctx: Context, user_id: UserId, response: Response
) -> WebhookCreated:
    try:
        endpoint, secret = await register(_access(ctx), user_id, body.url, list(body.event_types))
    except UnsafeWebhookUrl as exc:
        raise ApiError(422, "unsafe_url", f"url: the URL {exc}", field="url") from None
    except TooManyEndpoints as exc:
        raise ApiError(409, "too_many_webhooks", str(exc)) from None
    response.headers.update(NO_STORE)
    return WebhookCreated(**_webhook(endpoint), secret=secret)


@router.get("/v1/webhooks", response_model=WebhookList, responses=_errors(), summary="My webhooks")
async def list_webhooks(ctx: Context, user_id: UserId) -> WebhookList:
    endpoints = await _access(ctx).store.endpoints(user_id)
    return WebhookList(webhooks=[Webhook(**_webhook(e)) for e in endpoints])


@router.get(
    "/v1/webhooks/{webhook_id}", response_model=Webhook, responses=_errors(404), summary="One"
)
async def get_webhook(webhook_id: EndpointId, ctx: Context, user_id: UserId) -> Webhook:
    try:
        return Webhook(**_webhook(await _access(ctx).store.get_endpoint(user_id, webhook_id)))
    except WebhookNotFound as exc:
        raise ApiError(404, "not_found", str(exc), field="webhook_id") from None


@router.delete(
    "/v1/webhooks/{webhook_id}", status_code=204, responses=_errors(404), summary="Delete one"
)
async def delete_webhook(webhook_id: EndpointId, ctx: Context, user_id: UserId) -> Response:
    try:
        await _access(ctx).store.delete_webhook(user_id, webhook_id)
    except WebhookNotFound as exc:
        raise ApiError(404, "not_found", str(exc), field="webhook_id") from None
    return Response(status_code=204)


@router.post(
    "/v1/webhooks/{webhook_id}/rotate-secret",
    response_model=SecretRotated,
    responses=_errors(404),
    summary="A new secret; the previous one signs along for the grace period",
)
async def rotate_secret(
    webhook_id: EndpointId, ctx: Context, user_id: UserId, response: Response, body: Rotation
) -> SecretRotated:
    try:
        secret, secrets = await rotate_endpoint_secret(
            _access(ctx), user_id, webhook_id, body.grace_period_s
        )
    except WebhookNotFound as exc:
        raise ApiError(404, "not_found", str(exc), field="webhook_id") from None
    response.headers.update(NO_STORE)
    return SecretRotated(secret=secret, previous_secrets_expire_at=_expiring(secrets))


@router.post(
    "/v1/webhooks/signing-secret",
    response_model=SecretRotated,
    responses=_errors(),
    summary="Create or rotate the secret that signs my jobs' callbacks (callback_url)",
)
async def signing_secret(
    ctx: Context, user_id: UserId, response: Response, body: Rotation
) -> SecretRotated:
    secret, secrets = await rotate_signing_key(_access(ctx), user_id, body.grace_period_s)
    response.headers.update(NO_STORE)
    return SecretRotated(secret=secret, previous_secrets_expire_at=_expiring(secrets))


def _delivery(d: Delivery) -> DeliveryOut:
    return DeliveryOut(
        delivery_id=d.delivery_id,
        event_id=d.event_id,
        event_type=d.event_type,
        target=d.target,
        url=d.url,
        status=d.status.value,
        attempts=[
            AttemptOut(
                at=datetime.fromtimestamp(a.at, UTC),
                status_code=a.status_code,
                latency_ms=a.latency_ms,
                error=a.error,
            )
            for a in d.attempts
        ],
    )


@router.get(
    "/v1/jobs/{job_id}/deliveries",
    response_model=DeliveryList,
    responses=_errors(404),
    summary="Every webhook delivery of the job and each attempt",
)
async def list_deliveries(job_id: JobId, ctx: Context, user_id: UserId) -> DeliveryList:
    await _owned_job(ctx, job_id, user_id)
    deliveries = await _access(ctx).store.deliveries(job_id)
    return DeliveryList(deliveries=[_delivery(d) for d in deliveries])


@router.post(
    "/v1/jobs/{job_id}/deliveries/{delivery_id}/resend",
    status_code=202,
    response_model=DeliveryOut,
    responses=_errors(404),
    summary="Deliver it again (the same webhook-id)",
)
async def resend_delivery(
    job_id: JobId, delivery_id: DeliveryId, ctx: Context, user_id: UserId
) -> DeliveryOut:
    await _owned_job(ctx, job_id, user_id)
    try:
        return _delivery(await resend(_access(ctx), job_id, delivery_id))
    except DeliveryNotFound:
        raise ApiError(
            404, "not_found", f"delivery {delivery_id} not found", field="delivery_id"
        ) from None
