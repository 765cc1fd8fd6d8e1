"""Helpers for tests that look at queues and wait for asynchronous outcomes."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

from omnigen.shared.adapters.sqs import queue_depth
from omnigen.shared.domain.events import Event, parse_event
from omnigen.testing.fixtures import Stack


async def eventually(
    check: Callable[[], Awaitable[bool]] | Callable[[], bool],
    *,
    timeout: float = 30.0,
    interval: float = 0.1,
    what: str = "condition",
) -> None:
    """Poll `check` until it is true; fail with `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if isinstance(result, Awaitable):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(interval)


async def send_raw(stack: Stack, queue: str, body: str) -> str:
    sqs = await stack.aws.sqs()
    response = await sqs.send_message(QueueUrl=stack.queue_url(queue), MessageBody=body)
    return response["MessageId"]


async def depth(stack: Stack, queue: str) -> int:
    """Messages in the queue, visible or in flight."""
    return await depth_at(stack, stack.queue_url(queue))


async def depth_at(stack: Stack, url: str) -> int:
    """Messages in the queue at `url` (one the stack did not create, too), visible or in flight."""
    return await queue_depth(await stack.aws.sqs(), url)


async def all_empty(stack: Stack, *urls: str) -> bool:
    """True when every queue at `urls` holds nothing, neither visible nor in flight."""
    for url in urls:
        if await depth_at(stack, url) != 0:
            return False
    return True


async def receive_all(
    stack: Stack, queue: str, *, wait_s: float = 3.0, expect: int | None = None
) -> list[dict[str, Any]]:
    """Read (and delete) what arrives within `wait_s`, or until `expect` messages arrived."""
    sqs = await stack.aws.sqs()
    url = stack.queue_url(queue)
    messages: list[dict[str, Any]] = []
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline and (expect is None or len(messages) < expect):
        response = await sqs.receive_message(
            QueueUrl=url,
            MaxNumberOfMessages=10,
            WaitTimeSeconds=1,
            MessageAttributeNames=["All"],
            MessageSystemAttributeNames=["All"],
        )
        for message in response.get("Messages", []):
            messages.append(dict(message))
            await sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return messages


async def received_events(
    stack: Stack, queue: str, *, wait_s: float = 3.0, expect: int | None = None
) -> list[Event]:
    return [
        parse_event(m["Body"])
        for m in await receive_all(stack, queue, wait_s=wait_s, expect=expect)
    ]


class CountingSqs:
    """The real SQS client, counting the calls the consumer makes through it: started,
    answered (successfully or not) and failed, per operation."""

    def __init__(self, client: object) -> None:
        self._client = client
        self.calls: Counter[str] = Counter()
        self.answered: Counter[str] = Counter()
        self.failed: Counter[str] = Counter()

    def __getattr__(self, name: str) -> object:
        attribute = getattr(self._client, name)
        if not callable(attribute) or name.startswith("_") or name == "exceptions":
            return attribute

        async def counted(*args: object, **kwargs: object) -> object:
            self.calls[name] += 1
            try:
                return await attribute(*args, **kwargs)
            except Exception:
                self.failed[name] += 1
                raise
            finally:
                self.answered[name] += 1

        return counted

    def in_flight(self, name: str) -> int:
        """Calls of `name` made and not answered yet."""
        return self.calls[name] - self.answered[name]


async def take_events(stack: Stack, url: str) -> list[Event]:
    """Every event in the queue at `url` right now, read and deleted (no waiting)."""
    sqs = await stack.aws.sqs()
    events: list[Event] = []
    while True:
        response = await sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0
        )
        batch = response.get("Messages", [])
        if not batch:
            return events
        for message in batch:
            events.append(parse_event(message["Body"]))
            await sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
