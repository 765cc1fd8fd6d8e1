"""/v1/uploads over moto server mode: a presigned POST per file under the owner's prefix,
owner-scoped reads and deletes, and the allowlist of content types."""

from __future__ import annotations

from typing import Any

import httpx

from omnigen.shared.domain.uploads import MAX_BYTES, UploadKind, owner_prefix

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
