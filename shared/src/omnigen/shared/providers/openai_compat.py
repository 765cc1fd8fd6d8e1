"""Any OpenAI-compatible API (chat, speech) called under the shared `RetryPolicy`.

The openai client's own retries are switched off: it also retries 408 and 409 and gives up
silently on long Retry-After values, where the policy retries only what may pass and says why
it stopped. Needs `omnigen-shared[openai]`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

import openai
from openai import AsyncOpenAI
from pydantic import SecretStr

from omnigen.shared.providers.retry import Failure, RetryPolicy, parse_retry_after
from omnigen.shared.redaction import redact_text

T = TypeVar("T")
DETAIL_MAX_CHARS = 300


@dataclass(frozen=True)
class OpenAICompatible:
    """Calls on one client for one provider (e.g. "script", "speech"); every attempt is cut
    off after `timeout_s`."""

    client: AsyncOpenAI
    provider: str
    policy: RetryPolicy
    timeout_s: float

    @classmethod
    def connect(
        cls,
        *,
        api_key: SecretStr | None,
        key_setting: str,
        base_url: str | None,
        provider: str,
        policy: RetryPolicy,
        timeout_s: float,
    ) -> OpenAICompatible:
        """A client on `base_url` whose failures reach the policy at once (no retries of its
        own); a missing key is a configuration error naming `key_setting`."""
        key = api_key.get_secret_value() if api_key else ""
        if not key:
            raise ValueError(f"{key_setting} is required for the OpenAI-compatible {provider} API")
        client = AsyncOpenAI(api_key=key, base_url=base_url, timeout=timeout_s, max_retries=0)
        return cls(client, provider, policy, timeout_s)

    async def aclose(self) -> None:
        await self.client.close()

    async def call(self, request: Callable[[], Awaitable[T]]) -> T:
        """`request()`'s answer, or `ProviderFailed` once the policy stops retrying."""

        async def attempt() -> T:
            async with asyncio.timeout(self.timeout_s):
                return await request()

        return await self.policy.call(
            attempt,
            read_failure=self.read_failure,
            provider=self.provider,
            secrets=(self.client.api_key,),
        )

    def read_failure(self, err: Exception) -> Failure | None:
        """The openai client's errors as the policy reads them; others pass through."""
        who = f"the {self.provider} provider"
        if isinstance(err, openai.APIStatusError):
            status = err.status_code
            detail = redact_text(provider_message(err), self.client.api_key)[:DETAIL_MAX_CHARS]
            retry_after = parse_retry_after(err.response.headers)
            reason = f"{who} answered HTTP {status}: {detail}"
            return Failure.answered(status, reason, retry_after_s=retry_after)
        if isinstance(err, openai.APITimeoutError | TimeoutError):
            return Failure.unanswered(f"{who} did not answer within {self.timeout_s:g} s")
        if isinstance(err, openai.APIConnectionError):
            return Failure.unanswered(
                f"could not reach {who}: {type(err.__cause__ or err).__name__}"
            )
        return None


def provider_message(err: openai.APIStatusError) -> str:
    """The error object's own message (the client's `message` repeats the whole body)."""
    body = err.body
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and isinstance(inner.get("message"), str):
            return str(inner["message"])
    return err.response.text or err.message
