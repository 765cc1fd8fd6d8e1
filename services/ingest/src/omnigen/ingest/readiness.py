"""Readiness: can this process reach the table, the events topic and the bucket right now?"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from omnigen.shared.adapters.aws import AwsClients, error_code


class ReadinessProbe:
    """Three cheap read calls, run together, each with a timeout."""

    def __init__(
        self, aws: AwsClients, *, table: str, topic_arn: str, bucket: str, timeout_s: float
    ) -> None:
        self._aws = aws
        self._table = table
        self._topic_arn = topic_arn
        self._bucket = bucket
        self._timeout_s = timeout_s

    async def check(self) -> dict[str, str]:
        """`{"table": "ok", "topic": "<why not>", ...}`."""
        checks: dict[str, Callable[[], Awaitable[Any]]] = {
            "table": self._table_reachable,
            "topic": self._topic_reachable,
            "bucket": self._bucket_reachable,
        }
        results = await asyncio.gather(*(self._run(check) for check in checks.values()))
        return dict(zip(checks, results, strict=True))

    async def _run(self, check: Callable[[], Awaitable[Any]]) -> str:
        try:
            await asyncio.wait_for(check(), timeout=self._timeout_s)
        except TimeoutError:
            return f"no answer within {self._timeout_s:g} s"
        except Exception as exc:
            code = error_code(exc)
            return f"{code}: {exc}" if code else f"{type(exc).__name__}: {exc}"
        return "ok"

    async def _table_reachable(self) -> None:
        await (await self._aws.dynamodb()).describe_table(TableName=self._table)

    async def _topic_reachable(self) -> None:
        await (await self._aws.sns()).get_topic_attributes(TopicArn=self._topic_arn)

    async def _bucket_reachable(self) -> None:
        await (await self._aws.s3()).head_bucket(Bucket=self._bucket)
