"""An in-memory UploadStore for handler tests (the same port as the DynamoDB one)."""

from __future__ import annotations

from omnigen.shared.domain.uploads import (
    TooManyUploads,
    Upload,
    UploadFacts,
    UploadNotFound,
    UploadStatus,
)


class InMemoryUploadStore:
    def __init__(self) -> None:
        self.uploads_by_id: dict[str, Upload] = {}

    async def add_upload(self, upload: Upload, *, limit: int) -> None:
        if len(await self.uploads_of(upload.owner)) >= limit:
            raise TooManyUploads(limit)
        self.uploads_by_id[upload.upload_id] = upload

    async def uploads_of(self, owner: str) -> list[Upload]:
        mine = [u for u in self.uploads_by_id.values() if u.owner == owner]
        return sorted(mine, key=lambda u: (u.created_at, u.upload_id))

    async def get_upload(self, owner: str, upload_id: str) -> Upload:
        upload = self.uploads_by_id.get(upload_id)
        if upload is None or upload.owner != owner:
            raise UploadNotFound(upload_id)
        return upload

    async def find_upload(self, upload_id: str) -> Upload | None:
        return self.uploads_by_id.get(upload_id)

    async def record_check(
        self,
        upload_id: str,
        status: UploadStatus,
        *,
        reason: str | None,
        facts: UploadFacts,
        checked_at: float,
    ) -> bool:
        upload = self.uploads_by_id.get(upload_id)
        if upload is None or upload.status is not UploadStatus.PENDING:
            return False
        self.uploads_by_id[upload_id] = upload.model_copy(
            update={"status": status, "reason": reason, "facts": facts, "checked_at": checked_at}
        )
        return True

    async def delete_upload(self, owner: str, upload_id: str) -> Upload:
        upload = await self.get_upload(owner, upload_id)
        del self.uploads_by_id[upload_id]
        return upload

    async def keep_until(self, upload_ids: list[str], expires_at: int) -> None:
        for upload_id in upload_ids:
            upload = self.uploads_by_id.get(upload_id)
            if upload is not None and upload.expires_at < expires_at:
                self.uploads_by_id[upload_id] = upload.model_copy(update={"expires_at": expires_at})
