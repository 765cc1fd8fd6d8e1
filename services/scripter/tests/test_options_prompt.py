"""Every creative option reaches the model (system_v2), and a local model server writes too."""

from __future__ import annotations

from typing import Any

import pytest

from omnigen.scripter.planner import plan_script
from omnigen.scripter.prompts import OPTION_HINTS, PROMPT_VERSION, render_system_prompt
from omnigen.scripter.settings import LOCAL_SERVER_KEY, WriterSettings
from omnigen.scripter.writers import build_writer
from omnigen.shared.domain.creative import CREATIVE_ENUMS
from omnigen.shared.domain.jobs import AspectRatio, JobRequest
from omnigen.testing.fake_openai import FakeOpenAI, Reply

LANGUAGES = ("en", "es", "fr", "de", "pt-BR", "ja")


def _requests() -> list[JobRequest]:
    """Enough requests that every value of every closed option appears in one of them."""
    rounds = max(len(vocabulary) for vocabulary in CREATIVE_ENUMS.values())
    return [
        JobRequest.model_validate(
            {
                "prompt": "A cozy coffee shop on a rainy morning, introducing our new oat latte",
                "duration": 24,
                "aspect_ratio": AspectRatio.PORTRAIT,
                "options": {
                    **{
                        name: list(vocabulary)[i % len(vocabulary)].value
                        for name, vocabulary in CREATIVE_ENUMS.items()
                    },
                    "title": f"Oat latte, take {i}",
                    "audience": f"commuters of line {i}",
                    "call_to_action": f"Visit us on Main Street {i}",
                    "language": LANGUAGES[i],
                },
            }
        )
        for i in range(rounds)
    ]


def _job_section(system: str) -> dict[str, str]:
    """The "## The job" lines of a system prompt, as item -> text."""
    section = system.split("## The job", 1)[1].split("\n## ", 1)[0]
    return {
        name.strip(): text.strip()
        for line in section.splitlines()
        if line.startswith("- ") and ":" in line
        for name, text in [line[2:].split(":", 1)]
    }


async def test_every_option_value_reaches_the_model(
    make_writer: Any, fake_openai: FakeOpenAI
) -> None:
    requests = _requests()
    writer = make_writer()
    for request in requests:
        fake_openai.reply(Reply.json_answer(plan_script(request).model_dump(mode="json")))
        script = await writer.write(request)
        assert script.title == request.options.title  # the title asked for is the title

    labels = {
        "style": "Visual style",
        "tone": "Tone",
        "tempo": "Tempo",
        "platform": "Platform",
        "goal": "Goal",
    }
    seen: dict[str, set[str]] = {name: set() for name in CREATIVE_ENUMS}
    for request, sent in zip(requests, fake_openai.requests, strict=True):
        system = sent.messages[0]["content"]
        job = _job_section(system)
        options = request.options
        for name, label in labels.items():
            value = getattr(options, name)
            assert job[label] == f"{value.value} ({OPTION_HINTS[name][value]})"
            seen[name].add(value.value)
        assert job["Title"] == options.title
        assert job["Audience"] == options.audience
        assert job["Call to action"] == options.call_to_action
        assert job["Language"].endswith(f"({options.language})")
        assert sent.messages[1]["content"] == request.prompt
    assert seen == {name: {m.value for m in vocab} for name, vocab in CREATIVE_ENUMS.items()}


def test_each_value_changes_the_prompt() -> None:
    """Two requests that differ in one option get different system prompts."""
    base = JobRequest(prompt="A cozy coffee shop on a rainy morning", duration=20)
    for name, vocabulary in CREATIVE_ENUMS.items():
        prompts = {
            render_system_prompt(
                base.model_copy(update={"options": base.options.model_copy(update={name: member})})
            )
            for member in vocabulary
        }
        assert len(prompts) == len(vocabulary), name


def test_unset_options_read_not_specified() -> None:
    system = render_system_prompt(JobRequest(prompt="A cozy coffee shop", duration=20))

    job = _job_section(system)
    assert PROMPT_VERSION == "system_v2"
    assert {job[k] for k in ("Title", "Visual style", "Tone", "Tempo", "Goal")} == {"not specified"}
    assert job["Language"] == "English (en)"


@pytest.mark.parametrize("key", [None, "ollama"], ids=["no key", "dummy key"])
async def test_a_local_model_server_writes_real_scripts(
    monkeypatch: pytest.MonkeyPatch, fake_openai: FakeOpenAI, key: str | None
) -> None:
    """Configured as for Ollama or llama.cpp's server: a base URL, a local model name, no key
    (or a dummy one); the request asks for the script's JSON schema."""
    monkeypatch.setenv("OMNIGEN_SCRIPT_WRITER", "openai")
    monkeypatch.setenv("OMNIGEN_OPENAI_BASE_URL", fake_openai.base_url)
    monkeypatch.setenv("OMNIGEN_OPENAI_MODEL", "llama3.1:8b")
    if key is None:
        monkeypatch.delenv("OMNIGEN_OPENAI_API_KEY", raising=False)
    else:
        monkeypatch.setenv("OMNIGEN_OPENAI_API_KEY", key)
    request = _requests()[1]
    fake_openai.reply(Reply.json_answer(plan_script(request).model_dump(mode="json")))

    writer = build_writer(WriterSettings())
    try:
        script = await writer.write(request)
    finally:
        await writer.aclose()

    assert script.scenes and script.title == request.options.title
    assert sum(scene.duration for scene in script.scenes) == pytest.approx(24, abs=0.5)
    sent = fake_openai.requests[0]
    assert sent.body["model"] == "llama3.1:8b"
    assert sent.headers["Authorization"] == f"Bearer {key or LOCAL_SERVER_KEY}"
    response_format = sent.body["response_format"]
    assert response_format["type"] == "json_schema"
    assert response_format["json_schema"]["schema"]["type"] == "object"
    assert "scenes" in response_format["json_schema"]["schema"]["properties"]
