"""script.ready -> scene clips -> narration and music -> composed MP4 + poster in S3 -> completed.

Resumable and idempotent: every finished scene is recorded in the job's metadata with its S3
keys, so a redelivery after a crash renders only what is missing; a lease held by the SQS
message admits one renderer per job; a completed job only (re)publishes job.completed if that
was never recorded. The job is re-read between steps, so a cancellation stops the render.
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import structlog

from omnigen.renderer.media.compose import Composition, ScenePart, compose
from omnigen.renderer.media.errors import MediaError
from omnigen.renderer.ports import ClipGenerator, MusicSource, NarrationResult, Narrator
from omnigen.renderer.providers.errors import ProviderFailed
from omnigen.shared.domain.errors import (
    JobAlreadyFinished,
    StageRegression,
)
from omnigen.shared.domain.events import JobCompleted, JobCompletedData, ScriptReady
from omnigen.shared.domain.jobs import Job
from omnigen.shared.domain.scripts import Scene, Script
from omnigen.shared.domain.stages import (
    AUDIO_COMPLETE,
    AUDIO_GENERATING,
    COMPOSING,
    JobStatus,
    scene_complete,
    scene_generating,
)
from omnigen.shared.ports import (
    AssetStore,
    EventPublisher,
    JobRepository,
    scene_clip_key,
    scene_last_frame_key,
    thumbnail_key,
    video_key,
)
from omnigen.shared.runtime.consumer import MessageContext, PermanentFailure
from omnigen.shared.workflow import JobStopped, checkpoint, fail_job, publish_once, step_lease

log = structlog.get_logger()
LEASE_STEP = "render"


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
    lease_s: float = 3600.0
    scale: float = 1.0  # < 1 renders smaller frames (tests); production keeps full size
    composer: Composer = compose


async def handle_script_ready(event: ScriptReady, ctx: MessageContext, deps: RendererDeps) -> None:
    try:
        job = await checkpoint(deps.jobs, event.job_id, allow_completed=True)
        if job.status is JobStatus.COMPLETED:
            await _announce(deps, job, event.trace_id)
            return
        script = job.script
        if script is None:
            raise PermanentFailure(f"job {job.job_id} has no script to render")
        async with step_lease(deps.jobs, job.job_id, LEASE_STEP, ctx, deps.lease_s) as held:
            if held:
                await _render(deps, job, script, event.trace_id)
    except JobStopped as stopped:
        log.info("job_stopped", reason=str(stopped))


async def _render(deps: RendererDeps, job: Job, script: Script, trace_id: str) -> None:
    size = _frame_size(job, deps.scale)
    try:
        with tempfile.TemporaryDirectory(prefix=f"omnigen-render-{job.job_id[:8]}-") as tmp:
            work = Path(tmp)
            clips = await _render_scenes(deps, job, script, size, work)
            narrations, music = await _render_audio(deps, job, script, work)
            await _advance(deps, job.job_id, COMPOSING, {})
            parts = [
                ScenePart(clip, scene.duration, scene.transition_in, narration)
                for scene, clip, narration in zip(script.scenes, clips, narrations, strict=True)
            ]
            result = await deps.composer(
                parts,
                music=music,
                size=size,
                fps=FPS,
                out_path=work / "video.mp4",
                poster_path=work / "poster.jpg",
            )
            await checkpoint(deps.jobs, job.job_id)
            await deps.assets.put_file(video_key(job.job_id), result.path, "video/mp4")
            await deps.assets.put_file(thumbnail_key(job.job_id), result.poster_path, "image/jpeg")
            size_bytes = (await asyncio.to_thread(result.path.stat)).st_size
    except (ProviderFailed, MediaError) as exc:
        if getattr(exc, "transient", False):
            raise  # an outage: the consumer retries, then gives up and fails the job
        await fail_job(deps.jobs, deps.publisher, job.job_id, str(exc), trace_id=trace_id)
        return
    done = await deps.jobs.mark_job_complete(
        job.job_id,
        video_key(job.job_id),
        {
            "thumbnail_key": thumbnail_key(job.job_id),
            "video_duration_s": round(result.duration_s, 3),
            "video_bytes": size_bytes,
            "resolution": f"{size[0]}x{size[1]}",
        },
    )
    log.info("video_completed", seconds=round(result.duration_s, 3), bytes=size_bytes)
    await _announce(deps, done, trace_id)


async def _render_scenes(
    deps: RendererDeps, job: Job, script: Script, size: tuple[int, int], work: Path
) -> list[Path]:
    """Each scene once: reuse clips recorded in the job's metadata, render the rest in order."""
    clips: list[Path] = []
    start_image = await _start_image(deps, job, work)
    total = len(script.scenes)
    for scene in script.scenes:
        number = scene.scene_number
        clip_path = work / f"scene_{number:03d}.mp4"
        frame_path = work / f"scene_{number:03d}_last.jpg"
        if await _reusable(deps, job, number):
            log.info("scene_reused", scene=number)
            await deps.assets.get_file(scene_clip_key(job.job_id, number), clip_path)
            await deps.assets.get_file(scene_last_frame_key(job.job_id, number), frame_path)
        else:
            await _advance(deps, job.job_id, scene_generating(number), {})
            result = await deps.clips.generate(
                scene, size=size, fps=FPS, start_image=start_image, out_dir=work
            )
            await _store_scene(deps, job, scene, result.path, result.last_frame_path, total)
            clip_path, frame_path = result.path, result.last_frame_path
        clips.append(clip_path)
        start_image = frame_path
    return clips


async def _store_scene(
    deps: RendererDeps, job: Job, scene: Scene, clip: Path, last_frame: Path, total: int
) -> None:
    number = scene.scene_number
    await deps.assets.put_file(scene_clip_key(job.job_id, number), clip, "video/mp4")
    await deps.assets.put_file(scene_last_frame_key(job.job_id, number), last_frame, "image/jpeg")
    await _advance(
        deps,
        job.job_id,
        scene_complete(number),
        {
            f"scene_{number}_clip_key": scene_clip_key(job.job_id, number),
            f"scene_{number}_thumbnail_key": scene_last_frame_key(job.job_id, number),
            "scenes_complete": number,
            "scenes_total": total,
        },
    )
    log.info("scene_rendered", scene=number, of=total)


async def _reusable(deps: RendererDeps, job: Job, number: int) -> bool:
    """A scene finished by an earlier attempt: recorded in the job and still in S3."""
    key = job.metadata.get(f"scene_{number}_clip_key")
    return bool(key) and await deps.assets.exists(str(key))


async def _render_audio(
    deps: RendererDeps, job: Job, script: Script, work: Path
) -> tuple[list[NarrationResult | None], Path]:
    await _advance(deps, job.job_id, AUDIO_GENERATING, {})
    narrations: list[NarrationResult | None] = []
    for scene in script.scenes:
        if scene.narration.strip():
            narrations.append(
                await deps.narrator.synthesize(
                    scene.narration,
                    voice=job.options.voice,
                    out_path=work / f"narration_{scene.scene_number:03d}.wav",
                )
            )
        else:
            narrations.append(None)
    music = await deps.music.generate(
        script.audio_spec.music_mood,
        script.audio_spec.music_style,
        script.total_duration,
        work / "music.wav",
    )
    spoken = [n for n in narrations if n is not None]
    await _advance(
        deps,
        job.job_id,
        AUDIO_COMPLETE,
        {
            "narration_s": round(sum(n.duration_s for n in spoken), 3),
            "music_mood": script.audio_spec.music_mood.value,
        },
    )
    return narrations, music


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


async def _advance(deps: RendererDeps, job_id: str, stage: str, metadata: dict[str, Any]) -> None:
    """Move the job forward (the conditional write doubles as the cancellation checkpoint);
    when resuming past this stage, only merge the metadata."""
    try:
        await deps.jobs.update_job_stage_with_metadata(job_id, stage, metadata)
    except JobAlreadyFinished as finished:
        raise JobStopped(job_id, finished.error_message or finished.status) from None
    except StageRegression as regression:
        log.info("stage_already_passed", stage=stage, current=regression.current)
        if metadata:
            await deps.jobs.update_job_stage_with_metadata(job_id, regression.current, metadata)


async def _announce(deps: RendererDeps, job: Job, trace_id: str) -> None:
    assert job.video_key is not None
    event = JobCompleted.create(
        job_id=job.job_id,
        user_id=job.user_id,
        trace_id=trace_id,
        data=JobCompletedData(
            video_key=job.video_key,
            thumbnail_key=job.metadata.get("thumbnail_key"),
            duration=float(job.metadata.get("video_duration_s", job.duration)),
        ),
    )
    await publish_once(deps.jobs, deps.publisher, job, event)


def _frame_size(job: Job, scale: float) -> tuple[int, int]:
    width, height = job.aspect_ratio.resolution
    if scale >= 1:
        return width, height
    return (int(width * scale) // 2 * 2, int(height * scale) // 2 * 2)
