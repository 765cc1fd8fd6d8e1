"""Webhook endpoints, callback signing keys and delivery records in the jobs table.

Keys no job id looks like (job ids are 32 hex digits): `webhook#<endpoint id>` per endpoint,
`webhooks#<user>` listing a user's endpoint ids (a string set), `signing#<user>` for the secret
of a user's job callbacks, `delivery#<delivery id>` per delivery and `deliveries#<job id>`
listing a job's delivery ids. None carries `user_id` and `created_at`, so no listing or count
of jobs sees them; deliveries carry the table's TTL attribute and go with the job's week.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final

from botocore.exceptions import BotoCoreError, ClientError

from omnigen.shared.adapters.codec import deserialize, serialize
from omnigen.shared.adapters.store_errors import storage_error
from omnigen.shared.adapters.table_items import (
    KEY,
    add_indexed_item,
    batch_get_items,
    delete_indexed_item,
    get_item,
    put_listed_item,
)
from omnigen.shared.domain.jobs import TTL_SECONDS
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
from omnigen.shared.resources import Table

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb import DynamoDBClient


def endpoint_key(endpoint_id: str) -> str:
    return f"webhook#{endpoint_id}"


def endpoints_key(owner: str) -> str:
    return f"webhooks#{owner}"


def signing_key_key(owner: str) -> str:
    return f"signing#{owner}"


def delivery_key(delivery_id: str) -> str:
    return f"delivery#{delivery_id}"


def deliveries_key(job_id: str) -> str:
    return f"deliveries#{job_id}"


def _item(key: str, fields: dict[str, Any]) -> dict[str, Any]:
    item = {name: serialize(value, name) for name, value in fields.items()}
    item[KEY] = {"S": key}
    return item


def _plain(item: dict[str, Any]) -> dict[str, Any]:
    return {name: deserialize(value) for name, value in item.items() if name != KEY}


# The table's key is named `job_id`: a delivery keeps its job's id under another name.
DELIVERY_JOB: Final = "of_job"


def _delivery_fields(delivery: Delivery) -> dict[str, Any]:
    fields = delivery.model_dump(mode="json", exclude_none=True)
    fields[DELIVERY_JOB] = fields.pop("job_id")
    return fields


def _delivery(item: dict[str, Any]) -> Delivery:
    fields = _plain(item)
    fields["job_id"] = fields.pop(DELIVERY_JOB)
    return Delivery.model_validate(fields)


class DynamoWebhookStore:
    def __init__(
        self, client: DynamoDBClient, table: Table, clock: Callable[[], float] = time.time
    ) -> None:
        self._client = client
        self._table = table.name
        self._ttl = table.ttl_attribute
        self._clock = clock

    # -- endpoints -------------------------------------------------------------------------

    async def add_endpoint(self, endpoint: WebhookEndpoint, *, limit: int) -> None:
        """One transaction: the endpoint's item and its id added to its owner's list, only
        while the list holds fewer than `limit`."""
        fields = endpoint.model_dump(mode="json", exclude_none=True)
        added = await add_indexed_item(
            self._client,
            self._table,
            _item(endpoint_key(endpoint.endpoint_id), fields),
            index_key=endpoints_key(endpoint.owner),
            item_id=endpoint.endpoint_id,
            limit=limit,
            operation="add_webhook",
        )
        if not added:
            raise TooManyEndpoints(limit)

    async def endpoints(self, owner: str) -> list[WebhookEndpoint]:
        ids = await self._ids(endpoints_key(owner))
        items = await self._batch_get([endpoint_key(i) for i in ids])
        found = [WebhookEndpoint.model_validate(_plain(item)) for item in items]
        return sorted(
            (e for e in found if e.owner == owner), key=lambda e: (e.created_at, e.endpoint_id)
        )

    async def get_endpoint(self, owner: str, endpoint_id: str) -> WebhookEndpoint:
        item = await self._get(endpoint_key(endpoint_id))
        if item is None:
            raise WebhookNotFound(endpoint_id)
        endpoint = WebhookEndpoint.model_validate(_plain(item))
        if endpoint.owner != owner:  # someone else's: as if it did not exist
            raise WebhookNotFound(endpoint_id)
        return endpoint

    async def delete_webhook(self, owner: str, endpoint_id: str) -> None:
        await self.get_endpoint(owner, endpoint_id)
        await delete_indexed_item(
            self._client,
            self._table,
            endpoint_key(endpoint_id),
            index_key=endpoints_key(owner),
            item_id=endpoint_id,
            operation="delete_webhook",
        )

    async def set_endpoint_secrets(
        self, owner: str, endpoint_id: str, secrets: list[SigningSecret]
    ) -> None:
        await self._update(
            endpoint_key(endpoint_id),
            "SET secrets = :s",
            {":s": [s.model_dump(mode="json", exclude_none=True) for s in secrets], ":o": owner},
            condition="#owner = :o",
            names={"#owner": "owner"},
            missing=WebhookNotFound(endpoint_id),
        )

    async def disable_endpoint(self, endpoint_id: str, reason: str) -> None:
        await self._update(
            endpoint_key(endpoint_id),
            "SET disabled = :t, disabled_reason = :r",
            {":t": True, ":r": reason},
            condition="attribute_exists(job_id)",
            missing=None,  # deleted meanwhile: nothing to disable
        )

    # -- callback signing keys -------------------------------------------------------------

    async def signing_key(self, owner: str) -> SigningKey | None:
        item = await self._get(signing_key_key(owner))
        return None if item is None else SigningKey.model_validate(_plain(item))

    async def set_signing_key(self, key: SigningKey) -> None:
        try:
            await self._client.put_item(
                TableName=self._table,
                Item=_item(signing_key_key(key.owner), key.model_dump(mode="json")),
            )
        except (BotoCoreError, ClientError) as exc:
            raise storage_error("set_signing_key", exc) from None

    # -- deliveries ------------------------------------------------------------------------

    async def open_delivery(self, delivery: Delivery) -> Delivery:
        """One transaction: the delivery's conditional Put and its id added to its job's list
        (the two are written together or not at all). A repeat (a retried message) answers the
        stored delivery, as the refusal found it."""
        key = delivery_key(delivery.delivery_id)
        fields = _delivery_fields(delivery)
        expires = int(delivery.created_at) + TTL_SECONDS
        fields[self._ttl] = expires
        existing = await put_listed_item(
            self._client,
            self._table,
            _item(key, fields),
            list_key=deliveries_key(delivery.job_id),
            item_id=delivery.delivery_id,
            ttl=(self._ttl, expires),
            operation="open_delivery",
        )
        if existing is None:
            return delivery
        if not existing:  # a store that does not return the refused item: read it
            existing = await self._get(key) or {}
        return _delivery(existing) if existing else delivery

    async def record_attempt(
        self, delivery: Delivery, attempt: Attempt, status: DeliveryStatus
    ) -> Delivery:
        now = self._clock()
        attempts = [*delivery.attempts, attempt][-MAX_ATTEMPTS_KEPT:]
        await self._update(
            delivery_key(delivery.delivery_id),
            "SET attempts = :a, #status = :s, updated_at = :now",
            {
                ":a": [a.model_dump(mode="json", exclude_none=True) for a in attempts],
                ":s": status.value,
                ":now": now,
            },
            names={"#status": "status"},
            condition="attribute_exists(job_id)",
            missing=None,
        )
        return delivery.model_copy(update={"attempts": attempts, "status": status})

    async def set_delivery_status(self, delivery: Delivery, status: DeliveryStatus) -> None:
        await self._update(
            delivery_key(delivery.delivery_id),
            "SET #status = :s, updated_at = :now",
            {":s": status.value, ":now": self._clock()},
            names={"#status": "status"},
            condition="attribute_exists(job_id)",
            missing=None,
        )

    async def deliveries(self, job_id: str) -> list[Delivery]:
        ids = await self._ids(deliveries_key(job_id))
        items = await self._batch_get([delivery_key(i) for i in ids])
        found = [_delivery(item) for item in items]
        return sorted(
            (d for d in found if d.job_id == job_id), key=lambda d: (d.created_at, d.delivery_id)
        )

    # -- plumbing --------------------------------------------------------------------------

    async def _get(self, key: str) -> dict[str, Any] | None:
        return await get_item(self._client, self._table, key, "get_webhook_item")

    async def _ids(self, key: str) -> list[str]:
        item = await self._get(key)
        if item is None or "ids" not in item:
            return []
        return sorted(item["ids"]["SS"])

    async def _batch_get(self, keys: list[str]) -> list[dict[str, Any]]:
        return await batch_get_items(self._client, self._table, keys, "get_webhook_items")

    async def _update(
        self,
        key: str,
        expression: str,
        values: dict[str, Any],
        *,
        condition: str,
        missing: Exception | None,
        names: dict[str, str] | None = None,
    ) -> None:
        request: dict[str, Any] = {
            "TableName": self._table,
            "Key": {KEY: {"S": key}},
            "UpdateExpression": expression,
            "ConditionExpression": condition,
            "ExpressionAttributeValues": {k: serialize(v, k) for k, v in values.items()},
        }
        if names:
            request["ExpressionAttributeNames"] = names
        try:
            await self._client.update_item(**request)
        except self._client.exceptions.ConditionalCheckFailedException:
            if missing is not None:
                raise missing from None
        except (BotoCoreError, ClientError) as exc:
            raise storage_error("update_webhook_item", exc) from None
