"""A job from the user's own script: accepted with its length taken from the scenes, or refused
with a 422 (HTTP) or a job.rejected (upstream) naming the field in the script; nothing created."""

from __future__ import annotations

from typing import Any

from omnigen.ingest.handlers import handle_job_requested
from omnigen.shared.domain.events import EventType, JobRequested, JobRequestedData
from omnigen.testing.fixtures import Stack
from omnigen.testing.samples import given_script

from .helpers import Api, drain_events


def _script(**scene_changes: dict[str, Any]) -> dict[str, Any]:
    script = given_script()
    for index, changes in scene_changes.items():
        script["scenes"][int(index.removeprefix("s"))].update(changes)
    return script


async def _post(api: Api, body: dict[str, Any]) -> Any:
    return await api.client.post("/v1/jobs", json=body, headers=api.auth("writer"))


async def test_a_script_without_a_prompt_makes_a_job_as_long_as_its_scenes(api: Api) -> None:
    response = await _post(api, {"script": given_script(), "aspect_ratio": "9:16"})
    assert response.status_code == 202, response.text
    job = (await api.client.get(response.headers["Location"], headers=api.auth("writer"))).json()
    assert job["duration"] == 20 and job["prompt"] == "Winter care for houseplants"
    events = await drain_events(api.stack, api.stack.spec.scripter_queue.name, expect=1)
    assert [e.event_type for e in events] == [EventType.JOB_ACCEPTED]


async def test_a_bad_script_is_a_422_naming_the_field_and_creates_nothing(api: Api) -> None:
    cases = [
        (
            {"script": _script(s2={"narration": " ".join(["word"] * 40)})},
            "script.scenes[2].narration",
            "script_not_fit",
        ),
        (
            {"script": _script(s1={"duration": "7.5"})},
            "script.scenes[1].duration",
            "validation_error",
        ),
        (
            {"script": _script(s0={"lighting": "disco"})},
            "script.scenes[0].lighting",
            "validation_error",
        ),
        ({"script": given_script(), "duration": 30}, "script.scenes", "script_not_fit"),
        (
            {"script": {**given_script(), "scenes": given_script()["scenes"][:1]}},
            "script.scenes",
            "validation_error",
        ),  # 6 s: shorter than any video
        ({"duration": 20}, "prompt", "validation_error"),
        (
            {"prompt": "A lighthouse on a stormy night, told in scenes"},
            "duration",
            "validation_error",
        ),
    ]
    for body, field, code in cases:
        response = await _post(api, body)
        assert response.status_code == 422, (field, response.text)
        error = response.json()["error"]
        assert (error["field"], error["code"]) == (field, code), error
    listed = await api.client.get("/v1/jobs", headers=api.auth("writer"))
    assert listed.json()["jobs"] == []
    assert await drain_events(api.stack, api.stack.spec.scripter_queue.name) == []


async def test_an_upstream_request_with_a_bad_script_is_rejected_naming_it(
    api: Api, stack_now: Stack
) -> None:
    event = JobRequested.create(
        job_id=None,
        user_id=api.user_id("crm"),
        data=JobRequestedData(
            request_id="bad-script",
            request={"script": _script(s2={"narration": " ".join(["word"] * 40)})},
        ),
    )
    assert await handle_job_requested(api.context.ports, event) is None
    (rejection,) = await drain_events(stack_now, stack_now.spec.outcomes_queue.name, expect=1)
    assert rejection.event_type is EventType.JOB_REJECTED
    assert [p.field for p in rejection.data.reasons] == ["script.scenes[2].narration"]
