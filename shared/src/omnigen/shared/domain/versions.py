"""Scene regeneration and the versions of a job's video.

A completed job's render is version 1. Regenerating scene n (optionally changed) makes
version v+1 in ONE conditional write (`VersionStart`, applied by
`JobRepository.start_version`): only while the job is still the completed version v that was
read (so two regenerations at once cannot both start v+1: the loser finds v+1 running and is
refused naming it), the job is running again at v+1 with the changed script and the new
version's render plan (`domain.scenes.plan_metadata`), where every clip that does not depend
on scene n is reused (`chain`: scenes 1..n-1; otherwise every scene but n) and the audio too
unless the narration or a duration changed.

What the job records about its versions (`Job.versions`, one record per version, the first
written when version 2 starts) says per version: the scene regenerated and what changed, the
clips re-rendered, whether the audio was redone, when it was asked for, and once it ended its
status, video and poster keys, duration and completion time. The newest version's record is
completed from the job itself (`Job.version_history`): the job's `status`, `stage` and
`video_key` always describe the newest version. A version's files live under keys of their
own (clips `scenes/v2/...`, audio `audio_v2.tar`, the video and poster under a render id of
their own), so a completed version's files never change.

Stages: the start write sets `stage` and `stage_seq` afresh for the new version
(`scene_{k+1}_generating`, k = the clips reused); within a version they only move forward,
as for the first render. The write is guarded by the version number (`render_version`), so
no write of an older version can reset them again.

A regeneration while one is running is refused (`VersionRunning`, a 409 naming the running
version), as is one on a cancelled job or a job whose first render has not completed. A job
whose newest regeneration failed may be regenerated again, from its newest completed version.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from pydantic import BaseModel, ConfigDict, Field, StrictFloat, ValidationError

from omnigen.shared.domain.events import (
    AudioRequested,
    AudioRequestedData,
    Event,
    EventType,
    KeyframeRequested,
    KeyframeRequestedData,
    SceneRequested,
    SceneRequestedData,
    stable_event_id,
)
from omnigen.shared.domain.keyframes import KeyframeState, keyframe_name, keyframe_plan
from omnigen.shared.domain.scenes import Continuity, PieceState, RenderState, key, plan_metadata
from omnigen.shared.domain.script_rules import script_problems, validation_error_problems
from omnigen.shared.domain.scripts import CameraAngle, CameraMove, Script, ShotType
from omnigen.shared.domain.stages import JobStatus, scene_generating
from omnigen.shared.domain.text import ProseText

if TYPE_CHECKING:
    from omnigen.shared.domain.jobs import Job

MAX_VERSIONS: Final = 50  # the records live in the job item (400 KB): a bound on its growth


class SceneChanges(BaseModel):
    """What a regeneration changes in its scene; every field optional (none: the same scene
    rendered again, e.g. for a different take)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    generation_prompt: ProseText | None = Field(
        default=None, min_length=1, max_length=2000, description="the new visual description"
    )
    narration: ProseText | None = Field(
        default=None, max_length=1000, description="the new voice-over ('' for none)"
    )
    duration: StrictFloat | None = Field(
        default=None, gt=0, le=60, description="seconds on screen (the video's length follows)"
    )
    shot_type: ShotType | None = None
    camera_angle: CameraAngle | None = None
    camera_move: CameraMove | None = None

    def as_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_none=True)

    def fingerprint(self, scene_number: int) -> str:
        canonical = json.dumps([scene_number, self.as_dict()], sort_keys=True)
        return hashlib.sha256(canonical.encode()).hexdigest()


class VersionRefused(Exception):
    """The job cannot be regenerated now (a 409): why, and the running version if one runs."""

    def __init__(self, job_id: str, message: str, running_version: int | None = None) -> None:
        super().__init__(message)
        self.job_id = job_id
        self.running_version = running_version


class VersionRunning(VersionRefused):
    """Version `running_version` is still being made: one regeneration at a time."""

    def __init__(self, job_id: str, running_version: int) -> None:
        super().__init__(
            job_id,
            f"version {running_version} of job {job_id} is still being made; regenerate "
            "again once it has ended",
            running_version,
        )


class ChangesNotFit(Exception):
    """The changed scene breaks the script rules: (field, message) pairs, with a field of the
    regenerated scene named as the request names it (`narration`), any other as the script
    does (`script.scenes[3].generation_prompt`)."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        super().__init__("; ".join(f"{field}: {message}" for field, message in problems))
        self.problems = problems


class VersionRaced(Exception):
    """Another write changed the job between its read and a version's start: `job` is the job
    as the refused write found it (decide again on it)."""

    def __init__(self, job: Job) -> None:
        super().__init__(f"job {job.job_id} changed while its next version was started")
        self.job = job


class VersionConflict(Exception):
    """The request id was used before for another regeneration (another scene or changes)."""

    def __init__(self, request_id: str, version: int) -> None:
        super().__init__(
            f"request id {request_id!r} was already used for version {version}, with other changes"
        )
        self.version = version


@dataclass(frozen=True)
class VersionStart:
    """The one conditional write that starts version `version` from the job as read (its
    `render_version` was `version - 1` and its status `from_status`)."""

    version: int
    from_status: JobStatus
    stage: str
    scenes: list[dict[str, Any]]
    audio_spec: dict[str, Any]
    records: list[dict[str, Any]]
    metadata: dict[str, Any]
    record: dict[str, Any]  # the new version's own record (the last of `records`)

    @property
    def requested_seconds(self) -> int:
        """The seconds of video the version asks for (its re-rendered scenes', rounded up):
        what the start adds to the month's `requested_seconds` and checks the quota on."""
        return math.ceil(float(self.record.get("rendered_seconds", 0)))


def version_history(job: Job) -> list[dict[str, Any]]:
    """Every version of the job, oldest first; the newest completed from the job itself."""
    records = [dict(r) for r in job.versions] or [
        {"version": 1, "created_at": job.created_at, "scene_number": None, "changes": None}
    ]
    newest = records[-1]
    newest.update(
        status=job.status.value,
        stage=job.stage,
        video_key=job.video_key,
        thumbnail_key=job.metadata.get("thumbnail_key") if job.video_key else None,
        duration=job.metadata.get("video_duration_s") if job.video_key else None,
        completed_at=job.completed_at,
        error_message=job.error_message,
    )
    return records


def version_record(job: Job, version: int) -> dict[str, Any] | None:
    return next((r for r in version_history(job) if r.get("version") == version), None)


def existing_request(
    job: Job, request_id: str, scene_number: int, changes: SceneChanges
) -> dict[str, Any] | None:
    """The version a regeneration with this request id made already (a retry), or None;
    `VersionConflict` when that id made a different one."""
    for record in version_history(job):
        if record.get("request_id") == request_id:
            if record.get("fingerprint") != changes.fingerprint(scene_number):
                raise VersionConflict(request_id, int(record["version"]))
            return record
    return None


def plan_regeneration(
    job: Job,
    scene_number: int,
    changes: SceneChanges,
    *,
    now: float,
    request_id: str | None = None,
) -> VersionStart:
    """The write that starts the job's next version, regenerating scene `scene_number` with
    `changes`; `VersionRefused` when the job cannot be regenerated now, `ChangesNotFit` when
    the changed script breaks the rules."""
    script = job.script
    base = _base_version(job)
    if script is None or base is None:
        raise VersionRefused(job.job_id, f"job {job.job_id} has no completed video to regenerate")
    if not 1 <= scene_number <= len(script.scenes):
        raise ChangesNotFit(
            [("scene_number", f"the job has scenes 1..{len(script.scenes)}, not {scene_number}")]
        )
    state = RenderState.of(job.metadata, version=base)
    if state is None or len(job.versions) >= MAX_VERSIONS:
        why = "its render is not recorded" if state is None else f"it has {MAX_VERSIONS} versions"
        raise VersionRefused(job.job_id, f"job {job.job_id} cannot be regenerated: {why}")
    new_script = _changed_script(job, script, scene_number, changes)
    version = job.render_version + 1
    if state.continuity is Continuity.CHAIN:
        rerender = list(range(scene_number, state.total + 1))
    else:
        rerender = [scene_number]
    reused = {
        n: p.key
        for n, p in state.scenes.items()
        if n not in rerender and p.key is not None and p.state is PieceState.COMPLETE
    }
    audio_redone = changes.narration is not None or changes.duration is not None
    metadata = plan_metadata(state.total, state.continuity, version=version, reused=reused)
    if not audio_redone and state.audio.key is not None:
        metadata[key(version, "audio_state")] = PieceState.COMPLETE.value
        metadata[key(version, "audio_key")] = state.audio.key
        metadata[key(version, "pieces_missing")] -= 1
    redrawn = _keyframes_carried(job, base, version, metadata, script, scene_number, changes)
    rendered = [n for n in range(1, state.total + 1) if n not in reused]
    record: dict[str, Any] = {
        "version": version,
        "base_version": base,
        "created_at": now,
        "scene_number": scene_number,
        "changes": changes.as_dict(),
        "scenes_rendered": rendered,
        "audio_redone": audio_redone,
        # what the version costs in seconds of video (`domain.usage`): its scenes rendered anew
        "rendered_seconds": round(sum(new_script.scenes[n - 1].duration for n in rendered), 3),
        "request_id": request_id,
        "fingerprint": changes.fingerprint(scene_number),
    }
    if redrawn is not None:
        record["keyframes_redrawn"] = redrawn
    return VersionStart(
        version=version,
        from_status=job.status,
        stage=scene_generating(len(reused) + 1),
        scenes=[s.model_dump(mode="json") for s in new_script.scenes],
        audio_spec=new_script.audio_spec.model_dump(mode="json"),
        records=[*version_history(job), record],
        metadata=metadata,
        record=record,
    )


# The fields of a scene its keyframe is drawn from: changing one draws the keyframe again.
VISUAL_FIELDS: Final = ("generation_prompt", "shot_type", "camera_angle", "camera_move")


def _keyframes_carried(
    job: Job,
    base: int,
    version: int,
    metadata: dict[str, Any],
    script: Script,
    number: int,
    changes: SceneChanges,
) -> list[int] | None:
    """`keyframes` continuity: plan `version`'s keyframes into `metadata` in the base
    version's shared look, every recorded keyframe carried over except scene `number`'s when
    its visual changed (`VISUAL_FIELDS`) or it has none: that one is drawn again (before its
    clip). Returns the keyframes to draw; None for a render without keyframes."""
    total = len(script.scenes)
    keyframes = KeyframeState.of(job.metadata, range(1, total + 1), version=base)
    if keyframes is None or keyframes.look is None:
        return None
    metadata.update(keyframe_plan(keyframes.look, version=version))
    scene = script.scenes[number - 1]
    visual_changed = any(
        getattr(changes, name) is not None and getattr(changes, name) != getattr(scene, name)
        for name in VISUAL_FIELDS
    )
    for n, piece in keyframes.keyframes.items():
        if piece.key is None or (n == number and visual_changed):
            continue
        name = keyframe_name(n)
        metadata[key(version, f"{name}_state")] = PieceState.COMPLETE.value
        metadata[key(version, f"{name}_key")] = piece.key
    drawn = KeyframeState.of(metadata, [number], version=version)
    return [] if drawn is None or drawn.ready else [number]


def _base_version(job: Job) -> int | None:
    """The newest completed version a regeneration starts from; `VersionRefused` when the
    job may not be regenerated now (running, cancelled, its first render failed)."""
    if not job.is_terminal:
        raise VersionRunning(job.job_id, job.render_version)
    if job.is_cancelled:
        raise VersionRefused(job.job_id, f"job {job.job_id} was cancelled")
    if job.status is JobStatus.COMPLETED:
        return job.render_version
    completed = [
        int(r["version"])
        for r in version_history(job)
        if r.get("status") == JobStatus.COMPLETED.value
    ]
    if not completed:
        raise VersionRefused(
            job.job_id, f"job {job.job_id} failed before its first video; retry it instead"
        )
    return max(completed)


def _changed_script(job: Job, script: Script, number: int, changes: SceneChanges) -> Script:
    scenes = list(script.scenes)
    scenes[number - 1] = scenes[number - 1].model_copy(update=changes.model_dump(exclude_none=True))
    start = 0.0
    for index, scene in enumerate(scenes):
        scenes[index] = scene.model_copy(update={"start_time": round(start, 3)})
        start += scene.duration
    spoken = [s.narration.strip() for s in scenes if s.narration.strip()]
    audio = script.audio_spec
    if changes.narration is not None:
        audio = audio.model_copy(update={"voiceover_text": " ".join(spoken)})
    try:
        changed = Script.model_validate(
            {
                **script.model_dump(),
                "scenes": [s.model_dump() for s in scenes],
                "audio_spec": audio.model_dump(),
            }
        )
        problems: list[str] = []
        request = job.request
        total = round(changed.total_duration)
        if total != request.duration:
            request = request.model_copy(update={"duration": total})
            if not 10 <= total <= 60:
                problems = [f"duration: the video would last {total} s; it must be 10..60 s"]
        problems += script_problems(changed, request)
    except ValidationError as exc:
        changed, problems = script, validation_error_problems(exc, root="script")
    if problems:
        raise ChangesNotFit([_field(line, number) for line in problems])
    return changed


def _field(line: str, number: int) -> tuple[str, str]:
    field, _, message = line.partition(": ")
    own = f"scenes[{number - 1}]."
    if field.startswith(own):
        return field.removeprefix(own), message
    if field == "duration":
        return field, message
    return (f"script.{field}" if field else "script"), message


def version_requests(job: Job, version: int, trace_id: str | None) -> list[Event]:
    """The renderer's work items that (re)start render `version` of the job as it is: the
    first outstanding scene (`chain`: each finished scene requests the next) or every
    outstanding one, and the audio if it is outstanding. The ids are the ones the renderer
    gives the same items, so a re-publication is recognisable (and dropped by the piece's
    lease or its recorded state)."""
    state = RenderState.of(job.metadata, version=version)
    if state is None:
        return []
    missing = [n for n in state.outstanding() if n != 0]
    if state.continuity is Continuity.CHAIN:
        missing = missing[:1]
    events: list[Event] = [
        SceneRequested.create(
            job_id=job.job_id,
            user_id=job.user_id,
            trace_id=trace_id,
            data=SceneRequestedData(scene_number=n, version=version),
            event_id=piece_event_id(job, version, EventType.SCENE_REQUESTED, f"scene-{n}"),
        )
        for n in missing
    ]
    keyframes = KeyframeState.of(job.metadata, missing, version=version)
    if keyframes is not None and not keyframes.ready:  # the clips wait for their keyframes
        events = [
            KeyframeRequested.create(
                job_id=job.job_id,
                user_id=job.user_id,
                trace_id=trace_id,
                data=KeyframeRequestedData(scene_number=n, version=version),
                event_id=piece_event_id(
                    job, version, EventType.KEYFRAME_REQUESTED, f"keyframe-{n}"
                ),
            )
            for n in keyframes.outstanding()
        ]
    if state.audio.state is not PieceState.COMPLETE:
        events.append(
            AudioRequested.create(
                job_id=job.job_id,
                user_id=job.user_id,
                trace_id=trace_id,
                data=AudioRequestedData(version=version),
                event_id=piece_event_id(job, version, EventType.AUDIO_REQUESTED, "audio"),
            )
        )
    return events


def piece_event_id(job: Job, version: int, kind: EventType, piece: str) -> Any:
    """The stable id of a work item of render `version` (the renderer's and ingest's alike)."""
    return stable_event_id(f"{job.event_subject}#v{version}#{piece}", kind.value)


__all__ = [
    "MAX_VERSIONS",
    "ChangesNotFit",
    "SceneChanges",
    "VersionConflict",
    "VersionRaced",
    "VersionRefused",
    "VersionRunning",
    "VersionStart",
    "existing_request",
    "piece_event_id",
    "plan_regeneration",
    "version_history",
    "version_record",
    "version_requests",
]
