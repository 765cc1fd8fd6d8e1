"""Scene regeneration through the renderer's handlers with in-memory ports and the real local
providers: version v+1 re-renders only the scene asked for (chain: and the scenes after it),
reuses every other clip and the audio where unchanged, composes once, announces job.completed
v2 once, and leaves version v's files as they were; what a version renders counts in its
month's usage once (and against the quota when it starts)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from omnigen.renderer.handlers import RendererDeps
from omnigen.renderer.media.clips import LocalClipGenerator
from omnigen.renderer.media.probe import probe
from omnigen.renderer.ports import ClipLook, ClipResult
from omnigen.shared.domain.errors import MonthlyQuotaExceeded
from omnigen.shared.domain.events import (
    Event,
    ScriptReady,
    ScriptReadyData,
)
from omnigen.shared.domain.jobs import Job, JobOptions, JobRequest
from omnigen.shared.domain.scenes import Continuity
from omnigen.shared.domain.scripts import Scene
from omnigen.shared.domain.stages import JobStatus
from omnigen.shared.domain.usage import DEFAULT_PRICE_TABLE, count_usage, usage_month
from omnigen.shared.domain.versions import (
    SceneChanges,
    plan_regeneration,
    version_history,
    version_requests,
)
from omnigen.shared.messages import MessageContext
from omnigen.shared.ports import scene_clip_key
from omnigen.testing.fakes import InMemoryAssetStore, InMemoryJobRepository, RecordingPublisher
from omnigen.testing.renderer import deliver, message_of, renderer_deps
from omnigen.testing.samples import sample_script

STORM = "A winter storm breaks over the old lighthouse lamp at dusk"
RENDERER_EVENTS = ("scene.requested", "audio.requested", "compose.requested")


class CountingClips:
    def __init__(self) -> None:
        self.rendered: list[int] = []
        self._real = LocalClipGenerator()

    async def generate(
        self, scene: Scene, *, size: tuple[int, int], fps: int, start_image: Path | None,
        out_dir: Path, look: ClipLook | None = None,
    ) -> ClipResult:  # fmt: skip
        self.rendered.append(scene.scene_number)
        count_usage(clip_calls=1, clip_seconds=scene.duration)  # billed as a hosted model is
        return await self._real.generate(
            scene, size=size, fps=fps, start_image=start_image, out_dir=out_dir, look=look
        )


def make_deps() -> tuple[RendererDeps, CountingClips, InMemoryJobRepository]:
    clips, jobs = CountingClips(), InMemoryJobRepository()
    deps = renderer_deps(jobs=jobs, clips=clips)
    return deps, clips, jobs


async def completed_job(deps: RendererDeps, jobs: InMemoryJobRepository, continuity: str) -> Job:
    request = JobRequest(
        prompt="A lighthouse keeper's last night",
        duration=12,
        aspect_ratio="16:9",
        options=JobOptions(continuity=Continuity(continuity)),
    )
    job = (await jobs.create_job(user_id="u1", request=request, trace_id="trace-v")).job
    await jobs.embed_script(job.job_id, sample_script((4.0, 4.0, 4.0)), {"scene_count": 3})
    job = await jobs.get_job(job.job_id)
    first = ScriptReady.create(
        job_id=job.job_id,
        user_id="u1",
        trace_id="trace-v",
        data=ScriptReadyData(title="t", scene_count=3),
    )
    await drive(deps, [first])
    done = await jobs.get_job(job.job_id)
    assert done.status is JobStatus.COMPLETED
    return done


async def drive(deps: RendererDeps, first: list[Event]) -> list[str]:
    """Deliver `first`, then every renderer work item published since, each once."""
    publisher: RecordingPublisher = deps.publisher  # type: ignore[assignment]
    seen = len(publisher.events)
    for event in first:
        await deliver(event, message_of(event), deps)
    delivered: list[str] = []
    while seen < len(publisher.events):
        event = publisher.events[seen]
        seen += 1
        if event.event_type.value in RENDERER_EVENTS:
            delivered.append(event.event_type.value)
            await deliver(event, message_of(event), deps)
    return delivered


async def regenerate(
    jobs: InMemoryJobRepository,
    job: Job,
    scene: int,
    changes: SceneChanges,
    quota_s: int | None = None,
) -> tuple[Job, list[Event]]:
    """What ingest does: the start write, then the version's work items."""
    start = plan_regeneration(job, scene, changes, now=time.time(), request_id="k1")
    started = await jobs.start_version(job, start, video_quota_s=quota_s)
    return started, version_requests(started, start.version, "trace-v2")


async def test_regenerating_one_scene_of_three_in_none_mode_renders_only_that_clip(
    tmp_path: Path,
) -> None:
    deps, clips, jobs = make_deps()
    job = await completed_job(deps, jobs, "none")
    assert sorted(clips.rendered) == [1, 2, 3]
    v1_video, v1_clip = job.video_key, scene_clip_key(job.job_id, 2)
    assets: InMemoryAssetStore = deps.assets  # type: ignore[assignment]
    v1_bytes = dict(assets.objects)
    clips.rendered.clear()

    started, work = await regenerate(jobs, job, 2, SceneChanges(generation_prompt=STORM))
    assert started.render_version == 2 and started.status is JobStatus.PROCESSING
    assert started.stage == "scene_3_generating"  # two clips reused: the stage counts them
    assert started.video_key is None
    assert [e.event_type.value for e in work] == ["scene.requested"]  # audio reused
    delivered = await drive(deps, work)

    assert clips.rendered == [2]
    assert delivered == ["compose.requested"]
    done = await jobs.get_job(job.job_id)
    assert done.status is JobStatus.COMPLETED and done.render_version == 2
    assert done.video_key not in (None, v1_video)
    assert done.scenes is not None
    assert done.scenes[1].generation_prompt == STORM
    assert done.metadata["v2_scene_2_clip_key"] == scene_clip_key(job.job_id, 2, 2)
    assert done.metadata["v2_scene_1_clip_key"] == scene_clip_key(job.job_id, 1)
    assert done.metadata["v2_audio_key"] == done.metadata["audio_key"]
    # version 1's files are untouched and still there
    assert all(assets.objects[k] == v for k, v in v1_bytes.items())
    assert v1_video in assets.objects and v1_clip in assets.objects
    completed = deps.publisher.of_type("job.completed")  # type: ignore[attr-defined]
    assert [(e.schema_version, getattr(e.data, "version", 1)) for e in completed] == [
        (1, 1),
        (2, 2),
    ]
    assert completed[1].data.video_key == done.video_key
    history = version_history(done)
    assert [(h["version"], h["status"]) for h in history] == [(1, "completed"), (2, "completed")]
    assert history[0]["video_key"] == v1_video and history[1]["video_key"] == done.video_key
    assert history[1]["scenes_rendered"] == [2] and history[1]["audio_redone"] is False
    path = tmp_path / "v2.mp4"
    assert done.video_key is not None
    path.write_bytes(assets.objects[done.video_key])
    assert abs((await probe(path)).duration_s - 12.0) <= 0.2


async def test_chain_mode_renders_the_scene_and_those_after_it_and_a_new_narration_redoes_audio(
    tmp_path: Path,
) -> None:
    deps, clips, jobs = make_deps()
    job = await completed_job(deps, jobs, "chain")
    clips.rendered.clear()
    _, work = await regenerate(
        jobs, job, 2, SceneChanges(narration="The lamp turns for the very last time.")
    )
    assert sorted(e.event_type.value for e in work) == ["audio.requested", "scene.requested"]
    await drive(deps, work)
    assert clips.rendered == [2, 3]  # scene 3 starts from scene 2's new last frame
    done = await jobs.get_job(job.job_id)
    assert done.status is JobStatus.COMPLETED
    assert done.metadata["v2_audio_key"] != done.metadata["audio_key"]
    assert done.audio_spec is not None
    assert "very last time" in done.audio_spec.voiceover_text
    assert len(deps.publisher.of_type("job.completed")) == 2  # type: ignore[attr-defined]


async def test_a_late_message_of_the_older_version_changes_nothing(tmp_path: Path) -> None:
    deps, clips, jobs = make_deps()
    job = await completed_job(deps, jobs, "none")
    publisher: RecordingPublisher = deps.publisher  # type: ignore[assignment]
    (old_compose,) = publisher.of_type("compose.requested")
    old_scene = publisher.of_type("scene.requested")[0]
    started, work = await regenerate(jobs, job, 1, SceneChanges())
    clips.rendered.clear()
    # version 1's compose and a scene of it come back while version 2 runs: both dropped
    await deliver(old_compose, MessageContext("late", "late-r", 2, 4, "{}"), deps)
    await deliver(old_scene, MessageContext("late-s", "late-s-r", 2, 4, "{}"), deps)
    now = await jobs.get_job(job.job_id)
    assert (now.stage, now.status, now.render_version) == (
        started.stage,
        JobStatus.PROCESSING,
        2,
    )
    # version 1's compose announces version 1 again (its announcement may have been lost)
    completed = publisher.of_type("job.completed")
    assert clips.rendered == [] and len(completed) == 2
    assert completed[1].event_id == completed[0].event_id and completed[1].schema_version == 1
    # the same work item twice: one clip
    await drive(deps, [*work, *work])
    assert clips.rendered == [1]
    completed = publisher.of_type("job.completed")
    assert [e.schema_version for e in completed] == [1, 1, 2]


async def test_a_version_counts_what_it_renders_in_its_month_once_and_the_quota_holds() -> None:
    deps, clips, jobs = make_deps()
    job = await completed_job(deps, jobs, "none")
    month = usage_month(time.time())
    first = jobs.usage[("u1", month)]
    assert (first.jobs, first.requested_seconds, first.clip_seconds) == (1, 12, 12.0)
    assert (first.completed_jobs, first.video_seconds) == (1, 12.0)

    # scene 2 (4 s) again: the start counts the version and its 4 s against the quota
    _, work = await regenerate(jobs, job, 2, SceneChanges(generation_prompt=STORM), quota_s=16)
    started = jobs.usage[("u1", month)]
    assert (started.versions, started.requested_seconds) == (1, 16)
    publisher: RecordingPublisher = deps.publisher  # type: ignore[assignment]
    await drive(deps, work)
    (compose,) = publisher.of_type("compose.requested")[1:]
    await deliver(compose, MessageContext("again", "again-r", 2, 4, "{}"), deps)  # redelivered
    done = await jobs.get_job(job.job_id)
    assert done.status is JobStatus.COMPLETED and done.render_version == 2
    totals = jobs.usage[("u1", month)]
    assert totals.completed_versions == 1 and totals.completed_jobs == 1
    assert (totals.clip_calls, totals.clip_seconds) == (4, 16.0)  # 3 clips, then 1
    assert totals.video_seconds == 16.0  # the job's 12 s, then the 4 s rendered anew
    version_cost = float(DEFAULT_PRICE_TABLE.clip_per_second) * 4
    assert totals.cost_usd == pytest.approx(first.cost_usd + version_cost)
    used = done.metadata["v2_usage"]
    assert (used["clip_calls"], used["video_seconds"], used["llm_calls"]) == (1, 4.0, 0)
    assert done.usage is not None and done.usage.clip_calls == 3  # the first render's, kept

    # at the quota: the next version is refused by its start, and nothing starts
    clips.rendered.clear()
    with pytest.raises(MonthlyQuotaExceeded):
        await regenerate(jobs, done, 1, SceneChanges(), quota_s=16)
    after = await jobs.get_job(job.job_id)
    assert (after.render_version, after.status) == (2, JobStatus.COMPLETED)
    assert jobs.usage[("u1", month)] == totals
