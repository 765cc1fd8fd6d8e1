"""script.ready -> plan -> scene clips and the audio, each its own SQS message -> "ready to
compose" -> one composed MP4 + poster in S3 -> completed.

The scene is the unit of work (issue 12, see `omnigen.shared.domain.scenes`):
- **plan** (`handle_script_ready`, renderer queue): one conditional write records the render's
  pieces (every scene and the audio) and its continuity, then one `scene.requested` per scene
  that may start (`chain`: the first missing one; `none`: all) and one `audio.requested`.
- **scene** (`handle_scene_requested`, scenes queue, any renderer task or a clip-only task):
  claims that scene's lease (one receive renders it; a duplicate is dropped; a killed worker's
  lease lapses and the redelivery renders only that scene), renders the clip (in `chain` from
  the previous clip's last frame), uploads it and records it by one conditional write; in
  `chain` it then requests the next scene.
- **audio** (`handle_audio_requested`, renderer queue): narration per scene and the music bed,
  uploaded as one archive, recorded the same way.
- The write that records the last missing piece (exactly one per render version) publishes
  `compose.requested` once (`publish_once`); **compose** (`handle_compose_requested`, renderer
  queue, the shared `run_step` skeleton) downloads the pieces, encodes once, uploads, completes
  the job and announces job.completed as before.
Every write is conditional on the job still running, so a cancelled or failed job drops the
requests still in flight. A finished piece is never rendered again.
"""

from __future__ import annotations

import asyncio
import io
import json
import tarfile
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any, Protocol

import structlog

from omnigen.renderer import own_media
from omnigen.renderer.local_pieces import LAST_FRAME, LocalPieces
from omnigen.renderer.media.clips import save_last_frame
from omnigen.renderer.media.compose import Composition, Presentation, ScenePart, compose
from omnigen.renderer.media.errors import MediaError
from omnigen.renderer.ports import (
    ClipGenerator,
    KeyframeGenerator,
    MusicSource,
    NarrationResult,
    Narrator,
    WordTiming,
)
from omnigen.renderer.presentation import (
    caption_options,
    clip_look,
    music_mood,
    presentation_for,
    upload_sidecars,
)
from omnigen.shared.domain.errors import (
    JobAlreadyFinished,
    JobNotFound,
    PieceRaced,
    ProviderFailed,
    StageRegression,
)
from omnigen.shared.domain.events import (
    AudioRequested,
    AudioRequestedData,
    ComposeRequested,
    ComposeRequestedData,
    Event,
    EventType,
    JobCompleted,
    JobCompletedData,
    JobCompletedDataV2,
    JobCompletedV2,
    KeyframeRequested,
    KeyframeRequestedData,
    SceneRequested,
    SceneRequestedData,
    ScriptReady,
    stable_event_id,
)
from omnigen.shared.domain.jobs import Job
from omnigen.shared.domain.keyframes import KeyframeState, keyframe_plan, shared_look
from omnigen.shared.domain.progress import RenderProgress
from omnigen.shared.domain.scenes import (
    AUDIO,
    Continuity,
    PieceState,
    RenderState,
    default_continuity,
    key,
    piece_step,
    plan_metadata,
)
from omnigen.shared.domain.scripts import Script
from omnigen.shared.domain.stages import JobStatus, scene_generating
from omnigen.shared.domain.usage import (
    DEFAULT_PRICE_TABLE,
    JobUsage,
    PriceTable,
    VersionUsage,
    metering,
    usage_month,
)
from omnigen.shared.domain.versions import piece_event_id, version_record
from omnigen.shared.messages import MessageContext, PermanentFailure
from omnigen.shared.ports import (
    AssetStore,
    EventPublisher,
    JobRepository,
    UploadStore,
    job_prefix,
    scene_clip_key,
    thumbnail_key,
    video_key,
)
from omnigen.shared.telemetry import catalog, metrics
from omnigen.shared.workflow import (
    Claim,
    JobStopped,
    Step,
    claim_step,
    fail_job,
    publish_all,
    publish_once,
    record_finished_piece,
    run_step,
)

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
VERSION = 1  # the render version this step plans (regeneration makes later ones)


@dataclass(frozen=True)
class RendererDeps:
    jobs: JobRepository
    publisher: EventPublisher
    assets: AssetStore
    clips: ClipGenerator
    narrator: Narrator
    music: MusicSource
    lease_s: float = 60.0  # renewed by every heartbeat while a piece or the video is made
    scale: float = 1.0  # < 1 renders smaller frames (tests); production keeps full size
    composer: Composer = compose
    work_dir: Path | None = None  # where renders' temporary directories go; None: system temp
    prices: PriceTable = DEFAULT_PRICE_TABLE  # what a completed job's usage is costed with
    uploads: UploadStore | None = None  # users' own media (scenes, start image, music track)
    keyframes: KeyframeGenerator | None = None  # keyframes continuity; None: drawn locally
    # What this process uploaded, kept locally: its later steps of a job skip the download.
    pieces: LocalPieces = field(default_factory=LocalPieces)


def audio_key(job_id: str, version: int) -> str:
    return f"{job_prefix(job_id)}audio/audio_v{version}.tar"


# -- plan ---------------------------------------------------------------------------------


async def handle_script_ready(event: ScriptReady, ctx: MessageContext, deps: RendererDeps) -> None:
    """Plan the render once (one conditional write) and request every piece that may start;
    a redelivery, a duplicate or a retried job re-requests what is still missing."""
    if event.job_id is None:
        raise PermanentFailure("script.ready names no job")
    try:
        job = await deps.jobs.get_job(event.job_id)
    except JobNotFound:
        log.info("job_stopped", reason="deleted")
        return
    if job.is_terminal:
        log.info("job_stopped", reason=job.error_message or job.status.value)
        return
    if job.in_review:  # only its owner's approval (which sends script.ready again) renders it
        log.warning("script_ready_before_approval_dropped")
        return
    script = job.script
    if script is None:
        raise PermanentFailure(f"job {job.job_id} has no script to render")
    try:
        job, state = await _planned(deps, job, script)
    except JobAlreadyFinished as ended:
        log.info("job_stopped", reason=ended.error_message or ended.status)
        return
    await _request_outstanding(deps, job, state, event.trace_id)


async def _planned(deps: RendererDeps, job: Job, script: Script) -> tuple[Job, RenderState]:
    """The job's render plan: the recorded one, else the one this call records."""
    state = RenderState.of(job.metadata, version=VERSION)
    if state is not None:
        return job, state
    continuity = job.options.continuity or default_continuity(
        getattr(deps.clips, "takes_start_image", True),
        getattr(deps.clips, "prefers_keyframes", False),
    )
    reused = await _reusable_clips(deps, job)  # scenes an earlier renderer recorded
    plan = plan_metadata(len(script.scenes), continuity, version=VERSION, reused=reused)
    if continuity is Continuity.KEYFRAMES:
        look = shared_look(job.job_id, script, job.options.style)
        plan.update(keyframe_plan(look, version=VERSION))
    expect = {key(VERSION, "pieces_missing"): None}
    try:
        try:
            await deps.jobs.record_piece(
                job.job_id, stage=scene_generating(1), metadata=plan, expect=expect
            )
        except StageRegression:  # a retried job further along keeps its stage
            await deps.jobs.record_piece(job.job_id, stage=None, metadata=plan, expect=expect)
    except PieceRaced as raced:  # planned meanwhile by a duplicate: that plan holds
        job = raced.job
    else:
        job = job.model_copy(update={"metadata": {**job.metadata, **plan}})
    state = RenderState.of(job.metadata, version=VERSION)
    assert state is not None
    log.info("render_planned", scenes=state.total, continuity=state.continuity.value)
    return job, state


async def _reusable_clips(deps: RendererDeps, job: Job) -> dict[int, str]:
    recorded = RenderProgress.of(job.metadata)
    return {
        n: clip for n, clip in recorded.scene_clip_keys.items() if await deps.assets.exists(clip)
    }


async def _request_outstanding(
    deps: RendererDeps, job: Job, state: RenderState, trace_id: str
) -> None:
    if state.ready:
        await _ready_to_compose(deps, job, trace_id)
        return
    missing = [n for n in state.outstanding() if n != AUDIO]
    if state.continuity is Continuity.CHAIN:
        missing = missing[:1]  # each finished scene requests the next
    requests: list[Event] = [_scene_request(job, number, trace_id) for number in missing]
    keyframes = KeyframeState.of(job.metadata, missing, version=VERSION)
    if keyframes is not None and not keyframes.ready:  # clips wait for every keyframe
        requests = [_keyframe_request(job, n, trace_id) for n in keyframes.outstanding()]
    if state.audio.state is not PieceState.COMPLETE:
        requests.append(
            AudioRequested.create(
                job_id=job.job_id,
                user_id=job.user_id,
                trace_id=trace_id,
                data=AudioRequestedData(version=VERSION),
                event_id=piece_event_id(job, VERSION, EventType.AUDIO_REQUESTED, "audio"),
            )
        )
    await publish_all(deps.publisher, requests)  # one SNS call for up to ten pieces


def _scene_request(job: Job, number: int, trace_id: str, version: int = VERSION) -> SceneRequested:
    return SceneRequested.create(
        job_id=job.job_id,
        user_id=job.user_id,
        trace_id=trace_id,
        data=SceneRequestedData(scene_number=number, version=version),
        event_id=piece_event_id(job, version, EventType.SCENE_REQUESTED, f"scene-{number}"),
    )


def _keyframe_request(job: Job, number: int, trace_id: str) -> KeyframeRequested:
    return KeyframeRequested.create(
        job_id=job.job_id,
        user_id=job.user_id,
        trace_id=trace_id,
        data=KeyframeRequestedData(scene_number=number, version=VERSION),
        event_id=piece_event_id(job, VERSION, EventType.KEYFRAME_REQUESTED, f"keyframe-{number}"),
    )


async def request_scenes(
    deps: RendererDeps, job: Job, trace_id: str, version: int = VERSION
) -> None:
    """Every keyframe of render `version` is recorded: request the clip of every scene not
    finished yet (a repeat is recognisable by its stable event id, and dropped by the scene's
    lease)."""
    state = RenderState.of(job.metadata, version=version)
    if state is None:
        return
    requests = [
        _scene_request(job, n, trace_id, version) for n in state.outstanding() if n != AUDIO
    ]
    await publish_all(deps.publisher, requests)


async def _ready_to_compose(
    deps: RendererDeps, job: Job, trace_id: str, version: int = VERSION
) -> None:
    """Announce "ready to compose" once per job attempt and render version."""
    event = _compose_request(job, trace_id, version)
    await publish_once(deps.jobs, deps.publisher, job, event, render_version=version)


def _compose_request(job: Job, trace_id: str, version: int) -> ComposeRequested:
    return ComposeRequested.create(
        job_id=job.job_id,
        user_id=job.user_id,
        trace_id=trace_id,
        data=ComposeRequestedData(version=version),
        event_id=piece_event_id(job, version, EventType.COMPOSE_REQUESTED, "compose"),
    )


# -- pieces -------------------------------------------------------------------------------


async def handle_scene_requested(
    event: SceneRequested, ctx: MessageContext, deps: RendererDeps
) -> None:
    number = event.data.scene_number
    render = partial(_render_scene, deps, number)
    await _piece(deps, event, ctx, number, render, event.data.version)


async def handle_audio_requested(
    event: AudioRequested, ctx: MessageContext, deps: RendererDeps
) -> None:
    await _piece(deps, event, ctx, AUDIO, partial(_render_audio_piece, deps), event.data.version)


class _Render(Protocol):
    async def __call__(self, job: Job, state: RenderState, work: Path) -> str: ...


async def _piece(
    deps: RendererDeps,
    event: Event,
    ctx: MessageContext,
    number: int,
    render: _Render,
    version: int = VERSION,
) -> None:
    """One piece of render `version`: claim its lease (recording the attempt), render it
    unless it is recorded already, record it by one conditional write, then request what
    follows it. A piece of a version older than the job's newest is dropped."""
    if event.job_id is None:
        raise PermanentFailure(f"{event.event_type.value} names no job")
    label = "audio" if number == AUDIO else f"scene {number}"
    try:
        async with claim_step(
            deps.jobs,
            event.job_id,
            piece_step(number, version),
            ctx,
            deps.lease_s,
            stage=None,
            finished=lambda job: _piece_done(job, number, version),
            metadata={key(version, f"{_name(number)}_attempts"): ctx.receive_count},
        ) as claim:
            job = claim.job
            if job is None:
                return  # a duplicate: another receive holds or did this piece
            if job.render_version != version:
                log.info("job_stopped", reason=f"version {version} was superseded")
                return
            state = RenderState.of(job.metadata, version=version)
            if state is None:
                raise PermanentFailure(f"job {job.job_id} requested {label} before its plan")
            ready, made_ready = state.ready, False
            mine = _ready_marker(job, ctx)
            if claim.kind is Claim.WORK and state.piece(number).state is not PieceState.COMPLETE:
                rendered = await _render_piece(
                    deps, job, state, render, number, event, last_try=ctx.is_last_attempt
                )
                if rendered is None:
                    return  # failed the job for good
                piece_key, used = rendered
                ready = await record_finished_piece(
                    deps.jobs,
                    job,
                    number,
                    piece_key,
                    version=version,
                    extra={
                        key(version, f"{_name(number)}_usage"): used.model_dump(mode="json"),
                        key(version, READY_MARKER): mine,
                    },
                )
                made_ready = ready
                log.info("piece_recorded", piece=label, ready=ready)
    except JobStopped as stopped:
        log.info("job_stopped", reason=str(stopped))
        return
    except JobAlreadyFinished as ended:
        log.info("job_stopped", reason=ended.error_message or ended.status)
        return
    if state.continuity is Continuity.CHAIN and number not in (AUDIO, state.total):
        nxt = state.scenes.get(number + 1)
        if nxt is not None and nxt.state is not PieceState.COMPLETE:
            await deps.publisher.publish(_scene_request(job, number + 1, event.trace_id, version))
    if ready:
        recorded_by = str(job.metadata.get(key(version, READY_MARKER), ""))
        # The redelivery of the message that recorded the last piece, before the compose step
        # claimed the announcement (which then certainly arrived), announces it again.
        lost = ctx.receive_count > 1 and job.lease_message(key(version, "compose")) is None
        if made_ready or (recorded_by == mine and lost):
            await deps.publisher.publish(_compose_request(job, event.trace_id, version))
        elif not recorded_by.startswith(f"{job.attempt}:"):  # recorded before the marker
            await _ready_to_compose(deps, job, event.trace_id, version)


# Who recorded a render's latest piece, "<attempt>:<message id>", on the piece's own write:
# once every piece is recorded, the message that recorded the last one alone (and its
# redelivery, should the publish after the write be lost, until the compose step claims it)
# announces "ready to compose", so the announcement needs no write of its own.
READY_MARKER = "last_piece_by"


def _ready_marker(job: Job, ctx: MessageContext) -> str:
    return f"{job.attempt}:{ctx.message_id}"


def _name(number: int) -> str:
    return "audio" if number == AUDIO else f"scene_{number}"


def _piece_done(job: Job, number: int, version: int = VERSION) -> bool:
    state = RenderState.of(job.metadata, version=version)
    return state is not None and state.piece(number).state is PieceState.COMPLETE


async def _render_piece(
    deps: RendererDeps,
    job: Job,
    state: RenderState,
    render: _Render,
    number: int,
    event: Event,
    *,
    last_try: bool = False,
) -> tuple[str, JobUsage] | None:
    """The piece's S3 key once rendered and uploaded, with the provider calls it took (the
    compose adds every piece's to the job's usage); None when a permanent error (or a
    transient one on the message's last receive) failed the job, with the piece named. A
    transient error before that is raised for the consumer to retry this piece alone."""
    label = "audio" if number == AUDIO else f"scene {number}"
    with tempfile.TemporaryDirectory(
        prefix=f"omnigen-render-{job.job_id[:8]}-", dir=deps.work_dir
    ) as tmp:
        try:
            with metering() as meter:
                piece_key = await render(job, state, Path(tmp))
            return piece_key, meter.usage
        except (ProviderFailed, MediaError) as exc:
            if exc.transient and not last_try:
                raise
            reason = f"{label}: {exc}"
    try:
        await deps.jobs.record_piece(
            job.job_id, stage=None, metadata=state.failure(number), expect={}
        )
    except JobAlreadyFinished:
        return None
    await fail_job(
        deps.jobs,
        deps.publisher,
        job.job_id,
        reason,
        trace_id=event.trace_id,
        reason_class=catalog.REASON_RETRIES if last_try else catalog.REASON_PROVIDER,
    )
    return None


async def _render_scene(
    deps: RendererDeps, number: int, job: Job, state: RenderState, work: Path
) -> str:
    async with metrics.stage("render.scene", scene=number):
        return await _make_scene(deps, number, job, state, work)


async def _make_scene(
    deps: RendererDeps, number: int, job: Job, state: RenderState, work: Path
) -> str:
    script = job.script
    if script is None:
        raise PermanentFailure(f"job {job.job_id} has no script to render")
    scene = script.scenes[number - 1]
    if (media := own_media.scene_media(job, number)) is not None:  # no clip provider needed
        clip = await own_media.scene_from_upload(
            deps.uploads,
            deps.assets,
            job,
            scene,
            media,
            size=frame_size(job, deps.scale),
            fps=FPS,
            work=work,
        )
        clip_key = scene_clip_key(job.job_id, number, state.version)
        await deps.assets.put_file(clip_key, clip, "video/mp4")
        await deps.pieces.keep(clip_key, clip)
        log.info("scene_rendered", scene=number, of=state.total, source="upload")
        return clip_key
    start_image: Path | None = None
    if number == 1 and job.options.start_image_key:  # the user's own picture wins
        start_image = await _start_image(deps, job, work)
    elif state.continuity is Continuity.KEYFRAMES:
        start_image = await _keyframe_image(deps, job, number, work, state.version)
    elif state.continuity is Continuity.CHAIN and number > 1:
        start_image = await _previous_last_frame(deps, state, number, work)
    reference = await own_media.style_reference(deps.uploads, deps.assets, job, work)
    async with metrics.provider_call("clips", type(deps.clips).__name__, scene=number):
        result = await deps.clips.generate(
            scene,
            size=frame_size(job, deps.scale),
            fps=FPS,
            start_image=start_image,
            out_dir=work,
            look=replace(clip_look(job, script), style_reference=reference),
        )
    clip_key = scene_clip_key(job.job_id, number, state.version)
    await deps.assets.put_file(clip_key, result.path, "video/mp4")
    await deps.pieces.keep(clip_key, result.path)
    if await asyncio.to_thread(result.last_frame_path.is_file):
        await deps.pieces.keep(clip_key + LAST_FRAME, result.last_frame_path)
    log.info("scene_rendered", scene=number, of=state.total)
    return clip_key


async def _previous_last_frame(
    deps: RendererDeps, state: RenderState, number: int, work: Path
) -> Path:
    """`chain`: the last frame of scene `number - 1`'s clip, the one this process kept when
    it rendered that clip, else taken from the clip downloaded."""
    previous = state.scenes[number - 1]
    if previous.key is None:
        raise PermanentFailure(f"scene {number} was requested before scene {number - 1}")
    frame = work / "previous_last.jpg"
    if await deps.pieces.copy_to(previous.key + LAST_FRAME, frame):
        return frame
    clip = work / "previous.mp4"
    await deps.pieces.fetch(deps.assets, previous.key, clip)
    return await save_last_frame(clip, frame, what=f"scene {number - 1} clip")


async def _keyframe_image(
    deps: RendererDeps, job: Job, number: int, work: Path, version: int = VERSION
) -> Path:
    """Scene `number`'s keyframe as render `version` records it (a regenerated version's is
    version 1's unless the scene's visual changed), downloaded: the clip starts from it."""
    keyframes = KeyframeState.of(job.metadata, [number], version=version)
    recorded = None if keyframes is None else keyframes.keyframes[number].key
    if recorded is None:
        raise PermanentFailure(f"scene {number} was requested before its keyframe")
    path = work / f"keyframe_{number:03d}.jpg"
    await deps.pieces.fetch(deps.assets, recorded, path)
    return path


async def _render_audio_piece(deps: RendererDeps, job: Job, state: RenderState, work: Path) -> str:
    """Narration per scene and the music bed, uploaded as one archive with a manifest."""
    script = job.script
    if script is None:
        raise PermanentFailure(f"job {job.job_id} has no script to render")
    narrations, music, progress = await _render_audio(deps, job, script, work)
    archive = work / "audio.tar"
    manifest: dict[str, Any] = {
        "narrations": [],
        "music": None if music is None else music.name,
        **progress.metadata(),
    }
    with tarfile.open(archive, "w") as tar:
        if music is not None:
            tar.add(music, arcname=music.name)
        for narration in narrations:
            if narration is None:
                manifest["narrations"].append(None)
                continue
            tar.add(narration.path, arcname=narration.path.name)
            manifest["narrations"].append(
                {
                    "file": narration.path.name,
                    "duration_s": narration.duration_s,
                    "text": narration.text,
                    "words": [[w.text, w.start_s, w.end_s] for w in narration.words],
                }
            )
        data = json.dumps(manifest).encode()
        info = tarfile.TarInfo("manifest.json")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    piece_key = audio_key(job.job_id, state.version)
    await deps.assets.put_file(piece_key, archive, "application/x-tar")
    await deps.pieces.keep(piece_key, archive)
    log.info("audio_rendered", narrations=sum(n is not None for n in narrations))
    return piece_key


def _unpack_audio(
    archive: Path, into: Path
) -> tuple[list[NarrationResult | None], Path | None, dict[str, Any]]:
    with tarfile.open(archive) as tar:
        tar.extractall(into, filter="data")
    manifest = json.loads((into / "manifest.json").read_text())
    narrations: list[NarrationResult | None] = [
        None
        if item is None
        else NarrationResult(
            path=into / item["file"],
            duration_s=float(item["duration_s"]),
            text=item["text"],
            words=tuple(WordTiming(t, float(a), float(b)) for t, a, b in item["words"]),
        )
        for item in manifest["narrations"]
    ]
    music = None if manifest["music"] is None else into / manifest["music"]
    return narrations, music, manifest


# -- compose ------------------------------------------------------------------------------


async def handle_compose_requested(
    event: ComposeRequested, ctx: MessageContext, deps: RendererDeps
) -> None:
    version = event.data.version
    step = Step(
        # The stage is composing already (the write of the last piece moved it); a claim
        # that moved it would also move a newer version's stage when an older version's
        # message comes back late (`_compose` drops that one).
        name=key(version, "compose"),
        first_stage=None,
        lease_s=deps.lease_s,
        finished=lambda job: job.status is JobStatus.COMPLETED and job.render_version == version,
        recorded=_recorded,
        work=partial(_compose, deps),
        announce=_job_completed,
        fails_job=(ProviderFailed, MediaError),
    )
    await run_step(step, event, ctx, deps.jobs, deps.publisher)


def _recorded(job: Job) -> JobCompletedData | None:
    """What a completed job's announcement says, read back from the job."""
    if job.status is not JobStatus.COMPLETED or job.video_key is None:
        return None
    progress = RenderProgress.of(job.metadata)
    return _completed_data(
        job.render_version,
        video_key=job.video_key,
        thumbnail_key=progress.thumbnail_key,
        duration=progress.video_duration_s or float(job.duration),
    )


def _completed_data(
    version: int, *, video_key: str, thumbnail_key: str | None, duration: float
) -> JobCompletedData:
    """What job.completed says: v1 of the event for a job's first version, v2 (which names
    the version) for a regenerated one (`domain.versions`)."""
    if version == 1:
        return JobCompletedData(video_key=video_key, thumbnail_key=thumbnail_key, duration=duration)
    return JobCompletedDataV2(
        video_key=video_key, thumbnail_key=thumbnail_key, duration=duration, version=version
    )


async def _compose(
    deps: RendererDeps, job: Job, _event: ComposeRequested, ctx: MessageContext
) -> JobCompletedData:
    """Every recorded piece downloaded, one composition, the upload and the completion write;
    returns what job.completed says."""
    version = _event.data.version
    if job.render_version != version:  # a late message of a version since superseded
        return _superseded(job, version)
    script = job.script
    state = RenderState.of(job.metadata, version=version)
    if script is None or state is None or not state.ready:
        raise PermanentFailure(f"job {job.job_id} is not ready to compose")
    size = frame_size(job, deps.scale)
    render = ctx.receive_token
    with tempfile.TemporaryDirectory(
        prefix=f"omnigen-render-{job.job_id[:8]}-", dir=deps.work_dir
    ) as tmp:
        work = Path(tmp)
        clips = [work / f"scene_{scene.scene_number:03d}.mp4" for scene in script.scenes]
        keys = [state.scenes[scene.scene_number].key for scene in script.scenes]
        assert state.audio.key is not None and None not in keys  # ready: every key recorded
        # Every piece at once (this process's own copies, else S3).
        pairs = zip(keys, clips, strict=True)
        await asyncio.gather(
            *(deps.pieces.fetch(deps.assets, str(k), clip) for k, clip in pairs),
            deps.pieces.fetch(deps.assets, state.audio.key, work / "audio.tar"),
        )
        narrations, music, manifest = await asyncio.to_thread(
            _unpack_audio, work / "audio.tar", work / "audio"
        )
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
        narration_s=manifest.get("narration_s"),
        music_mood=manifest.get("music_mood"),
    )
    metadata = {**done.metadata(), **sidecars.metadata()}
    # The conditional write refuses a job cancelled while it was being composed; it counts
    # what the job (or the regenerated version) used in its month, once.
    if version == 1:
        usage = _used(job, state, version).costed(deps.prices, video_seconds=result.duration_s)
        await deps.jobs.mark_job_complete(job.job_id, video, metadata, usage=usage)
    else:
        used = _version_usage(job, state, version, deps.prices)
        metadata[key(version, "usage")] = used.usage.model_dump(mode="json", exclude_none=True)
        await deps.jobs.mark_job_complete(job.job_id, video, metadata, version_usage=used)
    await metrics.count(catalog.JOBS_COMPLETED)
    log.info("video_completed", seconds=done.video_duration_s, bytes=size_bytes, version=version)
    return _completed_data(
        version, video_key=video, thumbnail_key=poster, duration=done.video_duration_s or 0.0
    )


def _used(job: Job, state: RenderState, version: int, start: JobUsage | None = None) -> JobUsage:
    """The provider calls of `start` (the job's first version: its script's, as recorded) and
    of every piece render `version` made, as each piece's record says."""
    used = (job.usage or JobUsage()) if start is None else start
    for number in [*state.scenes, AUDIO]:
        piece = job.metadata.get(key(version, f"{_name(number)}_usage"))
        if isinstance(piece, dict):
            used = used.plus(JobUsage.model_validate(piece))
    return used


def _version_usage(job: Job, state: RenderState, version: int, prices: PriceTable) -> VersionUsage:
    """What a regenerated version used: only its own pieces' calls (reused clips and audio
    cost nothing again), its seconds of video those of the scenes it rendered anew, counted
    in the month it was asked for (`domain.usage`)."""
    record = version_record(job, version) or {}
    asked_at = float(record.get("created_at") or job.created_at)
    seconds = float(record.get("rendered_seconds") or 0.0)
    usage = _used(job, state, version, JobUsage()).costed(prices, video_seconds=seconds)
    return VersionUsage(month=usage_month(asked_at), usage=usage)


def _superseded(job: Job, version: int) -> JobCompletedData:
    """A compose message of an older version, back after a newer one started: nothing is
    composed; a version that completed is announced again from its record (its job.completed
    may have been lost with the message's first receive; the same id, so a repeat is known)."""
    record = version_record(job, version)
    if record is None or record.get("status") != JobStatus.COMPLETED.value:
        raise JobStopped(job.job_id, f"version {version} was superseded")
    return _completed_data(
        version,
        video_key=str(record["video_key"]),
        thumbnail_key=record.get("thumbnail_key"),
        duration=float(record.get("duration") or job.duration),
    )


# -- audio --------------------------------------------------------------------------------


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
    if mood is not None and job.options.music_track is not None:
        music = await own_media.music_track(
            deps.uploads, deps.assets, job, script.total_duration, work
        )
    elif mood is not None:
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
    if job.options.start_image is not None:
        return await own_media.start_image(deps.uploads, deps.assets, job, work)
    key = job.options.start_image_key
    if not key:
        return None
    path = work / "start_image"
    try:
        await deps.assets.get_file(key, path)
    except Exception as exc:
        raise PermanentFailure(f"start image {key!r} could not be read: {exc}") from exc
    return path


def _job_completed(
    job: Job, outcome: JobCompletedData, event: ComposeRequested
) -> JobCompleted | JobCompletedV2:
    """job.completed, once per version: the first version keeps its id and shape (v1)."""
    if isinstance(outcome, JobCompletedDataV2):
        return JobCompletedV2.create(
            job_id=job.job_id,
            user_id=job.user_id,
            trace_id=event.trace_id,
            data=outcome,
            event_id=stable_event_id(
                f"{job.event_subject}#v{outcome.version}", EventType.JOB_COMPLETED.value
            ),
        )
    return JobCompleted.create(
        job_id=job.job_id,
        user_id=job.user_id,
        trace_id=event.trace_id,
        data=outcome,
        event_id=stable_event_id(job.event_subject, EventType.JOB_COMPLETED.value),
    )


def frame_size(job: Job, scale: float) -> tuple[int, int]:
    width, height = job.aspect_ratio.resolution
    if scale >= 1:
        return width, height
    return (int(width * scale) // 2 * 2, int(height * scale) // 2 * 2)
