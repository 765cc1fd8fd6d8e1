"""Request counters per key and fixed time window, shared by every process that uses the jobs
table: one conditional UpdateItem per request (`ADD hits 1` while `hits < limit`) on an item
keyed `rate#<key>#<window index>`, which carries the table's TTL attribute so it disappears
after its window. The items have no `user_id`/`created_at`, so no listing or count sees them.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Final

from botocore.exceptions import BotoCoreError, ClientError

from omnigen.shared.adapters.store_errors import storage_error
from omnigen.shared.domain.rules import (
    EXPIRY_GRACE_S,
    RATE_HITS_ATTRIBUTE,
    RateWindow,
    current_window,
    window_key,
)
from omnigen.shared.resources import Table

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb import DynamoDBClient

HITS_ATTRIBUTE: Final = RATE_HITS_ATTRIBUTE


class DynamoRateWindows:
    def __init__(
        self, client: DynamoDBClient, table: Table, clock: Callable[[], float] = time.time
    ) -> None:
        self._client = client
        self._table = table.name
        self._ttl = table.ttl_attribute
        self._clock = clock

    def window(self, key: str, *, limit: int, window_s: float) -> RateWindow:
        return current_window(key, limit=limit, window_s=window_s, now=self._clock())

    async def take(self, key: str, *, limit: int, window_s: float) -> float | None:
        """Count one request of `key` in the current window of `window_s` seconds: None when it
        is within `limit`, else the seconds until the window ends (nothing is counted)."""
        now = self._clock()
        index = math.floor(now / window_s)
        ends = (index + 1) * window_s
        try:
            await self._client.update_item(
                TableName=self._table,
                Key={"job_id": {"S": window_key(key, index)}},
                UpdateExpression="ADD #hits :one SET #ttl = if_not_exists(#ttl, :expires)",
                ConditionExpression="attribute_not_exists(#hits) OR #hits < :limit",
                ExpressionAttributeNames={"#hits": HITS_ATTRIBUTE, "#ttl": self._ttl},
                ExpressionAttributeValues={
                    ":one": {"N": "1"},
                    ":limit": {"N": str(limit)},
                    ":expires": {"N": str(math.ceil(ends) + EXPIRY_GRACE_S)},
                },
            )
        except self._client.exceptions.ConditionalCheckFailedException:
            return max(ends - now, 0.0)
        except (BotoCoreError, ClientError) as exc:
            raise storage_error("rate_limit", exc) from None
        return None
