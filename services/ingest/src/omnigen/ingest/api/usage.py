"""/v1/usage: the caller's own usage totals and quota for one month."""

from __future__ import annotations

import time
from typing import Annotated, Any

from fastapi import APIRouter, Query

from omnigen.ingest.api.deps import Context, UserId
from omnigen.ingest.api.errors import ApiError, ErrorBody
from omnigen.ingest.api.schemas import UsageQuota, UsageReport
from omnigen.shared.domain.usage import InvalidMonth, parse_month, usage_month

router = APIRouter(prefix="/v1/usage", tags=["usage"])

_ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody} for status in (400, 401, 422, 429)
}


@router.get("", response_model=UsageReport, responses=_ERRORS, summary="My usage for a month")
async def monthly_usage(
    ctx: Context,
    user_id: UserId,
    month: Annotated[
        str | None,
        Query(max_length=32, description="YYYY-MM (UTC); default: this month"),
    ] = None,
) -> UsageReport:
    try:
        wanted = usage_month(time.time()) if month is None else parse_month(month)
    except InvalidMonth as exc:
        raise ApiError(400, "invalid_month", str(exc), field="month") from None
    totals = await ctx.ports.repository.monthly_usage(user_id, wanted)
    limit = ctx.settings.monthly_video_seconds_quota
    quota = (
        None
        if limit is None
        else UsageQuota(
            video_seconds=limit, remaining_seconds=max(0, limit - totals.requested_seconds)
        )
    )
    return UsageReport(**totals.model_dump(), quota=quota)
