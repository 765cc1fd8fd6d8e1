"""Scene regeneration against the real service processes, on both backends: a 3-scene job,
then version 2 regenerating scene 2 (only that clip rendered again, the audio reused, one new
composition), a second regenerate refused while version 2 runs, version 1 still downloadable
and unchanged, job.completed once per version (v1, then v2 naming the version), the month's
usage counting the version once, and a delete removing every version's files."""

from __future__ import annotations

import asyncio
import math
import os
import sys
from collections import Counter
from pathlib import Path

import httpx
import pytest

from omnigen.renderer.media.probe import probe
from omnigen.shared.domain.events import JobCompleted, JobCompletedV2
from omnigen.shared.ports import job_prefix
from omnigen.testing.e2e import api, log_events, running_pipeline, submit, wait_for_end
from omnigen.testing.fixtures import Stack
from omnigen.testing.queues import depth, received_events

NEW_PROMPT = "A winter storm breaks over the old lighthouse lamp at dusk, waves on the rocks"


async def fetch(client: httpx.AsyncClient, url: str, out: Path) -> bytes:
    redirect = await client.get(url)
    assert redirect.status_code == 307, redirect.text
    async with httpx.AsyncClient(timeout=60) as plain:
        video = await plain.get(redirect.headers["location"])
    assert video.status_code == 200
    await asyncio.to_thread(out.write_bytes, video.content)
    return video.content


async def test_regenerating_a_scene_makes_version_2_and_keeps_version_1(
    stack: Stack, tmp_path: Path
) -> None:
    async with running_pipeline(stack, tmp_path) as pipeline, api(pipeline) as client:
        job_id = await submit(client, duration=12, continuity="none")
        first = await wait_for_end(client, job_id)
        assert first["status"] == "completed", first.get("error_message")
        total = first["render"]["scenes_total"]
        v1_bytes = await fetch(client, f"/v1/jobs/{job_id}/video", tmp_path / "v1.mp4")

        # another camera move: the local clip generator draws it, so the clip differs
        move = "tilt_up" if first["scenes"][1]["camera_move"] != "tilt_up" else "pan_left"
        response = await client.post(
            f"/v1/jobs/{job_id}/scenes/2/regenerate",
            json={"generation_prompt": NEW_PROMPT, "camera_move": move},
            headers={"Idempotency-Key": "e2e-regen-1"},
        )
        assert response.status_code == 202, response.text
        assert response.json()["version"] == 2
        # while version 2 runs: another regenerate is refused naming it
        second = await client.post(f"/v1/jobs/{job_id}/scenes/1/regenerate")
        assert second.status_code == 409, second.text
        assert second.json()["error"]["code"] == "version_running"
        assert "version 2" in second.json()["error"]["message"]

        job = await wait_for_end(client, job_id)
        assert job["status"] == "completed", job.get("error_message")
        assert job["version"] == 2 and job["render"]["version"] == 2
        assert [(v["version"], v["status"]) for v in job["versions"]] == [
            (1, "completed"),
            (2, "completed"),
        ]
        assert job["versions"][1]["scenes_rendered"] == [2]
        v2_bytes = await fetch(client, f"/v1/jobs/{job_id}/video", tmp_path / "v2.mp4")
        old = await fetch(client, f"/v1/jobs/{job_id}/video?version=1", tmp_path / "old.mp4")
        assert old == v1_bytes and v2_bytes != v1_bytes  # version 1's file did not change
        info = await probe(tmp_path / "v2.mp4")
        assert abs(info.duration_s - 12.0) <= 0.3

        # the CLI shows every scene's state and the versions
        process = await asyncio.create_subprocess_exec(
            str(Path(sys.executable).parent / "omnigen"),
            "status",
            job_id,
            env={
                **os.environ,
                "COLUMNS": "200",
                "OMNIGEN_API_URL": pipeline.api_url,
                "OMNIGEN_TOKEN": pipeline.mint_token("e2e-user"),
            },
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        output = (await asyncio.wait_for(process.communicate(), timeout=60))[0].decode()
        assert process.returncode == 0, output
        assert "scenes (version 2)" in output and "versions" in output, output
        assert (
            "generation_prompt, camera_move" in output or "camera_move, generation_prompt" in output
        )

        rendered = Counter(r["scene"] for r in log_events(pipeline, "renderer", "scene_rendered"))
        assert rendered == Counter([*range(1, total + 1), 2])  # v1: every scene; v2: scene 2
        assert len(log_events(pipeline, "renderer", "audio_rendered")) == 1  # audio reused
        assert len(log_events(pipeline, "renderer", "video_completed")) == 2

        outcomes = await received_events(stack, stack.spec.outcomes_queue.name, expect=2)
        assert [type(e) for e in outcomes] == [JobCompleted, JobCompletedV2]
        assert isinstance(outcomes[1], JobCompletedV2) and outcomes[1].data.version == 2
        assert await depth(stack, stack.spec.outcomes_queue.name) == 0  # once per version

        # the month counts the version once: started, completed, the seconds it rendered anew
        usage = (await client.get("/v1/usage")).json()
        scene_2 = job["scenes"][1]["duration"]
        assert (usage["jobs"], usage["versions"], usage["completed_versions"]) == (1, 1, 1)
        assert usage["requested_seconds"] == 12 + math.ceil(scene_2)
        assert usage["video_seconds"] == pytest.approx(info.duration_s + scene_2, abs=0.3)

        deleted = await client.delete(f"/v1/jobs/{job_id}")
        assert deleted.status_code == 204, deleted.text
    s3 = await stack.aws.s3()
    listed = await s3.list_objects_v2(Bucket=stack.spec.bucket.name, Prefix=job_prefix(job_id))
    assert listed.get("KeyCount", 0) == 0  # every version's clips, audio, videos, posters
