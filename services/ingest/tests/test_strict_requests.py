"""Request fields have strict JSON types and text refuses control characters: each bad value
is a 422 naming its field and creates nothing (HTTP on both backends; upstream requests are
rejected the same way)."""

from __future__ import annotations

from typing import Any

import pytest

from omnigen.ingest.handlers import IngestPorts, handle_job_requested
from omnigen.shared.domain.events import JobRejected, JobRequested, JobRequestedData
from omnigen.testing.fakes import InMemoryAssetStore, InMemoryJobRepository, RecordingPublisher

from .helpers import PROMPT, Api

BAD_VALUES: list[tuple[str, Any]] = [
    ("duration", "30"),
    ("duration", 10.0),
    ("duration", 30.0),
    ("duration", True),
    ("duration", None),
    ("prompt", 12345678901),
    ("prompt", PROMPT + "\x00"),
    ("prompt", "A lighthouse\x07 keeper's last night"),
    ("prompt", "A lighthouse\r keeper's last night"),
    ("prompt", "A lighthouse keeper\x7f's last night"),
    ("prompt", "A lighthouse keeper\x85's last night"),
    ("style", 5),
    ("style", True),
    ("tone", "calm\x1b[31m"),
    ("voice", "alloy\n"),
    ("voice", "al\tloy"),
    ("platform", "tik\x00tok"),
    ("audience", "parents\x00"),
    ("aspect_ratio", 916),
]


@pytest.mark.parametrize(("field", "value"), BAD_VALUES, ids=repr)
async def test_a_mistyped_or_control_character_field_is_a_422_naming_it(
    backend_api: Api, field: str, value: Any
) -> None:
    response = await backend_api.submit("alice", **{field: value})

    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert (error["code"], error["field"]) == ("validation_error", field)
    listing = await backend_api.client.get("/v1/jobs", headers=backend_api.auth("alice"))
    assert listing.json()["jobs"] == []


async def test_prose_fields_keep_newlines_and_tabs(backend_api: Api) -> None:
    prompt = "A lighthouse keeper's last night.\n\tThe storm rises; the lamp holds."
    response = await backend_api.submit("alice", prompt=prompt, audience="parents\nthen teachers")

    assert response.status_code == 202, response.text
    job = await backend_api.client.get(
        response.headers["Location"], headers=backend_api.auth("alice")
    )
    assert job.json()["prompt"] == prompt
    assert job.json()["options"]["audience"] == "parents\nthen teachers"


@pytest.mark.parametrize(("field", "value"), BAD_VALUES, ids=repr)
async def test_an_upstream_request_with_a_mistyped_field_is_rejected_naming_it(
    field: str, value: Any
) -> None:
    repository, publisher = InMemoryJobRepository(), RecordingPublisher()
    ports = IngestPorts(repository, publisher, InMemoryAssetStore())
    request: dict[str, Any] = {"prompt": PROMPT, "duration": 20}
    if field in ("prompt", "duration", "aspect_ratio"):
        request[field] = value
    else:
        request["options"] = {field: value}
        field = f"options.{field}"
    event = JobRequested.create(
        job_id=None, user_id="u1", data=JobRequestedData(request_id="r1", request=request)
    )

    assert await handle_job_requested(ports, event) is None

    [rejected] = publisher.events
    assert isinstance(rejected, JobRejected)
    assert [p.field for p in rejected.data.reasons] == [field]
    assert repository.jobs == {}


async def test_a_text_too_short_or_long_says_so_in_characters(api: Api) -> None:
    short = await api.submit("alice", prompt="Lighthouse")  # 10 characters, fine: then 9
    assert short.status_code == 202, short.text
    cases = [
        ("prompt", "Lighthous", "prompt: String should have at least 10 characters, not 9"),
        ("title", "t" * 101, "title: String should have at most 100 characters, not 101"),
    ]
    for field, value, message in cases:
        response = await api.submit("bob", **{field: value})
        assert response.status_code == 422, response.text
        assert response.json()["error"]["message"] == message
        assert response.json()["error"]["field"] == field
