"""Language, voice, speech rate, captions and music options over HTTP: stored as given, refused
with a 422 naming the field (nothing created), voices listed per provider, sidecar caption links."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from omnigen.shared.domain.progress import RenderProgress
from omnigen.shared.ports import captions_key, video_key

from .helpers import Api, ApiFactory, drain_events, job_body
from .test_jobs_api import assert_error


async def test_media_options_are_stored_as_given(make_api: ApiFactory) -> None:
    api = await make_api(script_writer="openai")
    response = await api.submit(
        "alice",
        language="pt-br",
        voice="pt-br+f3",
        speech_rate=1.25,
        captions={"mode": "both", "style": "word_highlight", "position": "top"},
        music={"mood": "calm", "volume_db": -12.5, "ducking": False},
    )
    assert response.status_code == 202, response.text
    stored = await (await api.stack.repository()).get_job(response.json()["job_id"])
    options = stored.options
    assert (options.language, options.voice, options.speech_rate) == ("pt-BR", "pt-br+f3", 1.25)
    assert options.captions is not None and options.music is not None
    assert (options.captions.mode, options.captions.style, options.captions.position) == (
        "both",
        "word_highlight",
        "top",
    )
    assert (options.music.mood, options.music.volume_db, options.music.ducking) == (
        "calm",
        -12.5,
        False,
    )
    detail = await api.client.get(f"/v1/jobs/{stored.job_id}", headers=api.auth("alice"))
    assert detail.json()["options"]["language"] == "pt-BR"


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ({"language": "xx"}, "language"),
        ({"language": "en_US"}, "language"),
        ({"language": 7}, "language"),
        ({"speech_rate": 0.4}, "speech_rate"),
        ({"speech_rate": 2.01}, "speech_rate"),
        ({"speech_rate": "1.0"}, "speech_rate"),
        ({"captions": {"mode": "subtitles"}}, "captions.mode"),
        ({"captions": {"style": "comic"}}, "captions.style"),
        ({"captions": {"position": "left"}}, "captions.position"),
        ({"captions": {"size": 3}}, "captions.size"),
        ({"music": {"mood": "happy"}}, "music.mood"),
        ({"music": {"volume_db": 3}}, "music.volume_db"),
        ({"music": {"ducking": "yes"}}, "music.ducking"),
    ],
)
async def test_bad_media_options_are_422_naming_the_field_and_create_nothing(
    make_api: ApiFactory, override: dict[str, Any], field: str
) -> None:
    api = await make_api(script_writer="openai")
    response = await api.client.post(
        "/v1/jobs", json=job_body(**override), headers=api.auth("alice")
    )
    assert_error(response, 422, "validation_error", field)
    listed = await api.client.get("/v1/jobs", headers=api.auth("alice"))
    assert listed.json()["jobs"] == []


async def test_without_a_script_model_a_non_english_job_is_refused_saying_what_it_needs(
    api: Api,
) -> None:
    response = await api.submit("alice", language="ja")

    assert_error(response, 422, "no_script_writer", "language")
    message = response.json()["error"]["message"]
    assert "Japanese" in message and "script model" in message and "English only" in message
    listed = await api.client.get("/v1/jobs", headers=api.auth("alice"))
    assert listed.json()["jobs"] == []
    assert await drain_events(api.stack, api.stack.spec.scripter_queue.name) == []
    english = await api.submit("alice", language="en-GB")
    assert english.status_code == 202, english.text


async def test_voices_are_listed_per_provider_for_a_language(make_api: ApiFactory) -> None:
    api = await make_api(narration_provider="openai", speech_voices=("alloy", "nova"))

    response = await api.client.get("/v1/voices?language=ja", headers=api.auth("alice"))

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["language"] == "ja"
    providers = {p["provider"]: p for p in body["providers"]}
    assert providers["espeak"]["configured"] is False
    assert [v["id"] for v in providers["espeak"]["voices"]] == ["ja", "ja+f3", "ja+m3"]
    assert providers["openai"]["configured"] is True
    assert [v["id"] for v in providers["openai"]["voices"]] == ["alloy", "nova"]
    english = (await api.client.get("/v1/voices", headers=api.auth("alice"))).json()
    assert english["language"] == "en"
    assert "en+m3" in [v["id"] for v in english["providers"][0]["voices"]]
    bad = await api.client.get("/v1/voices?language=klingon", headers=api.auth("alice"))
    assert_error(bad, 422, "invalid_language", "language")
    anonymous = await api.client.get("/v1/voices")
    assert anonymous.status_code == 401


async def test_a_completed_job_links_its_sidecar_captions(api: Api) -> None:
    job_id = (await api.submit("alice", captions={"mode": "sidecar"})).json()["job_id"]
    assets = await api.stack.assets()
    srt, vtt = b"1\n00:00:00,250 --> 00:00:01,500\nHello\n", b"WEBVTT\n\n00:00.250 --> 00:01.500\n"
    await assets.put_bytes(captions_key(job_id, "r1", "srt"), srt, "application/x-subrip")
    await assets.put_bytes(captions_key(job_id, "r1", "vtt"), vtt, "text/vtt")
    await assets.put_bytes(video_key(job_id, "r1"), b"mp4", "video/mp4")
    progress = RenderProgress(
        captions_srt_key=captions_key(job_id, "r1", "srt"),
        captions_vtt_key=captions_key(job_id, "r1", "vtt"),
    )
    await (await api.stack.repository()).mark_job_complete(
        job_id, video_key(job_id, "r1"), progress.metadata()
    )

    response = await api.client.get(f"/v1/jobs/{job_id}", headers=api.auth("alice"))

    assert response.headers["Cache-Control"] == "no-store"
    captions = response.json()["captions"]
    async with httpx.AsyncClient() as plain:
        assert (await plain.get(captions["srt_url"])).content == srt
        assert (await plain.get(captions["vtt_url"])).content == vtt
    assert captions["expires_at"]
    deleted = await api.client.delete(f"/v1/jobs/{job_id}", headers=api.auth("alice"))
    assert deleted.status_code == 204
    assert not await assets.exists(captions_key(job_id, "r1", "srt"))
    assert not await assets.exists(captions_key(job_id, "r1", "vtt"))


async def test_a_batch_item_in_a_language_nothing_can_write_is_refused_alone(api: Api) -> None:
    items = [
        {"idempotency_key": "lang-ja", "request": job_body(language="ja")},
        {"idempotency_key": "lang-en", "request": job_body(language="en", speech_rate=0.9)},
    ]
    response = await api.client.post(
        "/v1/jobs:batch", json={"jobs": items}, headers=api.auth("alice")
    )

    assert response.status_code == 200, response.text
    refused, accepted = response.json()["results"]
    assert (refused["status"], refused["outcome"]) == (422, "invalid")
    assert (refused["error"]["code"], refused["error"]["field"]) == (
        "no_script_writer",
        "request.language",
    )
    assert accepted["outcome"] == "accepted"
