"""Fixtures for the scripter's writer tests: a fake OpenAI server and writers pointed at it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest

from omnigen.scripter.openai_writer import OpenAIScriptWriter
from omnigen.scripter.settings import WriterSettings
from omnigen.testing.fake_openai import FakeOpenAI

TEST_API_KEY = "sk-test-omnigen-4f1c9a7e2b8d"

WriterFactory = Callable[..., OpenAIScriptWriter]


@pytest.fixture
def fake_openai() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as fake:
        yield fake


@pytest.fixture
async def make_writer(fake_openai: FakeOpenAI) -> AsyncIterator[WriterFactory]:
    """Writers on the fake server with fast test timings; overrides are WriterSettings fields."""
    writers: list[OpenAIScriptWriter] = []

    def make(**overrides: Any) -> OpenAIScriptWriter:
        fields: dict[str, Any] = {
            "openai_api_key": TEST_API_KEY,
            "openai_base_url": fake_openai.base_url,
            "openai_model": "fake-script-model",
            "openai_timeout_s": 5.0,
            "provider_retry_budget_s": 0.5,
            "provider_retry_base_delay_s": 0.01,
            "provider_retry_max_delay_s": 0.05,
            **overrides,
        }
        writer = OpenAIScriptWriter.from_settings(WriterSettings(**fields))
        writers.append(writer)
        return writer

    yield make
    for writer in writers:
        await writer.aclose()


@pytest.fixture
def api_key() -> str:
    return TEST_API_KEY
