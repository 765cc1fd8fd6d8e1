"""/v1/uploads: a user's own media. POST answers with a presigned POST for one file; the
bytes go straight to the bucket, and a check decodes them before any job may use them."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Final

from fastapi import APIRouter, Path, Response
from pydantic import BaseModel, ConfigDict, Field

from omnigen.ingest.api.deps import Context, UserId
from omnigen.ingest.api.errors import ApiError, ErrorBody
from omnigen.ingest.api.schemas import timestamp
from omnigen.ingest.context import IngestContext
from omnigen.ingest.uploads import UploadAccess, forget_upload, start_upload
from omnigen.shared.domain.text import LineText
from omnigen.shared.domain.uploads import (
    CONTENT_TYPES,
    MAX_BYTES,
    POST_EXPIRES_S,
    TooManyUploads,
    Upload,
    UploadNotFound,
    kind_of,
)

router = APIRouter(tags=["uploads"])
UploadId = Annotated[str, Path(pattern=r"^up_[0-9a-f]{32}$", description="the id POST returned")]
NO_STORE: Final = {"Cache-Control": "no-store"}


class NewUpload(BaseModel):
    model_config = ConfigDict(extra="forbid")

    content_type: str = Field(
        min_length=1, max_length=100, description=f"one of: {', '.join(CONTENT_TYPES)}"
    )
    filename: LineText | None = Field(default=None, max_length=200, description="for your eyes")


class UploadOut(BaseModel):
    id: str
    kind: str
    content_type: str
    filename: str | None
    status: str = Field(description="pending (not arrived or being checked), ready, rejected")
    reason: str | None = Field(description="why it was rejected")
    width: int | None
    height: int | None
    duration_s: float | None
    created_at: datetime | None
    expires_at: datetime | None


class PostTarget(BaseModel):
    url: str
    fields: dict[str, str] = Field(description="form fields to send before the `file` field")
    max_bytes: int
    expires_at: datetime | None


class UploadCreated(UploadOut):
    upload: PostTarget = Field(description="POST the file here as multipart/form-data")


class UploadList(BaseModel):
    uploads: list[UploadOut]


def _errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return {status: {"model": ErrorBody} for status in (401, 422, 429, *statuses)}


def upload_access(ctx: IngestContext) -> UploadAccess:
    if ctx.ports.uploads is None:
        raise ApiError(503, "uploads_unavailable", "uploads are not configured here")
    return ctx.ports.uploads


def _out(upload: Upload) -> dict[str, Any]:
    return {
        "id": upload.upload_id,
        "kind": upload.kind.value,
        "content_type": upload.content_type,
        "filename": upload.filename,
        "status": upload.status.value,
        "reason": upload.reason,
        "width": upload.facts.width,
        "height": upload.facts.height,
        "duration_s": upload.facts.duration_s,
        "created_at": timestamp(upload.created_at),
        "expires_at": timestamp(upload.expires_at),
    }


@router.post(
    "/v1/uploads",
    status_code=201,
    response_model=UploadCreated,
    responses=_errors(409),
    summary="Start an upload: a presigned POST for one file",
)
async def create_upload(
    body: NewUpload, ctx: Context, user_id: UserId, response: Response
) -> UploadCreated:
    content_type = body.content_type.strip().lower()
    kind = kind_of(content_type)
    if kind is None:
        allowed = ", ".join(CONTENT_TYPES)
        raise ApiError(
            422,
            "unsupported_media_type",
            f"content_type: {body.content_type!r} is not accepted; one of: {allowed}",
            field="content_type",
        )
    access = upload_access(ctx)
    try:
        upload, post = await start_upload(access, user_id, content_type, body.filename)
    except TooManyUploads as exc:
        raise ApiError(409, "too_many_uploads", str(exc)) from None
    response.headers.update(NO_STORE)
    target = PostTarget(
        url=post.url,
        fields=post.fields,
        max_bytes=MAX_BYTES[kind],
        expires_at=timestamp(upload.created_at + POST_EXPIRES_S),
    )
    return UploadCreated(**_out(upload), upload=target)


@router.get("/v1/uploads", response_model=UploadList, responses=_errors(), summary="My uploads")
async def list_uploads(ctx: Context, user_id: UserId) -> UploadList:
    uploads = await upload_access(ctx).store.uploads_of(user_id)
    return UploadList(uploads=[UploadOut(**_out(u)) for u in uploads])


@router.get(
    "/v1/uploads/{upload_id}", response_model=UploadOut, responses=_errors(404), summary="One"
)
async def get_upload(upload_id: UploadId, ctx: Context, user_id: UserId) -> UploadOut:
    try:
        return UploadOut(**_out(await upload_access(ctx).store.get_upload(user_id, upload_id)))
    except UploadNotFound as exc:
        raise ApiError(404, "not_found", str(exc), field="upload_id") from None


@router.delete(
    "/v1/uploads/{upload_id}", status_code=204, responses=_errors(404), summary="Delete one"
)
async def delete_upload(upload_id: UploadId, ctx: Context, user_id: UserId) -> Response:
    try:
        await forget_upload(upload_access(ctx), user_id, upload_id)
    except UploadNotFound as exc:
        raise ApiError(404, "not_found", str(exc), field="upload_id") from None
    return Response(status_code=204)
