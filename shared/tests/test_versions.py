"""The version rules (omnigen.shared.domain.versions) on an in-memory job store: what a
regeneration reuses, which version it starts from, and what a stored older job shows."""

from __future__ import annotations

import time

import pytest

from omnigen.shared.domain.jobs import Job, JobOptions, JobRequest
from omnigen.shared.domain.scenes import Continuity, PieceState, plan_metadata
from omnigen.shared.domain.stages import COMPOSING, JobStatus
from omnigen.shared.domain.versions import (
    SceneChanges,
    VersionRaced,
    VersionRefused,
    VersionRunning,
    plan_regeneration,
    version_history,
)
from omnigen.shared.ports import scene_clip_key
from omnigen.testing.fakes import InMemoryJobRepository
from omnigen.testing.samples import sample_script


async def completed(jobs: InMemoryJobRepository, continuity: Continuity) -> Job:
    request = JobRequest(
        prompt="A lighthouse keeper's last night", duration=12, options=JobOptions()
    )
    job = (await jobs.create_job(user_id="u1", request=request)).job
    await jobs.embed_script(job.job_id, sample_script((4.0, 4.0, 4.0)))
    plan = plan_metadata(
        3, continuity, reused={n: scene_clip_key(job.job_id, n) for n in (1, 2, 3)}
    )
    plan.update(audio_state=PieceState.COMPLETE.value, audio_key="a1.tar", pieces_missing=0)
    await jobs.record_piece(job.job_id, stage=COMPOSING, metadata=plan, expect={})
    await jobs.mark_job_complete(job.job_id, "v1.mp4", {"thumbnail_key": "p1.jpg"})
    return await jobs.get_job(job.job_id)


async def test_chain_reuses_the_scenes_before_it_and_none_every_other_one() -> None:
    jobs = InMemoryJobRepository()
    chain = await completed(jobs, Continuity.CHAIN)
    start = plan_regeneration(chain, 2, SceneChanges(), now=1.0)
    assert start.record["scenes_rendered"] == [2, 3] and start.stage == "scene_2_generating"
    assert start.metadata["v2_pieces_missing"] == 2  # scenes 2 and 3; the audio is reused
    none = await completed(jobs, Continuity.NONE)
    start = plan_regeneration(none, 2, SceneChanges(duration=5.0), now=1.0)
    assert start.record["scenes_rendered"] == [2] and start.record["audio_redone"] is True
    assert start.metadata["v2_pieces_missing"] == 2  # scene 2 and the audio
    assert [s["start_time"] for s in start.scenes] == [0.0, 4.0, 9.0]


async def test_a_failed_regeneration_starts_the_next_one_from_the_newest_completed_version() -> (
    None
):
    jobs = InMemoryJobRepository()
    job = await completed(jobs, Continuity.NONE)
    v2 = await jobs.start_version(job, plan_regeneration(job, 1, SceneChanges(), now=1.0))
    with pytest.raises(VersionRunning) as running:
        plan_regeneration(v2, 3, SceneChanges(), now=2.0)
    assert running.value.running_version == 2
    with pytest.raises(VersionRaced):  # a second start from the same read loses
        await jobs.start_version(job, plan_regeneration(job, 2, SceneChanges(), now=1.5))
    failed = await jobs.mark_job_failed(job.job_id, "scene 1: the provider refused it")
    assert failed.retry_refusal() is not None  # regenerate again instead
    start = plan_regeneration(failed, 3, SceneChanges(), now=3.0)
    assert start.version == 3 and start.record["base_version"] == 1
    assert start.metadata["v3_scene_1_clip_key"] == scene_clip_key(job.job_id, 1)  # v1's
    history = start.records
    assert [(h["version"], h["status"]) for h in history[:2]] == [
        (1, "completed"),
        (2, "failed"),
    ]
    assert history[0]["video_key"] == "v1.mp4" and history[0]["thumbnail_key"] == "p1.jpg"
    cancelled = await jobs.mark_job_failed(
        (await jobs.start_version(failed, start)).job_id, "cancelled"
    )
    with pytest.raises(VersionRefused):
        plan_regeneration(cancelled, 1, SceneChanges(), now=4.0)


def test_a_job_stored_before_versions_loads_as_version_1() -> None:
    now = time.time()
    stored = {
        "job_id": "j" * 32,
        "user_id": "u1",
        "status": "completed",
        "stage": "completed",
        "stage_seq": 100_030,
        "version": 7,
        "prompt": "A lighthouse keeper's last night",
        "duration": 12,
        "aspect_ratio": "16:9",
        "request_hash": "h",
        "created_at": now,
        "updated_at": now,
        "completed_at": now,
        "ttl": int(now) + 60,
        "video_key": "v.mp4",
    }
    job = Job.model_validate(stored)
    assert job.render_version == 1 and job.versions == [] and job.version == 7
    (only,) = version_history(job)
    assert (only["version"], only["status"], only["video_key"]) == (1, "completed", "v.mp4")
    assert job.status is JobStatus.COMPLETED
