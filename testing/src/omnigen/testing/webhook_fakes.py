"""An in-memory `WebhookStore` for handler tests (same rules as the DynamoDB adapter)."""

from __future__ import annotations

from omnigen.shared.domain.webhooks import (
    MAX_ATTEMPTS_KEPT,
    Attempt,
    Delivery,
    DeliveryStatus,
    SigningKey,
    SigningSecret,
    TooManyEndpoints,
    WebhookEndpoint,
    WebhookNotFound,
)


class InMemoryWebhookStore:
    def __init__(self) -> None:
        self.endpoints_by_id: dict[str, WebhookEndpoint] = {}
        self.keys: dict[str, SigningKey] = {}
        self.by_id: dict[str, Delivery] = {}

    async def add_endpoint(self, endpoint: WebhookEndpoint, *, limit: int) -> None:
        if len(await self.endpoints(endpoint.owner)) >= limit:
            raise TooManyEndpoints(limit)
        self.endpoints_by_id[endpoint.endpoint_id] = endpoint

    async def endpoints(self, owner: str) -> list[WebhookEndpoint]:
        found = [e for e in self.endpoints_by_id.values() if e.owner == owner]
        return sorted(found, key=lambda e: (e.created_at, e.endpoint_id))

    async def get_endpoint(self, owner: str, endpoint_id: str) -> WebhookEndpoint:
        endpoint = self.endpoints_by_id.get(endpoint_id)
        if endpoint is None or endpoint.owner != owner:
            raise WebhookNotFound(endpoint_id)
        return endpoint

    async def delete_webhook(self, owner: str, endpoint_id: str) -> None:
        await self.get_endpoint(owner, endpoint_id)
        del self.endpoints_by_id[endpoint_id]

    async def set_endpoint_secrets(
        self, owner: str, endpoint_id: str, secrets: list[SigningSecret]
    ) -> None:
        endpoint = await self.get_endpoint(owner, endpoint_id)
        self.endpoints_by_id[endpoint_id] = endpoint.model_copy(update={"secrets": secrets})

    async def disable_endpoint(self, endpoint_id: str, reason: str) -> None:
        endpoint = self.endpoints_by_id.get(endpoint_id)
        if endpoint is not None:
            self.endpoints_by_id[endpoint_id] = endpoint.model_copy(
                update={"disabled": True, "disabled_reason": reason}
            )

    async def signing_key(self, owner: str) -> SigningKey | None:
        return self.keys.get(owner)

    async def set_signing_key(self, key: SigningKey) -> None:
        self.keys[key.owner] = key

    async def open_delivery(self, delivery: Delivery) -> Delivery:
        return self.by_id.setdefault(delivery.delivery_id, delivery)

    async def record_attempt(
        self, delivery: Delivery, attempt: Attempt, status: DeliveryStatus
    ) -> Delivery:
        attempts = [*delivery.attempts, attempt][-MAX_ATTEMPTS_KEPT:]
        updated = delivery.model_copy(update={"attempts": attempts, "status": status})
        self.by_id[delivery.delivery_id] = updated
        return updated

    async def set_delivery_status(self, delivery: Delivery, status: DeliveryStatus) -> None:
        current = self.by_id.get(delivery.delivery_id, delivery)
        self.by_id[delivery.delivery_id] = current.model_copy(update={"status": status})

    async def deliveries(self, job_id: str) -> list[Delivery]:
        found = [d for d in self.by_id.values() if d.job_id == job_id]
        return sorted(found, key=lambda d: (d.created_at, d.delivery_id))
