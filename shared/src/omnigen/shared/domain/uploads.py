"""A user's own media: an upload is one file of an allowed kind, put straight into the bucket
by a presigned POST under its owner's prefix, then checked by decoding it (`ready` with its
facts, or `rejected` with the reason a user reads). Nothing here knows S3 or DynamoDB."""

from __future__ import annotations

import hashlib
import re
import uuid
from enum import StrEnum
from typing import Annotated, Final

from pydantic import BaseModel, ConfigDict, Field, StringConstraints


class UploadKind(StrEnum):
    IMAGE = "image"
    VIDEO = "video"
    AUDIO = "audio"


class UploadStatus(StrEnum):
    PENDING = "pending"  # presigned; the bytes have not arrived or are being checked
    READY = "ready"
    REJECTED = "rejected"


# The allowlist: content type -> (kind, file extension of the stored object).
CONTENT_TYPES: Final[dict[str, tuple[UploadKind, str]]] = {
    "image/jpeg": (UploadKind.IMAGE, "jpg"),
    "image/png": (UploadKind.IMAGE, "png"),
    "image/webp": (UploadKind.IMAGE, "webp"),
    "video/mp4": (UploadKind.VIDEO, "mp4"),
    "video/quicktime": (UploadKind.VIDEO, "mov"),
    "audio/mpeg": (UploadKind.AUDIO, "mp3"),
    "audio/wav": (UploadKind.AUDIO, "wav"),
    "audio/mp4": (UploadKind.AUDIO, "m4a"),
}
# The size cap per kind, enforced by the POST policy's content-length-range.
MAX_BYTES: Final[dict[UploadKind, int]] = {
    UploadKind.IMAGE: 25 * 1024 * 1024,
    UploadKind.VIDEO: 300 * 1024 * 1024,
    UploadKind.AUDIO: 50 * 1024 * 1024,
}
MAX_PIXELS: Final = 40_000_000  # 8000x5000; a bigger header is a decompression bomb to us
MAX_VIDEO_SIDE: Final = 4096
MAX_DURATION_S: Final[dict[UploadKind, float]] = {
    UploadKind.VIDEO: 10 * 60.0,
    UploadKind.AUDIO: 30 * 60.0,
}
MAX_UPLOADS_PER_USER: Final = 200
POST_EXPIRES_S: Final = 15 * 60
UPLOAD_ID: Final = re.compile(r"^up_[0-9a-f]{32}$")
# A reference to an upload in a request (a scene's media, a start image, a music track).
UploadRef = Annotated[str, StringConstraints(strict=True, pattern=UPLOAD_ID.pattern)]
TTL_SECONDS: Final = 7 * 24 * 3600  # as a job's (domain.jobs.TTL_SECONDS; a test holds them equal)
_KEY: Final = re.compile(r"^uploads/[0-9a-f]{32}/(up_[0-9a-f]{32})\.[a-z0-9]{3,4}$")


class UploadNotFound(Exception):
    """No such upload of this user (someone else's is reported the same way)."""

    def __init__(self, upload_id: str) -> None:
        super().__init__(f"upload {upload_id} not found")
        self.upload_id = upload_id


class TooManyUploads(Exception):
    def __init__(self, limit: int) -> None:
        super().__init__(f"at most {limit} uploads per user; delete some first")
        self.limit = limit


class UnusableUpload(Exception):
    """An upload a job may not use: `reason` is what the 422 says about the field."""

    def __init__(self, upload_id: str, reason: str) -> None:
        super().__init__(f"upload {upload_id} {reason}")
        self.upload_id = upload_id
        self.reason = reason


def kind_of(content_type: str) -> UploadKind | None:
    entry = CONTENT_TYPES.get(content_type.lower())
    return None if entry is None else entry[0]


def owner_prefix(owner: str) -> str:
    """A user's own prefix in the bucket: a digest, so no user id shapes a key."""
    return f"uploads/{hashlib.sha256(owner.encode()).hexdigest()[:32]}/"


def upload_key(owner: str, upload_id: str, content_type: str) -> str:
    return f"{owner_prefix(owner)}{upload_id}.{CONTENT_TYPES[content_type][1]}"


def upload_id_of_key(key: str) -> str | None:
    """The upload id an object key belongs to; None for any key that is not an upload's."""
    match = _KEY.match(key)
    return match.group(1) if match else None


def new_upload_id() -> str:
    return f"up_{uuid.uuid4().hex}"


class UploadFacts(BaseModel):
    """What the check measured; every field optional (an image has no duration)."""

    model_config = ConfigDict(frozen=True)

    width: int | None = None
    height: int | None = None
    duration_s: float | None = None
    has_video: bool | None = None
    has_audio: bool | None = None


class Upload(BaseModel):
    model_config = ConfigDict(frozen=True)

    upload_id: str
    owner: str
    content_type: str
    kind: UploadKind
    key: str
    filename: str | None = None
    status: UploadStatus = UploadStatus.PENDING
    reason: str | None = None
    facts: UploadFacts = Field(default_factory=UploadFacts)
    created_at: float
    checked_at: float | None = None
    # Expires like a job; a job that uses it keeps it as long as that job lives.
    expires_at: int

    @classmethod
    def new(cls, owner: str, content_type: str, filename: str | None, now: float) -> Upload:
        upload_id = new_upload_id()
        return cls(
            upload_id=upload_id,
            owner=owner,
            content_type=content_type,
            kind=CONTENT_TYPES[content_type][0],
            key=upload_key(owner, upload_id, content_type),
            filename=filename,
            created_at=now,
            expires_at=int(now) + TTL_SECONDS,
        )

    def usable_as(self, kinds: tuple[UploadKind, ...]) -> None:
        """`UnusableUpload` unless the check passed and it is of one of `kinds`."""
        if self.status is UploadStatus.PENDING:
            raise UnusableUpload(self.upload_id, "is still being checked; try again shortly")
        if self.status is UploadStatus.REJECTED:
            raise UnusableUpload(self.upload_id, f"was rejected: {self.reason}")
        if self.kind not in kinds:
            wanted = " or ".join(k.value for k in kinds)
            raise UnusableUpload(self.upload_id, f"is {self.kind.value}; {wanted} is needed here")
        if self.kind is UploadKind.VIDEO and self.facts.has_video is False:
            raise UnusableUpload(self.upload_id, "has no video stream")


__all__ = [
    "CONTENT_TYPES",
    "MAX_BYTES",
    "MAX_DURATION_S",
    "MAX_PIXELS",
    "MAX_UPLOADS_PER_USER",
    "MAX_VIDEO_SIDE",
    "POST_EXPIRES_S",
    "UPLOAD_ID",
    "TooManyUploads",
    "UnusableUpload",
    "Upload",
    "UploadFacts",
    "UploadKind",
    "UploadNotFound",
    "UploadRef",
    "UploadStatus",
    "kind_of",
    "new_upload_id",
    "owner_prefix",
    "upload_id_of_key",
    "upload_key",
]
