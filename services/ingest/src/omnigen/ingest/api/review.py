"""/v1/jobs/{id}/script and /v1/jobs/{id}/render: review a job's script before it renders
(issue 13). A job submitted with `review: true` stops at stage `awaiting_review` (status
pending); its owner reads the script with its ETag, may replace it (If-Match required: 428
without, 412 when it changed since), and approves the render. DELETE /v1/jobs/{id} drops it."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Response
from pydantic import BaseModel, ConfigDict, Field

from omnigen.ingest.api.deps import Context, UserId
from omnigen.ingest.api.errors import ApiError, ErrorBody
from omnigen.ingest.api.routes import (
    JobId,
    _owned_job,
    _submitted,
    _too_many_running,
    script_not_fit,
)
from omnigen.ingest.api.schemas import JobSubmitted
from omnigen.ingest.handlers import ScriptNotFit
from omnigen.ingest.review import approve_render, edit_script
from omnigen.shared.domain.errors import NotInReview, RunningJobsLimit, ScriptChanged
from omnigen.shared.domain.review import editable_script, script_etag
from omnigen.shared.domain.scripts import ScriptDraft
from omnigen.shared.domain.stages import JobStatus

router = APIRouter(prefix="/v1/jobs", tags=["review"])


class JobScript(BaseModel):
    job_id: str
    status: JobStatus
    stage: str = Field(description="`awaiting_review` while the script may be edited")
    editable: bool = Field(description="true while PUT may replace it (the job awaits review)")
    script: dict[str, Any] = Field(description="the script, in the shape PUT takes")


class EditScript(BaseModel):
    model_config = ConfigDict(extra="forbid")

    script: ScriptDraft = Field(description="the whole script, as GET shows it (edited)")


def _errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return {status: {"model": ErrorBody} for status in (401, 404, 422, *statuses)}


IfMatch = Annotated[
    str | None,
    Header(alias="If-Match", max_length=500, description="the ETag GET .../script answered"),
]


@router.get(
    "/{job_id}/script",
    response_model=JobScript,
    responses=_errors(409),
    summary="The job's script, with its ETag",
)
async def get_script(job_id: JobId, ctx: Context, user_id: UserId, response: Response) -> JobScript:
    """409 `script_not_ready` until the script is written."""
    job = await _owned_job(ctx, job_id, user_id)
    script = job.script
    if script is None:
        raise ApiError(
            409, "script_not_ready", f"job {job_id} has no script yet (it is {job.stage})"
        )
    response.headers["ETag"] = script_etag(script)
    response.headers["Cache-Control"] = "no-store"
    return JobScript(
        job_id=job.job_id,
        status=job.status,
        stage=job.stage,
        editable=job.in_review,
        script=editable_script(script),
    )


@router.put(
    "/{job_id}/script",
    response_model=JobScript,
    responses=_errors(409, 412, 428),
    summary="Replace the script of a job awaiting review",
    description="The same rules as a script given with the job (its duration, the pace of "
    "each scene's narration...): a 422 names the field (`script.scenes[2].narration`) and "
    "nothing changes. If-Match is required (428 without it); 412 when the script changed "
    "since that ETag; 409 `not_in_review` once the job no longer awaits review.",
)
async def put_script(
    job_id: JobId,
    body: EditScript,
    ctx: Context,
    user_id: UserId,
    response: Response,
    if_match: IfMatch = None,
) -> JobScript:
    job = await _owned_job(ctx, job_id, user_id)
    if not if_match:
        raise ApiError(
            428,
            "precondition_required",
            "If-Match: send the ETag of the script you edited (GET .../script answers it)",
            field="If-Match",
        )
    try:
        edited = await edit_script(ctx.ports, job, body.script, if_match)
    except NotInReview as exc:
        raise _not_in_review(exc) from None
    except ScriptChanged as exc:
        raise ApiError(412, "precondition_failed", str(exc), field="If-Match") from None
    except ScriptNotFit as exc:
        raise script_not_fit(exc) from None
    script = edited.script
    assert script is not None
    response.headers["ETag"] = script_etag(script)
    return JobScript(
        job_id=edited.job_id,
        status=edited.status,
        stage=edited.stage,
        editable=edited.in_review,
        script=editable_script(script),
    )


@router.post(
    "/{job_id}/render",
    status_code=202,
    response_model=JobSubmitted,
    responses=_errors(409, 429),
    summary="Approve the script: render the job",
    description="Idempotent: approving an approved job that is still running answers 202 "
    "again and renders it once. 409 `not_in_review` for a job that did not await review or "
    "has ended. A job awaiting review holds no running-jobs slot; its approval takes one "
    "(429 `too_many_running_jobs` at the cap: approve it later).",
)
async def render(job_id: JobId, ctx: Context, user_id: UserId, response: Response) -> JobSubmitted:
    job = await _owned_job(ctx, job_id, user_id)
    try:
        job = await approve_render(ctx.ports, job, running_cap=ctx.settings.max_running_jobs)
    except NotInReview as exc:
        raise _not_in_review(exc) from None
    except RunningJobsLimit as exc:
        raise _too_many_running(ctx, exc) from None
    return _submitted(ctx, job, response)


def _not_in_review(exc: NotInReview) -> ApiError:
    return ApiError(409, "not_in_review", str(exc), field="job_id")
