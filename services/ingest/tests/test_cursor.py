"""A list cursor is opaque: whatever a client does to it, a malformed one is a 400
`invalid_cursor` (never a 500), on both backends."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from .helpers import Api


def forged(owner: Any, key: dict[str, Any]) -> str:
    payload = json.dumps({"u": owner, "k": key}).encode()
    return base64.urlsafe_b64encode(payload).decode().rstrip("=")


def tampered(api: Api, **changes: Any) -> str:
    user = api.user_id("alice")
    key = {"job_id": "0" * 32, "user_id": user, "created_at": "1700000000.5", **changes}
    return forged(user, key)


BAD_CREATED_AT = ["nan", "inf", "-inf", "1e300", "-1e300", "x", 1700000000.5, True, None, []]


@pytest.mark.parametrize("created_at", BAD_CREATED_AT, ids=repr)
async def test_a_cursor_with_a_tampered_timestamp_is_a_400_naming_it(
    backend_api: Api, created_at: Any
) -> None:
    cursor = tampered(backend_api, created_at=created_at)
    response = await backend_api.client.get(
        "/v1/jobs", params={"cursor": cursor}, headers=backend_api.auth("alice")
    )
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert (error["code"], error["field"]) == ("invalid_cursor", "cursor")
    assert "created_at" in error["message"]


@pytest.mark.parametrize(
    ("cursor", "named"),
    [
        ("%%%not-base64%%%", "not a cursor"),
        ("bm90LWEtY3Vyc29y", "not a cursor"),  # "not-a-cursor"
        (base64.urlsafe_b64encode(b"\xff\xfe\x00").decode(), "not a cursor"),
        (base64.urlsafe_b64encode(b"[1, 2]").decode(), "not a cursor"),
        (forged("x", {"job_id": 1, "user_id": "x", "created_at": "1.5"}), "job_id"),
        (forged("x", {"job_id": "a", "user_id": 2, "created_at": "1.5"}), "user_id"),
        (forged(3, {"job_id": "a", "user_id": "x", "created_at": "1.5"}), "owner"),
    ],
    ids=["garbage", "not-json", "binary", "json-list", "job-id", "user-id", "owner"],
)
async def test_a_garbage_or_mistyped_cursor_is_a_400(
    backend_api: Api, cursor: str, named: str
) -> None:
    response = await backend_api.client.get(
        "/v1/jobs", params={"cursor": cursor}, headers=backend_api.auth("alice")
    )
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert (error["code"], error["field"]) == ("invalid_cursor", "cursor")
    assert named in error["message"]


async def test_another_users_well_formed_cursor_is_a_400(backend_api: Api) -> None:
    for _ in range(2):
        assert (await backend_api.submit("alice")).status_code == 202
    page = await backend_api.client.get(
        "/v1/jobs", params={"limit": 1}, headers=backend_api.auth("alice")
    )
    cursor = page.json()["next_cursor"]
    assert cursor

    stolen = await backend_api.client.get(
        "/v1/jobs", params={"cursor": cursor}, headers=backend_api.auth("bob")
    )

    assert stolen.status_code == 400
    assert stolen.json()["error"]["code"] == "invalid_cursor"
    assert "another listing" in stolen.json()["error"]["message"]
