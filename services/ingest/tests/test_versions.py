"""POST /v1/jobs/{id}/scenes/{n}/regenerate against real queues and table (moto): the next
version's one conditional write and its work items; the history GET shows; older versions'
downloads; one version at a time under concurrency; the upstream event path; on both backends,
a version counted in the month's usage and refused past the monthly quota."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest

from omnigen.ingest.handlers import IngestPorts
from omnigen.ingest.sse import snapshot
from omnigen.ingest.upstream import build_consumer
from omnigen.ingest.versions import handle_regeneration_requested
from omnigen.shared.domain.errors import JobAlreadyFinished
from omnigen.shared.domain.events import (
    JobRejected,
    RegenerationRequested,
    RegenerationRequestedData,
    SceneRequested,
)
from omnigen.shared.domain.scenes import Continuity, PieceState, plan_metadata
from omnigen.shared.domain.scripts import Script
from omnigen.shared.domain.stages import COMPOSING, JobStatus
from omnigen.shared.domain.usage import JobUsage, VersionUsage, usage_month
from omnigen.shared.messages import ConsumerSettings
from omnigen.shared.ports import scene_clip_key
from omnigen.testing.fixtures import Stack
from omnigen.testing.queues import eventually

from .helpers import Api, drain_events, serve_api, settings_for
from .test_jobs_api import assert_error

NEW_PROMPT = "A winter storm breaks over the old lighthouse lamp at dusk"


async def completed_job(api: Api, script: Script, name: str = "alice") -> str:
    """A job whose first version completed (pieces recorded as the renderer records them)."""
    job_id = (await api.submit(name, duration=15)).json()["job_id"]
    repository = await api.stack.repository()
    await repository.update_job_stage_with_metadata(job_id, "script_generating")
    await repository.embed_script(job_id, script)
    clips = {n: scene_clip_key(job_id, n) for n in (1, 2)}
    plan = plan_metadata(2, Continuity.NONE, reused=clips)
    plan.update(
        audio_state=PieceState.COMPLETE.value,
        audio_key=f"jobs/{job_id}/audio/audio_v1.tar",
        pieces_missing=0,
    )
    await repository.record_piece(job_id, stage=COMPOSING, metadata=plan, expect={})
    await repository.mark_job_complete(
        job_id, f"jobs/{job_id}/renders/r1/video.mp4", {"thumbnail_key": "p1.jpg"}
    )
    await drain_events(api.stack, api.stack.spec.scripter_queue.name)
    return job_id


def regenerate_url(job_id: str, scene: int) -> str:
    return f"/v1/jobs/{job_id}/scenes/{scene}/regenerate"


async def test_regenerate_starts_the_next_version_with_only_that_scene(
    api: Api, sample_script: Script
) -> None:
    job_id = await completed_job(api, sample_script)
    headers = {**api.auth("alice"), "Idempotency-Key": "regen-1"}
    body = {"generation_prompt": NEW_PROMPT}

    response = await api.client.post(regenerate_url(job_id, 2), json=body, headers=headers)

    assert response.status_code == 202, response.text
    assert response.json()["version"] == 2 and response.json()["status"] == "processing"
    assert response.json()["stage"] == "scene_2_generating"
    stack = api.stack
    (scene,) = await drain_events(stack, stack.spec.scenes_queue.name, expect=1)
    assert isinstance(scene, SceneRequested)
    assert (scene.data.scene_number, scene.data.version) == (2, 2)
    assert await drain_events(stack, stack.spec.renderer_queue.name) == []  # audio reused

    job = (await api.client.get(f"/v1/jobs/{job_id}", headers=api.auth("alice"))).json()
    assert job["version"] == 2 and job["status"] == "processing"
    assert job["scenes"][1]["generation_prompt"] == NEW_PROMPT
    assert job["render"]["version"] == 2
    assert [s["state"] for s in job["render"]["scenes"]] == ["complete", "pending"]
    v1, v2 = job["versions"]
    assert (v1["version"], v1["status"]) == (1, "completed")
    assert v1["video"].endswith(f"/v1/jobs/{job_id}/video?version=1")
    assert (v2["version"], v2["status"], v2["scene_number"]) == (2, "processing", 2)
    assert v2["changes"] == body and v2["scenes_rendered"] == [2] and v2["video"] is None
    assert v2["rendered_seconds"] == 7.5 and v1["rendered_seconds"] is None
    assert "request_id" not in v2 and "fingerprint" not in v2
    streamed = snapshot(await (await stack.repository()).get_job(job_id))  # the SSE event
    assert streamed["version"] == 2 and streamed["scenes"] == ["complete", "pending"]

    old = await api.client.get(f"/v1/jobs/{job_id}/video?version=1", headers=api.auth("alice"))
    assert old.status_code == 307 and "renders/r1/video.mp4" in old.headers["location"]
    newest = await api.client.get(f"/v1/jobs/{job_id}/video", headers=api.auth("alice"))
    assert_error(newest, 409, "video_not_ready", None)
    missing = await api.client.get(f"/v1/jobs/{job_id}/video?version=7", headers=api.auth("alice"))
    assert_error(missing, 404, "not_found", "version")

    # the same key and body: the same version, its work item sent again (same id)
    again = await api.client.post(regenerate_url(job_id, 2), json=body, headers=headers)
    assert again.status_code == 202 and again.json()["version"] == 2
    assert again.headers["Idempotent-Replayed"] == "true"
    (repeat,) = await drain_events(stack, stack.spec.scenes_queue.name, expect=1)
    assert repeat.event_id == scene.event_id
    # the same key, other changes: a conflict; another regenerate while v2 runs: 409 naming it
    other = await api.client.post(regenerate_url(job_id, 1), json=body, headers=headers)
    assert_error(other, 409, "idempotency_conflict", "Idempotency-Key")
    running = await api.client.post(regenerate_url(job_id, 1), headers=api.auth("alice"))
    assert_error(running, 409, "version_running", "job_id")
    assert "version 2" in running.json()["error"]["message"]


async def test_two_regenerations_at_once_start_one_version(api: Api, sample_script: Script) -> None:
    job_id = await completed_job(api, sample_script)
    answers = await asyncio.gather(
        *(
            api.client.post(
                regenerate_url(job_id, n), json={"camera_move": "static"}, headers=api.auth("alice")
            )
            for n in (1, 2)
        )
    )
    codes = sorted(a.status_code for a in answers)
    assert codes == [202, 409], [a.text for a in answers]
    refused = next(a for a in answers if a.status_code == 409)
    assert refused.json()["error"]["code"] == "version_running"
    assert "version 2" in refused.json()["error"]["message"]
    job = await (await api.stack.repository()).get_job(job_id)
    assert job.render_version == 2 and len(job.versions) == 2
    events = await drain_events(api.stack, api.stack.spec.scenes_queue.name, expect=1)
    assert len(events) == 1


async def test_bad_changes_name_the_field_and_create_nothing(
    api: Api, sample_script: Script
) -> None:
    job_id = await completed_job(api, sample_script)
    auth = api.auth("alice")
    long_narration = " ".join(["word"] * 40)  # 7.5 s of scene speaks at most 22 words
    cases = [
        (2, {"narration": long_narration}, "script_not_fit", "narration"),
        (2, {"generation_prompt": "too short"}, "script_not_fit", "generation_prompt"),
        (3, {}, "script_not_fit", "scene_number"),
        (1, {"duration": 60.0}, "script_not_fit", "duration"),
    ]
    for scene, body, code, field in cases:
        response = await api.client.post(regenerate_url(job_id, scene), json=body, headers=auth)
        assert_error(response, 422, code, field)
    typed = await api.client.post(regenerate_url(job_id, 1), json={"duration": "5"}, headers=auth)
    assert typed.status_code == 422 and "duration" in typed.json()["error"]["field"]
    unknown = await api.client.post(regenerate_url(job_id, 1), json={"title": "x"}, headers=auth)
    assert unknown.status_code == 422
    job = await (await api.stack.repository()).get_job(job_id)
    assert job.render_version == 1 and job.status is JobStatus.COMPLETED and not job.versions
    assert await drain_events(api.stack, api.stack.spec.scenes_queue.name) == []


async def test_running_cancelled_and_other_users_jobs_are_not_regenerated(
    api: Api, sample_script: Script
) -> None:
    running_id = (await api.submit("alice")).json()["job_id"]
    running = await api.client.post(regenerate_url(running_id, 1), headers=api.auth("alice"))
    assert_error(running, 409, "version_running", "job_id")
    assert "version 1" in running.json()["error"]["message"]
    stranger = await api.client.post(regenerate_url(running_id, 1), headers=api.auth("mallory"))
    assert_error(stranger, 404, "not_found", "job_id")
    cancel = await api.client.delete(f"/v1/jobs/{running_id}", headers=api.auth("alice"))
    assert cancel.status_code == 202
    cancelled = await api.client.post(regenerate_url(running_id, 1), headers=api.auth("alice"))
    assert_error(cancelled, 409, "not_regenerable", "job_id")

    # a regeneration cancelled while it runs: the job (v2) is cancelled, v1 still downloads
    job_id = await completed_job(api, sample_script)
    started = await api.client.post(regenerate_url(job_id, 1), headers=api.auth("alice"))
    assert started.status_code == 202
    stop = await api.client.delete(f"/v1/jobs/{job_id}", headers=api.auth("alice"))
    assert stop.status_code == 202
    again = await api.client.post(regenerate_url(job_id, 1), headers=api.auth("alice"))
    assert_error(again, 409, "not_regenerable", "job_id")
    old = await api.client.get(f"/v1/jobs/{job_id}/video?version=1", headers=api.auth("alice"))
    assert old.status_code == 307


async def test_an_upstream_regeneration_request_starts_a_version_once(
    api: Api, sample_script: Script
) -> None:
    job_id = await completed_job(api, sample_script)
    user = api.user_id("alice")

    def request(request_id: str, scene: int, **changes: object) -> RegenerationRequested:
        return RegenerationRequested.create(
            job_id=job_id,
            user_id=user,
            data=RegenerationRequestedData(
                request_id=request_id, scene_number=scene, changes=dict(changes)
            ),
        )

    ports = api.context.ports
    first = await handle_regeneration_requested(ports, request("up-1", 1, narration="Hello."))
    assert first is not None and first.version == 2 and first.created
    replay = await handle_regeneration_requested(ports, request("up-1", 1, narration="Hello."))
    assert replay is not None and replay.version == 2 and not replay.created
    stack = api.stack
    events = await drain_events(stack, stack.spec.scenes_queue.name, expect=2)
    assert {e.event_id for e in events} == {events[0].event_id}  # the same item, twice
    (audio, again) = await drain_events(stack, stack.spec.renderer_queue.name, expect=2)
    assert audio.event_type.value == again.event_type.value == "audio.requested"

    refused = await handle_regeneration_requested(ports, request("up-2", 9, shot_type="zoom"))
    assert refused is None
    (rejected,) = await drain_events(stack, stack.spec.outcomes_queue.name, expect=1)
    assert isinstance(rejected, JobRejected) and rejected.data.request_id == "up-2"
    assert rejected.data.reasons[0].field == "changes.shot_type"


@pytest.fixture
async def consumer(stack_now: Stack) -> AsyncIterator[Stack]:
    """The ingest consumer of the requests topics running for the test's duration."""
    ports = IngestPorts(
        repository=await stack_now.repository(),
        publisher=await stack_now.events_publisher(),
        assets=await stack_now.assets(),
    )
    running = build_consumer(
        await stack_now.aws.sqs(),
        stack_now.spec.ingest_queue.name,
        ports,
        ConsumerSettings(max_concurrency=4, wait_time_s=1, visibility_timeout_s=10),
    )
    task = asyncio.create_task(running.run())
    yield stack_now
    running.stop()
    await asyncio.wait_for(task, timeout=15)


async def test_regeneration_requested_on_the_requests_topic_reaches_the_renderer(
    api: Api, consumer: Stack, sample_script: Script
) -> None:
    job_id = await completed_job(api, sample_script)
    event = RegenerationRequested.create(
        job_id=job_id,
        user_id=api.user_id("alice"),
        data=RegenerationRequestedData(
            request_id="topic-1", scene_number=2, changes={"camera_angle": "low"}
        ),
    )
    publisher = await consumer.requests_publisher()
    await publisher.publish(event)
    await publisher.publish(event)  # at-least-once upstream: the same request twice
    repository = await consumer.repository()

    async def started() -> bool:
        return (await repository.get_job(job_id)).render_version == 2

    await eventually(started, timeout=20, what="version 2 started")
    scenes = await drain_events(consumer, consumer.spec.scenes_queue.name, expect=1)
    assert {(e.data.scene_number, e.data.version) for e in scenes} == {(2, 2)}  # type: ignore[attr-defined]
    job = await repository.get_job(job_id)
    assert job.render_version == 2 and len(job.versions) == 2
    assert job.scenes is not None and job.scenes[1].camera_angle.value == "low"


async def test_a_version_counts_in_the_month_and_past_the_quota_nothing_starts(
    stack: Stack, sample_script: Script
) -> None:
    """The version's start adds it and the seconds it renders anew (scene 2: 7.5 s, counted as
    8) to the month in the same transaction that starts it; at the quota a regenerate is a
    429 naming the field, and nothing starts."""
    async with serve_api(stack, settings_for(stack, monthly_video_seconds_quota=23)) as api:
        job_id = await completed_job(api, sample_script, "quinn")  # 15 s requested
        started = await api.client.post(regenerate_url(job_id, 2), headers=api.auth("quinn"))
        assert started.status_code == 202, started.text
        assert started.json()["version"] == 2
        await drain_events(stack, stack.spec.scenes_queue.name, expect=1)
        usage = (await api.client.get("/v1/usage", headers=api.auth("quinn"))).json()
        assert (usage["jobs"], usage["versions"], usage["requested_seconds"]) == (1, 1, 23)
        assert usage["quota"] == {"video_seconds": 23, "remaining_seconds": 0}

        # the renderer's completing write adds what the version used, once
        month = usage_month(time.time())
        used = VersionUsage(
            month, JobUsage(video_seconds=7.5, clip_calls=1, clip_seconds=7.5, cost_usd=0.375)
        )
        repository = await stack.repository()
        video = f"jobs/{job_id}/renders/r2/video.mp4"
        await repository.mark_job_complete(job_id, video, {}, version_usage=used)
        with pytest.raises(JobAlreadyFinished):  # a redelivered completion counts nothing
            await repository.mark_job_complete(job_id, video, {}, version_usage=used)
        done = (await api.client.get("/v1/usage", headers=api.auth("quinn"))).json()
        assert (done["completed_versions"], done["clip_seconds"], done["cost_usd"]) == (
            1,
            7.5,
            0.375,
        )
        assert done["video_seconds"] == 7.5

        refused = await api.client.post(regenerate_url(job_id, 1), headers=api.auth("quinn"))
        assert_error(refused, 429, "monthly_quota_exceeded", "duration")
        assert "monthly quota of 23 s" in refused.json()["error"]["message"]
        assert int(refused.headers["Retry-After"]) >= 1
        job = await repository.get_job(job_id)
        assert (job.render_version, job.status) == (2, JobStatus.COMPLETED)
        assert job.outbox is None
        assert await drain_events(stack, stack.spec.scenes_queue.name) == []
        after = (await api.client.get("/v1/usage", headers=api.auth("quinn"))).json()
        assert after == done
