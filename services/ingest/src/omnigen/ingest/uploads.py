"""Users' uploads as use cases over the ports: start one (a record and a presigned POST),
forget one, and resolve the uploads a job names into ones it may use."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from omnigen.shared.domain.uploads import (
    MAX_BYTES,
    MAX_UPLOADS_PER_USER,
    POST_EXPIRES_S,
    UnusableUpload,
    Upload,
    UploadKind,
    UploadNotFound,
)
from omnigen.shared.ports import AssetStore, PresignedPost, UploadPresigner, UploadStore


@dataclass(frozen=True)
class UploadAccess:
    store: UploadStore
    presigner: UploadPresigner
    assets: AssetStore
    limit: int = MAX_UPLOADS_PER_USER
    clock: Callable[[], float] = field(default=time.time)


class UnusableReference(Exception):
    """A job names an upload it may not use; `field` is the request's path to it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


async def start_upload(
    access: UploadAccess, owner: str, content_type: str, filename: str | None
) -> tuple[Upload, PresignedPost]:
    """Record a pending upload, then presign the one POST that may fill it."""
    upload = Upload.new(owner, content_type, filename, access.clock())
    await access.store.add_upload(upload, limit=access.limit)
    post = await access.presigner.presigned_post(
        upload.key,
        content_type=content_type,
        max_bytes=MAX_BYTES[upload.kind],
        expires_in=POST_EXPIRES_S,
    )
    return upload, post


async def forget_upload(access: UploadAccess, owner: str, upload_id: str) -> None:
    """The record first (no job can pick it up after this), then its bytes. A job already
    rendering with it keeps its own copy of the scene it made."""
    upload = await access.store.delete_upload(owner, upload_id)
    await access.assets.delete_prefix(upload.key)


IMAGES: tuple[UploadKind, ...] = (UploadKind.IMAGE,)
VISUALS: tuple[UploadKind, ...] = (UploadKind.IMAGE, UploadKind.VIDEO)
SOUNDS: tuple[UploadKind, ...] = (UploadKind.AUDIO,)


def kinds_at(path: str) -> tuple[UploadKind, ...]:
    """What an upload may be where a request names it (`JobRequest.upload_references`)."""
    if path == "options.music_track":
        return SOUNDS
    if path.endswith(".media"):
        return VISUALS
    return IMAGES


async def resolve_references(
    access: UploadAccess,
    owner: str,
    references: Mapping[str, tuple[str, tuple[UploadKind, ...]]],
    *,
    keep_until: int,
) -> dict[str, Upload]:
    """Each request path -> (upload id, kinds allowed there) resolved to the owner's usable
    upload; someone else's, a deleted one and an unknown one read the same ("not found"). The
    uploads a job uses are then kept at least as long as the job."""
    resolved: dict[str, Upload] = {}
    for path, (upload_id, kinds) in references.items():
        try:
            upload = await access.store.get_upload(owner, upload_id)
            upload.usable_as(kinds)
        except UploadNotFound:
            raise UnusableReference(path, f"upload {upload_id} not found") from None
        except UnusableUpload as exc:
            raise UnusableReference(path, str(exc)) from None
        resolved[path] = upload
    if resolved:
        await access.store.keep_until([u.upload_id for u in resolved.values()], keep_until)
    return resolved
