"""Check each upload once its bytes arrive: S3 tells the uploads queue of every object created
under `uploads/`, and this worker decodes the file and settles its upload (`ready` with its
facts, or `rejected` with the reason). A notice is deleted once its check is recorded; one
that keeps failing (storage down) goes to the queue's DLQ and its upload stays `pending`."""

from __future__ import annotations

import asyncio
import json
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote_plus

import structlog

from omnigen.renderer.uploads.inspect import inspect_upload
from omnigen.shared.domain.uploads import UploadStatus, upload_id_of_key
from omnigen.shared.ports import AssetStore, UploadStore

if TYPE_CHECKING:
    from types_aiobotocore_sqs import SQSClient

log = structlog.get_logger()


@dataclass(frozen=True)
class CheckerDeps:
    store: UploadStore
    assets: AssetStore
    clock: Callable[[], float] = field(default=time.time)
    work_dir: Path | None = None  # None: the system's temporary directory


async def check_upload(key: str, deps: CheckerDeps) -> UploadStatus | None:
    """Decode the object at `key` and settle its upload; None when there is nothing to settle
    (not an upload's key, an upload since deleted, or one settled by an earlier notice)."""
    upload_id = upload_id_of_key(key)
    upload = None if upload_id is None else await deps.store.find_upload(upload_id)
    if upload is None or upload.key != key or upload.status is not UploadStatus.PENDING:
        log.info("upload_notice_ignored", upload_id=upload_id)
        return None
    with tempfile.TemporaryDirectory(dir=deps.work_dir, prefix="upload-") as tmp:
        path = Path(tmp) / "file"
        await deps.assets.get_file(key, path)
        verdict = await inspect_upload(path, upload.kind)
    status = UploadStatus.READY if verdict.ready else UploadStatus.REJECTED
    await deps.store.record_check(
        upload.upload_id,
        status,
        reason=verdict.reason,
        facts=verdict.facts,
        checked_at=deps.clock(),
    )
    log.info("upload_checked", upload_id=upload.upload_id, status=status.value)
    return status


def created_keys(body: str) -> list[str]:
    """The object keys an S3 event notification names (its test event names none)."""
    try:
        notice = json.loads(body)
    except ValueError:
        return []
    records: Any = notice.get("Records", []) if isinstance(notice, dict) else []
    keys: list[str] = []
    for record in records if isinstance(records, list) else []:
        if str(record.get("eventName", "")).startswith("ObjectCreated"):
            raw = record.get("s3", {}).get("object", {}).get("key")
            if isinstance(raw, str):
                keys.append(unquote_plus(raw))  # S3 sends keys URL-encoded
    return keys


class UploadChecker:
    """A long poll of the uploads queue, one notice at a time (a check is short)."""

    def __init__(
        self, sqs: SQSClient, queue_name: str, deps: CheckerDeps, *, wait_time_s: int = 20
    ) -> None:
        self._sqs = sqs
        self._queue_name = queue_name
        self._deps = deps
        self._wait_time_s = wait_time_s
        self._stopping = asyncio.Event()

    def stop(self) -> None:
        self._stopping.set()

    async def run(self) -> None:
        url = (await self._sqs.get_queue_url(QueueName=self._queue_name))["QueueUrl"]
        log.info("upload_checker_started")
        while not self._stopping.is_set():
            receive = asyncio.ensure_future(
                self._sqs.receive_message(
                    QueueUrl=url, MaxNumberOfMessages=1, WaitTimeSeconds=self._wait_time_s
                )
            )
            stop = asyncio.ensure_future(self._stopping.wait())
            await asyncio.wait({receive, stop}, return_when=asyncio.FIRST_COMPLETED)
            if not receive.done():
                receive.cancel()
                stop.cancel()
                break
            stop.cancel()
            for message in receive.result().get("Messages", []):
                await self._handle(url, message)

    async def _handle(self, url: str, message: Any) -> None:
        try:
            for key in created_keys(message.get("Body", "")):
                await check_upload(key, self._deps)
        except Exception as exc:  # left on the queue: retried, then its DLQ
            log.warning("upload_check_failed", error=type(exc).__name__)
            return
        await self._sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
