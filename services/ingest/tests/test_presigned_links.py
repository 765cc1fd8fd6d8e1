"""Presigned links point at the S3 endpoint clients reach (OMNIGEN_S3_PUBLIC_ENDPOINT_URL),
not at the service's internal one; on both backends."""

from __future__ import annotations

from urllib.parse import urlsplit

import httpx

from omnigen.shared.ports import video_key
from omnigen.testing.fixtures import Stack

from .helpers import Api, api_with

VIDEO = b"\x00\x00\x00\x18ftypmp42 fake mp4 bytes " * 20


async def completed_job(api: Api) -> str:
    job_id: str = (await api.submit("alice")).json()["job_id"]
    await (await api.stack.assets()).put_bytes(video_key(job_id, "r1"), VIDEO, "video/mp4")
    await (await api.stack.repository()).mark_job_complete(job_id, video_key(job_id, "r1"))
    return job_id


def internal_s3(stack: Stack) -> str:
    endpoint = stack.settings.endpoint_for("s3")
    assert endpoint
    return endpoint


async def test_a_presigned_link_uses_the_public_endpoint_and_downloads(stack: Stack) -> None:
    internal = urlsplit(internal_s3(stack))
    public = f"http://localhost:{internal.port}"  # the same emulator, by the client's name
    async with api_with(stack, s3_public_endpoint_url=public) as api:
        job_id = await completed_job(api)
        detail = (await api.client.get(f"/v1/jobs/{job_id}", headers=api.auth("alice"))).json()
        redirect = await api.client.get(f"/v1/jobs/{job_id}/video", headers=api.auth("alice"))

    for url in (detail["video_url"], redirect.headers["Location"]):
        assert url.startswith(f"{public}/"), url
        async with httpx.AsyncClient() as plain:
            downloaded = await plain.get(url)
        assert downloaded.status_code == 200, downloaded.text
        assert downloaded.content == VIDEO


async def test_a_presigned_link_names_the_public_host_even_when_unreachable_here(
    stack: Stack,
) -> None:
    async with api_with(stack, s3_public_endpoint_url="https://media.example.test:8443") as api:
        job_id = await completed_job(api)
        detail = (await api.client.get(f"/v1/jobs/{job_id}", headers=api.auth("alice"))).json()

    url = urlsplit(detail["video_url"])
    assert (url.scheme, url.netloc) == ("https", "media.example.test:8443")
    assert internal_s3(stack) not in detail["video_url"]


async def test_without_a_public_endpoint_links_use_the_service_endpoint(backend_api: Api) -> None:
    job_id = await completed_job(backend_api)
    detail = await backend_api.client.get(f"/v1/jobs/{job_id}", headers=backend_api.auth("alice"))

    assert detail.json()["video_url"].startswith(internal_s3(backend_api.stack))
