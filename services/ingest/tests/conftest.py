"""Fixtures for ingest's tests: one bootstrapped moto stack for the session (each test uses its
own users and starts with empty queues) and apps served over it on 127.0.0.1."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from typing import Any

import pytest

from omnigen.cli.localaws.moto_server import MotoServer
from omnigen.testing.fixtures import Stack, bootstrapped, moto_settings

from .helpers import Api, ApiFactory, empty_queues, serve_api, settings_for


@pytest.fixture(scope="session")
async def ingest_stack(moto_server: MotoServer) -> AsyncIterator[Stack]:
    async for stack in bootstrapped(moto_settings(moto_server)):
        yield stack


@pytest.fixture
async def stack_now(ingest_stack: Stack) -> Stack:
    """The session's stack with every queue emptied, so a test sees only its own messages."""
    await empty_queues(ingest_stack)
    return ingest_stack


@pytest.fixture
async def make_api(stack_now: Stack) -> AsyncIterator[ApiFactory]:
    """`await make_api(**settings_overrides)`: several apps may run over one stack."""
    async with AsyncExitStack() as exits:

        async def make(*, events_topic_arn: str | None = None, **overrides: Any) -> Api:
            settings = settings_for(stack_now, **overrides)
            served = serve_api(stack_now, settings, events_topic_arn=events_topic_arn)
            return await exits.enter_async_context(served)

        yield make


@pytest.fixture
async def api(make_api: ApiFactory) -> Api:
    return await make_api()


@pytest.fixture
async def backend_api(stack: Stack) -> AsyncIterator[Api]:
    """The app over a fresh stack, once on moto and once on LocalStack (+ DynamoDB on moto)."""
    async with serve_api(stack, settings_for(stack)) as served:
        yield served
