"""/v1/jobs: submit, read, list, stream, download and cancel or delete a user's jobs."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Annotated, Any, Final

from fastapi import APIRouter, Header, Path, Query, Request, Response
from fastapi.responses import RedirectResponse, StreamingResponse
from starlette.background import BackgroundTask

from omnigen.ingest.api.deps import Context, UserId
from omnigen.ingest.api.errors import ApiError, ErrorBody
from omnigen.ingest.api.schemas import (
    JobDetail,
    JobList,
    JobSubmitted,
    RenderProgressView,
    SubmitJob,
    links,
    summary,
    timestamp,
)
from omnigen.ingest.context import IngestContext
from omnigen.ingest.handlers import NotAnnounced, cancel_or_delete, retry_job, submit_job
from omnigen.ingest.sse import StreamTimings, TooManyStreams, job_events
from omnigen.shared.domain.errors import (
    IdempotencyConflict,
    InvalidCursor,
    JobNotFound,
    JobNotRetryable,
    RunningJobsLimit,
)
from omnigen.shared.domain.jobs import Job
from omnigen.shared.domain.stages import JobStatus

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
)
async def submit(
    body: SubmitJob,
    ctx: Context,
    user_id: UserId,
    request: Request,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> JobSubmitted:
    try:
        submission = await submit_job(
            ctx.ports,
            user_id=user_id,
            request=body.to_request(),
            idempotency_key=idempotency_key,
            trace_id=request.state.trace_id,
            running_cap=ctx.settings.max_running_jobs,
        )
    except RunningJobsLimit as exc:
        raise _too_many_running(ctx, exc) from None
    except IdempotencyConflict as exc:
        raise ApiError(409, "idempotency_conflict", str(exc), field="Idempotency-Key") from None
    except NotAnnounced as exc:
        raise ApiError(
            503,
            "not_queued",
            f"{exc}; retry with the same Idempotency-Key",
            headers={"Retry-After": "2"},
        ) from None
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
        options=job.options,
        scenes=job.scenes,
        render=None if render is None else RenderProgressView.model_validate(render),
    )
    if job.status is JobStatus.COMPLETED and job.video_key:
        expiry = ctx.settings.video_url_expiry_s
        detail.video_url = await ctx.ports.assets.presigned_url(job.video_key, expiry)
        detail.video_url_expires_at = timestamp(time.time() + expiry)
    return detail


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
async def video(job_id: JobId, ctx: Context, user_id: UserId) -> RedirectResponse:
    job = await _owned_job(ctx, job_id, user_id)
    if job.status is not JobStatus.COMPLETED or not job.video_key:
        reason = f": {job.error_message}" if job.error_message else ""
        raise ApiError(
            409, "video_not_ready", f"the job is {job.status.value} ({job.stage}){reason}"
        )
    url = await ctx.ports.assets.presigned_url(job.video_key, ctx.settings.video_url_expiry_s)
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
    "a 409.",
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


def _submitted(ctx: IngestContext, job: Job, response: Response) -> JobSubmitted:
    """The 202 answer for a job that is queued: where to find it, and what it is now."""
    job_links = links(_base(ctx), job.job_id)
    response.headers["Location"] = job_links.self
    return JobSubmitted(job_id=job.job_id, status=job.status, stage=job.stage, links=job_links)


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
