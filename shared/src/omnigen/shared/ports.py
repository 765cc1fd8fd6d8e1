"""Ports: the small interfaces the handlers depend on. Adapters live in `adapters/`,
in-memory fakes for tests in `omnigen.testing.fakes`."""

from __future__ import annotations

from collections.abc import AsyncIterator, Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from omnigen.shared.domain.events import Event
from omnigen.shared.domain.jobs import Job, JobRequest, LeaseClaim
from omnigen.shared.domain.rules import RateWindow
from omnigen.shared.domain.scripts import Script
from omnigen.shared.domain.stages import SCRIPT_COMPLETE, JobStatus
from omnigen.shared.domain.uploads import Upload, UploadFacts, UploadStatus
from omnigen.shared.domain.usage import JobUsage, MonthlyUsage, VersionUsage
from omnigen.shared.domain.versions import VersionStart
from omnigen.shared.domain.webhooks import (
    Attempt,
    Delivery,
    DeliveryStatus,
    SigningKey,
    SigningSecret,
    WebhookEndpoint,
)


@dataclass(frozen=True)
class CreatedJob:
    job: Job
    created: bool  # False when an idempotent retry returned the existing job


@dataclass(frozen=True)
class JobPage:
    jobs: list[Job]
    next_cursor: str | None


class JobRepository(Protocol):
    """The only way into the jobs table. Terminal states are final; stages never go back.

    Progress writes (stage, script, completion) return nothing: workers already hold what they
    wrote, and echoing back a job that carries its script would cost every write; the claim
    (`acquire_lease`) and the reads return the job."""

    async def create_job(
        self,
        *,
        user_id: str,
        request: JobRequest,
        idempotency_key: str | None = None,
        trace_id: str | None = None,
        lease: LeaseClaim | None = None,
        running_cap: int | None = None,
        video_quota_s: int | None = None,
        rate: RateWindow | None = None,
    ) -> CreatedJob:
        """Create a job, counted in its user's running jobs and in the month's usage (one job,
        its requested seconds) from this very write; with `running_cap`, refused with
        `RunningJobsLimit` when the user already runs that many; with `video_quota_s`, refused
        with `MonthlyQuotaExceeded` when the month's requested seconds would pass it; with
        `rate`, the request is counted in that window by the same write (`RateWindowFull`
        when it is full). A retry (same user, key and payload) returns the existing job and
        counts nothing."""
        ...

    async def monthly_usage(self, user_id: str, month: str) -> MonthlyUsage:
        """The user's totals for `month` (`YYYY-MM`, UTC); zeros when nothing was counted."""
        ...

    async def running_jobs(self, user_id: str) -> int:
        """How many of the user's jobs hold a running slot (created, not yet ended)."""
        ...

    async def get_job(self, job_id: str) -> Job: ...

    async def get_jobs(self, job_ids: Collection[str]) -> dict[str, Job]:
        """The jobs of `job_ids` that exist, by id (consistent reads, batched: one request
        per 100 ids); an id of no job is left out."""
        ...

    async def get_jobs_by_user(
        self,
        user_id: str,
        *,
        limit: int = 20,
        cursor: str | None = None,
        status: JobStatus | None = None,
    ) -> JobPage: ...

    async def count_jobs(
        self, user_id: str, *, statuses: Collection[JobStatus], created_after: float
    ) -> int:
        """How many of the user's jobs created after `created_after` are in `statuses`."""
        ...

    async def update_job_stage_with_metadata(
        self, job_id: str, stage: str, metadata: Mapping[str, Any] | None = None
    ) -> None: ...

    async def embed_script(
        self,
        job_id: str,
        script: Script,
        metadata: Mapping[str, Any] | None = None,
        *,
        usage: JobUsage | None = None,
        stage: str = SCRIPT_COMPLETE,
    ) -> None:
        """Embed the script, moving the job to `stage` (script_complete, or awaiting_review
        for a job its owner reviews, which gives back its running slot in the same write: it
        waits for a person, and may expire so); with `usage` (the script's provider calls),
        record it as the job's usage so far."""
        ...

    async def replace_script(self, job_id: str, script: Script, *, version: int) -> Job:
        """Replace the script of a job awaiting review, only if it is still the job's
        `version` (as read): `ScriptChanged` when it changed meanwhile, `NotInReview` when
        the job no longer awaits review."""
        ...

    async def approve_review(
        self, job: Job, lease: LeaseClaim, *, running_cap: int | None = None
    ) -> Job:
        """Move the job (as read) awaiting review to script_approved, owing its script.ready
        (the outbox marker) with `lease` on the announcing step, taking back a running slot
        (refused past `running_cap`: `RunningJobsLimit`), in one conditional write: exactly
        one of concurrent approvals wins; the others get `NotInReview`."""
        ...

    async def record_piece(
        self,
        job_id: str,
        *,
        stage: str | None,
        metadata: Mapping[str, Any],
        expect: Mapping[str, Any],
    ) -> None:
        """One conditional write of a render piece (`domain.scenes`): merge `metadata` and move
        to `stage` (None: stay) on an active job, only if every `expect` key of `metadata` still
        holds its value (None: absent); else `PieceRaced` carrying the job as it was found."""
        ...

    async def record_and_read_piece(
        self, job_id: str, *, metadata: Mapping[str, Any], expect: Mapping[str, Any]
    ) -> Job:
        """`record_piece` without a stage, returning the job as this write left it (no read:
        the write's own result), so a piece that expects only its own state never races
        its siblings and still sees whether it was the last."""
        ...

    async def mark_job_complete(
        self,
        job_id: str,
        video_key: str,
        metadata: Mapping[str, Any] | None = None,
        *,
        usage: JobUsage | None = None,
        version_usage: VersionUsage | None = None,
    ) -> None:
        """Complete an active job and release its running slot in the same write (a repeat
        finds the job ended: `JobAlreadyFinished`, nothing released twice); with `usage`, the
        same write records it on the job and adds it to its user's totals of the month the job
        was created in (exactly once); with `version_usage`, a regenerated version's use is
        added to its month's totals (exactly once) and not recorded on the job."""
        ...

    async def mark_job_failed(self, job_id: str, error_message: str) -> Job:
        """Fail (or cancel) an active job and release its running slot in the same write."""
        ...

    async def reopen_job(
        self, job: Job, *, running_cap: int | None = None, lease: LeaseClaim | None = None
    ) -> Job:
        """Make the failed `job` (as read) its next attempt, taking a running slot (refused
        past `running_cap`): `JobNotRetryable` unless it is still failed at that attempt. The
        attempt owes its announcement (the outbox marker, as a created job does); with `lease`
        the caller holds the announcing step from this write."""
        ...

    async def start_version(
        self,
        job: Job,
        start: VersionStart,
        *,
        lease: LeaseClaim | None = None,
        video_quota_s: int | None = None,
    ) -> Job:
        """Start render version `start.version` of the job as read (`domain.versions`): one
        conditional write, applied only while the job is still `start.from_status` at version
        `start.version - 1`; else `VersionRaced` carrying the job as it was found (gone:
        `JobNotFound`). The same write makes the job owe the version's work items (the outbox
        marker; with `lease` the caller holds the announcing step) and counts the version and
        its requested seconds in the month's usage; with `video_quota_s`, refused with
        `MonthlyQuotaExceeded` when they would pass it. Answers the job as the write left it."""
        ...

    async def record_published(self, job_id: str, event_type: str, event_id: str) -> Job:
        """Note that `event_type` (a `Job.published_key`) was published for the job (also after
        its end). Recording an attempt's announcement (`clears_outbox`) settles its outbox
        marker in the same write."""
        ...

    async def unannounced_jobs(self, *, created_before: float, limit: int = 100) -> list[str]:
        """The ids of up to `limit` (1..100) jobs created before `created_before` that still owe
        their announcement (created, neither announced nor ended), oldest first."""
        ...

    async def acquire_lease(
        self,
        job_id: str,
        step: str,
        holder: str,
        seconds: float,
        *,
        stage: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        message: str | None = None,
    ) -> Job: ...

    async def renew_lease(self, job_id: str, step: str, holder: str, seconds: float) -> None:
        """Extend `holder`'s lease by `seconds` from now; `LeaseLost` when another holder took
        it. Nothing to renew on a finished job: that is no error."""
        ...

    async def release_lease(self, job_id: str, step: str, holder: str) -> None: ...

    async def delete_job(self, job_id: str) -> None: ...


class EventPublisher(Protocol):
    async def publish(self, event: Event) -> str: ...


class AssetStore(Protocol):
    """Media under one prefix per job; large files by multipart upload."""

    async def put_file(self, key: str, path: Path, content_type: str) -> None: ...

    async def put_bytes(self, key: str, data: bytes, content_type: str) -> None: ...

    async def get_file(self, key: str, path: Path) -> None: ...

    async def exists(self, key: str) -> bool: ...

    async def presigned_url(self, key: str, expires_in: int = 900) -> str: ...

    async def delete_prefix(self, prefix: str) -> int: ...

    def list_keys(self, prefix: str) -> AsyncIterator[str]: ...


def job_prefix(job_id: str) -> str:
    return f"jobs/{job_id}/"


def scene_clip_key(job_id: str, scene_number: int, version: int = 1) -> str:
    """A scene's clip; a regenerated version's clips go under a folder of their own, so a
    completed version's clips never change."""
    folder = "scenes/" if version == 1 else f"scenes/v{version}/"
    return f"{job_prefix(job_id)}{folder}scene_{scene_number:03d}.mp4"


def render_prefix(job_id: str, render_id: str) -> str:
    """One render's own files: a worker that lost its step (a stale receive) can only ever
    write under its own render id, so a completed job's files are never written again."""
    return f"{job_prefix(job_id)}renders/{render_id}/"


def video_key(job_id: str, render_id: str) -> str:
    return f"{render_prefix(job_id, render_id)}video.mp4"


def thumbnail_key(job_id: str, render_id: str) -> str:
    return f"{render_prefix(job_id, render_id)}poster.jpg"


def captions_key(job_id: str, render_id: str, extension: str) -> str:
    """A render's sidecar captions: `srt` or `vtt`."""
    return f"{render_prefix(job_id, render_id)}captions.{extension}"


class WebhookStore(Protocol):
    """Webhook endpoints, users' callback signing keys and delivery records, kept in the jobs
    table under keys no job id looks like (`webhook#...`, `delivery#...`)."""

    async def add_endpoint(self, endpoint: WebhookEndpoint, *, limit: int) -> None:
        """Store a new endpoint; `TooManyEndpoints` when its owner already has `limit`."""
        ...

    async def endpoints(self, owner: str) -> list[WebhookEndpoint]: ...

    async def get_endpoint(self, owner: str, endpoint_id: str) -> WebhookEndpoint:
        """`WebhookNotFound` unless `owner` has that endpoint."""
        ...

    async def delete_webhook(self, owner: str, endpoint_id: str) -> None: ...

    async def set_endpoint_secrets(
        self, owner: str, endpoint_id: str, secrets: list[SigningSecret]
    ) -> None: ...

    async def disable_endpoint(self, endpoint_id: str, reason: str) -> None: ...

    async def signing_key(self, owner: str) -> SigningKey | None: ...

    async def set_signing_key(self, key: SigningKey) -> None: ...

    async def open_delivery(self, delivery: Delivery) -> Delivery:
        """The stored delivery of that id, or `delivery` stored as new (and listed under its
        job)."""
        ...

    async def record_attempt(
        self, delivery: Delivery, attempt: Attempt, status: DeliveryStatus
    ) -> Delivery: ...

    async def set_delivery_status(self, delivery: Delivery, status: DeliveryStatus) -> None: ...

    async def deliveries(self, job_id: str) -> list[Delivery]: ...


@dataclass(frozen=True)
class PresignedPost:
    """Where and how a client POSTs one file: the form fields go before the file field."""

    url: str
    fields: dict[str, str]


class UploadPresigner(Protocol):
    async def presigned_post(
        self, key: str, *, content_type: str, max_bytes: int, expires_in: int
    ) -> PresignedPost:
        """A POST policy for exactly `key`, that `content_type` and at most `max_bytes`."""
        ...


class UploadStore(Protocol):
    """Users' uploads, kept in the jobs table under keys no job id looks like (`upload#...`,
    `uploads#<owner>`), without `user_id` so no listing of jobs sees them."""

    async def add_upload(self, upload: Upload, *, limit: int) -> None:
        """Store a new upload; `TooManyUploads` when its owner already has `limit`."""
        ...

    async def uploads_of(self, owner: str) -> list[Upload]:
        """The owner's uploads, oldest first (expired ones left out)."""
        ...

    async def get_upload(self, owner: str, upload_id: str) -> Upload:
        """`UploadNotFound` unless `owner` has that upload (someone else's: the same)."""
        ...

    async def find_upload(self, upload_id: str) -> Upload | None:
        """Any owner's upload, for the checker that only knows the object key."""
        ...

    async def record_check(
        self,
        upload_id: str,
        status: UploadStatus,
        *,
        reason: str | None,
        facts: UploadFacts,
        checked_at: float,
    ) -> bool:
        """Settle a pending upload's check; False when it is gone or already settled."""
        ...

    async def delete_upload(self, owner: str, upload_id: str) -> Upload:
        """Forget the upload (`UploadNotFound` as `get_upload`); returns it as it was."""
        ...

    async def keep_until(self, upload_ids: list[str], expires_at: int) -> None:
        """A job uses these uploads: none expires before `expires_at` (later ones stay)."""
        ...


__all__ = [
    "AssetStore",
    "CreatedJob",
    "EventPublisher",
    "JobPage",
    "JobRepository",
    "LeaseClaim",
    "PresignedPost",
    "UploadPresigner",
    "UploadStore",
    "WebhookStore",
    "captions_key",
    "job_prefix",
    "scene_clip_key",
    "thumbnail_key",
    "video_key",
]
