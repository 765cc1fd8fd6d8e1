"""Server-Sent Events over a real socket while the job moves through its stages."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import Any

import httpx
from structlog.testing import capture_logs

from omnigen.shared.domain.keyframes import KeyframeState, Look, keyframe_plan
from omnigen.shared.domain.scenes import Continuity, RenderState, plan_metadata
from omnigen.shared.domain.scripts import ColorGrade, Mood, Script
from omnigen.shared.ports import video_key
from omnigen.shared.workflow import record_finished_piece
from omnigen.testing.queues import eventually

from .helpers import Api


@dataclass
class Stream:
    """What a client saw: named events in order, and heartbeat comments."""

    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    heartbeats: int = 0
    closed: bool = False

    def stages(self) -> list[str]:
        return [data["stage"] for _, data in self.events]


async def follow(api: Api, job_id: str, user: str, stream: Stream) -> None:
    url = f"/v1/jobs/{job_id}/events"
    async with api.client.stream("GET", url, headers=api.auth(user)) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        name, data = None, None
        async for line in response.aiter_lines():
            if line.startswith(":"):
                stream.heartbeats += 1
            elif line.startswith("event: "):
                name = line.removeprefix("event: ")
            elif line.startswith("data: "):
                data = json.loads(line.removeprefix("data: "))
            elif line == "" and name is not None:
                stream.events.append((name, data or {}))
                name, data = None, None
    stream.closed = True


async def test_stream_sends_each_stage_then_completed_and_closes(
    api: Api, sample_script: Script
) -> None:
    job_id = (await api.submit("alice")).json()["job_id"]
    repository = await api.stack.repository()
    stream = Stream()
    reader = asyncio.create_task(follow(api, job_id, "alice", stream))
    await eventually(lambda: len(stream.events) == 1, timeout=10, what="the first event")

    # No change meanwhile: two heartbeats (0.3 s apart; the job is polled every 0.1 s) and
    # still only the first event.
    heartbeats_before = stream.heartbeats
    await eventually(
        lambda: stream.heartbeats >= heartbeats_before + 2,
        timeout=10,
        interval=0.02,
        what="two heartbeats",
    )
    assert stream.heartbeats > heartbeats_before
    assert len(stream.events) == 1

    async def advance(change: Awaitable[object], stage: str) -> None:
        await change
        await eventually(lambda: stage in stream.stages(), timeout=10, what=stage)

    stage = "script_generating"
    await advance(repository.update_job_stage_with_metadata(job_id, stage), stage)
    await advance(repository.embed_script(job_id, sample_script), "script_complete")
    for stage in ("scene_1_generating", "scene_1_complete", "composing"):
        await advance(repository.update_job_stage_with_metadata(job_id, stage), stage)
    await (await api.stack.assets()).put_bytes(video_key(job_id, "r1"), b"mp4", "video/mp4")
    await repository.mark_job_complete(job_id, video_key(job_id, "r1"))
    await asyncio.wait_for(reader, timeout=10)

    assert stream.closed
    assert stream.stages() == [
        "queued",
        "script_generating",
        "script_complete",
        "scene_1_generating",
        "scene_1_complete",
        "composing",
        "completed",
    ]
    names = [name for name, _ in stream.events]
    assert names == ["update"] * 6 + ["completed"]
    final = stream.events[-1][1]
    assert (final["status"], final["progress"]) == ("completed", 100)
    progress = [data["progress"] for _, data in stream.events]
    assert progress == sorted(progress)
    etas = [data["estimated_completion_seconds"] for _, data in stream.events]
    assert all(eta >= 1 for eta in etas[:-1]) and etas[-1] is None  # gone once completed
    assert etas[-2] < etas[0]  # composing is nearer the end than queued


async def test_cancelling_ends_the_stream_with_a_failed_event(api: Api) -> None:
    job_id = (await api.submit("alice")).json()["job_id"]
    stream = Stream()
    reader = asyncio.create_task(follow(api, job_id, "alice", stream))
    await eventually(lambda: len(stream.events) == 1, timeout=10, what="the first event")

    cancelled = await api.client.delete(f"/v1/jobs/{job_id}", headers=api.auth("alice"))
    assert cancelled.status_code == 202
    await asyncio.wait_for(reader, timeout=10)

    name, data = stream.events[-1]
    assert name == "failed"
    assert data["error_message"] == "cancelled"
    assert data["stage"] == "queued"


async def test_a_finished_job_streams_its_final_event_at_once(api: Api) -> None:
    job_id = (await api.submit("alice")).json()["job_id"]
    await (await api.stack.repository()).mark_job_failed(job_id, "renderer exploded")
    stream = Stream()
    began = time.monotonic()
    await asyncio.wait_for(follow(api, job_id, "alice", stream), timeout=10)
    assert time.monotonic() - began < 2
    assert stream.events == [
        (
            "failed",
            {
                "job_id": job_id,
                "status": "failed",
                "stage": "queued",
                "progress": 0,
                "error_message": "renderer exploded",
                "estimated_completion_seconds": None,  # finished: no estimate
            },
        )
    ]


async def test_stopping_the_server_ends_open_streams(api: Api) -> None:
    job_id = (await api.submit("alice")).json()["job_id"]
    stream = Stream()
    reader = asyncio.create_task(follow(api, job_id, "alice", stream))
    await eventually(lambda: len(stream.events) == 1, timeout=10, what="the first event")
    api.context.stopping.set()
    await asyncio.wait_for(reader, timeout=5)
    assert [name for name, _ in stream.events] == ["update", "reconnect"]


async def test_a_client_that_goes_away_ends_its_stream_on_the_server(api: Api) -> None:
    job_id = (await api.submit("alice")).json()["job_id"]
    path = f"/v1/jobs/{job_id}/events"
    with capture_logs() as logs:
        async with (
            httpx.AsyncClient(base_url=api.url) as client,
            client.stream("GET", path, headers=api.auth("alice")) as response,
        ):
            async for line in response.aiter_lines():
                if line.startswith("event: "):
                    break  # hang up after the first event

        def finished() -> bool:
            return any(e["event"] == "http_request" and e["path"] == path for e in logs)

        await eventually(finished, timeout=5, what="the server to end the stream")


async def test_the_stream_shows_each_scene_starting_and_finishing(
    api: Api, sample_script: Script
) -> None:
    """Scenes finish in any order; the stage counts them and every change of a scene's state
    is an update, even when the stage does not move (a scene starting)."""
    job_id = (await api.submit("alice")).json()["job_id"]
    repository = await api.stack.repository()
    await repository.embed_script(job_id, sample_script)
    total = len(sample_script.scenes)
    await repository.record_piece(
        job_id,
        stage="scene_1_generating",
        metadata=plan_metadata(total, Continuity.NONE),
        expect={},
    )
    stream = Stream()
    reader = asyncio.create_task(follow(api, job_id, "alice", stream))
    await eventually(lambda: len(stream.events) == 1, timeout=10, what="the first event")
    assert stream.events[0][1]["scenes"] == ["pending"] * total
    await repository.acquire_lease(job_id, f"scene_{total}", "h", 60.0)  # the last one starts
    await eventually(
        lambda: stream.events[-1][1]["scenes"][-1] == "generating", timeout=10, what="generating"
    )
    job = await repository.get_job(job_id)
    assert await record_finished_piece(repository, job, total, "k") is False
    await eventually(
        lambda: stream.events[-1][1]["stage"] == "scene_1_complete", timeout=10, what="1 done"
    )
    assert stream.events[-1][1]["scenes"] == ["pending"] * (total - 1) + ["complete"]
    assert (stream.events[-1][1]["scenes_complete"], stream.events[-1][1]["scenes_total"]) == (
        1,
        total,
    )
    await repository.mark_job_failed(job_id, "cancelled")
    await asyncio.wait_for(reader, timeout=10)
    assert [data["stage"] for _, data in stream.events] == [
        "scene_1_generating",
        "scene_1_generating",
        "scene_1_complete",
        "scene_1_complete",
    ]


async def test_a_keyframe_finishing_is_an_update_of_its_own(
    api: Api, sample_script: Script
) -> None:
    """Keyframes do not move the stage; the page still hears of each one (it shows the image
    as the scene's thumbnail), as the events' `keyframes` list."""
    job_id = (await api.submit("alice")).json()["job_id"]
    repository = await api.stack.repository()
    await repository.embed_script(job_id, sample_script)
    total = len(sample_script.scenes)
    look = Look("cinematic", Mood.CALM, ColorGrade.WARM, 7)
    plan = plan_metadata(total, Continuity.KEYFRAMES) | keyframe_plan(look)
    await repository.record_piece(job_id, stage="scene_1_generating", metadata=plan, expect={})
    stream = Stream()
    reader = asyncio.create_task(follow(api, job_id, "alice", stream))
    await eventually(lambda: len(stream.events) == 1, timeout=10, what="the first event")
    assert stream.events[0][1]["keyframes"] == ["pending"] * total
    job = await repository.get_job(job_id)
    state = RenderState.of(job.metadata)
    keyframes = KeyframeState.of(job.metadata, state.scenes if state else {})
    assert keyframes is not None
    drawn = keyframes.completion(1, "jobs/x/keyframes/v1/scene_001.jpg")
    assert drawn is not None
    await repository.record_piece(job_id, stage=None, metadata=drawn.metadata, expect=drawn.expect)
    await eventually(
        lambda: stream.events[-1][1]["keyframes"][0] == "complete", timeout=10, what="keyframe"
    )
    assert stream.events[-1][1]["stage"] == "scene_1_generating"
    await repository.mark_job_failed(job_id, "cancelled")
    await asyncio.wait_for(reader, timeout=10)
