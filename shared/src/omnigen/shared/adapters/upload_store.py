"""Users' uploads in the jobs table.

Keys no job id looks like (job ids are 32 hex digits): `upload#<upload id>` per upload and
`uploads#<owner>` listing an owner's upload ids (a string set, capped by a condition). An
upload carries `owner`, never `user_id`, so no listing or count of jobs sees it, and the
table's TTL attribute, so it expires like a job; a job that uses it pushes that back.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from omnigen.shared.adapters.codec import deserialize, serialize
from omnigen.shared.adapters.store_errors import storage_error
from omnigen.shared.adapters.table_items import (
    KEY,
    add_indexed_item,
    batch_get_items,
    delete_indexed_item,
    get_item,
)
from omnigen.shared.domain.uploads import (
    TooManyUploads,
    Upload,
    UploadFacts,
    UploadNotFound,
    UploadStatus,
)
from omnigen.shared.resources import Table

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb import DynamoDBClient


def item_key(upload_id: str) -> str:
    return f"upload#{upload_id}"


def list_key(owner: str) -> str:
    return f"uploads#{owner}"


class DynamoUploadStore:
    def __init__(
        self, client: DynamoDBClient, table: Table, clock: Callable[[], float] = time.time
    ) -> None:
        self._client = client
        self._table = table.name
        self._ttl = table.ttl_attribute
        self._clock = clock

    def _item(self, upload: Upload) -> dict[str, Any]:
        fields = upload.model_dump(mode="json", exclude_none=True)
        item = {name: serialize(value, name) for name, value in fields.items()}
        item[KEY] = {"S": item_key(upload.upload_id)}
        item[self._ttl] = {"N": str(upload.expires_at)}
        return item

    def _upload(self, item: dict[str, Any]) -> Upload | None:
        fields = {n: deserialize(v) for n, v in item.items() if n not in (KEY, self._ttl)}
        upload = Upload.model_validate(fields)
        # DynamoDB deletes expired items late (up to days): an expired one is gone already.
        return None if upload.expires_at <= self._clock() else upload

    async def add_upload(self, upload: Upload, *, limit: int) -> None:
        added = await add_indexed_item(
            self._client,
            self._table,
            self._item(upload),
            index_key=list_key(upload.owner),
            item_id=upload.upload_id,
            limit=limit,
            operation="add_upload",
        )
        if not added:
            raise TooManyUploads(limit)

    async def uploads_of(self, owner: str) -> list[Upload]:
        listing = await self._get(list_key(owner))
        ids = sorted(listing["ids"]["SS"]) if listing and "ids" in listing else []
        found: list[Upload] = []
        for item in await self._batch_get([item_key(i) for i in ids]):  # 100 keys a request
            upload = self._upload(item)
            if upload is not None and upload.owner == owner:
                found.append(upload)
        return sorted(found, key=lambda u: (u.created_at, u.upload_id))

    async def get_upload(self, owner: str, upload_id: str) -> Upload:
        upload = await self.find_upload(upload_id)
        if upload is None or upload.owner != owner:  # someone else's: as if it did not exist
            raise UploadNotFound(upload_id)
        return upload

    async def find_upload(self, upload_id: str) -> Upload | None:
        item = await self._get(item_key(upload_id))
        return None if item is None else self._upload(item)

    async def record_check(
        self,
        upload_id: str,
        status: UploadStatus,
        *,
        reason: str | None,
        facts: UploadFacts,
        checked_at: float,
    ) -> bool:
        values = {
            ":s": status.value,
            ":f": facts.model_dump(mode="json", exclude_none=True),
            ":t": checked_at,
            ":pending": UploadStatus.PENDING.value,
        }
        expression = "SET #status = :s, facts = :f, checked_at = :t"
        if reason is not None:
            values[":r"] = reason
            expression += ", reason = :r"
        try:
            await self._client.update_item(
                TableName=self._table,
                Key={KEY: {"S": item_key(upload_id)}},
                UpdateExpression=expression,
                ConditionExpression="#status = :pending",
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues={k: serialize(v, k) for k, v in values.items()},
            )
        except self._client.exceptions.ConditionalCheckFailedException:
            return False
        except (BotoCoreError, ClientError) as exc:
            raise storage_error("record_upload_check", exc) from None
        return True

    async def delete_upload(self, owner: str, upload_id: str) -> Upload:
        upload = await self.get_upload(owner, upload_id)
        await delete_indexed_item(
            self._client,
            self._table,
            item_key(upload_id),
            index_key=list_key(owner),
            item_id=upload_id,
            operation="delete_upload",
        )
        return upload

    async def keep_until(self, upload_ids: list[str], expires_at: int) -> None:
        for upload_id in sorted(set(upload_ids)):
            try:
                await self._client.update_item(
                    TableName=self._table,
                    Key={KEY: {"S": item_key(upload_id)}},
                    UpdateExpression="SET expires_at = :e, #ttl = :e",
                    ConditionExpression="attribute_exists(job_id) AND expires_at < :e",
                    ExpressionAttributeNames={"#ttl": self._ttl},
                    ExpressionAttributeValues={":e": {"N": str(expires_at)}},
                )
            except self._client.exceptions.ConditionalCheckFailedException:
                continue  # gone, or kept longer already
            except (BotoCoreError, ClientError) as exc:
                raise storage_error("keep_upload", exc) from None

    async def _get(self, key: str) -> dict[str, Any] | None:
        return await get_item(self._client, self._table, key, "get_upload")

    async def _batch_get(self, keys: list[str]) -> list[dict[str, Any]]:
        return await batch_get_items(self._client, self._table, keys, "get_uploads")
