"""Readiness: can this process reach the table, the events topic and the bucket right now?
The answer per check is a word (`ok`, `unreachable`, `timeout`): /readyz is unauthenticated, so
the AWS error, the endpoint and the resource names go to the log only."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import structlog

from omnigen.shared.adapters.aws import AwsClients, error_code

log = structlog.get_logger()


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
        """`{"table": "ok", "topic": "unreachable", "bucket": "timeout"}`."""
        checks: dict[str, Callable[[], Awaitable[Any]]] = {
            "table": self._table_reachable,
            "topic": self._topic_reachable,
            "bucket": self._bucket_reachable,
        }
        results = await asyncio.gather(*(self._run(name, check) for name, check in checks.items()))
        return dict(zip(checks, results, strict=True))

    async def _run(self, name: str, check: Callable[[], Awaitable[Any]]) -> str:
        try:
            await asyncio.wait_for(check(), timeout=self._timeout_s)
        except TimeoutError:
            log.warning("readiness_check_failed", check=name, error="timeout", s=self._timeout_s)
            return "timeout"
        except Exception as exc:
            code = error_code(exc) or type(exc).__name__
            log.warning("readiness_check_failed", check=name, code=code, error=str(exc))
            return "unreachable"
        return "ok"

    async def _table_reachable(self) -> None:
        await (await self._aws.dynamodb()).describe_table(TableName=self._table)

    async def _topic_reachable(self) -> None:
        await (await self._aws.sns()).get_topic_attributes(TopicArn=self._topic_arn)

    async def _bucket_reachable(self) -> None:
        await (await self._aws.s3()).head_bucket(Bucket=self._bucket)
