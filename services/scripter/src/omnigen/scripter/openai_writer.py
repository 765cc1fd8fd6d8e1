"""Script writer on any OpenAI-compatible chat API, with structured outputs and one repair turn.

The model answers in the strict `ScriptDraft` schema (`chat.completions.parse`); an answer that
is malformed, off-schema or fails `script_problems` is shown its problems once, and a second bad
answer is a `ScriptRejected`. Transport failures are retried by `RetryPolicy`.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING

import openai
import structlog
from openai import AsyncOpenAI, omit
from openai.types.chat import ChatCompletionMessageParam, ParsedChatCompletion
from pydantic import ValidationError

from omnigen.scripter.errors import ProviderFailed, ProviderTimeout, ScriptRefused, ScriptRejected
from omnigen.scripter.llm_schema import DraftInvalid, ScriptDraft
from omnigen.scripter.prompts import PROMPT_VERSION, render_system_prompt
from omnigen.scripter.retry import RetryPolicy, is_retryable_status, parse_retry_after
from omnigen.scripter.settings import WriterSettings
from omnigen.scripter.validation import script_problems, validation_error_problems
from omnigen.shared.domain.jobs import JobRequest
from omnigen.shared.domain.scripts import Script

if TYPE_CHECKING:
    from openai._legacy_response import LegacyAPIResponse

log = structlog.get_logger()

REPAIR_ANSWER_MAX_CHARS = 20_000
REPAIR_MAX_PROBLEMS = 40
PROVIDER_MESSAGE_MAX_CHARS = 300


@dataclass(frozen=True)
class _Answer:
    """One model answer: the script if it is valid, else what is wrong with it."""

    content: str | None
    script: Script | None
    problems: list[str]


class OpenAIScriptWriter:
    """ScriptWriter backed by an OpenAI-compatible `/chat/completions` endpoint."""

    def __init__(
        self,
        *,
        client: AsyncOpenAI,
        model: str,
        timeout_s: float,
        retry: RetryPolicy,
        max_completion_tokens: int | None = None,
    ) -> None:
        self._client = client
        self._model = model
        self._timeout_s = timeout_s
        self._retry = retry
        self._max_completion_tokens = max_completion_tokens
        self._secret = client.api_key

    @classmethod
    def from_settings(cls, settings: WriterSettings) -> OpenAIScriptWriter:
        key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else ""
        if not key:
            raise ValueError("OMNIGEN_OPENAI_API_KEY is required for the OpenAI script writer")
        client = AsyncOpenAI(
            api_key=key,
            base_url=settings.openai_base_url,
            timeout=settings.openai_timeout_s,
            max_retries=0,  # RetryPolicy decides; see retry.py for why
        )
        return cls(
            client=client,
            model=settings.openai_model,
            timeout_s=settings.openai_timeout_s,
            retry=RetryPolicy(
                max_retries=settings.openai_max_retries,
                base_delay_s=settings.openai_retry_base_delay_s,
                max_delay_s=settings.openai_retry_max_delay_s,
                max_retry_after_s=settings.openai_max_retry_after_s,
            ),
            max_completion_tokens=settings.openai_max_completion_tokens,
        )

    async def aclose(self) -> None:
        await self._client.close()

    async def write(self, request: JobRequest) -> Script:
        messages: list[ChatCompletionMessageParam] = [
            {"role": "system", "content": render_system_prompt(request)},
            {"role": "user", "content": request.prompt},
        ]
        log.info("script_requested", model=self._model, prompt_version=PROMPT_VERSION)
        first = await self._answer(messages, request)
        if first.script is not None:
            return first.script
        log.warning("script_answer_invalid", problems=first.problems[:10], repairing=True)
        messages += _repair_messages(first)
        second = await self._answer(messages, request)
        if second.script is not None:
            log.info("script_repaired", problems_fixed=len(first.problems))
            return second.script
        log.warning("script_rejected", problems=second.problems[:10])
        raise ScriptRejected(second.problems)

    async def _answer(
        self, messages: list[ChatCompletionMessageParam], request: JobRequest
    ) -> _Answer:
        raw = await self._call(messages)
        content = _answer_content(raw.http_response.content)
        try:
            completion: ParsedChatCompletion[ScriptDraft] = raw.parse()
        except openai.LengthFinishReasonError:
            return _Answer(content, None, ["script: the answer was cut off at the length limit"])
        except openai.ContentFilterFinishReasonError as err:
            raise ScriptRefused("the provider's content filter stopped the answer") from err
        except ValidationError as err:
            return _Answer(content, None, validation_error_problems(err))
        except (ValueError, TypeError, AttributeError, openai.OpenAIError) as err:
            raise ProviderFailed(
                f"the script provider sent a malformed response: {type(err).__name__}",
                transient=True,
            ) from err
        if not completion.choices:
            raise ProviderFailed("the script provider sent a response with no answer")
        message = completion.choices[0].message
        if message.refusal:
            log.warning("script_refused", refusal=message.refusal[:200])
            raise ScriptRefused(message.refusal)
        if message.parsed is None:
            return _Answer(content, None, ["script: the answer was empty"])
        try:
            script = message.parsed.to_script()
        except DraftInvalid as err:
            return _Answer(content, None, err.problems)
        problems = script_problems(script, request)
        return _Answer(content, None if problems else script, problems)

    async def _call(
        self, messages: list[ChatCompletionMessageParam]
    ) -> LegacyAPIResponse[ParsedChatCompletion[ScriptDraft]]:
        """One chat completion, retried on 429, 5xx, timeouts and lost connections."""
        attempt = 0
        while True:
            attempt += 1
            retry_after: float | None = None
            try:
                async with asyncio.timeout(self._timeout_s):
                    return await self._client.chat.completions.with_raw_response.parse(
                        model=self._model,
                        messages=messages,
                        response_format=ScriptDraft,
                        max_completion_tokens=self._max_completion_tokens or omit,
                    )
            except openai.APIStatusError as err:
                failure = self._status_failure(err, attempt)
                retry_after = parse_retry_after(err.response.headers)
                if retry_after is not None and retry_after > self._retry.max_retry_after_s:
                    raise ProviderFailed(
                        f"{failure}; the provider asked to wait {retry_after:.0f} s, longer "
                        f"than the {self._retry.max_retry_after_s:.0f} s this writer waits",
                        status_code=err.status_code,
                        attempts=attempt,
                        transient=True,
                    ) from err
            except (openai.APITimeoutError, TimeoutError):
                failure = ProviderTimeout(
                    f"the script provider did not answer within {self._timeout_s:g} s "
                    f"({_attempts(attempt)})",
                    attempts=attempt,
                    transient=True,
                )
            except openai.APIConnectionError as err:
                failure = ProviderFailed(
                    self._redact(
                        f"could not reach the script provider ({_attempts(attempt)}): "
                        f"{err.__cause__ or err}"
                    ),
                    attempts=attempt,
                    transient=True,
                )
            if attempt >= self._retry.max_attempts:
                raise failure
            delay = self._retry.delay(attempt, retry_after)
            log.warning(
                "script_provider_retry", attempt=attempt, reason=str(failure), delay_s=delay
            )
            await asyncio.sleep(delay)

    def _status_failure(self, err: openai.APIStatusError, attempt: int) -> ProviderFailed:
        status = err.status_code
        detail = self._redact(_provider_message(err))
        if not is_retryable_status(status):
            raise ProviderFailed(
                f"the script provider rejected the request with HTTP {status}: {detail}",
                status_code=status,
                attempts=attempt,
            ) from err
        what = "kept rate-limiting" if status == 429 else "failed"
        return ProviderFailed(
            f"the script provider {what} with HTTP {status} after {_attempts(attempt)}: {detail}",
            status_code=status,
            attempts=attempt,
            transient=True,
        )

    def _redact(self, text: str) -> str:
        return text.replace(self._secret, "***") if self._secret else text


def _attempts(count: int) -> str:
    return f"{count} attempt{'s' if count != 1 else ''}"


def _provider_message(err: openai.APIStatusError) -> str:
    body = err.body
    message = body.get("message") if isinstance(body, dict) else None
    text = str(message) if message else (err.response.text or err.message)
    return text[:PROVIDER_MESSAGE_MAX_CHARS]


def _answer_content(body: bytes) -> str | None:
    """The raw text of the model's answer, to show it back in the repair turn."""
    try:
        content = json.loads(body)["choices"][0]["message"]["content"]
    except (ValueError, KeyError, IndexError, TypeError):
        return None
    return content if isinstance(content, str) else None


def _repair_messages(answer: _Answer) -> list[ChatCompletionMessageParam]:
    messages: list[ChatCompletionMessageParam] = []
    if answer.content:
        messages.append({"role": "assistant", "content": answer.content[:REPAIR_ANSWER_MAX_CHARS]})
    listing = "\n".join(f"- {problem}" for problem in answer.problems[:REPAIR_MAX_PROBLEMS])
    messages.append(
        {
            "role": "user",
            "content": (
                "That script cannot be used yet. Fix every problem below and reply with the "
                "complete corrected script (every field, not only the changes).\n\n"
                f"Problems:\n{listing}"
            ),
        }
    )
    return messages
