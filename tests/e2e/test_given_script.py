"""A user's own script through the real services: no model writes anything, and the video
speaks exactly the script's words in its scenes' timing."""

from __future__ import annotations

from pathlib import Path

from omnigen.renderer.media.probe import probe
from omnigen.testing.e2e import api, download_video, log_events, running_pipeline, wait_for_end
from omnigen.testing.fixtures import Stack
from omnigen.testing.samples import given_script


async def test_a_given_script_is_rendered_word_for_word(stack: Stack, tmp_path: Path) -> None:
    script = given_script()
    async with running_pipeline(stack, tmp_path / "services") as pipeline, api(pipeline) as client:
        response = await client.post("/v1/jobs", json={"script": script, "aspect_ratio": "9:16"})
        assert response.status_code == 202, response.text
        job = await wait_for_end(client, response.json()["job_id"])
        assert job["status"] == "completed", job.get("error_message")
        video = await download_video(client, job["job_id"], tmp_path / "video.mp4")
    assert job["title"] == script["title"]
    assert [s["narration"] for s in job["scenes"]] == [s["narration"] for s in script["scenes"]]
    assert [s["duration"] for s in job["scenes"]] == [6, 7.5, 6.5]
    assert [s["start_time"] for s in job["scenes"]] == [0, 6, 13.5]
    assert job["scenes"][1]["lighting"] == "golden_hour"
    (given,) = log_events(pipeline, "scripter", "script_given")
    assert given["scenes"] == 3
    info = await probe(video)
    assert abs(info.duration_s - 20.0) <= 0.2
