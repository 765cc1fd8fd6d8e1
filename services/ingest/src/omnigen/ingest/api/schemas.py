"""The HTTP API's request and response bodies (what the OpenAPI document shows)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StringConstraints

from omnigen.shared.domain.creative import Goal, Platform, Style, Tempo, Tone
from omnigen.shared.domain.jobs import AspectRatio, Job, JobOptions, JobRequest
from omnigen.shared.domain.media import CaptionOptions, LanguageTag, MusicOptions, SpeechRate
from omnigen.shared.domain.scripts import Scene, ScriptDraft
from omnigen.shared.domain.stages import JobStatus
from omnigen.shared.domain.text import LineText, ProseText, StrictInt
from omnigen.shared.domain.uploads import UploadRef
from omnigen.shared.domain.usage import JobUsage, MonthlyUsage
from omnigen.shared.domain.versions import version_history

# Strict JSON types: text is a JSON string (no control characters; prose may hold LF and TAB),
# `duration` a JSON integer ("30", 30.0 and true are refused with a 422 naming the field).
Line50 = Annotated[LineText, StringConstraints(strip_whitespace=True, min_length=1, max_length=50)]
Line100 = Annotated[
    LineText, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)
]
Prose100 = Annotated[
    ProseText, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)
]
Prose200 = Annotated[
    ProseText, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)
]
Prompt = Annotated[
    ProseText, StringConstraints(strip_whitespace=True, min_length=10, max_length=2000)
]


class SubmitJob(BaseModel):
    """POST /v1/jobs: a prompt and a length, or a script of your own; the shape, and optional
    creative direction."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "anyOf": [{"required": ["prompt", "duration"]}, {"required": ["script"]}]
        },
    )

    prompt: Prompt | None = Field(
        default=None,
        description="what the video is about (10-2000 characters); needed unless `script`",
    )
    duration: StrictInt | None = Field(
        default=None,
        ge=10,
        le=60,
        description="seconds (10-60), a JSON integer; with a script, its scenes' total if absent",
    )
    aspect_ratio: AspectRatio = Field(default=AspectRatio.LANDSCAPE)
    title: Line100 | None = Field(default=None, description="the video's title (1-100)")
    style: Style | None = Field(default=None, description="visual style")
    tone: Tone | None = None
    tempo: Tempo | None = Field(default=None, description="pace of cuts and narration")
    platform: Platform | None = Field(
        default=None, description="where it is published: safe zones and loudness target"
    )
    audience: Prose200 | None = Field(default=None, description="who it is for (1-200)")
    goal: Goal | None = None
    call_to_action: Prose100 | None = Field(
        default=None, description="the closing line's ask (1-100)"
    )
    voice: Line50 | None = Field(default=None, description="narration voice (GET /v1/voices)")
    language: LanguageTag | None = Field(
        default=None, description="BCP 47 (en, es, fr, de, pt, it, ja, zh, ko, ar, he, hi)"
    )
    speech_rate: SpeechRate | None = Field(default=None, description="0.5-2.0; 1.0 is normal")
    captions: CaptionOptions | None = Field(
        default=None, description="default: burned in, classic style, at the bottom"
    )
    music: MusicOptions | None = Field(default=None, description="default: the script's mood")
    continuity: Literal["chain", "keyframes", "none"] | None = Field(
        default=None,
        description="chain: scenes in order, each from the previous one's last frame; "
        "keyframes: one keyframe image per scene from a shared look, then every clip from its "
        "keyframe, all in parallel; none: every scene in parallel; default: keyframes for a "
        "hosted image-to-video provider, chain for the local clips",
    )
    start_image: UploadRef | None = Field(
        default=None, description="an upload of yours (a picture) the first scene starts on"
    )
    style_reference_image: UploadRef | None = Field(
        default=None, description="an upload of yours (a picture) whose look guides each scene"
    )
    music_track: UploadRef | None = Field(
        default=None, description="an upload of yours (audio): the music bed, looped or trimmed"
    )
    callback_url: Annotated[LineText, StringConstraints(min_length=1, max_length=2000)] | None = (
        Field(
            default=None,
            description="https URL that gets the job's outcome as a signed webhook (Standard "
            "Webhooks, signed with your signing secret: POST /v1/webhooks/signing-secret)",
        )
    )

    script: ScriptDraft | None = Field(
        default=None,
        description="your own script (title, scenes with narration, generation_prompt and "
        "duration; shot fields optional): no model writes one, and the narration and captions "
        "are exactly its words. Judged by the same rules as a written script.",
    )
    review: StrictBool = Field(
        default=False,
        description="stop once the script is written (stage `awaiting_review`): read it with "
        "GET /v1/jobs/{id}/script, edit it with PUT (If-Match), then POST /v1/jobs/{id}/render",
    )

    def missing(self) -> tuple[str, str] | None:
        """The field a valid request still lacks, and why, or None."""
        if self.prompt is None and self.script is None:
            return "prompt", "give a prompt, or a script of your own"
        if self.duration is None and self.script is None:
            return "duration", "Field required"
        return None

    def to_request(self) -> JobRequest:
        options = self.model_dump(
            exclude={"prompt", "duration", "aspect_ratio", "script", "callback_url", "review"}
        )
        fields: dict[str, object] = {
            "prompt": self.prompt,
            "aspect_ratio": self.aspect_ratio,
            "options": JobOptions(**options),
            "script": self.script,
            "callback_url": self.callback_url,
            "review": self.review,
        }
        if self.duration is not None:
            fields["duration"] = self.duration
        elif self.script is not None:
            fields["duration"] = round(self.script.total_duration)
        return JobRequest.model_validate(fields)


class JobLinks(BaseModel):
    self: str
    events: str
    video: str


class JobSubmitted(BaseModel):
    job_id: str
    status: JobStatus
    stage: str
    links: JobLinks
    estimated_completion_seconds: int | None = Field(
        default=None, ge=1, description="seconds until it is likely done; none once finished"
    )


class JobSummary(BaseModel):
    job_id: str
    status: JobStatus
    stage: str
    progress: int = Field(ge=0, le=100, description="percent")
    prompt: str
    duration: int
    aspect_ratio: AspectRatio
    title: str | None = None
    error_message: str | None = None
    created_at: datetime
    updated_at: datetime
    completed_at: datetime | None = None
    links: JobLinks


class CaptionLinks(BaseModel):
    srt_url: str = Field(description="presigned; short-lived")
    vtt_url: str = Field(description="presigned; short-lived")
    expires_at: datetime


class PieceProgress(BaseModel):
    state: str = Field(description="pending | generating | complete | failed")
    attempts: int = Field(ge=0, description="receives of its request so far")


class SceneProgress(PieceProgress):
    scene_number: int
    keyframe: PieceProgress | None = Field(
        default=None, description="keyframes continuity: the scene's keyframe image"
    )
    picture_url: str | None = Field(
        default=None,
        description="presigned, short-lived link to the scene's picture once there is one: its "
        "keyframe image (keyframes continuity), else its finished clip",
    )
    picture_kind: Literal["image", "video"] | None = Field(
        default=None, description="image: a JPEG keyframe; video: the scene's clip (MP4)"
    )


class RenderProgressView(BaseModel):
    """Every scene's progress; `stage` scene_N_complete means N scenes are done (in any
    order)."""

    version: int
    continuity: str
    scenes_total: int
    scenes_complete: int
    scenes: list[SceneProgress]
    audio: PieceProgress


class VersionView(BaseModel):
    """One version of the job's video (`POST .../scenes/{n}/regenerate` makes the next)."""

    version: int
    status: JobStatus
    scene_number: int | None = Field(default=None, description="the scene regenerated")
    changes: dict[str, Any] | None = Field(default=None, description="what the request changed")
    scenes_rendered: list[int] | None = Field(default=None, description="clips rendered anew")
    audio_redone: bool | None = None
    rendered_seconds: float | None = Field(
        default=None,
        description="seconds of video rendered anew: what the version counts in the month's usage",
    )
    keyframes_redrawn: list[int] | None = Field(
        default=None, description="keyframes continuity: the scenes whose keyframe was redrawn"
    )
    created_at: datetime
    completed_at: datetime | None = None
    duration: float | None = Field(default=None, description="the video's seconds")
    video: str | None = Field(default=None, description="its download link, once completed")
    video_url: str | None = Field(
        default=None, description="presigned, short-lived link to its video (GET /v1/jobs/{id})"
    )
    error_message: str | None = None


class JobDetail(JobSummary):
    options: JobOptions = Field(description="the options it runs with")
    estimated_completion_seconds: int | None = Field(
        default=None, ge=1, description="seconds until it is likely done; none once finished"
    )
    version: int = Field(default=1, description="the newest version (what status describes)")
    versions: list[VersionView] = Field(default_factory=list, description="oldest first")
    scenes: list[Scene] | None = None
    render: RenderProgressView | None = Field(default=None, description="once it is planned")
    video_url: str | None = Field(default=None, description="presigned; short-lived")
    video_url_expires_at: datetime | None = None
    thumbnail_url: str | None = Field(
        default=None, description="the poster frame (JPEG); presigned, short-lived"
    )
    usage: JobUsage | None = Field(
        default=None, description="what the job used and its estimated cost (once completed)"
    )
    captions: CaptionLinks | None = Field(
        default=None, description="sidecar SRT and WebVTT (captions mode sidecar or both)"
    )


class UsageQuota(BaseModel):
    video_seconds: int = Field(description="seconds of video a month's jobs may request")
    remaining_seconds: int = Field(description="what this month's jobs may still request")


class UsageReport(MonthlyUsage):
    """The caller's totals for one month (UTC): `jobs`/`requested_seconds` count accepted jobs
    at submission (the quota counts these); the others what completed jobs used."""

    currency: str = "USD"
    quota: UsageQuota | None = Field(default=None, description="none: no monthly quota")


class JobList(BaseModel):
    jobs: list[JobSummary]
    next_cursor: str | None = Field(default=None, description="pass as `cursor` for more")


def timestamp(epoch: float | None) -> datetime | None:
    return None if epoch is None else datetime.fromtimestamp(epoch, UTC)


def links(base: str, job_id: str) -> JobLinks:
    root = f"{base}/v1/jobs/{job_id}"
    return JobLinks(self=root, events=f"{root}/events", video=f"{root}/video")


def summary(job: Job, base: str) -> JobSummary:
    return JobSummary(
        job_id=job.job_id,
        status=job.status,
        stage=job.stage,
        progress=job.progress,
        prompt=job.prompt,
        duration=job.duration,
        aspect_ratio=job.aspect_ratio,
        title=job.title,
        error_message=job.error_message,
        created_at=datetime.fromtimestamp(job.created_at, UTC),
        updated_at=datetime.fromtimestamp(job.updated_at, UTC),
        completed_at=timestamp(job.completed_at),
        links=links(base, job.job_id),
    )


def versions_view(job: Job, base: str) -> list[VersionView]:
    """The job's versions as `GET /v1/jobs/{id}` shows them, oldest first."""
    video = links(base, job.job_id).video
    views = []
    for record in version_history(job):
        number = int(record["version"])
        completed = record.get("status") == JobStatus.COMPLETED.value and record.get("video_key")
        views.append(
            VersionView(
                version=number,
                status=JobStatus(record.get("status", JobStatus.COMPLETED.value)),
                scene_number=record.get("scene_number"),
                changes=record.get("changes"),
                scenes_rendered=record.get("scenes_rendered"),
                audio_redone=record.get("audio_redone"),
                rendered_seconds=record.get("rendered_seconds"),
                keyframes_redrawn=record.get("keyframes_redrawn"),
                created_at=datetime.fromtimestamp(float(record["created_at"]), UTC),
                completed_at=timestamp(record.get("completed_at")),
                duration=record.get("duration"),
                video=f"{video}?version={number}" if completed else None,
                error_message=record.get("error_message"),
            )
        )
    return views
