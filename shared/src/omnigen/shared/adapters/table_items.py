"""The side items kept in the jobs table (webhook endpoints, uploads) and their owners'
indexes (a string set of the items' ids under the owner's key): reading them by their key
(one consistent read, or a batch of them within DynamoDB's limits), and creating or deleting
an item together with its id in its owner's index (one transaction each)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

from botocore.exceptions import BotoCoreError, ClientError

from omnigen.shared.adapters.store_errors import storage_error
from omnigen.shared.domain.errors import RepositoryUnavailable

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb import DynamoDBClient
    from types_aiobotocore_dynamodb.type_defs import PutTypeDef

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


def _put_new(table: str, item: dict[str, Any], *, answer_refusal: bool = False) -> PutTypeDef:
    """A transaction's Put of `item`, only while its key is free (with `answer_refusal`, a
    refusal carries the item found there)."""
    put: PutTypeDef = {
        "TableName": table,
        "Item": item,
        "ConditionExpression": "attribute_not_exists(job_id)",
    }
    if answer_refusal:
        put["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
    return put


async def add_indexed_item(
    client: DynamoDBClient,
    table: str,
    item: dict[str, Any],
    *,
    index_key: str,
    item_id: str,
    limit: int,
    operation: str,
) -> bool:
    """One transaction: the Put of `item` (only while its key is free) and `item_id` added
    to the index at `index_key` (only while it holds fewer than `limit` ids). False when
    DynamoDB cancels it: the key is taken or the index is full."""
    try:
        await client.transact_write_items(
            TransactItems=[
                {"Put": _put_new(table, item)},
                {
                    "Update": {
                        "TableName": table,
                        "Key": {KEY: {"S": index_key}},
                        "UpdateExpression": "ADD ids :id",
                        "ConditionExpression": "attribute_not_exists(ids) OR size(ids) < :n",
                        "ExpressionAttributeValues": {
                            ":id": {"SS": [item_id]},
                            ":n": {"N": str(limit)},
                        },
                    }
                },
            ]
        )
    except client.exceptions.TransactionCanceledException:
        return False
    except (BotoCoreError, ClientError) as exc:
        raise storage_error(operation, exc) from None
    return True


async def put_listed_item(
    client: DynamoDBClient,
    table: str,
    item: dict[str, Any],
    *,
    list_key: str,
    item_id: str,
    ttl: tuple[str, int],
    operation: str,
) -> dict[str, Any] | None:
    """One transaction: the Put of `item` (only while its key is free) and `item_id` added to
    the list at `list_key`, which expires with it (`ttl`: the TTL attribute and its epoch
    second). None when it applied; else the item already at the key, as the refusal found it.
    A transaction cancelled for another reason (a concurrent one on the same items) is a
    transient store error: the caller's message is tried again."""
    ttl_name, expires = ttl
    try:
        await client.transact_write_items(
            TransactItems=[
                {"Put": _put_new(table, item, answer_refusal=True)},
                {
                    "Update": {
                        "TableName": table,
                        "Key": {KEY: {"S": list_key}},
                        "UpdateExpression": "ADD ids :id SET #ttl = :ttl",
                        "ExpressionAttributeNames": {"#ttl": ttl_name},
                        "ExpressionAttributeValues": {
                            ":id": {"SS": [item_id]},
                            ":ttl": {"N": str(expires)},
                        },
                    }
                },
            ]
        )
    except client.exceptions.TransactionCanceledException as exc:
        reasons = exc.response.get("CancellationReasons") or []
        if reasons and reasons[0].get("Code") == "ConditionalCheckFailed":
            return dict(reasons[0].get("Item") or {})
        raise RepositoryUnavailable(operation) from None
    except (BotoCoreError, ClientError) as exc:
        raise storage_error(operation, exc) from None
    return None


async def delete_indexed_item(
    client: DynamoDBClient, table: str, key: str, *, index_key: str, item_id: str, operation: str
) -> None:
    """One transaction: the item at `key` deleted and `item_id` taken out of the index at
    `index_key`."""
    try:
        await client.transact_write_items(
            TransactItems=[
                {"Delete": {"TableName": table, "Key": {KEY: {"S": key}}}},
                {
                    "Update": {
                        "TableName": table,
                        "Key": {KEY: {"S": index_key}},
                        "UpdateExpression": "DELETE ids :id",
                        "ExpressionAttributeValues": {":id": {"SS": [item_id]}},
                    }
                },
            ]
        )
    except (BotoCoreError, ClientError) as exc:
        raise storage_error(operation, exc) from None
