"""The renderer's handlers with in-memory ports and the real local providers (ffmpeg,
espeak-ng), at a reduced frame size so the suite stays quick on two cores. `drive` plays the
queues: it hands every renderer event the handlers publish to its handler, one message each."""

from __future__ import annotations

import asyncio
import dataclasses
import tempfile
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from omnigen.renderer.handlers import (
    RendererDeps,
    handle_scene_requested,
    handle_script_ready,
)
from omnigen.renderer.media.clips import LocalClipGenerator
from omnigen.renderer.media.probe import probe
from omnigen.renderer.ports import ClipLook, ClipResult
from omnigen.renderer.providers.errors import ProviderFailed
from omnigen.shared.domain.events import (
    Event,
    ScriptReady,
    ScriptReadyData,
)
from omnigen.shared.domain.jobs import CANCELLED_REASON, Job, JobOptions, JobRequest
from omnigen.shared.domain.media import CaptionPosition, safe_zone
from omnigen.shared.domain.scripts import Scene
from omnigen.shared.domain.stages import JobStatus
from omnigen.shared.domain.usage import (
    DEFAULT_PRICE_TABLE,
    JobUsage,
    PriceTable,
    count_usage,
    usage_month,
)
from omnigen.shared.messages import MessageContext
from omnigen.shared.ports import captions_key, scene_clip_key, thumbnail_key, video_key
from omnigen.testing.fakes import InMemoryJobRepository
from omnigen.testing.renderer import deliver, message_of, renderer_deps
from omnigen.testing.samples import sample_script

CTX = MessageContext("m-1", "r-1", 1, 4, "{}")


class CountingClips:
    """The real local clip generator, counting scenes and optionally failing or cancelling."""

    def __init__(self, *, crash_after: int | None = None, on_scene: object = None) -> None:
        self.rendered: list[int] = []
        self.looks: list[ClipLook | None] = []
        self._real = LocalClipGenerator()
        self._crash_after = crash_after
        self._on_scene = on_scene

    async def generate(
        self,
        scene: Scene,
        *,
        size: tuple[int, int],
        fps: int,
        start_image: Path | None,
        out_dir: Path,
        look: ClipLook | None = None,
    ) -> ClipResult:
        if self._crash_after is not None and len(self.rendered) >= self._crash_after:
            raise RuntimeError("renderer process died")
        if callable(self._on_scene):
            await self._on_scene(scene.scene_number)
        self.rendered.append(scene.scene_number)
        self.looks.append(look)
        return await self._real.generate(
            scene, size=size, fps=fps, start_image=start_image, out_dir=out_dir, look=look
        )


class BilledClips(CountingClips):
    """The local generator, counted as a hosted model billing 5 s a clip would be."""

    async def generate(self, scene: Scene, **kwargs: Any) -> ClipResult:
        count_usage(clip_calls=1, clip_seconds=5.0)
        return await super().generate(scene, **kwargs)


class BrokenClips:
    def __init__(self, error: Exception) -> None:
        self.error = error

    async def generate(self, scene: Scene, **_: object) -> ClipResult:
        raise self.error


async def make_job(
    jobs: InMemoryJobRepository, scenes: tuple[float, ...], continuity: str | None = None
) -> Job:
    request = JobRequest(
        prompt="A lighthouse keeper's last night",
        duration=max(10, round(sum(scenes))),
        aspect_ratio="16:9",
        options=JobOptions(continuity=continuity),  # type: ignore[arg-type]
    )
    job = (await jobs.create_job(user_id="u1", request=request, trace_id="trace-r")).job
    await jobs.embed_script(job.job_id, sample_script(scenes), {"scene_count": len(scenes)})
    return await jobs.get_job(job.job_id)


def deps_with(clips: object, jobs: InMemoryJobRepository | None = None) -> RendererDeps:
    return renderer_deps(clips=clips, jobs=jobs or InMemoryJobRepository())


def ready(job: Job) -> ScriptReady:
    return ScriptReady.create(
        job_id=job.job_id,
        user_id=job.user_id,
        trace_id="trace-r",
        data=ScriptReadyData(title="t", scene_count=len(job.scenes or [])),
    )


RENDERER_EVENTS = ("scene.requested", "audio.requested", "compose.requested")


def published(deps: RendererDeps) -> list[str]:
    """What the renderer announced to the rest of the system (its own work items aside)."""
    return [
        e.event_type.value
        for e in deps.publisher.events  # type: ignore[attr-defined]
        if e.event_type.value not in RENDERER_EVENTS
    ]


async def drive(deps: RendererDeps, first: Event, ctx: MessageContext = CTX) -> list[str]:
    """Deliver `first`, then every renderer work item published since, in order, each as a
    message of its own (its id: the event's); returns the work items' types as delivered."""
    seen = len(deps.publisher.events)  # type: ignore[attr-defined]
    await deliver(first, ctx, deps)
    delivered: list[str] = []
    while seen < len(deps.publisher.events):  # type: ignore[attr-defined]
        event = deps.publisher.events[seen]  # type: ignore[attr-defined]
        seen += 1
        if event.event_type.value in RENDERER_EVENTS:
            delivered.append(event.event_type.value)
            await deliver(event, message_of(event), deps)
    return delivered


def compose_ctx(deps: RendererDeps) -> MessageContext:
    """The message context `drive` gave the (one) compose.requested."""
    (event,) = deps.publisher.of_type("compose.requested")  # type: ignore[attr-defined]
    return message_of(event)


async def video_of(deps: RendererDeps, job_id: str, tmp_path: Path) -> Path:
    path = tmp_path / "video.mp4"
    key = (await deps.jobs.get_job(job_id)).video_key
    assert key is not None
    path.write_bytes(deps.assets.objects[key])  # type: ignore[attr-defined]
    return path


async def test_script_ready_produces_a_video_and_one_completed_event(tmp_path: Path) -> None:
    deps = deps_with(CountingClips())
    job = await make_job(deps.jobs, (3.0, 3.0, 4.0))  # type: ignore[arg-type]
    work = await drive(deps, ready(job))
    assert sorted(work) == sorted(
        ["scene.requested"] * 3 + ["audio.requested", "compose.requested"]
    )
    assert work[-1] == "compose.requested"

    done = await deps.jobs.get_job(job.job_id)
    token = compose_ctx(deps).receive_token
    assert done.status is JobStatus.COMPLETED and done.stage == "completed"
    assert done.video_key == video_key(job.job_id, token)
    assert done.metadata["scenes_complete"] == 3 and done.metadata["scenes_total"] == 3
    assert done.metadata["pieces_missing"] == 0 and done.metadata["continuity"] == "chain"
    assert done.metadata["thumbnail_key"] == thumbnail_key(job.job_id, token)
    assert done.metadata["thumbnail_key"] in deps.assets.objects  # type: ignore[attr-defined]
    info = await probe(await video_of(deps, job.job_id, tmp_path))
    assert info.video is not None and (info.video.width, info.video.height) == (480, 270)
    assert info.audio is not None
    assert abs(info.duration_s - 10.0) <= 0.2
    assert published(deps) == ["job.completed"]
    (completed,) = deps.publisher.of_type("job.completed")  # type: ignore[attr-defined]
    assert completed.data.video_key == done.video_key
    assert done.leases["compose"]["holder"] == token  # lapses with the step
    assert done.lease_message("compose") == compose_ctx(deps).message_id
    # local providers bill nothing; the job's use is its video, costed with the shipped table
    assert done.usage is not None and done.usage.price_version == DEFAULT_PRICE_TABLE.version
    assert abs(done.usage.video_seconds - info.duration_s) <= 0.05
    month = await deps.jobs.monthly_usage("u1", usage_month(done.created_at))
    assert (month.completed_jobs, month.video_seconds) == (1, done.usage.video_seconds)


async def test_the_completion_records_the_scripts_and_the_renders_use_costed(
    tmp_path: Path,
) -> None:
    prices = PriceTable(
        version="test-1",
        llm_input_per_million_tokens=Decimal(1),
        llm_output_per_million_tokens=Decimal(2),
        clip_per_second=Decimal("0.1"),
        speech_per_million_characters=Decimal(0),
        music_per_second=Decimal(0),
    )
    deps = dataclasses.replace(deps_with(BilledClips()), prices=prices)
    jobs: InMemoryJobRepository = deps.jobs  # type: ignore[assignment]
    job = await make_job(jobs, (5.0, 5.0))
    script_use = JobUsage(llm_calls=1, llm_tokens_in=100_000, llm_tokens_out=50_000)
    jobs.jobs[job.job_id] = job.model_copy(update={"usage": script_use})
    await drive(deps, ready(job))

    used = (await jobs.get_job(job.job_id)).usage
    assert used is not None
    assert (used.llm_tokens_in, used.clip_calls, used.clip_seconds) == (100_000, 2, 10.0)
    assert used.price_version == "test-1"
    assert used.cost_usd == pytest.approx(0.1 + 0.1 + 10 * 0.1)  # tokens in, out, clips
    await drive(deps, ready(job))  # a redelivery adds nothing
    month = await jobs.monthly_usage("u1", usage_month(job.created_at))
    assert (month.completed_jobs, month.clip_seconds) == (1, 10.0)
    assert month.cost_usd == pytest.approx(used.cost_usd)


async def test_crash_after_two_of_four_scenes_resumes_with_those_two(tmp_path: Path) -> None:
    jobs = InMemoryJobRepository()
    crashing = CountingClips(crash_after=2)
    deps = deps_with(crashing, jobs)
    job = await make_job(jobs, (2.5, 2.5, 2.5, 2.5))
    with pytest.raises(RuntimeError, match="died"):
        await drive(deps, ready(job))
    halfway = await jobs.get_job(job.job_id)
    assert halfway.stage == "scene_2_complete" and halfway.metadata["scenes_complete"] == 2
    assert halfway.metadata["scene_3_attempts"] == 1 and "scene_3" not in halfway.leases
    first_clip = deps.assets.objects[scene_clip_key(job.job_id, 1)]  # type: ignore[attr-defined]

    resumed = CountingClips()
    deps_after = RendererDeps(**{**deps.__dict__, "clips": resumed})
    # script.ready again (e.g. `omnigen retry`): the plan stands, the first missing scene goes.
    await drive(deps_after, ready(job), MessageContext("m-1", "r-2", 2, 4, "{}"))
    assert resumed.rendered == [3, 4]  # scenes 1 and 2 came from S3
    assert deps.assets.objects[scene_clip_key(job.job_id, 1)] == first_clip  # type: ignore[attr-defined]
    done = await jobs.get_job(job.job_id)
    assert done.status is JobStatus.COMPLETED
    info = await probe(await video_of(deps, job.job_id, tmp_path))
    assert abs(info.duration_s - 10.0) <= 0.2
    assert published(deps_after) == ["job.completed"]


async def test_every_scene_is_drawn_in_the_jobs_one_look() -> None:
    clips = CountingClips()
    deps = deps_with(clips)
    job = await make_job(deps.jobs, (3.0, 3.0, 4.0))  # type: ignore[arg-type]
    await drive(deps, ready(job))
    assert clips.rendered == [1, 2, 3]
    expected = ClipLook(
        palette_seed=job.job_id,
        title=sample_script().title,
        safe_zone=safe_zone("16:9"),
        caption_position=CaptionPosition.BOTTOM,
    )
    assert clips.looks == [expected] * 3


async def test_duplicate_script_ready_after_completion_renders_nothing(tmp_path: Path) -> None:
    clips = CountingClips()
    deps = deps_with(clips)
    job = await make_job(deps.jobs, (3.0, 3.0, 4.0))  # type: ignore[arg-type]
    await drive(deps, ready(job))
    owner = compose_ctx(deps)
    key = video_key(job.job_id, owner.receive_token)
    video = deps.assets.objects[key]  # type: ignore[attr-defined]
    assert await drive(deps, ready(job), MessageContext("m-2", "r-2", 1, 4, "{}")) == []
    assert published(deps) == ["job.completed"]  # another message: dropped, nothing said
    # The compose message again (its delete was lost): the same event, announced again.
    (compose_event,) = deps.publisher.of_type("compose.requested")  # type: ignore[attr-defined]
    again_ctx = MessageContext(owner.message_id, "r-3", 2, 4, "{}")
    await drive(deps, compose_event, again_ctx)
    assert clips.rendered == [1, 2, 3]
    assert deps.assets.objects[key] is video  # type: ignore[attr-defined]
    assert [k for k in deps.assets.objects if k.endswith("video.mp4")] == [key]  # type: ignore[attr-defined]
    first, again = deps.publisher.of_type("job.completed")  # type: ignore[attr-defined]
    assert again.event_id == first.event_id


async def test_cancellation_between_scenes_stops_the_render() -> None:
    jobs = InMemoryJobRepository()
    holder: dict[str, str] = {}

    async def cancel_at_scene_2(number: int) -> None:
        if number == 2:
            await jobs.mark_job_failed(holder["job_id"], CANCELLED_REASON)

    clips = CountingClips(on_scene=cancel_at_scene_2)
    deps = deps_with(clips, jobs)
    job = await make_job(jobs, (2.5, 2.5, 2.5, 2.5))
    holder["job_id"] = job.job_id
    before = set(Path(tempfile.gettempdir()).glob("omnigen-render-*"))
    await drive(deps, ready(job))
    final = await jobs.get_job(job.job_id)
    assert final.is_cancelled and final.stage == "scene_1_complete"
    assert clips.rendered == [1, 2]  # scene 2 was already underway; scene 3 never started
    assert not [k for k in deps.assets.objects if k.endswith("video.mp4")]  # type: ignore[attr-defined]
    assert published(deps) == []
    assert set(Path(tempfile.gettempdir()).glob("omnigen-render-*")) == before  # cleaned up


async def test_permanent_provider_failure_fails_the_job_with_its_reason() -> None:
    reason = "replicate prediction p-1 failed: NSFW content detected"
    deps = deps_with(BrokenClips(ProviderFailed(reason, provider="replicate")))
    job = await make_job(deps.jobs, (5.0, 5.0))  # type: ignore[arg-type]
    await drive(deps, ready(job))
    final = await deps.jobs.get_job(job.job_id)
    assert final.status is JobStatus.FAILED and final.error_message == f"scene 1: {reason}"
    assert final.metadata["scene_1_state"] == "failed"
    assert final.stage == "scene_1_generating"
    assert published(deps) == ["job.failed"]


async def test_transient_provider_outage_is_left_to_the_consumer_to_retry() -> None:
    outage = ProviderFailed(
        "replicate: 503 Service Unavailable", provider="replicate", transient=True
    )
    deps = deps_with(BrokenClips(outage))
    job = await make_job(deps.jobs, (5.0, 5.0))  # type: ignore[arg-type]
    with pytest.raises(ProviderFailed):
        await drive(deps, ready(job))
    final = await deps.jobs.get_job(job.job_id)
    assert final.status is JobStatus.PROCESSING and published(deps) == []
    assert final.leases == {}


async def test_sidecar_captions_without_music_are_uploaded_and_recorded(tmp_path: Path) -> None:
    deps = deps_with(CountingClips())
    request = JobRequest(
        prompt="A lighthouse keeper's last night", duration=10, aspect_ratio="16:9",
        options={"captions": {"mode": "sidecar"}, "music": {"mood": "none"}},
    )  # fmt: skip
    job = (await deps.jobs.create_job(user_id="u1", request=request)).job
    await deps.jobs.embed_script(job.job_id, sample_script((3.0, 3.0)), {"scene_count": 2})

    await drive(deps, ready(await deps.jobs.get_job(job.job_id)))

    done = await deps.jobs.get_job(job.job_id)
    assert done.status is JobStatus.COMPLETED, done.error_message
    assert done.metadata["music_mood"] == "none"
    objects = deps.assets.objects  # type: ignore[attr-defined]
    srt_key = captions_key(job.job_id, compose_ctx(deps).receive_token, "srt")
    vtt_key = captions_key(job.job_id, compose_ctx(deps).receive_token, "vtt")
    assert (done.metadata["captions_srt_key"], done.metadata["captions_vtt_key"]) == (
        srt_key,
        vtt_key,
    )
    assert objects[srt_key].startswith(b"1\n00:00:0") and objects[vtt_key].startswith(b"WEBVTT")


async def test_no_captions_mode_uploads_no_sidecars(tmp_path: Path) -> None:
    deps = deps_with(CountingClips())
    request = JobRequest(
        prompt="A lighthouse keeper's last night", duration=10, aspect_ratio="16:9",
        options={"captions": {"mode": "none"}},
    )  # fmt: skip
    job = (await deps.jobs.create_job(user_id="u1", request=request)).job
    await deps.jobs.embed_script(job.job_id, sample_script((3.0, 3.0)), {"scene_count": 2})

    await drive(deps, ready(await deps.jobs.get_job(job.job_id)))

    done = await deps.jobs.get_job(job.job_id)
    assert done.status is JobStatus.COMPLETED, done.error_message
    assert "captions_srt_key" not in done.metadata
    assert not [k for k in deps.assets.objects if "captions" in k]  # type: ignore[attr-defined]


async def test_none_mode_scenes_in_parallel_duplicates_and_a_tie_give_one_compose(
    tmp_path: Path,
) -> None:
    """continuity=none: every scene request is out at once; each is delivered twice at the
    same time (another message id), and all finish concurrently: one clip per scene, one
    compose.requested, one video, one job.completed."""
    clips = CountingClips()
    deps = deps_with(clips)
    job = await make_job(deps.jobs, (2.5, 2.5, 2.5), continuity="none")  # type: ignore[arg-type]
    await handle_script_ready(ready(job), CTX, deps)
    requests = list(deps.publisher.events)  # type: ignore[attr-defined]
    assert (
        sorted(e.event_type.value for e in requests)
        == ["audio.requested"] + ["scene.requested"] * 3
    )
    await asyncio.gather(
        *(
            deliver(event, MessageContext(f"{copy}-{event.event_id}", f"r{copy}", 1, 4, "{}"), deps)
            for event in requests
            for copy in ("a", "b")
        )
    )
    assert sorted(clips.rendered) == [1, 2, 3]  # a duplicate held by its twin is dropped
    (compose_event,) = deps.publisher.of_type("compose.requested")  # type: ignore[attr-defined]
    await drive(deps, compose_event, compose_ctx(deps))
    done = await deps.jobs.get_job(job.job_id)
    assert done.status is JobStatus.COMPLETED
    assert published(deps) == ["job.completed"]
    assert len([k for k in deps.assets.objects if k.endswith("video.mp4")]) == 1  # type: ignore[attr-defined]
    info = await probe(await video_of(deps, job.job_id, tmp_path))
    assert abs(info.duration_s - 7.5) <= 0.2


async def test_a_scene_request_for_a_cancelled_job_is_dropped() -> None:
    clips = CountingClips()
    deps = deps_with(clips)
    job = await make_job(deps.jobs, (2.5, 2.5), continuity="none")  # type: ignore[arg-type]
    await handle_script_ready(ready(job), CTX, deps)
    await deps.jobs.mark_job_failed(job.job_id, CANCELLED_REASON)
    for event in list(deps.publisher.events):  # type: ignore[attr-defined]
        await deliver(event, MessageContext(f"m-{event.event_id}", "r", 1, 4, "{}"), deps)
    assert clips.rendered == []
    assert published(deps) == []


async def test_a_transient_error_on_the_last_receive_fails_the_job_naming_the_scene() -> None:
    outage = ProviderFailed(
        "replicate: 503 Service Unavailable", provider="replicate", transient=True
    )
    deps = deps_with(BrokenClips(outage))
    job = await make_job(deps.jobs, (5.0, 5.0))  # type: ignore[arg-type]
    await handle_script_ready(ready(job), CTX, deps)
    (scene_1,) = deps.publisher.of_type("scene.requested")  # type: ignore[attr-defined]
    await handle_scene_requested(scene_1, MessageContext("m-s1", "r-s1", 4, 4, "{}"), deps)
    final = await deps.jobs.get_job(job.job_id)
    assert final.status is JobStatus.FAILED
    assert final.error_message == "scene 1: replicate: 503 Service Unavailable"
    assert published(deps) == ["job.failed"]
