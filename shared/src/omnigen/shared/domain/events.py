"""Versioned events that flow between the services.

Every event shares one envelope. `event_type` and `schema_version` pick the model; an unknown
type or version is rejected loudly (never guessed) and a malformed body gets an error naming
the offending fields. Events carry ids and small data, never media (SNS caps at 256 KiB).
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, ClassVar, Final, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from omnigen.shared.domain.errors import InvalidEvent, UnknownSchemaVersion
from omnigen.shared.domain.text import LineText, error_message

MAX_EVENT_BYTES: Final = 256 * 1024
_STABLE_EVENT_IDS: Final = uuid.UUID("0d7f3c2a-5e8b-4f61-9a0c-1b2e3d4f5a6b")


def stable_event_id(subject: str, event_type: str) -> uuid.UUID:
    """The same event about the same subject always gets the same id, so that a re-publication
    (at-least-once delivery) is recognisable and consumers can drop it."""
    return uuid.uuid5(_STABLE_EVENT_IDS, f"{subject}\x00{event_type}")


class EventType(StrEnum):
    JOB_REQUESTED = "job.requested"
    JOB_ACCEPTED = "job.accepted"
    JOB_REJECTED = "job.rejected"
    SCRIPT_READY = "script.ready"
    # Review before render (issue 13): the scripter announces a script that waits for its
    # owner; an upstream system approves it on its requests topic (the API has POST .../render).
    SCRIPT_AWAITING_REVIEW = "script.awaiting_review"
    JOB_RENDER_REQUESTED = "job.render_requested"
    JOB_COMPLETED = "job.completed"
    JOB_FAILED = "job.failed"
    # The renderer's own work items (issue 12): one per scene, one for the audio, and the
    # "ready to compose" announcement made once per render version.
    SCENE_REQUESTED = "scene.requested"
    KEYFRAME_REQUESTED = "keyframe.requested"  # keyframes continuity: a scene's keyframe image
    AUDIO_REQUESTED = "audio.requested"
    COMPOSE_REQUESTED = "compose.requested"
    # An upstream system asks to regenerate one scene of a completed job (domain.versions).
    REGENERATION_REQUESTED = "regeneration.requested"


class _Data(BaseModel):
    # Strict: a number is a JSON number, text a JSON string (no "30" -> 30, no true -> 1).
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)


class JobRequestedData(_Data):
    request_id: str = Field(min_length=1, max_length=200, description="upstream's idempotency key")
    request: dict[str, Any] = Field(description="a JobRequest payload; validated by ingest")


class JobAcceptedData(_Data):
    duration: int
    aspect_ratio: str


class Problem(_Data):
    field: str
    message: str


class JobRejectedData(_Data):
    request_id: str
    reasons: list[Problem] = Field(min_length=1)


class ScriptReadyData(_Data):
    title: str
    scene_count: int = Field(ge=1)


class ScriptAwaitingReviewData(_Data):
    title: str
    scene_count: int = Field(ge=1)


class JobRenderRequestedData(_Data):
    """An upstream system's approval of a job's script (the job it created with review)."""


class JobCompletedData(_Data):
    video_key: str
    thumbnail_key: str | None = None
    duration: float


class JobCompletedDataV2(JobCompletedData):
    """job.completed v2: v1's fields and the render version the video is (a regenerated
    version is 2 and up). Version 1 of a job is still announced as v1, so subscribers that
    know only v1 keep working for every job that is not regenerated."""

    version: int = Field(ge=1, description="the job's render version this video is")


class RegenerationRequestedData(_Data):
    request_id: str = Field(min_length=1, max_length=200, description="upstream's idempotency key")
    scene_number: int = Field(ge=1, le=500)
    changes: dict[str, Any] = Field(
        default_factory=dict, description="SceneChanges fields; validated by ingest"
    )


class JobFailedData(_Data):
    stage: str
    error_message: str


class SceneRequestedData(_Data):
    scene_number: int = Field(ge=1, le=500)
    version: int = Field(default=1, ge=1, description="the job's render version")


class KeyframeRequestedData(_Data):
    scene_number: int = Field(ge=1, le=500)
    version: int = Field(default=1, ge=1, description="the job's render version")


class AudioRequestedData(_Data):
    version: int = Field(default=1, ge=1)


class ComposeRequestedData(_Data):
    version: int = Field(default=1, ge=1)


class Event(BaseModel):
    """The envelope. Subclasses pin `event_type`, `schema_version` and the `data` model.
    Strict: parsed from JSON by `parse_event` (`model_validate_json`, where strict mode still
    takes a UUID, a datetime or an enum from its JSON string); built in Python from typed
    values by `create`."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    event_id: uuid.UUID
    event_type: EventType
    schema_version: int
    occurred_at: datetime
    job_id: LineText | None = Field(min_length=1, max_length=100)
    user_id: LineText = Field(min_length=1, max_length=200)
    trace_id: LineText = Field(min_length=1, max_length=100)
    data: _Data

    TYPE: ClassVar[EventType]
    VERSION: ClassVar[int] = 1

    @classmethod
    def create(
        cls,
        *,
        job_id: str | None,
        user_id: str,
        data: _Data,
        trace_id: str | None = None,
        event_id: uuid.UUID | None = None,
    ) -> Self:
        return cls(
            event_id=event_id or uuid.uuid4(),
            event_type=cls.TYPE,
            schema_version=cls.VERSION,
            occurred_at=datetime.now(UTC),
            job_id=job_id,
            user_id=user_id,
            trace_id=trace_id or uuid.uuid4().hex,
            data=data,
        )

    def to_json(self) -> str:
        body = self.model_dump_json()
        if len(body.encode()) > MAX_EVENT_BYTES:
            raise InvalidEvent(f"{self.event_type} event is {len(body)} bytes; SNS allows 256 KiB")
        return body


class JobRequested(Event):
    TYPE = EventType.JOB_REQUESTED
    event_type: Literal[EventType.JOB_REQUESTED]
    schema_version: Literal[1]
    job_id: None = None
    data: JobRequestedData


class JobAccepted(Event):
    TYPE = EventType.JOB_ACCEPTED
    event_type: Literal[EventType.JOB_ACCEPTED]
    schema_version: Literal[1]
    job_id: LineText = Field(min_length=1, max_length=100)
    data: JobAcceptedData


class JobRejected(Event):
    TYPE = EventType.JOB_REJECTED
    event_type: Literal[EventType.JOB_REJECTED]
    schema_version: Literal[1]
    job_id: None = None
    data: JobRejectedData


class ScriptReady(Event):
    TYPE = EventType.SCRIPT_READY
    event_type: Literal[EventType.SCRIPT_READY]
    schema_version: Literal[1]
    job_id: LineText = Field(min_length=1, max_length=100)
    data: ScriptReadyData


class ScriptAwaitingReview(Event):
    TYPE = EventType.SCRIPT_AWAITING_REVIEW
    event_type: Literal[EventType.SCRIPT_AWAITING_REVIEW]
    schema_version: Literal[1]
    job_id: LineText = Field(min_length=1, max_length=100)
    data: ScriptAwaitingReviewData


class JobRenderRequested(Event):
    TYPE = EventType.JOB_RENDER_REQUESTED
    event_type: Literal[EventType.JOB_RENDER_REQUESTED]
    schema_version: Literal[1]
    job_id: LineText = Field(min_length=1, max_length=100)
    data: JobRenderRequestedData


class JobCompleted(Event):
    TYPE = EventType.JOB_COMPLETED
    event_type: Literal[EventType.JOB_COMPLETED]
    schema_version: Literal[1]
    job_id: LineText = Field(min_length=1, max_length=100)
    data: JobCompletedData


class JobCompletedV2(Event):
    TYPE = EventType.JOB_COMPLETED
    VERSION = 2
    event_type: Literal[EventType.JOB_COMPLETED]
    schema_version: Literal[2]
    job_id: LineText = Field(min_length=1, max_length=100)
    data: JobCompletedDataV2


class RegenerationRequested(Event):
    TYPE = EventType.REGENERATION_REQUESTED
    event_type: Literal[EventType.REGENERATION_REQUESTED]
    schema_version: Literal[1]
    job_id: LineText = Field(min_length=1, max_length=100)
    data: RegenerationRequestedData


class JobFailed(Event):
    TYPE = EventType.JOB_FAILED
    event_type: Literal[EventType.JOB_FAILED]
    schema_version: Literal[1]
    job_id: LineText = Field(min_length=1, max_length=100)
    data: JobFailedData


class SceneRequested(Event):
    TYPE = EventType.SCENE_REQUESTED
    event_type: Literal[EventType.SCENE_REQUESTED]
    schema_version: Literal[1]
    job_id: LineText = Field(min_length=1, max_length=100)
    data: SceneRequestedData


class KeyframeRequested(Event):
    TYPE = EventType.KEYFRAME_REQUESTED
    event_type: Literal[EventType.KEYFRAME_REQUESTED]
    schema_version: Literal[1]
    job_id: LineText = Field(min_length=1, max_length=100)
    data: KeyframeRequestedData


class AudioRequested(Event):
    TYPE = EventType.AUDIO_REQUESTED
    event_type: Literal[EventType.AUDIO_REQUESTED]
    schema_version: Literal[1]
    job_id: LineText = Field(min_length=1, max_length=100)
    data: AudioRequestedData


class ComposeRequested(Event):
    TYPE = EventType.COMPOSE_REQUESTED
    event_type: Literal[EventType.COMPOSE_REQUESTED]
    schema_version: Literal[1]
    job_id: LineText = Field(min_length=1, max_length=100)
    data: ComposeRequestedData


EVENT_MODELS: Final[dict[tuple[str, int], type[Event]]] = {
    (model.TYPE.value, model.VERSION): model
    for model in (
        JobRequested,
        JobAccepted,
        JobRejected,
        ScriptReady,
        ScriptAwaitingReview,
        JobRenderRequested,
        JobCompleted,
        JobCompletedV2,
        JobFailed,
        SceneRequested,
        KeyframeRequested,
        AudioRequested,
        ComposeRequested,
        RegenerationRequested,
    )
}


def parse_event(body: str | bytes) -> Event:
    """Parse a raw message body into its typed event, or raise `InvalidEvent` saying why."""
    try:
        raw = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InvalidEvent(f"message body is not JSON: {exc}") from exc
    if not isinstance(raw, dict):
        raise InvalidEvent(f"message body must be a JSON object, got {type(raw).__name__}")
    event_type, version = raw.get("event_type"), raw.get("schema_version")
    if event_type not in {t.value for t in EventType}:
        raise InvalidEvent(f"event_type: unknown event type {event_type!r}")
    if not isinstance(version, int) or isinstance(version, bool):
        raise InvalidEvent(f"schema_version: must be an integer, got {version!r}")
    model = EVENT_MODELS.get((event_type, version))
    if model is None:
        supported = sorted(v for (t, v) in EVENT_MODELS if t == event_type)
        raise UnknownSchemaVersion(
            f"schema_version: {event_type} version {version} is not supported "
            f"(supported: {', '.join(map(str, supported))})"
        )
    try:
        # From the JSON text, not from `raw`: strict mode takes a UUID or a datetime from a
        # JSON string, never from a Python str.
        return model.model_validate_json(body)
    except ValidationError as exc:
        raise InvalidEvent(f"{event_type} v{version} is malformed: {describe(exc)}") from exc


def describe(exc: ValidationError) -> str:
    """One line per problem: `field.path: message`."""
    return "; ".join(
        f"{'.'.join(str(p) for p in err['loc']) or '(body)'}: {error_message(err)}"
        for err in exc.errors()
    )


def job_id_hint(body: str | bytes) -> tuple[str | None, str | None]:
    """Best-effort (job_id, user_id) from a body that failed to parse, to fail its job."""
    try:
        raw = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None, None
    if not isinstance(raw, dict):
        return None, None
    job_id, user_id = raw.get("job_id"), raw.get("user_id")
    return (
        job_id if isinstance(job_id, str) and 0 < len(job_id) <= 100 else None,
        user_id if isinstance(user_id, str) and 0 < len(user_id) <= 200 else None,
    )
