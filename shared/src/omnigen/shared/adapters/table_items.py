"""Reading the side items kept in the jobs table (webhook endpoints, uploads, their owners'
indexes) by their key: one consistent read, or a batch of them within DynamoDB's limits."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

from botocore.exceptions import BotoCoreError, ClientError

from omnigen.shared.adapters.dynamodb import storage_error

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb import DynamoDBClient

KEY: Final = "job_id"  # the table's partition key, whatever the item is
BATCH_GET_LIMIT: Final = 100  # keys DynamoDB takes in one BatchGetItem


async def get_item(
    client: DynamoDBClient, table: str, key: str, operation: str
) -> dict[str, Any] | None:
    """The item at `key` (a consistent read), or None."""
    try:
        response = await client.get_item(
            TableName=table, Key={KEY: {"S": key}}, ConsistentRead=True
        )
    except (BotoCoreError, ClientError) as exc:
        raise storage_error(operation, exc) from None
    item = response.get("Item")
    return dict(item) if item else None


async def batch_get_items(
    client: DynamoDBClient, table: str, keys: list[str], operation: str
) -> list[dict[str, Any]]:
    """The items at `keys` that exist (consistent reads), 100 keys a request, each request
    repeated for the keys DynamoDB left unprocessed."""
    found: list[dict[str, Any]] = []
    for start in range(0, len(keys), BATCH_GET_LIMIT):
        chunk = keys[start : start + BATCH_GET_LIMIT]
        pending: dict[str, Any] = {
            table: {"Keys": [{KEY: {"S": k}} for k in chunk], "ConsistentRead": True}
        }
        while pending:
            try:
                response = await client.batch_get_item(RequestItems=pending)
            except (BotoCoreError, ClientError) as exc:
                raise storage_error(operation, exc) from None
            found.extend(dict(i) for i in response.get("Responses", {}).get(table, []))
            pending = dict(response.get("UnprocessedKeys") or {})
    return found
