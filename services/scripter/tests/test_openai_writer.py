"""The OpenAI writer against a fake OpenAI-compatible server, through the real openai client."""

from __future__ import annotations

import itertools
import json
import logging
import re
import time
from typing import Any

import pytest
from structlog.testing import capture_logs

from omnigen.scripter.errors import ScriptRefused, ScriptRejected
from omnigen.scripter.planner import plan_script
from omnigen.shared.domain.errors import ProviderFailed
from omnigen.shared.domain.jobs import AspectRatio, JobOptions, JobRequest
from omnigen.shared.domain.usage import metering
from omnigen.testing.fake_openai import FakeOpenAI, Reply

REQUEST = JobRequest(
    prompt="A cozy coffee shop on a rainy morning, introducing our new oat latte",
    duration=24,
    aspect_ratio=AspectRatio.PORTRAIT,
    options=JobOptions(
        style="cinematic",
        tone="friendly",
        tempo="slow",
        platform="instagram",
        audience="commuters in their twenties",
        goal="sales",
        call_to_action="Visit us on Main Street",
    ),
)
# Keywords OpenAI documents as unsupported in strict structured-output schemas.
UNSUPPORTED_SCHEMA_KEYWORDS = {"minLength", "maxLength", "default", "allOf", "not", "if", "then"}


def valid_answer() -> dict[str, Any]:
    return plan_script(REQUEST).model_dump(mode="json")


def flawed_answer() -> dict[str, Any]:
    """Schema-valid but unfit: a placeholder prompt and three seconds too many."""
    answer = valid_answer()
    answer["scenes"][1]["generation_prompt"] = "TBD"
    answer["scenes"][-1]["duration"] += 3
    return answer


async def test_valid_answer_becomes_the_script(make_writer: Any, fake_openai: FakeOpenAI) -> None:
    fake_openai.reply(Reply.json_answer(valid_answer()))

    script = await make_writer().write(REQUEST)

    assert script == plan_script(REQUEST)
    assert len(fake_openai.requests) == 1


async def test_request_carries_strict_schema_options_and_key(
    make_writer: Any, fake_openai: FakeOpenAI, api_key: str
) -> None:
    fake_openai.reply(Reply.json_answer(valid_answer()))

    await make_writer().write(REQUEST)

    sent = fake_openai.requests[0]
    assert sent.headers["Authorization"] == f"Bearer {api_key}"
    assert sent.body["model"] == "fake-script-model"
    response_format = sent.body["response_format"]
    assert response_format["type"] == "json_schema"
    assert response_format["json_schema"]["strict"] is True
    schema = response_format["json_schema"]["schema"]
    assert _strict_schema_violations(schema) == []
    system, user = sent.messages
    assert user == {"role": "user", "content": REQUEST.prompt}
    for text in (*REQUEST.options.model_dump(exclude_none=True).values(), "9:16", "24 seconds"):
        assert text in system["content"], text


@pytest.mark.parametrize(
    ("content", "expected_problem"),
    [
        (json.dumps(valid_answer())[:300], "Invalid JSON"),
        (json.dumps({**valid_answer(), "title": 42}), "title: Input should be a valid string"),
        (
            json.dumps(valid_answer()).replace('"shot_type": "', '"shot_type": "dutch_', 1),
            "scenes[0].shot_type: Input should be",
        ),
    ],
    ids=["truncated-json", "wrong-type", "unknown-enum"],
)
async def test_malformed_answer_is_repaired_with_its_errors_shown(
    make_writer: Any, fake_openai: FakeOpenAI, content: str, expected_problem: str
) -> None:
    fake_openai.reply(Reply.answer(content), Reply.json_answer(valid_answer()))

    script = await make_writer().write(REQUEST)

    assert script == plan_script(REQUEST)
    assert len(fake_openai.requests) == 2
    *_, previous, repair = fake_openai.requests[1].messages
    assert previous == {"role": "assistant", "content": content}
    assert repair["role"] == "user"
    assert expected_problem in repair["content"]


async def test_every_answer_counts_its_tokens_from_the_usage_field(
    make_writer: Any, fake_openai: FakeOpenAI
) -> None:
    fake_openai.reply(
        Reply.json_answer(flawed_answer(), tokens=(1500, 700)),
        Reply.json_answer(valid_answer(), tokens=(2300, 650)),
    )
    with metering() as meter:
        await make_writer().write(REQUEST)
    used = meter.usage
    assert (used.llm_calls, used.llm_tokens_in, used.llm_tokens_out) == (2, 3800, 1350)
    fake_openai.reply(Reply(body={**Reply.json_answer(valid_answer()).body, "usage": None}))
    with metering() as meter:  # an answer without a usage field counts its call only
        await make_writer().write(REQUEST)
    assert (meter.usage.llm_calls, meter.usage.llm_tokens_in) == (1, 0)


async def test_semantically_invalid_answer_is_repaired(
    make_writer: Any, fake_openai: FakeOpenAI
) -> None:
    fake_openai.reply(Reply.json_answer(flawed_answer()), Reply.json_answer(valid_answer()))

    script = await make_writer().write(REQUEST)

    assert script == plan_script(REQUEST)
    repair = fake_openai.requests[1].messages[-1]["content"]
    assert "scenes[1].generation_prompt: contains placeholder text 'TBD'" in repair
    assert "scenes: durations add up to 27.00 s but the video is 24 s" in repair


async def test_still_invalid_after_repair_is_rejected_with_reasons(
    make_writer: Any, fake_openai: FakeOpenAI
) -> None:
    fake_openai.reply_always(Reply.json_answer(flawed_answer()))

    with pytest.raises(ScriptRejected) as caught:
        await make_writer().write(REQUEST)

    assert len(fake_openai.requests) == 2
    assert any(p.startswith("scenes[1].generation_prompt") for p in caught.value.problems)
    assert "durations add up to 27.00 s" in str(caught.value)


async def test_refusal_is_the_failure_reason(make_writer: Any, fake_openai: FakeOpenAI) -> None:
    fake_openai.reply(Reply.answer(None, refusal="I can't help with that request."))

    with pytest.raises(ScriptRefused) as caught:
        await make_writer().write(REQUEST)

    assert str(caught.value) == "the script model refused: I can't help with that request."
    assert len(fake_openai.requests) == 1


async def test_content_filter_stop_is_a_refusal(make_writer: Any, fake_openai: FakeOpenAI) -> None:
    fake_openai.reply(Reply.answer(None, finish_reason="content_filter"))

    with pytest.raises(ScriptRefused, match="content filter stopped the answer"):
        await make_writer().write(REQUEST)


async def test_answer_cut_off_at_the_length_limit_gets_a_repair(
    make_writer: Any, fake_openai: FakeOpenAI
) -> None:
    fake_openai.reply(
        Reply.answer('{"title": "Oat', finish_reason="length"), Reply.json_answer(valid_answer())
    )

    script = await make_writer().write(REQUEST)

    assert script == plan_script(REQUEST)
    assert "cut off at the length limit" in fake_openai.requests[1].messages[-1]["content"]


async def test_rate_limit_waits_for_retry_after_then_succeeds(
    make_writer: Any, fake_openai: FakeOpenAI
) -> None:
    fake_openai.reply(
        Reply.error(429, "Rate limit reached for requests", headers={"Retry-After": "0.3"}),
        Reply.json_answer(valid_answer()),
    )

    script = await make_writer().write(REQUEST)

    assert script == plan_script(REQUEST)
    first, second = fake_openai.requests
    assert second.at - first.at >= 0.29  # backoff alone would be 0.01 s


async def test_a_burst_of_rate_limits_inside_the_budget_is_waited_out_in_one_call(
    make_writer: Any, fake_openai: FakeOpenAI
) -> None:
    """Six 429s (twice what the old attempt count allowed) cost time, not the job."""
    limited = Reply.error(429, "Rate limit reached", headers={"Retry-After": "0.05"})
    fake_openai.reply(*[limited] * 6, Reply.json_answer(valid_answer()))

    script = await make_writer(provider_retry_budget_s=5).write(REQUEST)

    assert script == plan_script(REQUEST)
    arrivals = [r.at for r in fake_openai.requests]
    assert len(arrivals) == 7
    assert all(later - earlier >= 0.045 for earlier, later in itertools.pairwise(arrivals))


async def test_retry_after_beyond_the_budget_fails_at_once(
    make_writer: Any, fake_openai: FakeOpenAI
) -> None:
    fake_openai.reply_always(Reply.error(429, "Slow down", headers={"Retry-After": "120"}))

    with pytest.raises(ProviderFailed) as caught:
        await make_writer(provider_retry_budget_s=5).write(REQUEST)

    assert len(fake_openai.requests) == 1
    # The elapsed time is the one real round trip: 0.0 s idle, a tenth more on a loaded host.
    assert re.fullmatch(
        r"the script provider answered HTTP 429: Slow down \(gave up after 1 attempt over "
        r"0\.[0-4] s; the provider asked to wait 120 s more, past the 5 s retry budget\)",
        str(caught.value),
    )
    assert caught.value.transient


async def test_persistent_server_error_fails_once_the_budget_is_spent(
    make_writer: Any, fake_openai: FakeOpenAI
) -> None:
    fake_openai.reply_always(Reply.error(500, "The server had an error processing your request."))

    with pytest.raises(ProviderFailed) as caught:
        await make_writer(provider_retry_budget_s=0.3).write(REQUEST)

    reason = re.fullmatch(
        r"the script provider answered HTTP 500: The server had an error processing your "
        r"request\. \(gave up after (\d+) attempts over (\d\.\d) s; the retry budget is 0\.3 s\)",
        str(caught.value),
    )
    assert reason is not None, str(caught.value)
    attempts, waited = int(reason[1]), float(reason[2])
    assert attempts == len(fake_openai.requests) >= 3
    assert 0.2 <= waited <= 0.5
    assert (caught.value.status_code, caught.value.attempts, caught.value.transient) == (
        500,
        attempts,
        True,
    )
    assert caught.value.provider == "script"


async def test_hanging_server_times_out(make_writer: Any, fake_openai: FakeOpenAI) -> None:
    fake_openai.reply_always(Reply.hanging())
    started = time.monotonic()

    with pytest.raises(ProviderFailed) as caught:
        await make_writer(openai_timeout_s=0.3, provider_retry_budget_s=0.5).write(REQUEST)

    assert time.monotonic() - started < 3
    assert len(fake_openai.requests) == 2  # the second timeout spends the budget
    assert re.fullmatch(
        r"the script provider did not answer within 0\.3 s \(gave up after 2 attempts over "
        r"0\.\d s; the retry budget is 0\.5 s\)",
        str(caught.value),
    ), str(caught.value)
    assert caught.value.transient and caught.value.status_code is None


@pytest.mark.parametrize("status", [400, 401, 404, 409, 422])
async def test_other_client_errors_are_not_retried(
    make_writer: Any, fake_openai: FakeOpenAI, status: int
) -> None:
    fake_openai.reply_always(Reply.error(status, "Invalid schema for response_format"))

    with pytest.raises(ProviderFailed) as caught:
        await make_writer().write(REQUEST)

    assert len(fake_openai.requests) == 1
    assert str(caught.value) == (
        f"the script provider answered HTTP {status}: Invalid schema for response_format"
    )
    assert not caught.value.transient
    assert (caught.value.status_code, caught.value.attempts) == (status, 1)


async def test_unreachable_server_fails_after_retries(make_writer: Any) -> None:
    closed = FakeOpenAI()
    closed.start()
    closed.stop()  # the port is now closed

    with pytest.raises(ProviderFailed) as caught:
        await make_writer(openai_base_url=closed.base_url).write(REQUEST)

    assert str(caught.value).startswith(
        "could not reach the script provider: ConnectError (gave up after"
    )
    assert caught.value.transient and caught.value.attempts >= 3


async def test_api_key_never_reaches_logs_or_errors(
    make_writer: Any, fake_openai: FakeOpenAI, api_key: str, caplog: pytest.LogCaptureFixture
) -> None:
    # A careless provider echoes the key back in its error message.
    fake_openai.reply_always(Reply.error(503, f"upstream refused credentials {api_key}"))
    caplog.set_level(logging.DEBUG)

    with capture_logs() as events, pytest.raises(ProviderFailed) as caught:
        await make_writer().write(REQUEST)

    assert fake_openai.requests[0].headers["Authorization"] == f"Bearer {api_key}"
    structured = repr(events)
    assert "provider_retry" in structured  # the capture saw our logs...
    assert "Sending HTTP Request" in caplog.text  # ...and the openai client's debug logs
    for output in (structured, caplog.text, str(caught.value), repr(caught.value)):
        assert api_key not in output
    assert "upstream refused credentials [REDACTED]" in str(caught.value)


def _strict_schema_violations(schema: Any, path: str = "$") -> list[str]:
    """Where `schema` breaks OpenAI's strict-mode rules (closed objects, all fields required)."""
    found: list[str] = []
    if isinstance(schema, dict):
        found += [f"{path}: {key}" for key in UNSUPPORTED_SCHEMA_KEYWORDS & schema.keys()]
        if schema.get("type") == "object":
            if schema.get("additionalProperties") is not False:
                found.append(f"{path}: additionalProperties is not false")
            if sorted(schema.get("required", [])) != sorted(schema.get("properties", {})):
                found.append(f"{path}: not every property is required")
        for key, value in schema.items():
            children = value.items() if key in ("properties", "$defs") else [(key, value)]
            for name, child in children:
                found += _strict_schema_violations(child, f"{path}.{name}")
    elif isinstance(schema, list):
        for index, item in enumerate(schema):
            found += _strict_schema_violations(item, f"{path}[{index}]")
    return found


@pytest.mark.parametrize(
    ("tag", "name"), [("ja", "Japanese"), ("ar", "Arabic"), ("pt-BR", "Portuguese")]
)
async def test_the_model_is_told_to_write_in_the_jobs_language(
    make_writer: Any, fake_openai: FakeOpenAI, tag: str, name: str
) -> None:
    fake_openai.reply(Reply.json_answer(valid_answer()))
    request = REQUEST.model_copy(
        update={"options": REQUEST.options.model_copy(update={"language": tag})}
    )

    await make_writer().write(request)

    system = fake_openai.requests[0].messages[0]["content"]
    assert f"## Language\nWrite everything the viewer hears or reads in {name} ({tag})" in system
    assert "`narration`" in system.split("## Language")[1]


async def test_a_job_without_a_language_gets_no_language_section(
    make_writer: Any, fake_openai: FakeOpenAI
) -> None:
    fake_openai.reply(Reply.json_answer(valid_answer()))

    await make_writer().write(REQUEST)

    assert "## Language" not in fake_openai.requests[0].messages[0]["content"]
