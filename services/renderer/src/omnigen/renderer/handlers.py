"""script.ready -> scene clips -> narration and music -> composed MP4 + poster in S3 -> completed.

The renderer supplies its step to the shared skeleton (`omnigen.shared.workflow.run_step`):
the claim takes the render step for the SQS message and moves the job to scene 1, so one
message renders and only that message announces job.completed (a duplicate is dropped; the
owner's redelivery re-announces a finished job, with the same event id). Resumable: every
finished scene is recorded in the job (`RenderProgress`) with its S3 key, so a redelivery
after a crash renders only what is missing. Every stage write is conditional on the job still
running, so a cancellation stops the render at the next step.

Table writes per job: the claim (scene 1 under way), one per later scene (it records the
previous scene's completion), composing (the last scene and the audio, made beside the
scenes), completed; audio_generating only when the audio outlasts the scenes.
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Protocol

import structlog

from omnigen.renderer.media.clips import save_last_frame
from omnigen.renderer.media.compose import Composition, Presentation, ScenePart, compose
from omnigen.renderer.media.errors import MediaError
from omnigen.renderer.ports import ClipGenerator, MusicSource, NarrationResult, Narrator
from omnigen.renderer.presentation import (
    caption_options,
    music_mood,
    presentation_for,
    upload_sidecars,
)
from omnigen.shared.domain.errors import ProviderFailed, StageRegression
from omnigen.shared.domain.events import (
    EventType,
    JobCompleted,
    JobCompletedData,
    ScriptReady,
    stable_event_id,
)
from omnigen.shared.domain.jobs import Job
from omnigen.shared.domain.progress import RenderProgress
from omnigen.shared.domain.scripts import Script
from omnigen.shared.domain.stages import (
    AUDIO_GENERATING,
    COMPOSING,
    JobStatus,
    scene_generating,
)
from omnigen.shared.domain.usage import (
    DEFAULT_PRICE_TABLE,
    JobUsage,
    PriceTable,
    UsageMeter,
    metering,
)
from omnigen.shared.messages import MessageContext, PermanentFailure
from omnigen.shared.ports import (
    AssetStore,
    EventPublisher,
    JobRepository,
    scene_clip_key,
    thumbnail_key,
    video_key,
)
from omnigen.shared.telemetry import catalog, metrics
from omnigen.shared.workflow import Step, run_step

log = structlog.get_logger()


class Composer(Protocol):
    async def __call__(
        self,
        parts: Sequence[ScenePart],
        *,
        music: Path | None,
        size: tuple[int, int],
        out_path: Path,
        poster_path: Path,
        fps: int = 30,
        captions: bool = True,
        presentation: Presentation | None = None,
    ) -> Composition: ...


FPS = 30


@dataclass(frozen=True)
class RendererDeps:
    jobs: JobRepository
    publisher: EventPublisher
    assets: AssetStore
    clips: ClipGenerator
    narrator: Narrator
    music: MusicSource
    lease_s: float = 60.0  # renewed by every heartbeat while the video is rendered
    scale: float = 1.0  # < 1 renders smaller frames (tests); production keeps full size
    composer: Composer = compose
    work_dir: Path | None = None  # where renders' temporary directories go; None: system temp
    prices: PriceTable = DEFAULT_PRICE_TABLE  # what a completed job's usage is costed with


async def handle_script_ready(event: ScriptReady, ctx: MessageContext, deps: RendererDeps) -> None:
    step = Step(
        name="render",
        first_stage=scene_generating(1),
        lease_s=deps.lease_s,
        finished=lambda job: job.status is JobStatus.COMPLETED,
        recorded=_recorded,
        work=partial(_render, deps),
        announce=_job_completed,
        fails_job=(ProviderFailed, MediaError),
    )
    await run_step(step, event, ctx, deps.jobs, deps.publisher)


def _recorded(job: Job) -> JobCompletedData | None:
    """What a completed job's announcement says, read back from the job."""
    if job.status is not JobStatus.COMPLETED or job.video_key is None:
        return None
    progress = RenderProgress.of(job.metadata)
    return JobCompletedData(
        video_key=job.video_key,
        thumbnail_key=progress.thumbnail_key,
        duration=progress.video_duration_s or float(job.duration),
    )


async def _render(
    deps: RendererDeps, job: Job, event: ScriptReady, ctx: MessageContext
) -> JobCompletedData:
    """The render with its provider calls counted (`count_usage`), for the completion write."""
    with metering() as meter:
        return await _render_counted(deps, job, event, ctx, meter)


async def _render_counted(
    deps: RendererDeps, job: Job, _event: ScriptReady, ctx: MessageContext, meter: UsageMeter
) -> JobCompletedData:
    """Scenes (in order, for continuity) while the audio is made beside them, then one
    composition, the upload and the completion write (with what the job used: the script's
    calls as recorded, this render's as counted, costed with `deps.prices`); returns what
    job.completed says."""
    script = job.script
    if script is None:
        raise PermanentFailure(f"job {job.job_id} has no script to render")
    size = _frame_size(job, deps.scale)
    render = ctx.receive_token
    with tempfile.TemporaryDirectory(
        prefix=f"omnigen-render-{job.job_id[:8]}-", dir=deps.work_dir
    ) as tmp:
        work = Path(tmp)
        audio = asyncio.create_task(_render_audio(deps, job, script, work))
        try:
            async with metrics.stage("render.scenes", scenes=len(script.scenes)):
                clips, progress = await _render_scenes(deps, job, script, size, work)
            if not audio.done():  # the scenes were quicker: say what we wait for
                await _advance(deps, job.job_id, AUDIO_GENERATING, progress)
                progress = RenderProgress()
            narrations, music, audio_progress = await audio
        finally:
            audio.cancel()  # no-op once it is done; its files live in `work`, so
            await asyncio.gather(audio, return_exceptions=True)  # let it stop first
        await _advance(deps, job.job_id, COMPOSING, progress, audio_progress)
        parts = [
            ScenePart(clip, scene.duration, scene.transition_in, narration)
            for scene, clip, narration in zip(script.scenes, clips, narrations, strict=True)
        ]
        async with metrics.stage("render.compose"):
            result = await deps.composer(
                parts,
                music=music,
                size=size,
                fps=FPS,
                out_path=work / "video.mp4",
                poster_path=work / "poster.jpg",
                captions=caption_options(job).mode.burned,
                presentation=presentation_for(job),
            )
        video, poster = video_key(job.job_id, render), thumbnail_key(job.job_id, render)
        await deps.assets.put_file(video, result.path, "video/mp4")
        await deps.assets.put_file(poster, result.poster_path, "image/jpeg")
        sidecars = await upload_sidecars(deps.assets, job, render, result.captions, work)
        size_bytes = (await asyncio.to_thread(result.path.stat)).st_size
    done = RenderProgress(
        thumbnail_key=poster,
        video_duration_s=round(result.duration_s, 3),
        video_bytes=size_bytes,
        resolution=f"{size[0]}x{size[1]}",
    )
    used = (job.usage or JobUsage()).plus(meter.usage)
    usage = used.costed(deps.prices, video_seconds=result.duration_s)
    metadata = {**done.metadata(), **sidecars.metadata()}
    # The conditional write refuses a job cancelled while it was being composed.
    await deps.jobs.mark_job_complete(job.job_id, video, metadata, usage=usage)
    await metrics.count(catalog.JOBS_COMPLETED)
    log.info("video_completed", seconds=done.video_duration_s, bytes=size_bytes)
    return JobCompletedData(
        video_key=video,
        thumbnail_key=poster,
        duration=done.video_duration_s or 0.0,
    )


async def _render_scenes(
    deps: RendererDeps, job: Job, script: Script, size: tuple[int, int], work: Path
) -> tuple[list[Path], RenderProgress]:
    """Each scene once: reuse clips recorded in the job, render the rest in order.

    A scene's completion is recorded in the write that starts the next scene (nothing happens
    between the two), so each scene costs one table write; the last scene's completion is
    returned, for the write that starts the next step."""
    clips: list[Path] = []
    start_image = await _start_image(deps, job, work)
    total = len(script.scenes)
    recorded = RenderProgress.of(job.metadata)
    progress = RenderProgress()
    for scene in script.scenes:
        number = scene.scene_number
        clip_path = work / f"scene_{number:03d}.mp4"
        if await _reusable(deps, recorded, number):
            log.info("scene_reused", scene=number)
            await deps.assets.get_file(scene_clip_key(job.job_id, number), clip_path)
            frame_path = await save_last_frame(
                clip_path, work / f"scene_{number:03d}_last.jpg", what=f"scene {number} clip"
            )
        else:
            if number > 1:  # the claim itself moved the job to scene 1
                await _advance(deps, job.job_id, scene_generating(number), progress)
            async with metrics.provider_call("clips", type(deps.clips).__name__, scene=number):
                result = await deps.clips.generate(
                    scene, size=size, fps=FPS, start_image=start_image, out_dir=work
                )
            await deps.assets.put_file(scene_clip_key(job.job_id, number), result.path, "video/mp4")
            log.info("scene_rendered", scene=number, of=total)
            clip_path, frame_path = result.path, result.last_frame_path
            progress = RenderProgress(
                scene_clip_keys={number: scene_clip_key(job.job_id, number)},
                scenes_complete=number,
                scenes_total=total,
            )
        clips.append(clip_path)
        start_image = frame_path
    return clips, progress


async def _reusable(deps: RendererDeps, recorded: RenderProgress, number: int) -> bool:
    """A scene finished by an earlier attempt: recorded in the job and still in S3."""
    key = recorded.clip_key(number)
    return key is not None and await deps.assets.exists(key)


async def _render_audio(
    deps: RendererDeps, job: Job, script: Script, work: Path
) -> tuple[list[NarrationResult | None], Path | None, RenderProgress]:
    """Narration per scene (in the job's language, voice and speed) and the music bed (None
    when the job asked for none), and the progress that records them."""
    async with metrics.stage("render.audio"):
        return await _make_audio(deps, job, script, work)


async def _make_audio(
    deps: RendererDeps, job: Job, script: Script, work: Path
) -> tuple[list[NarrationResult | None], Path | None, RenderProgress]:
    narrations: list[NarrationResult | None] = []
    for scene in script.scenes:
        if scene.narration.strip():
            async with metrics.provider_call(
                "speech", type(deps.narrator).__name__, scene=scene.scene_number
            ):
                narration = await deps.narrator.synthesize(
                    scene.narration,
                    voice=job.options.voice,
                    out_path=work / f"narration_{scene.scene_number:03d}.wav",
                    language=job.options.language,
                    rate=job.options.speech_rate or 1.0,
                )
            narrations.append(narration)
        else:
            narrations.append(None)
    mood = music_mood(job, script.audio_spec.music_mood)
    music = None
    if mood is not None:
        async with metrics.provider_call("music", type(deps.music).__name__):
            music = await deps.music.generate(
                mood, script.audio_spec.music_style, script.total_duration, work / "music.wav"
            )
    spoken = [n for n in narrations if n is not None]
    progress = RenderProgress(
        narration_s=round(sum(n.duration_s for n in spoken), 3),
        music_mood=mood.value if mood is not None else "none",
    )
    return narrations, music, progress


async def _start_image(deps: RendererDeps, job: Job, work: Path) -> Path | None:
    key = job.options.start_image_key
    if not key:
        return None
    path = work / "start_image"
    try:
        await deps.assets.get_file(key, path)
    except Exception as exc:
        raise PermanentFailure(f"start image {key!r} could not be read: {exc}") from exc
    return path


async def _advance(deps: RendererDeps, job_id: str, stage: str, *progress: RenderProgress) -> None:
    """Move the job forward, recording `progress` (the conditional write doubles as the
    cancellation checkpoint); when resuming past this stage, only record the progress."""
    metadata = {k: v for part in progress for k, v in part.metadata().items()}
    try:
        await deps.jobs.update_job_stage_with_metadata(job_id, stage, metadata)
    except StageRegression as regression:
        log.info("stage_already_passed", stage=stage, current=regression.current)
        if metadata:
            await deps.jobs.update_job_stage_with_metadata(job_id, regression.current, metadata)


def _job_completed(job: Job, outcome: JobCompletedData, event: ScriptReady) -> JobCompleted:
    return JobCompleted.create(
        job_id=job.job_id,
        user_id=job.user_id,
        trace_id=event.trace_id,
        data=outcome,
        event_id=stable_event_id(job.event_subject, EventType.JOB_COMPLETED.value),
    )


def _frame_size(job: Job, scale: float) -> tuple[int, int]:
    width, height = job.aspect_ratio.resolution
    if scale >= 1:
        return width, height
    return (int(width * scale) // 2 * 2, int(height * scale) // 2 * 2)
