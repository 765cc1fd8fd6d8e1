"""/healthz (the process answers) and /readyz (table, topic and bucket are reachable)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from omnigen.ingest.api.deps import Context
from omnigen.ingest.api.errors import ErrorDetail

router = APIRouter(tags=["health"])


class Health(BaseModel):
    status: str


class Readiness(BaseModel):
    status: str
    checks: dict[str, str]
    error: ErrorDetail | None = None


@router.get("/healthz", response_model=Health)
async def healthz() -> Health:
    return Health(status="ok")


@router.get("/readyz", response_model=Readiness, responses={503: {"model": Readiness}})
async def readyz(ctx: Context) -> JSONResponse:
    checks = await ctx.readiness.check()
    failed = {name: why for name, why in checks.items() if why != "ok"}
    if not failed:
        return JSONResponse(Readiness(status="ready", checks=checks).model_dump())
    message = "unreachable: " + "; ".join(f"{name} ({why})" for name, why in failed.items())
    body = Readiness(
        status="not_ready",
        checks=checks,
        error=ErrorDetail(code="not_ready", message=message, field=None),
    )
    return JSONResponse(body.model_dump(), status_code=503)
