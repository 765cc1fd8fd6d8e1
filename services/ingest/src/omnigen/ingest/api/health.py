"""/healthz (the process answers) and /readyz (table, topic and bucket are reachable)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from omnigen.ingest.api.deps import Context
from omnigen.ingest.api.errors import ErrorDetail, request_id_of

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
async def readyz(ctx: Context, request: Request) -> JSONResponse:
    checks = await ctx.readiness.check()
    failed = {name: why for name, why in checks.items() if why != "ok"}
    if not failed:
        return JSONResponse(Readiness(status="ready", checks=checks).model_dump())
    message = "not reachable: " + ", ".join(f"{name} ({why})" for name, why in failed.items())
    detail = ErrorDetail(code="not_ready", message=message, request_id=request_id_of(request))
    body = Readiness(status="not_ready", checks=checks, error=detail)
    return JSONResponse(body.model_dump(), status_code=503)
