"""/v1/uploads over moto server mode: a presigned POST per file under the owner's prefix,
owner-scoped reads and deletes, and the allowlist of content types."""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import httpx

from omnigen.shared.domain.uploads import (
    MAX_BYTES,
    UploadFacts,
    UploadKind,
    UploadStatus,
    owner_prefix,
)

from .helpers import Api

PNG = bytes.fromhex("89504e470d0a1a0a")  # the signature is enough for the bucket


async def start(api: Api, user: str, content_type: str = "image/png") -> dict[str, Any]:
    response = await api.client.post(
        "/v1/uploads",
        json={"content_type": content_type, "filename": "logo.png"},
        headers=api.auth(user),
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def post_file(target: dict[str, Any], data: bytes) -> httpx.Response:
    async with httpx.AsyncClient(timeout=30) as client:
        return await client.post(target["url"], data=target["fields"], files={"file": ("f", data)})


async def test_an_upload_is_presigned_under_its_owners_prefix(api: Api) -> None:
    created = await start(api, "alice")

    assert created["id"].startswith("up_")
    assert created["status"] == "pending"
    assert created["upload"]["max_bytes"] == MAX_BYTES[UploadKind.IMAGE]
    fields = created["upload"]["fields"]
    assert fields["key"].startswith(owner_prefix(api.user_id("alice")))
    assert fields["Content-Type"] == "image/png"
    answer = await post_file(created["upload"], PNG)
    assert answer.status_code in (200, 201, 204), answer.text
    assert await (await api.stack.assets()).exists(fields["key"])


async def test_uploads_are_listed_read_and_deleted_by_their_owner_only(api: Api) -> None:
    first = await start(api, "alice")
    second = await start(api, "alice", "audio/mpeg")

    listed = await api.client.get("/v1/uploads", headers=api.auth("alice"))
    assert [u["id"] for u in listed.json()["uploads"]] == [first["id"], second["id"]]
    assert (await api.client.get("/v1/uploads", headers=api.auth("bob"))).json() == {"uploads": []}
    theirs = await api.client.get(f"/v1/uploads/{first['id']}", headers=api.auth("bob"))
    assert theirs.status_code == 404
    assert theirs.json()["error"]["field"] == "upload_id"
    refused = await api.client.delete(f"/v1/uploads/{first['id']}", headers=api.auth("bob"))
    assert refused.status_code == 404

    mine = await api.client.get(f"/v1/uploads/{second['id']}", headers=api.auth("alice"))
    assert mine.json()["kind"] == "audio"
    await post_file(first["upload"], PNG)
    deleted = await api.client.delete(f"/v1/uploads/{first['id']}", headers=api.auth("alice"))
    assert deleted.status_code == 204
    gone = await api.client.get(f"/v1/uploads/{first['id']}", headers=api.auth("alice"))
    assert gone.status_code == 404
    assert not await (await api.stack.assets()).exists(first["upload"]["fields"]["key"])


async def test_a_content_type_outside_the_allowlist_is_refused(api: Api) -> None:
    for content_type in ("text/plain", "image/gif", "application/x-msdownload"):
        response = await api.client.post(
            "/v1/uploads", json={"content_type": content_type}, headers=api.auth("alice")
        )
        assert response.status_code == 422
        assert response.json()["error"]["field"] == "content_type"
        assert "not accepted" in response.json()["error"]["message"]
    listed = await api.client.get("/v1/uploads", headers=api.auth("alice"))
    assert listed.json() == {"uploads": []}


async def settle(api: Api, upload_id: str, status: UploadStatus, **facts: Any) -> None:
    """What the renderer's checker records once the bytes arrived (it is tested on its own)."""
    assert api.context.ports.uploads is not None
    await api.context.ports.uploads.store.record_check(
        upload_id,
        status,
        reason=None if status is UploadStatus.READY else "the file is not a readable image",
        facts=UploadFacts(**facts),
        checked_at=time.time(),
    )


def script_of(*media: str | None) -> dict[str, Any]:
    prompt = "A slow look across photograph number {} from our trip to the coast"
    scenes = [
        {
            "duration": 10.0,
            "narration": f"Here is picture {i + 1}.",
            "generation_prompt": prompt.format(i + 1),
            "media": m,
        }
        for i, m in enumerate(media)
    ]
    return {"title": "My photos", "scenes": [{k: v for k, v in s.items() if v} for s in scenes]}


async def test_a_job_uses_its_owners_ready_uploads(api: Api) -> None:
    photo = (await start(api, "alice", "image/jpeg"))["id"]
    track = (await start(api, "alice", "audio/mpeg"))["id"]
    await settle(api, photo, UploadStatus.READY, width=4000, height=3000)
    await settle(api, track, UploadStatus.READY, duration_s=30.0, has_audio=True)

    response = await api.client.post(
        "/v1/jobs",
        json={
            "script": script_of(photo, photo),
            "aspect_ratio": "16:9",
            "start_image": photo,
            "music_track": track,
        },
        headers=api.auth("alice"),
    )
    assert response.status_code == 202, response.text
    job = await api.context.ports.repository.get_job(response.json()["job_id"])
    assert job.given_script is not None and job.given_script.scenes[1].media == photo
    kept = await api.client.get(f"/v1/uploads/{photo}", headers=api.auth("alice"))
    assert kept.json()["expires_at"] >= kept.json()["created_at"]


async def test_a_scene_of_ones_own_photo_needs_no_description(api: Api) -> None:
    photo = (await start(api, "alice", "image/jpeg"))["id"]
    await settle(api, photo, UploadStatus.READY, width=1200, height=900)
    script = script_of(photo, None)
    del script["scenes"][0]["generation_prompt"]
    accepted = await api.client.post("/v1/jobs", json={"script": script}, headers=api.auth("alice"))
    assert accepted.status_code == 202, accepted.text
    # a generated scene without its description is a 422 naming it, and creates nothing
    del script["scenes"][1]["generation_prompt"]
    refused = await api.client.post("/v1/jobs", json={"script": script}, headers=api.auth("alice"))
    assert refused.status_code == 422, refused.text
    assert "script.scenes[1].generation_prompt" in refused.text
    listed = await api.client.get("/v1/jobs", headers=api.auth("alice"))
    assert len(listed.json()["jobs"]) == 1


async def test_unusable_uploads_are_a_422_naming_the_field_and_create_nothing(api: Api) -> None:
    theirs = (await start(api, "bob", "image/jpeg"))["id"]
    await settle(api, theirs, UploadStatus.READY, width=10, height=10)
    pending = (await start(api, "alice", "image/jpeg"))["id"]
    rejected = (await start(api, "alice", "image/jpeg"))["id"]
    await settle(api, rejected, UploadStatus.REJECTED)
    deleted = (await start(api, "alice", "image/jpeg"))["id"]
    await settle(api, deleted, UploadStatus.READY, width=10, height=10)
    await api.client.delete(f"/v1/uploads/{deleted}", headers=api.auth("alice"))
    sound = (await start(api, "alice", "audio/mpeg"))["id"]
    await settle(api, sound, UploadStatus.READY, duration_s=3.0, has_audio=True)
    no_video = (await start(api, "alice", "video/mp4"))["id"]
    await settle(api, no_video, UploadStatus.REJECTED)
    ready = (await start(api, "alice", "image/jpeg"))["id"]
    await settle(api, ready, UploadStatus.READY, width=10, height=10)

    cases = [
        (script_of(ready, theirs), {}, "script.scenes[1].media", f"upload {theirs} not found"),
        (script_of(pending), {}, "script.scenes[0].media", "is still being checked"),
        (script_of(rejected), {}, "script.scenes[0].media", "was rejected: the file is not"),
        (script_of(deleted), {}, "script.scenes[0].media", f"upload {deleted} not found"),
        (script_of(sound), {}, "script.scenes[0].media", "is audio; image or video is needed"),
        (script_of(no_video), {}, "script.scenes[0].media", "was rejected"),
        (script_of(ready), {"music_track": ready}, "music_track", "audio is needed"),
        (script_of(ready), {"start_image": theirs}, "start_image", "not found"),
    ]
    for script, options, field, message in cases:
        response = await api.client.post(
            "/v1/jobs", json={"script": script, **options}, headers=api.auth("alice")
        )
        assert response.status_code == 422, (field, response.text)
        error = response.json()["error"]
        assert error["code"] == "unusable_upload", error
        assert error["field"] == field
        assert message in error["message"], error["message"]
        assert "bob" not in error["message"]  # nothing about whose it is
    listed = await api.client.get("/v1/jobs", headers=api.auth("alice"))
    assert listed.json()["jobs"] == []


async def test_a_malformed_upload_id_is_a_validation_error(api: Api) -> None:
    response = await api.client.post(
        "/v1/jobs",
        json={"script": script_of("up_not-an-id")},
        headers=api.auth("alice"),
    )
    assert response.status_code == 422
    assert response.json()["error"]["field"] == "script.scenes[0].media"


async def test_a_user_past_the_upload_limit_gets_a_409(api: Api) -> None:
    uploads = api.context.ports.uploads
    assert uploads is not None
    api.context.ports = dataclasses.replace(
        api.context.ports, uploads=dataclasses.replace(uploads, limit=2)
    )
    for _ in range(2):
        await start(api, "alice")
    refused = await api.client.post(
        "/v1/uploads", json={"content_type": "image/png"}, headers=api.auth("alice")
    )
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "too_many_uploads"
    assert (
        len((await api.client.get("/v1/uploads", headers=api.auth("alice"))).json()["uploads"]) == 2
    )
    await start(api, "bob")  # a limit per user
