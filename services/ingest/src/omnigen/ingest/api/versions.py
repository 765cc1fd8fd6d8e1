"""Scene regeneration and the job's versions over HTTP: `POST
/v1/jobs/{id}/scenes/{n}/regenerate` (the use case is `omnigen.ingest.versions`), and the
version history `GET /v1/jobs/{id}` and `GET /v1/jobs/{id}/video?version=k` show."""

from __future__ import annotations

import time
from typing import Annotated, Any

from fastapi import APIRouter, Path, Response
from pydantic import BaseModel, Field

from omnigen.ingest.api.deps import Context, UserId
from omnigen.ingest.api.errors import ApiError, ErrorBody
from omnigen.ingest.api.routes import IdempotencyKey, JobId, _base, _owned_job
from omnigen.ingest.api.schemas import JobLinks, links
from omnigen.ingest.handlers import NotAnnounced
from omnigen.ingest.versions import regenerate_scene
from omnigen.shared.domain.errors import MonthlyQuotaExceeded
from omnigen.shared.domain.stages import JobStatus
from omnigen.shared.domain.usage import seconds_until_next_month
from omnigen.shared.domain.versions import (
    ChangesNotFit,
    SceneChanges,
    VersionConflict,
    VersionRefused,
)

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])

SceneNumber = Annotated[int, Path(ge=1, le=500, description="1-based scene number")]


class VersionAccepted(BaseModel):
    job_id: str
    version: int = Field(description="the version being made")
    status: JobStatus
    stage: str
    links: JobLinks


def _errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return {status: {"model": ErrorBody} for status in (401, 422, 429, *statuses)}


@router.post(
    "/{job_id}/scenes/{scene_number}/regenerate",
    status_code=202,
    response_model=VersionAccepted,
    responses=_errors(404, 409, 503),
    summary="Regenerate one scene: the job's next version",
    description="Makes version v+1 of a completed job: scene n is rendered again with the "
    "changes given (any of generation_prompt, narration, duration, shot_type, camera_angle, "
    "camera_move; none: a new take), in `chain` continuity also the scenes after it; every "
    "other clip, and the audio unless the narration or a duration changed, is reused; then "
    "the video is composed again. Older versions stay downloadable "
    "(`GET /v1/jobs/{id}/video?version=k`). One version at a time: while one is being made, "
    "409 `version_running` names it. 409 `not_regenerable` for a cancelled job or one "
    "without a completed video. The same Idempotency-Key and body answer the same version "
    "(`Idempotent-Replayed: true`) and resend its work if that was lost (a version whose "
    "work could not be sent at once is sent by the outbox sweeper; 503 `not_queued` only "
    "when such a resend failed). A version counts in the month's usage like a job: its "
    "seconds of video are those of the scenes it renders anew, and past "
    "OMNIGEN_MONTHLY_VIDEO_SECONDS_QUOTA it is refused (429 `monthly_quota_exceeded`, "
    "field `duration`; nothing is started).",
)
async def regenerate(
    job_id: JobId,
    scene_number: SceneNumber,
    ctx: Context,
    user_id: UserId,
    response: Response,
    idempotency_key: IdempotencyKey = None,
    body: SceneChanges | None = None,
) -> VersionAccepted:
    job = await _owned_job(ctx, job_id, user_id)
    try:
        outcome = await regenerate_scene(
            ctx.ports,
            job,
            scene_number,
            body or SceneChanges(),
            request_id=None if idempotency_key is None else f"api:{idempotency_key}",
            trace_id=None,
            video_quota_s=ctx.settings.monthly_video_seconds_quota,
        )
    except MonthlyQuotaExceeded as exc:
        raise ApiError(
            429,
            "monthly_quota_exceeded",
            str(exc),
            field="duration",
            headers={"Retry-After": str(seconds_until_next_month(time.time()))},
        ) from None
    except ChangesNotFit as exc:
        message = "; ".join(f"{field}: {message}" for field, message in exc.problems)
        raise ApiError(422, "script_not_fit", message, field=exc.problems[0][0]) from None
    except VersionConflict as exc:
        raise ApiError(409, "idempotency_conflict", str(exc), field="Idempotency-Key") from None
    except VersionRefused as exc:
        if exc.running_version is not None:
            raise ApiError(409, "version_running", str(exc), field="job_id") from None
        raise ApiError(409, "not_regenerable", str(exc), field="job_id") from None
    except NotAnnounced as exc:
        raise ApiError(
            503,
            "not_queued",
            f"{exc}; ask again with the same Idempotency-Key to resend",
            headers={"Retry-After": "2"},
        ) from None
    job_links = links(_base(ctx), job_id)
    response.headers["Location"] = job_links.self
    if not outcome.created:
        response.headers["Idempotent-Replayed"] = "true"
    return VersionAccepted(
        job_id=job_id,
        version=outcome.version,
        status=outcome.job.status,
        stage=outcome.job.stage,
        links=job_links,
    )
