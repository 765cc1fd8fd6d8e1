"""Script writer on any OpenAI-compatible chat API, with structured outputs and one repair turn.

The model answers in the strict `ScriptDraft` schema (`chat.completions.parse`); an answer that
is malformed, off-schema or fails `script_problems` is shown its problems once, and a second bad
answer is a `ScriptRejected`. Transport failures are retried by the shared `RetryPolicy`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING

import openai
import structlog
from openai import omit
from openai.types.chat import ChatCompletionMessageParam, ParsedChatCompletion
from pydantic import ValidationError

from omnigen.scripter.errors import PROVIDER, ProviderFailed, ScriptRefused, ScriptRejected
from omnigen.scripter.llm_schema import DraftInvalid, ScriptDraft
from omnigen.scripter.prompts import PROMPT_VERSION, render_system_prompt
from omnigen.scripter.prompts.language import language_instruction
from omnigen.scripter.settings import WriterSettings
from omnigen.shared.domain.jobs import JobRequest
from omnigen.shared.domain.script_rules import script_problems, validation_error_problems
from omnigen.shared.domain.scripts import Script
from omnigen.shared.domain.usage import count_usage
from omnigen.shared.providers.openai_compat import OpenAICompatible

if TYPE_CHECKING:
    from openai._legacy_response import LegacyAPIResponse

log = structlog.get_logger()

REPAIR_ANSWER_MAX_CHARS = 20_000
REPAIR_MAX_PROBLEMS = 40


@dataclass(frozen=True)
class _Answer:
    """One model answer: the script if it is valid, else what is wrong with it."""

    content: str | None
    script: Script | None
    problems: list[str]


class OpenAIScriptWriter:
    """ScriptWriter backed by an OpenAI-compatible `/chat/completions` endpoint."""

    def __init__(
        self, *, api: OpenAICompatible, model: str, max_completion_tokens: int | None = None
    ) -> None:
        self._api = api
        self._model = model
        self._max_completion_tokens = max_completion_tokens

    @classmethod
    def from_settings(cls, settings: WriterSettings) -> OpenAIScriptWriter:
        api = OpenAICompatible.connect(
            api_key=settings.api_key,
            key_setting="OMNIGEN_OPENAI_API_KEY",
            base_url=settings.openai_base_url,
            provider=PROVIDER,
            policy=settings.retry_policy,
            timeout_s=settings.openai_timeout_s,
        )
        return cls(
            api=api,
            model=settings.openai_model,
            max_completion_tokens=settings.openai_max_completion_tokens,
        )

    async def aclose(self) -> None:
        await self._api.aclose()

    async def write(self, request: JobRequest) -> Script:
        messages: list[ChatCompletionMessageParam] = [
            {
                "role": "system",
                "content": render_system_prompt(request) + language_instruction(request),
            },
            {"role": "user", "content": request.subject},
        ]
        log.info("script_requested", model=self._model, prompt_version=PROMPT_VERSION)
        first = await self._answer(messages, request)
        if first.script is not None:
            return _titled(first.script, request)
        log.warning("script_answer_invalid", problems=first.problems[:10], repairing=True)
        messages += _repair_messages(first)
        second = await self._answer(messages, request)
        if second.script is not None:
            log.info("script_repaired", problems_fixed=len(first.problems))
            return _titled(second.script, request)
        log.warning("script_rejected", problems=second.problems[:10])
        raise ScriptRejected(second.problems)

    async def _answer(
        self, messages: list[ChatCompletionMessageParam], request: JobRequest
    ) -> _Answer:
        raw = await self._call(messages)
        tokens_in, tokens_out = _tokens_used(raw.http_response.content)
        count_usage(llm_calls=1, llm_tokens_in=tokens_in, llm_tokens_out=tokens_out)
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
                provider=PROVIDER,
                transient=True,
            ) from err
        if not completion.choices:
            raise ProviderFailed(
                "the script provider sent a response with no answer", provider=PROVIDER
            )
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
        """One chat completion, retried by the shared policy (429, 5xx, timeouts, lost
        connections) while its budget lasts."""
        return await self._api.call(
            lambda: self._api.client.chat.completions.with_raw_response.parse(
                model=self._model,
                messages=messages,
                response_format=ScriptDraft,
                max_completion_tokens=self._max_completion_tokens or omit,
            )
        )


def _titled(script: Script, request: JobRequest) -> Script:
    """The script under the title the request set, if it set one (the prompt asks for it;
    this makes it so)."""
    title = request.options.title
    return script if title is None else script.model_copy(update={"title": title})


def _tokens_used(body: bytes) -> tuple[int, int]:
    """Tokens in and out as the answer's `usage` field states them (0 when it has none)."""
    try:
        usage = json.loads(body).get("usage") or {}
        counts = (usage.get("prompt_tokens", 0), usage.get("completion_tokens", 0))
    except (ValueError, AttributeError):
        return 0, 0
    return (
        counts[0] if isinstance(counts[0], int) and counts[0] >= 0 else 0,
        counts[1] if isinstance(counts[1], int) and counts[1] >= 0 else 0,
    )


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
