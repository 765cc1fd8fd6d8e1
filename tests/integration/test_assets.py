"""The S3 asset store on both backends: multipart uploads, streamed downloads, presigned URLs."""

from __future__ import annotations

import os
from pathlib import Path

import httpx

from omnigen.shared.adapters.s3 import S3AssetStore
from omnigen.shared.ports import job_prefix, scene_clip_key, video_key
from omnigen.testing.fixtures import Stack

PART = 5 * 1024 * 1024  # S3's smallest part


async def test_large_file_goes_up_in_parts_and_comes_back_identical(
    stack: Stack, tmp_path: Path
) -> None:
    s3 = await stack.aws.s3()
    store = S3AssetStore(s3, stack.spec.bucket.name, part_size=PART, multipart_threshold=PART)
    source = tmp_path / "big.mp4"
    source.write_bytes(os.urandom(2 * PART + 12345))  # three parts
    key = video_key("job-big", "r1")
    await store.put_file(key, source, "video/mp4")
    head = await s3.head_object(Bucket=stack.spec.bucket.name, Key=key)
    assert head["ContentType"] == "video/mp4"
    assert head["ETag"].strip('"').endswith("-3")  # a multipart ETag names its part count
    copy = tmp_path / "copy.mp4"
    await store.get_file(key, copy)
    assert copy.read_bytes() == source.read_bytes()


async def test_presigned_url_downloads_over_plain_http(stack: Stack) -> None:
    store = await stack.assets()
    await store.put_bytes(video_key("job-p", "r1"), b"\x00\x01mp4 bytes", "video/mp4")
    url = await store.presigned_url(video_key("job-p", "r1"), expires_in=60)
    assert "X-Amz-Signature=" in url and "X-Amz-Expires=60" in url
    async with httpx.AsyncClient() as client:
        response = await client.get(url)
    assert response.status_code == 200 and response.content == b"\x00\x01mp4 bytes"


async def test_exists_list_and_delete_a_jobs_prefix(stack: Stack) -> None:
    store = await stack.assets()
    for number in (1, 2, 3):
        await store.put_bytes(scene_clip_key("job-d", number), b"clip", "video/mp4")
    await store.put_bytes(video_key("job-keep", "r1"), b"other job", "video/mp4")
    assert await store.exists(scene_clip_key("job-d", 2))
    assert not await store.exists(scene_clip_key("job-d", 9))
    assert len([k async for k in store.list_keys(job_prefix("job-d"))]) == 3
    assert await store.delete_prefix(job_prefix("job-d")) == 3
    assert [k async for k in store.list_keys(job_prefix("job-d"))] == []
    assert await store.exists(video_key("job-keep", "r1"))
