"""The whole pipeline, three real service processes, driven through the HTTP API: on moto server,
and on host LocalStack (SQS/SNS/S3) with DynamoDB on moto."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from omnigen.renderer.media.probe import loudness, probe
from omnigen.shared.domain.events import JobRequested, JobRequestedData
from omnigen.testing.e2e import (
    api,
    download_video,
    log_events,
    running_pipeline,
    submit,
    wait_for_end,
)
from omnigen.testing.fixtures import Stack
from omnigen.testing.queues import depth, eventually, received_events


async def test_prompt_in_mp4_out_through_the_http_api(stack: Stack, tmp_path: Path) -> None:
    async with running_pipeline(stack, tmp_path / "services") as pipeline, api(pipeline) as client:
        before = (await client.get("/v1/usage")).json()
        job_id = await submit(client, duration=10, aspect_ratio="9:16", style="dramatic")
        job = await wait_for_end(client, job_id)
        assert job["status"] == "completed", job.get("error_message")
        assert job["stage"] == "completed" and job["progress"] == 100
        assert job["title"] and len(job["scenes"]) >= 2
        assert job["video_url"]
        video = await download_video(client, job_id, tmp_path / "video.mp4")

        info = await probe(video)
        assert abs(info.duration_s - 10.0) <= 0.2
        assert info.video is not None and (info.video.width, info.video.height) == (270, 480)
        assert info.audio is not None
        assert (await loudness(video)).integrated_lufs > -40  # narration and music, not silence
        # its use: local providers bill nothing, the video's seconds are counted, once
        assert job["usage"]["price_version"] == "2026-01-default"
        assert abs(job["usage"]["video_seconds"] - info.duration_s) <= 0.05
        after = (await client.get("/v1/usage")).json()
        counted = {k: after[k] - before[k] for k in ("jobs", "requested_seconds", "completed_jobs")}
        assert counted == {"jobs": 1, "requested_seconds": 10, "completed_jobs": 1}
        made = after["video_seconds"] - before["video_seconds"]
        assert made == pytest.approx(job["usage"]["video_seconds"])

        outcomes = await received_events(stack, stack.spec.outcomes_queue.name, expect=1)
        assert [(e.event_type.value, e.job_id) for e in outcomes] == [("job.completed", job_id)]
        assert len(log_events(pipeline, "renderer", "video_completed")) == 1
        # every log line carries the job's trace
        rendered = log_events(pipeline, "renderer", "scene_rendered")
        assert rendered and all(r["job_id"] == job_id and r["trace_id"] for r in rendered)


async def test_upstream_job_request_event_becomes_a_video(stack: Stack, tmp_path: Path) -> None:
    async with running_pipeline(stack, tmp_path / "services") as pipeline:
        publisher = await stack.requests_publisher()
        request = JobRequested.create(
            job_id=None,
            user_id="upstream-user",
            data=JobRequestedData(
                request_id="crm-campaign-77",
                request={"prompt": "A sunrise over a quiet harbour town", "duration": 12},
            ),
        )
        await publisher.publish(request)
        await publisher.publish(request)  # at-least-once upstream: a duplicate changes nothing
        async with api(pipeline, user="upstream-user") as client:
            await _wait_listed(client)
            # Both deliveries handled: received and deleted, none waiting or in flight.
            await eventually(
                lambda: _empty(stack, stack.spec.ingest_queue.name),
                timeout=60,
                what="the request and its duplicate consumed",
            )
            listed = list((await client.get("/v1/jobs")).json()["jobs"])
            assert len(listed) == 1
            job = await wait_for_end(client, listed[0]["job_id"])
        assert job["status"] == "completed", job.get("error_message")
        assert job["duration"] == 12
        outcomes = await received_events(stack, stack.spec.outcomes_queue.name, expect=1)
        assert [e.event_type.value for e in outcomes] == ["job.completed"]
    # The duplicate did reach ingest's consumer (and made no second job).
    (stats,) = log_events(pipeline, "ingest", "consumer_stopped")
    assert stats["received"] >= 2 and stats["succeeded"] == 2, stats


async def _empty(stack: Stack, queue: str) -> bool:
    return await depth(stack, queue) == 0


async def _wait_listed(client: httpx.AsyncClient) -> None:
    async def listed() -> bool:
        return bool((await client.get("/v1/jobs")).json()["jobs"])

    await eventually(listed, timeout=40, interval=0.2, what="the upstream request to be a job")
