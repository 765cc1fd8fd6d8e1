"""`keyframes` continuity, the keyframe step (scenes queue): draw one scene's keyframe from the
render's shared look, upload it under the job's prefix, and record it by one conditional write
(see `omnigen.shared.domain.keyframes`). The write that records the last keyframe requests
every scene's clip, so all keyframes exist before any clip starts; each clip then starts from
its own keyframe (`handlers._make_scene`).

A keyframe is a piece of its own: its lease drops a duplicate request, a killed worker's lease
lapses and the redelivery draws only that keyframe, a transient provider error retries it
alone, and a permanent one fails the job naming the scene ("scene 3 keyframe: ...").
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import structlog

from omnigen.renderer import own_media
from omnigen.renderer.handlers import VERSION, RendererDeps, frame_size, request_scenes
from omnigen.renderer.media.errors import MediaError
from omnigen.renderer.media.keyframes import LocalKeyframeGenerator
from omnigen.renderer.presentation import clip_look
from omnigen.shared.domain.errors import JobAlreadyFinished, PieceRaced, ProviderFailed
from omnigen.shared.domain.events import KeyframeRequested
from omnigen.shared.domain.jobs import Job
from omnigen.shared.domain.keyframes import KeyframeState, keyframe_name, keyframe_step
from omnigen.shared.domain.scenes import PieceState, RenderState, key
from omnigen.shared.messages import MessageContext, PermanentFailure
from omnigen.shared.ports import JobRepository, job_prefix
from omnigen.shared.telemetry import catalog, metrics
from omnigen.shared.workflow import Claim, JobStopped, claim_step, fail_job

log = structlog.get_logger()


def keyframe_key(job_id: str, number: int, version: int = VERSION) -> str:
    return f"{job_prefix(job_id)}keyframes/v{version}/scene_{number:03d}.jpg"


async def handle_keyframe_requested(
    event: KeyframeRequested, ctx: MessageContext, deps: RendererDeps
) -> None:
    if event.job_id is None:
        raise PermanentFailure("keyframe.requested names no job")
    number, version = event.data.scene_number, event.data.version
    try:
        async with claim_step(
            deps.jobs,
            event.job_id,
            keyframe_step(number, version),
            ctx,
            deps.lease_s,
            stage=None,
            finished=lambda job: _drawn(job, number, version),
            metadata={key(version, f"{keyframe_name(number)}_attempts"): ctx.receive_count},
        ) as claim:
            job = claim.job
            if job is None:
                return  # a duplicate: another receive holds or drew this keyframe
            if job.render_version != version:
                log.info("job_stopped", reason=f"version {version} was superseded")
                return
            keyframes = _keyframes(job, number, version)
            ready = keyframes.ready
            drawn = keyframes.keyframes[number].state is PieceState.COMPLETE
            if claim.kind is Claim.WORK and not drawn:
                image_key = await _draw(deps, job, keyframes, number, event, ctx)
                if image_key is None:
                    return  # failed the job for good
                ready = await record_keyframe(deps.jobs, job, number, image_key, version)
                log.info("keyframe_recorded", scene=number, ready=ready, version=version)
    except JobStopped as stopped:
        log.info("job_stopped", reason=str(stopped))
        return
    except JobAlreadyFinished as ended:
        log.info("job_stopped", reason=ended.error_message or ended.status)
        return
    if ready:  # every keyframe exists: every clip may start
        await request_scenes(deps, job, event.trace_id, version)


def _keyframes(job: Job, number: int, version: int = VERSION) -> KeyframeState:
    """The keyframes of the scenes whose clip is still to make, and scene `number`'s."""
    state = RenderState.of(job.metadata, version=version)
    scenes = state.scenes if state else {}
    to_make = {n for n, p in scenes.items() if p.state is not PieceState.COMPLETE} | {number}
    keyframes = KeyframeState.of(job.metadata, sorted(to_make & set(scenes)), version=version)
    if keyframes is None or number not in keyframes.keyframes or keyframes.look is None:
        raise PermanentFailure(f"job {job.job_id} requested scene {number}'s keyframe unplanned")
    return keyframes


def _drawn(job: Job, number: int, version: int = VERSION) -> bool:
    keyframes = KeyframeState.of(job.metadata, [number], version=version)
    return keyframes is not None and keyframes.keyframes[number].state is PieceState.COMPLETE


async def _draw(
    deps: RendererDeps,
    job: Job,
    keyframes: KeyframeState,
    number: int,
    event: KeyframeRequested,
    ctx: MessageContext,
) -> str | None:
    """The keyframe's S3 key once drawn and uploaded; None when a permanent error (or a
    transient one on the message's last receive) failed the job, naming the scene. A transient
    error before that is raised for the consumer to retry this keyframe alone."""
    script = job.script
    if script is None:
        raise PermanentFailure(f"job {job.job_id} has no script to render")
    assert keyframes.look is not None
    generator = deps.keyframes or LocalKeyframeGenerator()
    with tempfile.TemporaryDirectory(
        prefix=f"omnigen-keyframe-{job.job_id[:8]}-", dir=deps.work_dir
    ) as tmp:
        try:
            reference = await own_media.style_reference(deps.uploads, deps.assets, job, Path(tmp))
            async with metrics.provider_call("keyframes", type(generator).__name__, scene=number):
                image = await generator.generate(
                    script.scenes[number - 1],
                    look=keyframes.look,
                    size=frame_size(job, deps.scale),
                    out_path=Path(tmp) / f"keyframe_{number:03d}.jpg",
                    style_reference=reference,
                    palette_seed=clip_look(job, script).palette_seed,
                )
            image_key = keyframe_key(job.job_id, number, keyframes.version)
            await deps.assets.put_file(image_key, image, "image/jpeg")
            await deps.pieces.keep(image_key, image)
            return image_key
        except (ProviderFailed, MediaError) as exc:
            if exc.transient and not ctx.is_last_attempt:
                raise
            reason = f"scene {number} keyframe: {exc}"
    try:
        await deps.jobs.record_piece(
            job.job_id, stage=None, metadata=keyframes.failure(number), expect={}
        )
    except JobAlreadyFinished:
        return None
    await fail_job(
        deps.jobs,
        deps.publisher,
        job.job_id,
        reason,
        trace_id=event.trace_id,
        reason_class=catalog.REASON_RETRIES if ctx.is_last_attempt else catalog.REASON_PROVIDER,
    )
    return None


async def record_keyframe(
    jobs: JobRepository, job: Job, number: int, image_key: str, version: int = VERSION
) -> bool:
    """Record scene `number`'s keyframe by one conditional write expecting only its own state
    (so keyframes finishing together take one write each, never a race); the job the write
    returns says whether every keyframe is now recorded. True for the one write after which
    they all are (a later write of another keyframe cannot exist: each is recorded once)."""
    write = _keyframes(job, number, version).completion(number, image_key)
    if write is None:
        log.info("keyframe_already_recorded", scene=number)
        return False
    try:
        written = await jobs.record_and_read_piece(
            job.job_id, metadata=write.metadata, expect=write.expect
        )
    except PieceRaced:  # recorded meanwhile by another receive of this keyframe
        log.info("keyframe_already_recorded", scene=number)
        return False
    return _keyframes(written, number, version).ready
