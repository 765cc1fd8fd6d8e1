"""Helpers for ingest's tests: the real app served by uvicorn on 127.0.0.1 over a stack, an
httpx client for it, and tokens signed the way a deployment expects them."""

from __future__ import annotations

import asyncio
import socket
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import jwt
import uvicorn

from omnigen.ingest.api.app import create_app
from omnigen.ingest.context import IngestContext, open_context
from omnigen.ingest.server import ApiServer
from omnigen.ingest.settings import IngestSettings
from omnigen.shared.adapters.aws import AwsClients
from omnigen.shared.domain.events import Event, parse_event
from omnigen.testing.fixtures import Stack

HS_SECRET = "local-test-secret-0123456789abcdef-ingest"
PROMPT = "A lighthouse keeper's last night on a stormy island"


def hs_token(user_id: str, *, secret: str = HS_SECRET, **claims: Any) -> str:
    payload = {"sub": user_id, "exp": int(time.time()) + 600, **claims}
    return jwt.encode(payload, secret, algorithm="HS256")


def job_body(**overrides: Any) -> dict[str, Any]:
    return {"prompt": PROMPT, "duration": 20, "aspect_ratio": "9:16", **overrides}


def settings_for(stack: Stack, **overrides: Any) -> IngestSettings:
    """Test timings: fast event streams, limits high enough not to get in the way."""
    fields: dict[str, Any] = {
        "endpoint_url": stack.settings.endpoint_url,
        "dynamodb_endpoint_url": stack.settings.dynamodb_endpoint_url,
        "resource_prefix": stack.settings.resource_prefix,
        "auth_hs256_secret": HS_SECRET,
        "rate_limit_per_minute": 100_000,
        "rate_limit_burst": 10_000,
        "max_running_jobs": 1_000,
        "sse_poll_interval_s": 0.1,
        "sse_heartbeat_s": 0.3,
        "readiness_timeout_s": 5.0,
        **overrides,
    }
    return IngestSettings(**fields)


@dataclass
class Api:
    """The app on a real socket, and what a test needs around it. Tests name users ("alice");
    each app maps a name to a user id of its own, so tests sharing a table never meet."""

    stack: Stack
    context: IngestContext
    url: str
    client: httpx.AsyncClient
    tag: str = field(default_factory=lambda: uuid.uuid4().hex[:8])

    def user_id(self, name: str) -> str:
        return f"{name}-{self.tag}"

    def auth(self, name: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {hs_token(self.user_id(name))}"}

    async def submit(self, name: str, key: str | None = None, **overrides: Any) -> httpx.Response:
        headers = self.auth(name)
        if key is not None:
            headers["Idempotency-Key"] = key
        return await self.client.post("/v1/jobs", json=job_body(**overrides), headers=headers)


@asynccontextmanager
async def serve_api(
    stack: Stack, settings: IngestSettings, *, events_topic_arn: str | None = None
) -> AsyncIterator[Api]:
    topic_arn = events_topic_arn or stack.applied.topic_arns[stack.spec.events_topic.name]
    async with open_context(stack.aws, settings, events_topic_arn=topic_arn) as context:
        server = ApiServer(
            uvicorn.Config(create_app(context), log_config=None, access_log=False, lifespan="off")
        )
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        task = asyncio.create_task(server.serve(sockets=[sock]))
        try:
            while not server.started:
                if task.done():
                    task.result()
                await asyncio.sleep(0.01)
            url = f"http://127.0.0.1:{port}"
            async with httpx.AsyncClient(base_url=url, timeout=30) as client:
                yield Api(stack, context, url, client)
        finally:
            context.stopping.set()
            server.should_exit = True
            await task
            sock.close()


@asynccontextmanager
async def api_with(stack: Stack, **overrides: Any) -> AsyncIterator[Api]:
    """The app with its own AWS clients, built from `overrides` of the stack's settings."""
    settings: IngestSettings = settings_for(stack, **overrides)
    async with AwsClients(settings) as aws:
        own = Stack(settings, aws, stack.applied)
        topic_arn = stack.applied.topic_arns[stack.spec.events_topic.name]
        async with serve_api(own, settings, events_topic_arn=topic_arn) as api:
            yield api


ApiFactory = Callable[..., Awaitable[Api]]


async def drain(
    stack: Stack, queue: str, *, expect: int = 0, timeout: float = 10.0
) -> list[dict[str, Any]]:
    """Every message in `queue` (read and deleted): at least `expect` of them (waiting up to
    `timeout` for them to arrive), then whatever else is there until a receive comes back
    empty. Messages published before the call are there already: moto delivers SNS to SQS
    before the publish returns."""
    sqs = await stack.aws.sqs()
    url = stack.queue_url(queue)
    messages: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while True:
        response = await sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0, VisibilityTimeout=30
        )
        batch = response.get("Messages", [])
        if not batch:
            if len(messages) >= expect:
                return messages
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"{queue}: {len(messages)} of {expect} messages after {timeout}s"
                )
            await asyncio.sleep(0.02)
            continue
        messages += [dict(m) for m in batch]
        entries = [{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(batch)]
        await sqs.delete_message_batch(QueueUrl=url, Entries=entries)


async def drain_events(stack: Stack, queue: str, *, expect: int = 0) -> list[Event]:
    return [parse_event(m["Body"]) for m in await drain(stack, queue, expect=expect)]


async def empty_queues(stack: Stack) -> None:
    for queue in stack.spec.queues:
        for name in (queue.name, queue.dlq_name):
            await drain(stack, name)
