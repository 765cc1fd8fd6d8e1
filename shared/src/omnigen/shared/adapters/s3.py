"""S3 asset store: per-job prefixes, multipart upload for large files, presigned downloads."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Final

from omnigen.shared.adapters.aws import error_code
from omnigen.shared.ports import PresignedPost

if TYPE_CHECKING:
    from types_aiobotocore_s3 import S3Client

MULTIPART_THRESHOLD: Final = 16 * 1024 * 1024
PART_SIZE: Final = 8 * 1024 * 1024


class S3AssetStore:
    def __init__(
        self,
        client: S3Client,
        bucket: str,
        *,
        part_size: int = PART_SIZE,
        multipart_threshold: int = MULTIPART_THRESHOLD,
        presigner: S3Client | None = None,
    ) -> None:
        """`presigner`: a client configured for the endpoint clients download from, when it
        is not the one this process talks to (presigning is offline: it makes no call)."""
        self._client = client
        self._presigner = presigner or client
        self._bucket = bucket
        self._part_size = part_size
        self._threshold = max(multipart_threshold, part_size)

    @property
    def bucket(self) -> str:
        return self._bucket

    async def put_bytes(self, key: str, data: bytes, content_type: str) -> None:
        await self._client.put_object(
            Bucket=self._bucket, Key=key, Body=data, ContentType=content_type
        )

    async def put_file(self, key: str, path: Path, content_type: str) -> None:
        size = (await asyncio.to_thread(path.stat)).st_size
        if size < self._threshold:
            await self.put_bytes(key, await asyncio.to_thread(path.read_bytes), content_type)
            return
        upload = await self._client.create_multipart_upload(
            Bucket=self._bucket, Key=key, ContentType=content_type
        )
        upload_id = upload["UploadId"]
        parts = []
        try:
            with path.open("rb") as handle:
                number = 1
                while chunk := await asyncio.to_thread(handle.read, self._part_size):
                    part = await self._client.upload_part(
                        Bucket=self._bucket,
                        Key=key,
                        UploadId=upload_id,
                        PartNumber=number,
                        Body=chunk,
                    )
                    parts.append({"ETag": part["ETag"], "PartNumber": number})
                    number += 1
            await self._client.complete_multipart_upload(
                Bucket=self._bucket,
                Key=key,
                UploadId=upload_id,
                MultipartUpload={"Parts": parts},  # type: ignore[typeddict-item]
            )
        except BaseException:
            await self._client.abort_multipart_upload(
                Bucket=self._bucket, Key=key, UploadId=upload_id
            )
            raise

    async def get_file(self, key: str, path: Path) -> None:
        response = await self._client.get_object(Bucket=self._bucket, Key=key)
        async with response["Body"] as body:
            with path.open("wb") as handle:
                while chunk := await body.read(1024 * 1024):
                    await asyncio.to_thread(handle.write, chunk)

    async def exists(self, key: str) -> bool:
        try:
            await self._client.head_object(Bucket=self._bucket, Key=key)
        except Exception as exc:
            if error_code(exc) in ("404", "NoSuchKey", "NotFound"):
                return False
            raise
        return True

    async def presigned_url(self, key: str, expires_in: int = 900) -> str:
        return await self._presigner.generate_presigned_url(
            "get_object", Params={"Bucket": self._bucket, "Key": key}, ExpiresIn=expires_in
        )

    async def presigned_post(
        self, key: str, *, content_type: str, max_bytes: int, expires_in: int
    ) -> PresignedPost:
        """The POST policy itself holds the key, the content type and the size range, so S3
        refuses any other file (offline, like every presign)."""
        post = await self._presigner.generate_presigned_post(
            Bucket=self._bucket,
            Key=key,
            Fields={"Content-Type": content_type},
            Conditions=[
                {"Content-Type": content_type},
                ["content-length-range", 1, max_bytes],
            ],
            ExpiresIn=expires_in,
        )
        return PresignedPost(url=post["url"], fields=dict(post["fields"]))

    async def list_keys(self, prefix: str) -> AsyncIterator[str]:
        paginator = self._client.get_paginator("list_objects_v2")
        async for page in paginator.paginate(Bucket=self._bucket, Prefix=prefix):
            for entry in page.get("Contents", []):
                yield entry["Key"]

    async def delete_prefix(self, prefix: str) -> int:
        keys = [key async for key in self.list_keys(prefix)]
        for start in range(0, len(keys), 1000):
            batch = keys[start : start + 1000]
            await self._client.delete_objects(
                Bucket=self._bucket,
                Delete={"Objects": [{"Key": key} for key in batch], "Quiet": True},
            )
        return len(keys)
