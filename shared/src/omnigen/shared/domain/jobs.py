"""A video job: what was asked for, where it is in the pipeline, and what it produced.

`Job` mirrors the jobs-table contract of the seed (every attribute), plus the request options
and the bookkeeping correctness needs (`stage_seq`, `version`, `request_hash`, `lease`,
`outbox`).
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    field_validator,
    model_validator,
)

from omnigen.shared.domain.creative import (
    CREATIVE_ENUMS,
    CREATIVE_TEXT_LIMITS,
    Goal,
    Platform,
    Style,
    Tempo,
    Tone,
    legacy_value,
)
from omnigen.shared.domain.errors import (
    IdempotencyConflict,
    JobAlreadyFinished,
    JobNotRetryable,
    LeaseHeld,
    StageRegression,
)
from omnigen.shared.domain.events import EventType
from omnigen.shared.domain.keyframes import KeyframeState
from omnigen.shared.domain.media import CaptionOptions, LanguageTag, MusicOptions, SpeechRate
from omnigen.shared.domain.scenes import Continuity, RenderState
from omnigen.shared.domain.scripts import AudioSpec, Scene, Script, ScriptDraft, ScriptMetadata
from omnigen.shared.domain.stages import (
    AWAITING_REVIEW,
    QUEUED,
    SCRIPT_APPROVED,
    JobStatus,
    progress_percent,
    stage_seq,
    status_for_stage,
)
from omnigen.shared.domain.text import LineText, ProseText, StrictInt
from omnigen.shared.domain.uploads import UploadRef
from omnigen.shared.domain.usage import JobUsage

TTL_SECONDS: Final = 7 * 24 * 3600
CANCELLED_REASON: Final = "cancelled"
# The transactional outbox: a job is created owing this announcement (its `outbox` marker, a
# sparse attribute indexed with `created_at`), and the write that records the publication, or
# the job's terminal write, clears it. A sweeper announces what is owed for too long. A failed
# job re-opened as its next attempt owes that attempt's announcement (`Job.announcement_type`:
# the event that resumes it) under the same marker value, so one index query finds both.
OUTBOX_EVENT: Final = EventType.JOB_ACCEPTED.value
# The lease of the step "publish the job's announcement": its creator (or the request that
# re-opened it) holds it from that write, so a sweeper does not announce it at the same time.
ANNOUNCE_STEP: Final = "publish_accepted"
# A re-opened attempt is announced by either event: script.ready is the announcement of an
# attempt that resumes at the renderer, and follows the scripter's receipt of job.accepted.
_ANNOUNCING: Final = (EventType.JOB_ACCEPTED.value, EventType.SCRIPT_READY.value)
# A regenerated version (domain.versions) is announced by its work items (the renderer's scene,
# keyframe and audio requests); their publication is recorded as `version#<v>` in `published`.
VERSION_ANNOUNCEMENT: Final = "version"


def version_announcement_key(version: int) -> str:
    """Where the publication of render version `version`'s work items is recorded."""
    return f"{VERSION_ANNOUNCEMENT}#{version}"


def clears_outbox(published: str) -> bool:
    """True when recording the publication of `published` (a `Job.announcement_key`) settles
    a job's outbox marker: the first attempt's job.accepted, or a later attempt's job.accepted
    or script.ready (`job.accepted#2`, `script.ready#3`), or the script.ready an approved
    review owes (`script.ready#1`), or a regenerated version's work items (`version#2`)."""
    kind, _, attempt = published.partition("#")
    if kind == VERSION_ANNOUNCEMENT:
        return attempt != ""
    return published == OUTBOX_EVENT or (attempt != "" and kind in _ANNOUNCING)


class AspectRatio(StrEnum):
    LANDSCAPE = "16:9"
    PORTRAIT = "9:16"
    SQUARE = "1:1"

    @property
    def resolution(self) -> tuple[int, int]:
        return {"16:9": (1920, 1080), "9:16": (1080, 1920), "1:1": (1080, 1080)}[self.value]


class JobOptions(BaseModel):
    """Creative options a client may set; all optional. `style`, `tone`, `tempo`, `platform`
    and `goal` are closed vocabularies (omnigen.shared.domain.creative); the free text refuses
    control characters (except LF and TAB in prose)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    title: LineText | None = Field(
        default=None, min_length=1, max_length=100, description="the video's title"
    )
    style: Style | None = Field(default=None, description="visual style")
    tone: Tone | None = None
    tempo: Tempo | None = Field(default=None, description="pace of cuts and narration")
    platform: Platform | None = Field(
        default=None, description="where it is published: safe zones and loudness target"
    )
    audience: ProseText | None = Field(default=None, max_length=200)
    goal: Goal | None = None
    call_to_action: ProseText | None = Field(default=None, max_length=100)
    voice: LineText | None = Field(default=None, max_length=50, description="narration voice")
    start_image_key: LineText | None = Field(
        default=None, max_length=500, description="S3 key of an image the first scene starts on"
    )
    # Uploads of the user's own (domain.uploads), by id: each must be ready and theirs.
    start_image: UploadRef | None = Field(
        default=None, description="an uploaded picture the first scene starts on"
    )
    style_reference_image: UploadRef | None = Field(
        default=None, description="an uploaded picture whose look guides every generated scene"
    )
    music_track: UploadRef | None = Field(
        default=None, description="an uploaded track as the music bed (looped or trimmed)"
    )
    # Language, narration, captions and music (omnigen.shared.domain.media); None: the default.
    language: LanguageTag | None = Field(default=None, description="BCP 47, e.g. en, pt-BR, ja")
    speech_rate: SpeechRate | None = None
    captions: CaptionOptions | None = None
    music: MusicOptions | None = None
    continuity: Continuity | None = Field(
        default=None,
        description="chain (scenes in order, each from the previous one's last frame) | "
        "keyframes (one keyframe image per scene from a shared look, in parallel, then every "
        "clip from its keyframe, in parallel) | none (all in parallel); default: keyframes for "
        "a hosted image-to-video provider, chain for the local clips",
    )


# Options newer than the first stored jobs (see `JobRequest.fingerprint`).
UNHASHED_WHEN_UNSET: Final = (
    "language",
    "speech_rate",
    "captions",
    "music",
    "continuity",
    "title",
    "start_image",
    "style_reference_image",
    "music_track",
)


def stored_options(value: Any) -> Any:
    """A stored job's options as today's `JobOptions` reads them: jobs stored before the
    creative options were closed may hold free text ("moody noir"), a longer call to action,
    or a value in another case; those read as the vocabulary's value, or as unset. Requests
    and events are never read this way: they are validated strictly."""
    if not isinstance(value, dict):
        return value
    tolerant = dict(value)
    for name, vocabulary in CREATIVE_ENUMS.items():
        if name in tolerant:
            tolerant[name] = legacy_value(vocabulary, tolerant[name])
    for name, limit in CREATIVE_TEXT_LIMITS.items():
        text = tolerant.get(name)
        if isinstance(text, str) and len(text) > limit:
            tolerant[name] = None
    return tolerant


class JobRequest(BaseModel):
    """What a client or an upstream system asks for: strict types (a JSON string for text, a
    JSON integer for `duration`; "30", 30.0 and true are refused)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    prompt: ProseText | None = Field(
        default=None, min_length=10, max_length=2000, description="needed unless `script`"
    )
    duration: StrictInt = Field(
        ge=10, le=60, description="seconds; with a script, its scenes' total if left out"
    )
    aspect_ratio: AspectRatio = AspectRatio.LANDSCAPE
    options: JobOptions = Field(default_factory=JobOptions)
    callback_url: LineText | None = Field(
        default=None,
        max_length=2000,
        description="an https URL that gets this job's outcome as a signed webhook",
    )

    script: ScriptDraft | None = Field(
        default=None, description="the user's own script: no model writes one"
    )
    review: StrictBool = Field(
        default=False,
        description="stop once the script is written (stage awaiting_review) until its owner "
        "approves it: POST /v1/jobs/{id}/render",
    )

    @model_validator(mode="before")
    @classmethod
    def _duration_from_script(cls, data: Any) -> Any:
        if (
            isinstance(data, dict)
            and "duration" not in data
            and isinstance(data.get("script"), dict)
        ):
            scenes = data["script"].get("scenes")
            if (
                isinstance(scenes, list)
                and scenes
                and all(
                    isinstance(s, dict)
                    and isinstance(s.get("duration"), int | float)
                    and not isinstance(s.get("duration"), bool)
                    for s in scenes
                )
            ):
                data = {**data, "duration": round(sum(s["duration"] for s in scenes))}
        return data

    @model_validator(mode="after")
    def _prompt_or_script(self) -> JobRequest:
        if self.prompt is None and self.script is None:
            raise ValueError("give a prompt, or a script of your own")
        return self

    def upload_references(self) -> dict[str, str]:
        """Each upload the request names, by its path in the request (as a 422 names it)."""
        refs: dict[str, str] = {}
        for name in ("start_image", "style_reference_image", "music_track"):
            if (value := getattr(self.options, name)) is not None:
                refs[f"options.{name}"] = value
        for index, scene in enumerate(self.script.scenes if self.script else []):
            if scene.media is not None:
                refs[f"script.scenes[{index}].media"] = scene.media
        return refs

    @property
    def subject(self) -> str:
        """What the job is about, in the user's words: the prompt, else the script's title."""
        if self.prompt is not None:
            return self.prompt
        assert self.script is not None
        return self.script.title

    def fingerprint(self) -> str:
        """Stable hash of the payload, used to tell a retry from a conflicting request.
        Options added later are left out while unset, so older jobs keep their hash."""
        payload = self.model_dump(mode="json")
        for name in UNHASHED_WHEN_UNSET:
            if payload["options"].get(name) is None:
                payload["options"].pop(name, None)
        for name in ("script", "callback_url"):  # request fields added later, likewise
            if payload.get(name) is None:
                payload.pop(name, None)
        if not payload.get("review"):
            payload.pop("review", None)
        for scene in (payload.get("script") or {}).get("scenes", []):
            if scene.get("media") is None:  # a scene field added later, likewise
                scene.pop("media", None)
        canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True)
class LeaseClaim:
    """One worker's hold on one step of a job, for `seconds`; it expires so a crash cannot
    block the step for good. `holder` names one receive of a message (a redelivery of the same
    message is another holder); `message` names the message, so that its later receives are
    known as the owner's own."""

    step: str
    holder: str
    seconds: float
    message: str | None = None

    def record(self, now: float) -> dict[str, Any]:
        """The lease as stored on the job when taken at `now`."""
        lease: dict[str, Any] = {"holder": self.holder, "until": now + self.seconds}
        if self.message is not None:
            lease["message"] = self.message
        return lease


WriteRefusal = JobAlreadyFinished | LeaseHeld | StageRegression


class Job(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    job_id: str
    user_id: str
    status: JobStatus
    stage: str
    stage_seq: int
    version: int = 1
    metadata: dict[str, Any] = Field(default_factory=dict)
    prompt: str
    duration: int
    aspect_ratio: AspectRatio
    options: JobOptions = Field(default_factory=JobOptions)
    given_script: ScriptDraft | None = None  # the user's own script, as given
    request_hash: str
    idempotency_key: str | None = None
    trace_id: str | None = None
    title: str | None = None
    scenes: list[Scene] | None = None
    audio_spec: AudioSpec | None = None
    script_metadata: ScriptMetadata | None = None
    video_key: str | None = None
    error_message: str | None = None
    created_at: float
    updated_at: float
    completed_at: float | None = None
    ttl: int
    leases: dict[str, Any] = Field(default_factory=dict)
    published: dict[str, str] = Field(default_factory=dict)
    # Counted in its user's running-jobs counter from its create until its terminal write
    # (False only for jobs stored before the counter existed: they never took a slot).
    running_slot: bool = False
    attempt: int = 1  # a retry of a failed job is its next attempt
    attempts: list[dict[str, Any]] = Field(default_factory=list)  # how earlier attempts ended
    usage: JobUsage | None = None  # what the job used and its estimated cost (when it ended)
    # The announcement the job still owes (see OUTBOX_EVENT); absent once it was published or
    # the job ended (jobs stored before the outbox existed never carry one).
    outbox: str | None = None
    callback_url: str | None = None  # where its outcome goes as a signed webhook
    review: bool = False  # asked to stop at awaiting_review until its owner approves the script

    @field_validator("options", mode="before")
    @classmethod
    def _stored_options(cls, value: Any) -> Any:
        return stored_options(value)

    # Scene regeneration (domain.versions): the newest render version (not `version`, the
    # optimistic-lock counter) and one record per version once a second one was asked for.
    render_version: int = 1
    versions: list[dict[str, Any]] = Field(default_factory=list)

    @classmethod
    def new(
        cls,
        *,
        job_id: str,
        user_id: str,
        request: JobRequest,
        idempotency_key: str | None = None,
        trace_id: str | None = None,
        now: float | None = None,
        lease: LeaseClaim | None = None,
    ) -> Job:
        """A queued job; with `lease`, its creator holds that step from the first write."""
        created = round(time.time() if now is None else now, 6)
        return cls(
            job_id=job_id,
            user_id=user_id,
            status=JobStatus.PENDING,
            stage=QUEUED,
            stage_seq=stage_seq(QUEUED),
            prompt=request.subject,
            duration=request.duration,
            aspect_ratio=request.aspect_ratio,
            options=request.options,
            given_script=request.script,
            callback_url=request.callback_url,
            review=request.review,
            request_hash=request.fingerprint(),
            idempotency_key=idempotency_key,
            trace_id=trace_id,
            created_at=created,
            updated_at=created,
            ttl=int(created) + TTL_SECONDS,
            leases={lease.step: lease.record(created)} if lease else {},
            running_slot=True,
            outbox=OUTBOX_EVENT,
        )

    @property
    def is_terminal(self) -> bool:
        return self.status.is_terminal

    def lease_holder(self, step: str, now: float) -> str | None:
        """Who holds `step`'s lease at `now`; None when it is free or has expired."""
        lease = self.leases.get(step)
        if not lease or float(lease.get("until", 0)) < now:
            return None
        return str(lease["holder"])

    def lease_free_for(self, step: str, holder: str, now: float) -> bool:
        """True when `holder` may take `step`'s lease at `now`: free, expired or already theirs."""
        return self.lease_holder(step, now) in (None, holder)

    def lease_message(self, step: str) -> str | None:
        """The message whose receive holds or last held `step` (leases from before receives
        were told apart name the message as their holder)."""
        lease = self.leases.get(step) or {}
        owner = lease.get("message", lease.get("holder"))
        return None if owner is None else str(owner)

    def lease_released_by(self, step: str, holder: str) -> bool:
        """True when `holder` may release `step`'s lease: it is recorded as theirs, even expired."""
        return bool(self.leases.get(step, {}).get("holder") == holder)

    def refusal(
        self, *, stage: str | None = None, claim: LeaseClaim | None = None, now: float = 0.0
    ) -> WriteRefusal | None:
        """Why a progress write (to `stage`, taking `claim` at `now`) may not apply, else None:
        a finished job is final, a live lease of another holder blocks, stages never go back."""
        if self.is_terminal:
            return JobAlreadyFinished(self.job_id, self.status.value, self.error_message, job=self)
        if claim is not None and not self.lease_free_for(claim.step, claim.holder, now):
            lease = self.leases[claim.step]
            return LeaseHeld(
                self.job_id,
                claim.step,
                str(lease["holder"]),
                float(lease["until"]),
                message=self.lease_message(claim.step),
            )
        if stage is not None and self.stage_seq > stage_seq(stage):
            return StageRegression(self.job_id, stage, self.stage, job=self)
        return None

    def creation_conflict(
        self, user_id: str, request: JobRequest, idempotency_key: str
    ) -> IdempotencyConflict | None:
        """None when a create by `user_id` of `request` under this job's key is a retry of the
        one that made it (same user, same payload), else the conflict."""
        if self.user_id == user_id and self.request_hash == request.fingerprint():
            return None
        return IdempotencyConflict(idempotency_key, self.job_id)

    @property
    def holds_running_slot(self) -> bool:
        """True while the job counts against its user's running-jobs cap: its terminal write
        (complete, failed, cancelled) releases the slot, once."""
        return self.running_slot and not self.is_terminal

    def outbox_after(self, published: str | None = None) -> str | None:
        """The marker this job keeps after a write that left it as it is now and (with
        `published`) recorded that event's publication: a finished job owes nothing, and
        publishing the owed event settles it."""
        if self.is_terminal or (published is not None and clears_outbox(published)):
            return None
        return self.outbox

    def owes_announcement(self, created_before: float) -> bool:
        """True when the job still owes its announcement and was created before the time."""
        return self.outbox is not None and self.created_at < created_before

    @property
    def event_subject(self) -> str:
        """What this attempt's stable event ids are made from: the job id for the first
        attempt (so ids stay what they always were), the job and attempt for a retry."""
        return self.job_id if self.attempt == 1 else f"{self.job_id}#attempt-{self.attempt}"

    def published_key(self, event_type: str) -> str:
        """The key under which this attempt records that it published `event_type`."""
        return event_type if self.attempt == 1 else f"{event_type}#{self.attempt}"

    def retry_refusal(self) -> JobNotRetryable | None:
        """None when the job may run again (it failed), else why not (a failed regeneration
        is regenerated again, not retried)."""
        if self.status is JobStatus.FAILED and self.render_version > 1:
            return JobNotRetryable(
                self.job_id, f"version {self.render_version} failed; regenerate the scene again"
            )
        if self.status is JobStatus.FAILED:
            return None
        why = "it completed" if self.status is JobStatus.COMPLETED else "it is still running"
        return JobNotRetryable(self.job_id, why)

    def reopened(self, now: float, lease: LeaseClaim | None = None) -> dict[str, Any]:
        """The changes that make a failed job its next attempt: running again from the stage
        where it failed (finished scenes are reused), its failure kept in `attempts`, owing
        the attempt's announcement (the outbox); with `lease`, the re-opener holds that step
        (`ANNOUNCE_STEP`) from this write, as a creator does."""
        failure = {
            "attempt": self.attempt,
            "error_message": self.error_message,
            "stage": self.stage,
            "failed_at": self.completed_at,
        }
        return {
            "status": status_for_stage(self.stage),
            "attempt": self.attempt + 1,
            "attempts": [*self.attempts, failure],
            "error_message": None,
            "completed_at": None,
            "leases": {lease.step: lease.record(now)} if lease else {},
            "running_slot": True,
            "updated_at": now,
            "outbox": OUTBOX_EVENT,  # the new attempt owes its announcement
        }

    @property
    def announcement_type(self) -> EventType:
        """The event that announces this attempt: job.accepted for the first (script.ready
        once its reviewed script was approved), the event that resumes the job from where it
        failed for a re-opened one (`resume_event`)."""
        if self.attempt == 1:
            return EventType.SCRIPT_READY if self.review_approved else EventType.JOB_ACCEPTED
        return self.resume_event

    @property
    def announcement_key(self) -> str:
        """Where this attempt's announcement is recorded in `published` (recording it settles
        the outbox, `clears_outbox`): `published_key` of its type, but `script.ready#1` for the
        approval of a reviewed first attempt (its job.accepted was recorded long before), and
        `version#<v>` for a regenerated version (its work items)."""
        if self.render_version > 1:
            return version_announcement_key(self.render_version)
        kind = self.announcement_type.value
        if self.attempt == 1 and self.review_approved:
            return f"{kind}#1"
        return self.published_key(kind)

    @property
    def announced(self) -> bool:
        """True when this attempt's announcement (or, for a re-opened attempt, the script.ready
        that follows it) was recorded; for a regenerated version, its work items."""
        if self.attempt == 1 or self.render_version > 1:
            return self.announcement_key in self.published
        return any(self.published_key(kind) in self.published for kind in _ANNOUNCING)

    @property
    def in_review(self) -> bool:
        """True while the job waits for its owner to approve (or edit) its script."""
        return not self.is_terminal and self.stage == AWAITING_REVIEW

    @property
    def review_approved(self) -> bool:
        """True once the owner approved the reviewed script (the render may run)."""
        return self.review and self.stage_seq >= stage_seq(SCRIPT_APPROVED)

    @property
    def resume_event(self) -> EventType:
        """The event that runs the job from where it is: the script, or the render."""
        return EventType.JOB_ACCEPTED if self.script is None else EventType.SCRIPT_READY

    @property
    def is_cancelled(self) -> bool:
        return self.status is JobStatus.FAILED and self.error_message == CANCELLED_REASON

    @property
    def script(self) -> Script | None:
        """The embedded script, if the scripter has written one."""
        if not (self.title and self.scenes and self.audio_spec and self.script_metadata):
            return None
        return Script(
            title=self.title,
            scenes=self.scenes,
            audio_spec=self.audio_spec,
            metadata=self.script_metadata,
        )

    @property
    def request(self) -> JobRequest:
        # A job made from a script keeps the script's title as its `prompt` (the seed's field
        # says what the job is about); the request it was made from had no prompt to write from.
        return JobRequest(
            prompt=self.prompt if self.given_script is None else None,
            duration=self.duration,
            aspect_ratio=self.aspect_ratio,
            options=self.options,
            script=self.given_script,
            callback_url=self.callback_url,
            review=self.review,
        )

    def render_summary(self, now: float | None = None) -> dict[str, Any] | None:
        """Every piece of the render and its state (a piece whose lease is live at `now` is
        generating), or None before the render is planned."""
        now = time.time() if now is None else now
        state = RenderState.of(
            self.metadata, version=self.render_version, leases=self.leases, now=now
        )
        if state is None:
            return None
        summary = state.summary()
        keyframes = KeyframeState.of(
            self.metadata, state.scenes, version=state.version, leases=self.leases, now=now
        )
        if keyframes is not None:  # keyframes continuity: each scene's keyframe beside it
            drawn = keyframes.summary()
            for scene in summary["scenes"]:
                scene["keyframe"] = drawn[scene["scene_number"]]
        return summary

    @property
    def progress(self) -> int:
        if self.status is JobStatus.COMPLETED:
            return 100
        return progress_percent(self.stage, len(self.scenes) if self.scenes else None)
