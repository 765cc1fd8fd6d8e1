"""Uploads on both backends: the bucket tells the uploads queue when a user's file arrives,
the checker settles it; the POST policy's size range (where the emulator enforces it); a
user's uploads up to the cap, listed whole past one BatchGetItem's 100 keys."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from omnigen.ingest.uploads import UploadAccess, start_upload
from omnigen.renderer.uploads.checker import CheckerDeps, UploadChecker
from omnigen.shared.adapters.upload_store import DynamoUploadStore
from omnigen.shared.domain.uploads import MAX_UPLOADS_PER_USER, TooManyUploads, Upload, UploadStatus
from omnigen.testing import upload_samples as samples
from omnigen.testing.fixtures import Stack


@pytest.fixture
async def access(stack: Stack) -> AsyncIterator[UploadAccess]:
    assets = await stack.assets()
    store = DynamoUploadStore(await stack.aws.dynamodb(), stack.spec.table)
    checker = UploadChecker(
        await stack.aws.sqs(),
        stack.spec.uploads_queue.name,
        CheckerDeps(store=store, assets=assets),
        wait_time_s=1,
    )
    running = asyncio.create_task(checker.run())
    yield UploadAccess(store=store, presigner=assets, assets=assets)
    checker.stop()
    await running


async def post(access: UploadAccess, owner: str, content_type: str, path: Path) -> Upload:
    upload, target = await start_upload(access, owner, content_type, path.name)
    async with httpx.AsyncClient(timeout=30) as client:
        sent = await client.post(
            target.url, data=target.fields, files={"file": (path.name, path.read_bytes())}
        )
    assert sent.status_code in (200, 201, 204), sent.text
    return upload


async def settled(access: UploadAccess, upload: Upload, timeout_s: float = 30) -> Upload:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while asyncio.get_running_loop().time() < deadline:
        now = await access.store.get_upload(upload.owner, upload.upload_id)
        if now.status is not UploadStatus.PENDING:
            return now
        await asyncio.sleep(0.2)
    raise AssertionError(f"{upload.upload_id} still pending after {timeout_s} s")


async def test_arrived_uploads_are_checked_through_the_bucket_notification(
    access: UploadAccess, tmp_path: Path
) -> None:
    photo = await post(access, "alice", "image/jpeg", samples.photo(tmp_path / "a.jpg", 1200, 900))
    fake = tmp_path / "fake.jpg"
    fake.write_text("not a picture\n" * 50)
    text = await post(access, "alice", "image/jpeg", fake)
    bomb = await post(access, "alice", "image/png", samples.png_bomb_header(tmp_path / "b.png"))
    no_video = await post(access, "alice", "video/mp4", samples.audio_only_mp4(tmp_path / "s.mp4"))

    ready = await settled(access, photo)
    assert ready.status is UploadStatus.READY
    assert (ready.facts.width, ready.facts.height) == (1200, 900)
    assert (await settled(access, text)).reason == (
        "the file is not a readable JPEG, PNG or WebP image"
    )
    assert "pixels" in ((await settled(access, bomb)).reason or "")
    assert (await settled(access, no_video)).reason == "the file has no video stream"


async def test_the_post_policy_refuses_a_file_over_its_size_range(
    stack: Stack, tmp_path: Path
) -> None:
    """LocalStack enforces content-length-range as S3 does; moto 5.2.5 does not check POST
    policies at all (the checker's own size check rejects such a file there)."""
    assets = await stack.assets()
    target = await assets.presigned_post(
        "uploads/0123456789abcdef0123456789abcdef/up_" + "0" * 32 + ".jpg",
        content_type="image/jpeg",
        max_bytes=1000,
        expires_in=60,
    )
    async with httpx.AsyncClient(timeout=30) as client:
        big = await client.post(target.url, data=target.fields, files={"file": ("f", b"x" * 2000)})
        small = await client.post(target.url, data=target.fields, files={"file": ("f", b"x" * 10)})
        other_type = await client.post(
            target.url,
            data={**target.fields, "Content-Type": "text/html"},
            files={"file": ("f", b"x" * 10)},
        )
    assert small.status_code in (200, 201, 204)
    on_localstack = stack.settings.dynamodb_endpoint_url is not None  # its DynamoDB is moto's
    if on_localstack:
        assert big.status_code == 400 and "EntityTooLarge" in big.text
        assert other_type.status_code == 403
    else:
        assert big.status_code in (200, 201, 204)  # moto: no policy enforcement


async def test_a_users_uploads_up_to_the_cap_are_all_listed(stack: Stack) -> None:
    """200 uploads (the cap) read back 100 keys a BatchGetItem; the 201st is refused; a delete
    takes one out of the listing; another user's upload is never in it."""
    assert MAX_UPLOADS_PER_USER == 200
    assets = await stack.assets()
    client = await stack.aws.dynamodb()
    store = DynamoUploadStore(client, stack.spec.table)
    access = UploadAccess(store=store, presigner=assets, assets=assets)
    made = [
        (await start_upload(access, "carol", "image/jpeg", f"p{i}.jpg"))[0]
        for i in range(MAX_UPLOADS_PER_USER)
    ]
    other, _ = await start_upload(access, "dave", "image/jpeg", "d.jpg")
    with pytest.raises(TooManyUploads):
        await start_upload(access, "carol", "image/jpeg", "one-too-many.jpg")

    batches: list[int] = []

    def count_keys(params: dict[str, Any], **_: Any) -> None:
        batches.extend(len(request["Keys"]) for request in params["RequestItems"].values())

    client.meta.events.register("provide-client-params.dynamodb.BatchGetItem", count_keys)
    try:
        listed = await store.uploads_of("carol")
    finally:
        client.meta.events.unregister("provide-client-params.dynamodb.BatchGetItem", count_keys)
    expected = sorted(made, key=lambda u: (u.created_at, u.upload_id))
    assert [u.upload_id for u in listed] == [u.upload_id for u in expected]
    assert batches == [100, 100]
    assert other.upload_id not in {u.upload_id for u in listed}

    await store.delete_upload("carol", made[150].upload_id)
    left = await store.uploads_of("carol")
    assert len(left) == MAX_UPLOADS_PER_USER - 1
    assert made[150].upload_id not in {u.upload_id for u in left}
    assert [u.upload_id for u in await store.uploads_of("dave")] == [other.upload_id]
