"""POST /v1/jobs:batch: up to 100 job requests in one call, each with its own idempotency key.

Every item is what one `POST /v1/jobs` would be, and is treated so: validated on its own (a bad
item is a 422 result naming its field, the others go on), counted by the rate limit and the
running-jobs cap like a single submission, created and announced through the same use case.
Items are taken in order, so when a limit is reached it is the later items that are refused.
An item's failure never undoes another's job; repeating the batch with the same keys replays the
accepted items and retries the rest.
"""

from __future__ import annotations

import time
from typing import Annotated, Any, Final, Literal

import structlog
from fastapi import APIRouter, Body, Request
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from omnigen.ingest.api.deps import Context, UserId
from omnigen.ingest.api.errors import ApiError, ErrorBody, ErrorDetail
from omnigen.ingest.api.routes import SUBMISSION_REFUSALS, request_of, submission_refused
from omnigen.ingest.api.schemas import JobLinks, SubmitJob, links
from omnigen.ingest.context import IngestContext
from omnigen.ingest.handlers import check_callback, submit_job
from omnigen.ingest.limits import LimitExceeded
from omnigen.shared.domain.eta import estimated_completion_seconds
from omnigen.shared.domain.stages import JobStatus
from omnigen.shared.domain.text import error_message

log = structlog.get_logger()

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])

MAX_BATCH_ITEMS: Final = 100
BATCH_PATH: Final = "/v1/jobs:batch"

Outcome = Literal["accepted", "replayed", "conflict", "invalid", "limited"]
_OUTCOMES: Final[dict[int, Outcome]] = {409: "conflict", 422: "invalid", 429: "limited"}


class BatchItem(BaseModel):
    """One job of a batch: its idempotency key and the body a `POST /v1/jobs` would carry."""

    model_config = ConfigDict(extra="forbid")

    idempotency_key: Annotated[
        str, StringConstraints(min_length=1, max_length=200, pattern=r"^[\x21-\x7e]+$")
    ] = Field(description="this item's Idempotency-Key")
    request: SubmitJob


class SubmitBatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # Items stay raw here so that one bad item is that item's 422, not the whole batch's.
    jobs: list[Any] = Field(
        min_length=1,
        max_length=MAX_BATCH_ITEMS,
        description=f'1-{MAX_BATCH_ITEMS} items, each `{{"idempotency_key": str, '
        '"request": <the body of POST /v1/jobs>}`',
        examples=[
            [
                {
                    "idempotency_key": "spring-campaign-1",
                    "request": {"prompt": "A quiet harbour town at sunrise", "duration": 20},
                }
            ]
        ],
    )


class BatchResult(BaseModel):
    index: int = Field(description="the item's position in `jobs`")
    idempotency_key: str | None
    status: int = Field(description="what `POST /v1/jobs` would have answered for this item")
    outcome: Outcome
    job_id: str | None = None
    job_status: JobStatus | None = None
    links: JobLinks | None = None
    estimated_completion_seconds: int | None = Field(
        default=None, description="seconds until the item's job is likely done"
    )
    error: ErrorDetail | None = None


class BatchSubmitted(BaseModel):
    results: list[BatchResult]
    accepted: int = Field(description="items that made a new job")
    replayed: int = Field(description="items whose key already named this job")
    refused: int = Field(description="items that made no job (see each result's error)")


@router.post(
    ":batch",
    response_model=BatchSubmitted,
    responses={
        status: {"model": ErrorBody} for status in (401, 413, 422, 429)
    },  # 422/429 here: the batch as a whole; items carry their own
    summary="Submit up to 100 video jobs at once",
    description="One result per item, in order: `accepted` (202), `replayed` (200, the key "
    "named an existing job), `conflict` (409, the key names another request), `invalid` "
    "(422, naming the item's field) or `limited` (429: the rate limit or the running-jobs "
    "cap). Items are submitted in order; a refused item never undoes an accepted one.",
)
async def submit_batch(
    body: Annotated[SubmitBatch, Body()], ctx: Context, user_id: UserId, request: Request
) -> BatchSubmitted:
    results = []
    for index, raw in enumerate(body.jobs):
        results.append(await _submit_item(ctx, user_id, index, raw, request.state.trace_id))
    counts = {o: sum(r.outcome == o for r in results) for o in ("accepted", "replayed")}
    log.info("batch_submitted", user_id=user_id, items=len(results), **counts)
    return BatchSubmitted(
        results=results,
        accepted=counts["accepted"],
        replayed=counts["replayed"],
        refused=len(results) - counts["accepted"] - counts["replayed"],
    )


async def _submit_item(
    ctx: IngestContext, user_id: str, index: int, raw: Any, trace_id: str | None
) -> BatchResult:
    key = raw.get("idempotency_key") if isinstance(raw, dict) else None
    key = key if isinstance(key, str) else None
    refused = _Refusal(index, key, trace_id)
    try:
        item = BatchItem.model_validate(raw)
    except ValidationError as exc:
        errors = exc.errors()
        message = "; ".join(f"{_field(e['loc'])}: {error_message(e)}" for e in errors)
        return refused(422, "invalid", "validation_error", message, _field(errors[0]["loc"]))
    try:
        job_request = request_of(item.request)
    except ApiError as exc:
        return refused(422, "invalid", exc.code, exc.message, f"request.{exc.field}")
    try:
        await ctx.limiter.check(user_id)
    except LimitExceeded as exc:
        return refused(429, "limited", "rate_limited", f"{exc} (retry in {exc.retry_after_s} s)")
    if item.request.callback_url:
        problem = await check_callback(ctx.ports, user_id, item.request.callback_url)
        if problem is not None:
            field = _field(("request", "callback_url"))
            return refused(422, "invalid", "invalid_callback_url", f"{field}: {problem}", field)
    try:
        submission = await submit_job(
            ctx.ports,
            user_id=user_id,
            request=job_request,
            idempotency_key=item.idempotency_key,
            trace_id=None,  # every job its own trace
            running_cap=ctx.settings.max_running_jobs,
            video_quota_s=ctx.settings.monthly_video_seconds_quota,
        )
        job, created = submission.job, submission.created
    except SUBMISSION_REFUSALS as exc:
        error = submission_refused(ctx, exc)
        named = f"request.{error.field}" if error.field else None
        if error.code == "idempotency_conflict":
            named = "idempotency_key"  # the item's own, not a header
        return refused(error.status, _OUTCOMES[error.status], error.code, error.message, named)
    base = (ctx.settings.public_base_url or "").rstrip("/")
    return BatchResult(
        index=index,
        idempotency_key=key,
        status=202 if created else 200,
        outcome="accepted" if created else "replayed",
        job_id=job.job_id,
        job_status=job.status,
        links=links(base, job.job_id),
        estimated_completion_seconds=estimated_completion_seconds(job, time.time()),
    )


class _Refusal:
    """The result of an item that made no job; its field is named from the item
    (`request.duration`), its position by `index`."""

    def __init__(self, index: int, key: str | None, trace_id: str | None) -> None:
        self.index, self.key, self.trace_id = index, key, trace_id

    def __call__(
        self, status: int, outcome: Outcome, code: str, message: str, field: str | None = None
    ) -> BatchResult:
        detail = ErrorDetail(code=code, message=message, field=field, request_id=self.trace_id)
        return BatchResult(
            index=self.index, idempotency_key=self.key, status=status, outcome=outcome, error=detail
        )


def _field(location: tuple[int | str, ...]) -> str:
    return ".".join(str(part) for part in location) or "item"
