"""Ingest's webhook use cases: register, list, delete an endpoint, rotate its secret, the
signing secret for job callbacks, a job's deliveries and a resend. Plain async functions over
the webhook store, the URL guard and a requeue function (SQS in the service)."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Final

from omnigen.shared.adapters.netguard import UrlGuard
from omnigen.shared.domain.webhooks import (
    MAX_ENDPOINTS_PER_USER,
    Delivery,
    DeliveryStatus,
    SigningKey,
    SigningSecret,
    UnsafeWebhookUrl,
    WebhookEndpoint,
    new_endpoint_id,
    new_secret,
    rotated,
)
from omnigen.shared.ports import WebhookStore

NO_SIGNING_KEY: Final = (
    "a job callback is signed with your signing secret: create one first "
    "(POST /v1/webhooks/signing-secret)"
)


class DeliveryNotFound(Exception):
    pass


@dataclass(frozen=True)
class WebhookAccess:
    store: WebhookStore
    guard: UrlGuard
    requeue: Callable[[str], Awaitable[None]]  # an event's JSON back onto the webhooks queue
    clock: Callable[[], float] = time.time


async def callback_problem(access: WebhookAccess, user_id: str, url: str) -> str | None:
    """Why a job's `callback_url` cannot be taken (None: it can)."""
    try:
        await access.guard.check(url)
    except UnsafeWebhookUrl as exc:
        return f"the URL {exc}"
    if await access.store.signing_key(user_id) is None:
        return NO_SIGNING_KEY
    return None


async def register(
    access: WebhookAccess, user_id: str, url: str, event_types: list[str]
) -> tuple[WebhookEndpoint, str]:
    """The new endpoint and its secret (shown this once). `UnsafeWebhookUrl` for a URL the
    guard refuses, `TooManyEndpoints` past the per-user limit."""
    await access.guard.check(url)
    now = access.clock()
    secret = new_secret()
    endpoint = WebhookEndpoint(
        endpoint_id=new_endpoint_id(),
        owner=user_id,
        url=url,
        event_types=sorted(set(event_types)),
        secrets=[SigningSecret(secret=secret, created_at=now)],
        created_at=now,
    )
    await access.store.add_endpoint(endpoint, limit=MAX_ENDPOINTS_PER_USER)
    return endpoint, secret


async def rotate_endpoint_secret(
    access: WebhookAccess, user_id: str, endpoint_id: str, grace_s: float
) -> tuple[str, list[SigningSecret]]:
    endpoint = await access.store.get_endpoint(user_id, endpoint_id)
    secret = new_secret()
    secrets = rotated(endpoint.secrets, secret, now=access.clock(), grace_s=grace_s)
    await access.store.set_endpoint_secrets(user_id, endpoint_id, secrets)
    return secret, secrets


async def rotate_signing_key(
    access: WebhookAccess, user_id: str, grace_s: float
) -> tuple[str, list[SigningSecret]]:
    """Create the user's callback signing secret, or rotate it (the old one signs along for
    `grace_s`)."""
    current = await access.store.signing_key(user_id)
    secret = new_secret()
    secrets = rotated(
        current.secrets if current else [], secret, now=access.clock(), grace_s=grace_s
    )
    await access.store.set_signing_key(SigningKey(owner=user_id, secrets=secrets))
    return secret, secrets


async def resend(access: WebhookAccess, job_id: str, delivery_id: str) -> Delivery:
    """Deliver it again: the record back to pending and its event back onto the queue."""
    for delivery in await access.store.deliveries(job_id):
        if delivery.delivery_id == delivery_id:
            await access.store.set_delivery_status(delivery, DeliveryStatus.PENDING)
            await access.requeue(delivery.event_body)
            return delivery.model_copy(update={"status": DeliveryStatus.PENDING})
    raise DeliveryNotFound(delivery_id)
