"""/v1/jobs: submit, read, list, stream, download and cancel or delete a user's jobs."""

from __future__ import annotations

import math
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Annotated, Any, Final

from fastapi import APIRouter, Header, Path, Query, Request, Response
from fastapi.responses import RedirectResponse, StreamingResponse
from pydantic import ValidationError
from starlette.background import BackgroundTask

from omnigen.ingest.api.deps import Context, Subject, UserId, rate_limited
from omnigen.ingest.api.errors import ApiError, ErrorBody
from omnigen.ingest.api.schemas import (
    CaptionLinks,
    JobDetail,
    JobList,
    JobSubmitted,
    RenderProgressView,
    SubmitJob,
    links,
    summary,
    timestamp,
    versions_view,
)
from omnigen.ingest.context import IngestContext
from omnigen.ingest.handlers import (
    NotAnnounced,
    ScriptNotFit,
    UnwritableRequest,
    cancel_or_delete,
    check_callback,
    retry_job,
    submit_job,
)
from omnigen.ingest.limits import LimitExceeded
from omnigen.ingest.sse import StreamTimings, TooManyStreams, job_events
from omnigen.shared.domain.errors import (
    IdempotencyConflict,
    InvalidCursor,
    JobNotFound,
    JobNotRetryable,
    MonthlyQuotaExceeded,
    RateWindowFull,
    RunningJobsLimit,
)
from omnigen.shared.domain.eta import estimated_completion_seconds
from omnigen.shared.domain.jobs import Job, JobRequest
from omnigen.shared.domain.keyframes import KeyframeState
from omnigen.shared.domain.progress import RenderProgress
from omnigen.shared.domain.rules import RateWindow
from omnigen.shared.domain.scenes import RenderState
from omnigen.shared.domain.stages import JobStatus
from omnigen.shared.domain.text import error_message
from omnigen.shared.domain.usage import seconds_until_next_month
from omnigen.shared.domain.versions import version_history, version_record

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])

JOB_ID_PATTERN: Final = r"^[0-9a-f]{32}$"
JobId = Annotated[str, Path(pattern=JOB_ID_PATTERN, description="the id POST returned")]
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=200,
        pattern=r"^[\x21-\x7e]+$",
        description="retries with the same key and body return the same job",
    ),
]


def _errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return {status: {"model": ErrorBody} for status in (401, 422, 429, *statuses)}


@router.post(
    "",
    status_code=202,
    response_model=JobSubmitted,
    responses=_errors(409, 413, 503),
    summary="Submit a video job",
    description="202 once the job is stored: it will run even when its announcement to the "
    "workers failed for now (a transactional outbox sends it later), so a client never needs "
    "to submit it again. The same Idempotency-Key and body return the same job "
    "(`Idempotent-Replayed: true`). 503 `unavailable` only when the job store could not take "
    "it (nothing was created).",
)
async def submit(
    body: SubmitJob,
    ctx: Context,
    user_id: Subject,
    request: Request,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> JobSubmitted:
    """Refused with 429 `too_many_running_jobs` at `OMNIGEN_MAX_RUNNING_JOBS` unfinished jobs,
    429 `monthly_quota_exceeded` past `OMNIGEN_MONTHLY_VIDEO_SECONDS_QUOTA` seconds requested
    this month, 429 `rate_limited` over the rate limit: all decided by the create's one write.
    A refused create counted nothing, so its request is then counted on its own; a replay of an
    Idempotency-Key is not counted."""
    try:
        rate = await ctx.limiter.deferred(user_id)  # counted by the create (or here: memory)
    except LimitExceeded as exc:
        raise rate_limited(exc.retry_after_s) from None
    try:
        return await _submit(ctx, body, user_id, request, response, idempotency_key, rate)
    except ApiError as refused:
        if rate is not None and refused.code in _REFUSED_CREATES:
            await _count_request(ctx, user_id)
        raise


# Answers to a create that wrote nothing (its transaction cancelled): the request is counted
# against the rate limit on its own. (A 503 `not_queued` job was created, and counted.)
_REFUSED_CREATES: Final = frozenset(
    {
        "too_many_running_jobs",
        "monthly_quota_exceeded",
        "idempotency_conflict",
        "script_not_fit",
        "validation_error",
        "invalid_callback_url",
    }
)


async def _count_request(ctx: IngestContext, user_id: str) -> None:
    """Count a request whose create was refused (so counted nothing) against the rate limit."""
    try:
        await ctx.limiter.check(user_id)
    except LimitExceeded as exc:
        raise rate_limited(exc.retry_after_s) from None


async def _submit(
    ctx: IngestContext,
    body: SubmitJob,
    user_id: str,
    request: Request,
    response: Response,
    idempotency_key: str | None,
    rate: RateWindow | None,
) -> JobSubmitted:
    if body.callback_url:
        problem = await check_callback(ctx.ports, user_id, body.callback_url)
        if problem is not None:
            raise ApiError(
                422, "invalid_callback_url", f"callback_url: {problem}", field="callback_url"
            )
    try:
        submission = await submit_job(
            ctx.ports,
            user_id=user_id,
            request=request_of(body),
            idempotency_key=idempotency_key,
            trace_id=request.state.trace_id,
            running_cap=ctx.settings.max_running_jobs,
            video_quota_s=ctx.settings.monthly_video_seconds_quota,
            rate=rate,
        )
    except SUBMISSION_REFUSALS as exc:
        raise submission_refused(ctx, exc) from None
    if not submission.created:
        response.headers["Idempotent-Replayed"] = "true"
    return _submitted(ctx, submission.job, response)


@router.get("", response_model=JobList, responses=_errors(400), summary="List my jobs")
async def list_jobs(
    ctx: Context,
    user_id: UserId,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(min_length=1, max_length=2048)] = None,
    status: JobStatus | None = None,
) -> JobList:
    try:
        page = await ctx.ports.repository.get_jobs_by_user(
            user_id, limit=limit, cursor=cursor, status=status
        )
    except InvalidCursor as exc:
        raise ApiError(400, "invalid_cursor", str(exc), field="cursor") from None
    return JobList(
        jobs=[summary(job, _base(ctx)) for job in page.jobs], next_cursor=page.next_cursor
    )


NO_STORE: Final = "no-store"  # answers that carry a presigned URL (or a stream of a job)


@router.get("/{job_id}", response_model=JobDetail, responses=_errors(404), summary="One job")
async def get_job(job_id: JobId, ctx: Context, user_id: UserId, response: Response) -> JobDetail:
    job = await _owned_job(ctx, job_id, user_id)
    response.headers["Cache-Control"] = NO_STORE
    render = job.render_summary()
    detail = JobDetail(
        **summary(job, _base(ctx)).model_dump(),
        version=job.render_version,
        versions=versions_view(job, _base(ctx)),
        options=job.options,
        scenes=job.scenes,
        usage=job.usage,
        render=None if render is None else RenderProgressView.model_validate(render),
        estimated_completion_seconds=estimated_completion_seconds(job, time.time()),
    )
    if job.status is JobStatus.COMPLETED and job.video_key:
        expiry = ctx.settings.video_url_expiry_s
        detail.video_url = await ctx.ports.assets.presigned_url(job.video_key, expiry)
        detail.video_url_expires_at = timestamp(time.time() + expiry)
        poster = RenderProgress.of(job.metadata).thumbnail_key
        if poster:
            detail.thumbnail_url = await ctx.ports.assets.presigned_url(poster, expiry)
        detail.captions = await _caption_links(ctx, job, expiry)
    await _version_links(ctx, job, detail)
    if detail.render is not None:
        await _scene_pictures(ctx, job, detail.render)
    return detail


async def _scene_pictures(ctx: IngestContext, job: Job, render: RenderProgressView) -> None:
    """Presigned links to each finished scene's picture (the web page's thumbnails as scenes
    finish): the keyframe image where the render has keyframes, else the scene's clip. Only
    keys the job already records: no storage call (presigning is local)."""
    state = RenderState.of(job.metadata, version=render.version)
    if state is None:
        return
    keyframes = KeyframeState.of(job.metadata, state.scenes, version=state.version)
    expiry = ctx.settings.video_url_expiry_s
    for scene in render.scenes:
        keyframe = keyframes.keyframes.get(scene.scene_number) if keyframes else None
        clip = state.scenes.get(scene.scene_number)
        if keyframe is not None and keyframe.key:
            scene.picture_kind, key = "image", keyframe.key
        elif clip is not None and clip.key:
            scene.picture_kind, key = "video", clip.key
        else:
            continue
        scene.picture_url = await ctx.ports.assets.presigned_url(key, expiry)


async def _version_links(ctx: IngestContext, job: Job, detail: JobDetail) -> None:
    """Presigned links to every completed version's video (the web page plays them)."""
    keys = {int(r["version"]): r.get("video_key") for r in version_history(job)}
    for view in detail.versions:
        key = keys.get(view.version)
        if view.video and key:
            view.video_url = await ctx.ports.assets.presigned_url(
                key, ctx.settings.video_url_expiry_s
            )


async def _caption_links(ctx: IngestContext, job: Job, expiry: int) -> CaptionLinks | None:
    """Presigned links to the sidecar captions a completed job has."""
    progress = RenderProgress.of(job.metadata)
    if not (progress.captions_srt_key and progress.captions_vtt_key):
        return None
    return CaptionLinks(
        srt_url=await ctx.ports.assets.presigned_url(progress.captions_srt_key, expiry),
        vtt_url=await ctx.ports.assets.presigned_url(progress.captions_vtt_key, expiry),
        expires_at=datetime.fromtimestamp(time.time() + expiry, UTC),
    )


@router.get(
    "/{job_id}/events",
    responses={200: {"content": {"text/event-stream": {}}}, **_errors(404)},
    response_class=StreamingResponse,
    summary="Progress as Server-Sent Events",
)
async def job_event_stream(job_id: JobId, ctx: Context, user_id: UserId) -> StreamingResponse:
    """At most `sse_max_streams_per_user` open at once per user (429 above); each ends after
    `sse_max_duration_s` with a `reconnect` event."""
    await _owned_job(ctx, job_id, user_id)
    try:
        give_back = ctx.streams.take(user_id)
    except TooManyStreams as exc:
        raise ApiError(
            429,
            "too_many_streams",
            f"{exc}; close one or retry later",
            headers={"Retry-After": str(ctx.settings.sse_retry_after_s)},
        ) from None
    settings = ctx.settings
    timings = StreamTimings(
        poll_s=settings.sse_poll_interval_s,
        heartbeat_s=settings.sse_heartbeat_s,
        max_duration_s=settings.sse_max_duration_s,
    )

    async def load() -> Job:
        return await ctx.job_reads.get(job_id)

    async def events() -> AsyncIterator[str]:
        try:
            async for chunk in job_events(load, timings, ctx.stopping):
                yield chunk
        finally:
            give_back()

    return StreamingResponse(
        events(),
        media_type="text/event-stream",
        headers={"Cache-Control": NO_STORE, "X-Accel-Buffering": "no"},
        background=BackgroundTask(give_back),  # also when the client went away mid-stream
    )


@router.get(
    "/{job_id}/video",
    status_code=307,
    response_class=RedirectResponse,
    responses={307: {"description": "to a short-lived presigned URL"}, **_errors(404, 409)},
    summary="Download the video",
)
async def video(
    job_id: JobId,
    ctx: Context,
    user_id: UserId,
    version: Annotated[
        int | None, Query(ge=1, description="an older version (default: the newest)")
    ] = None,
) -> RedirectResponse:
    job = await _owned_job(ctx, job_id, user_id)
    video_key = job.video_key if job.status is JobStatus.COMPLETED else None
    if version is not None and version != job.render_version:
        record = version_record(job, version)
        if record is None:
            raise ApiError(
                404, "not_found", f"job {job_id} has no version {version}", field="version"
            )
        video_key = record.get("video_key") if record.get("status") == "completed" else None
        if not video_key:
            raise ApiError(
                409, "video_not_ready", f"version {version} has no video", field="version"
            )
    if not video_key:
        reason = f": {job.error_message}" if job.error_message else ""
        raise ApiError(
            409, "video_not_ready", f"the job is {job.status.value} ({job.stage}){reason}"
        )
    url = await ctx.ports.assets.presigned_url(video_key, ctx.settings.video_url_expiry_s)
    return RedirectResponse(url, status_code=307, headers={"Cache-Control": NO_STORE})


@router.delete(
    "/{job_id}",
    status_code=204,
    responses={
        202: {"model": JobDetail, "description": "was running: cancelled"},
        204: {"description": "was finished: deleted with its assets"},
        **_errors(404),
    },
    summary="Cancel a running job, or delete a finished one",
)
async def delete_job(job_id: JobId, ctx: Context, user_id: UserId) -> Response:
    job = await _owned_job(ctx, job_id, user_id)
    removal = await cancel_or_delete(ctx.ports, job)
    if not removal.cancelled:
        return Response(status_code=204)
    body = JobDetail(
        **summary(removal.job, _base(ctx)).model_dump(),
        options=removal.job.options,
        scenes=removal.job.scenes,
    )
    return Response(body.model_dump_json(), status_code=202, media_type="application/json")


@router.post(
    "/{job_id}/retry",
    status_code=202,
    response_model=JobSubmitted,
    responses=_errors(404, 409, 503),
    summary="Run a failed job again",
    description="The job's next attempt resumes where the last one failed (finished scenes "
    "are reused); its failure stays in `attempts`. A job that is running or completed is "
    "a 409. 503 `not_queued`: the attempt was opened but the event that resumes it could not "
    "be sent (a retried attempt has no outbox): ask again, which resends it.",
)
async def retry(job_id: JobId, ctx: Context, user_id: UserId, response: Response) -> JobSubmitted:
    job = await _owned_job(ctx, job_id, user_id)
    try:
        job = await retry_job(ctx.ports, job, running_cap=ctx.settings.max_running_jobs)
    except JobNotRetryable as exc:
        raise ApiError(409, "not_retryable", str(exc), field="job_id") from None
    except RunningJobsLimit as exc:
        raise _too_many_running(ctx, exc) from None
    except NotAnnounced as exc:
        raise ApiError(
            503, "not_queued", f"{exc}; ask again to resend", headers={"Retry-After": "2"}
        ) from None
    return _submitted(ctx, job, response)


def request_of(body: SubmitJob) -> JobRequest:
    """The domain request of a valid body, or the 422 naming what is missing or wrong (a script
    too short for any video, say)."""
    missing = body.missing()
    if missing is not None:
        raise ApiError(422, "validation_error", f"{missing[0]}: {missing[1]}", field=missing[0])
    try:
        return body.to_request()
    except ValidationError as exc:
        error = exc.errors()[0]
        field = ".".join(str(p) for p in error["loc"]) or "script"
        if field == "duration" and body.duration is None:
            field = "script.scenes"  # the duration came from the script's scenes
        message = f"{field}: {error_message(error)}"
        raise ApiError(422, "validation_error", message, field=field) from None


# What `submit_job` raises for a request it refused (nothing created): `submission_refused`
# answers each, for POST /v1/jobs and for every item of a batch alike.
SUBMISSION_REFUSALS: Final = (
    RunningJobsLimit,
    MonthlyQuotaExceeded,
    RateWindowFull,
    IdempotencyConflict,
    ScriptNotFit,
    UnwritableRequest,
)


def submission_refused(ctx: IngestContext, exc: Exception) -> ApiError:
    """The answer to a refused submission, its field named from the request's body."""
    if isinstance(exc, RunningJobsLimit):
        return _too_many_running(ctx, exc)
    if isinstance(exc, MonthlyQuotaExceeded):
        retry_after = str(seconds_until_next_month(time.time()))
        headers = {"Retry-After": retry_after}
        return ApiError(429, "monthly_quota_exceeded", str(exc), field="duration", headers=headers)
    if isinstance(exc, RateWindowFull):
        return rate_limited(math.ceil(max(exc.retry_after_s, 1.0)))
    if isinstance(exc, IdempotencyConflict):
        return ApiError(409, "idempotency_conflict", str(exc), field="Idempotency-Key")
    if isinstance(exc, ScriptNotFit):
        return script_not_fit(exc)
    if isinstance(exc, UnwritableRequest):
        return ApiError(422, "no_script_writer", str(exc), field=exc.field)
    raise TypeError(f"not a refused submission: {type(exc).__name__}")


def script_not_fit(exc: ScriptNotFit) -> ApiError:
    """422 naming the request's fields: options sit at the top of POST /v1/jobs' body."""
    problems = [(field.removeprefix("options."), message) for field, message in exc.problems]
    message = "; ".join(f"{field}: {message}" for field, message in problems)
    code = getattr(exc, "code", "script_not_fit")  # UnusableUploads: "unusable_upload"
    return ApiError(422, code, message, field=problems[0][0])


def _submitted(ctx: IngestContext, job: Job, response: Response) -> JobSubmitted:
    """The 202 answer for a job that is queued: where to find it, and what it is now."""
    job_links = links(_base(ctx), job.job_id)
    response.headers["Location"] = job_links.self
    return JobSubmitted(
        job_id=job.job_id,
        status=job.status,
        stage=job.stage,
        links=job_links,
        estimated_completion_seconds=estimated_completion_seconds(job, time.time()),
    )


def _too_many_running(ctx: IngestContext, exc: RunningJobsLimit) -> ApiError:
    retry_after = str(ctx.settings.running_jobs_retry_after_s)
    return ApiError(429, "too_many_running_jobs", str(exc), headers={"Retry-After": retry_after})


async def _owned_job(ctx: IngestContext, job_id: str, user_id: str) -> Job:
    """The job if it exists and is the user's; otherwise 404 (another user's job is not found)."""
    try:
        job = await ctx.ports.repository.get_job(job_id)
    except JobNotFound:
        job = None
    if job is None or job.user_id != user_id:
        raise ApiError(404, "not_found", f"job {job_id} not found", field="job_id")
    return job


def _base(ctx: IngestContext) -> str:
    return (ctx.settings.public_base_url or "").rstrip("/")
