"""Non-English videos end to end on moto: the three services as processes, the script model a
fake OpenAI server writing in the job's language (the offline planner writes English only),
espeak-ng narrating in it, captions burned in its script and uploaded as SRT and WebVTT."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
import srt
import webvtt

from omnigen.renderer.media.probe import loudness, probe
from omnigen.scripter.planner import plan_script
from omnigen.shared.domain.jobs import AspectRatio, JobRequest
from omnigen.testing.e2e import (
    api,
    download_video,
    log_events,
    running_pipeline,
    submit,
    wait_for_end,
)
from omnigen.testing.fake_openai import FakeOpenAI, Reply
from omnigen.testing.fixtures import Stack

PROMPT = "A neighbourhood bakery opening at dawn"
# What the fake model "writes": a title and one line per scene, in each language.
WRITTEN = {
    "ja": ("夜明けのパン屋", ["朝五時、店の明かりがともります。", "焼きたてのパンの香り。",
                             "今朝もお待ちしています。"]),
    "ar": ("مخبز الفجر", ["في الخامسة صباحًا تضيء أنوار المخبز.", "رائحة الخبز الطازج.",
                         "ننتظركم كل صباح."]),
}  # fmt: skip


def model_answer(language: str, duration: int) -> dict[str, Any]:
    """A valid script for the job with the title and narration in `language`."""
    title, lines = WRITTEN[language]
    script = plan_script(JobRequest(prompt=PROMPT, duration=duration)).model_dump(mode="json")
    scenes = script["scenes"]
    for index, scene in enumerate(scenes):
        scene["narration"] = lines[index] if index < len(lines) else ""
    script["title"] = title
    script["audio_spec"]["voiceover_text"] = " ".join(
        s["narration"] for s in scenes if s["narration"]
    )
    return script


@pytest.fixture
def fake_openai() -> Any:
    with FakeOpenAI() as fake:
        yield fake


async def test_japanese_and_arabic_videos_with_sidecar_captions(
    moto_stack: Stack, fake_openai: FakeOpenAI, tmp_path: Path
) -> None:
    scripter = {
        "OMNIGEN_OPENAI_API_KEY": "sk-fake-e2e-languages",
        "OMNIGEN_OPENAI_BASE_URL": fake_openai.base_url,
        "OMNIGEN_OPENAI_MODEL": "fake-model",
    }
    async with (
        running_pipeline(moto_stack, tmp_path / "services", service_env={"scripter": scripter})
        as pipeline,
        api(pipeline) as client,
    ):  # fmt: skip
        for language in ("ja", "ar"):
            fake_openai.reply(Reply.json_answer(model_answer(language, 12)))
            job_id = await submit(client, prompt=PROMPT, duration=12, language=language,
                                  aspect_ratio=AspectRatio.PORTRAIT.value, speech_rate=1.1,
                                  captions={"mode": "both", "style": "bold_box"})  # fmt: skip
            job = await wait_for_end(client, job_id)
            assert job["status"] == "completed", job.get("error_message")
            await _check_job(client, job, language, tmp_path / language)
        sent = [request.messages[0]["content"] for request in fake_openai.requests]
        assert "in Japanese (ja)" in sent[0] and "in Arabic (ar)" in sent[1]
        spoken = log_events(pipeline, "renderer", "narration_synthesized")
        assert [(e["voice"], e["wpm"]) for e in spoken] == [("ja", 182)] * 3 + [("ar", 182)] * 3


async def _check_job(
    client: httpx.AsyncClient, job: dict[str, Any], language: str, work: Path
) -> None:
    title, lines = WRITTEN[language]
    assert job["title"] == title
    assert job["options"]["language"] == language
    assert [s["narration"] for s in job["scenes"] if s["narration"]] == lines
    work.mkdir()
    video = await download_video(client, job["job_id"], work / "video.mp4")
    info = await probe(video)
    assert abs(info.duration_s - 12.0) <= 0.2
    assert (await loudness(video)).integrated_lufs > -40
    links = job["captions"]
    async with httpx.AsyncClient(timeout=30) as plain:
        srt_text = (await plain.get(links["srt_url"])).text
        vtt_path = work / "captions.vtt"
        vtt_path.write_bytes((await plain.get(links["vtt_url"])).content)
    subs = list(srt.parse(srt_text))
    cues = list(webvtt.read(str(vtt_path)))
    spoken = "".join(lines).replace(" ", "")
    assert "".join(s.content for s in subs).replace("\n", "").replace(" ", "") == spoken
    assert [s.content for s in subs] == [c.text for c in cues]
    assert all(0 <= s.start.total_seconds() < s.end.total_seconds() <= 12.0 for s in subs)
