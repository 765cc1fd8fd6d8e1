"""The published event contract (docs/asyncapi.yaml, docs/schemas/) is what the code says today,
is a valid AsyncAPI 3.0.0 document, and its JSON Schemas accept exactly the events the services
accept."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from jsonschema.exceptions import best_match

from omnigen.shared.domain.errors import InvalidEvent
from omnigen.shared.domain.events import (
    EVENT_MODELS,
    AudioRequested,
    AudioRequestedData,
    ComposeRequested,
    ComposeRequestedData,
    Event,
    JobAccepted,
    JobAcceptedData,
    JobCompleted,
    JobCompletedData,
    JobCompletedDataV2,
    JobCompletedV2,
    JobFailed,
    JobFailedData,
    JobRejected,
    JobRejectedData,
    JobRenderRequested,
    JobRenderRequestedData,
    JobRequested,
    JobRequestedData,
    KeyframeRequested,
    KeyframeRequestedData,
    Problem,
    RegenerationRequested,
    RegenerationRequestedData,
    SceneRequested,
    SceneRequestedData,
    ScriptAwaitingReview,
    ScriptAwaitingReviewData,
    ScriptReady,
    ScriptReadyData,
    parse_event,
)
from omnigen.shared.domain.webhooks import WEBHOOK_PAYLOADS
from omnigen.shared.resources import resource_spec
from omnigen.testing.contract import (
    asyncapi_document,
    schema_file_name,
    stale,
    webhook_schema_file_name,
)

DOCS = Path(__file__).resolve().parents[2] / "docs"
# The AsyncAPI 3.0.0 JSON Schema with its bindings, from the AsyncAPI Initiative's
# @asyncapi/specs 6.11.1 package (Apache-2.0), file schemas/3.0.0-without-$id.json.
ASYNCAPI_SCHEMA = Path(__file__).parent / "data" / "asyncapi-3.0.0.schema.json"

# One valid event per (type, version). A new event without a sample here fails the coverage test.
SAMPLES: dict[tuple[str, int], Event] = {
    ("job.requested", 1): JobRequested.create(
        job_id=None,
        user_id="user-1",
        data=JobRequestedData(
            request_id="req-1",
            request={"prompt": "A lighthouse on a stormy night", "duration": 20},
        ),
    ),
    ("job.accepted", 1): JobAccepted.create(
        job_id="j1", user_id="user-1", data=JobAcceptedData(duration=20, aspect_ratio="16:9")
    ),
    ("job.rejected", 1): JobRejected.create(
        job_id=None,
        user_id="user-1",
        data=JobRejectedData(
            request_id="req-1", reasons=[Problem(field="request.duration", message="too long")]
        ),
    ),
    ("script.ready", 1): ScriptReady.create(
        job_id="j1", user_id="user-1", data=ScriptReadyData(title="Night", scene_count=3)
    ),
    ("script.awaiting_review", 1): ScriptAwaitingReview.create(
        job_id="j1", user_id="user-1", data=ScriptAwaitingReviewData(title="Night", scene_count=3)
    ),
    ("job.render_requested", 1): JobRenderRequested.create(
        job_id="j1", user_id="user-1", data=JobRenderRequestedData()
    ),
    ("job.completed", 1): JobCompleted.create(
        job_id="j1",
        user_id="user-1",
        data=JobCompletedData(video_key="jobs/j1/video.mp4", duration=20.0),
    ),
    ("job.completed", 2): JobCompletedV2.create(
        job_id="j1",
        user_id="user-1",
        data=JobCompletedDataV2(video_key="jobs/j1/video.mp4", duration=20.0, version=2),
    ),
    ("regeneration.requested", 1): RegenerationRequested.create(
        job_id="j1",
        user_id="user-1",
        data=RegenerationRequestedData(
            request_id="req-2", scene_number=2, changes={"narration": "A new line."}
        ),
    ),
    ("scene.requested", 1): SceneRequested.create(
        job_id="j1", user_id="user-1", data=SceneRequestedData(scene_number=2, version=1)
    ),
    ("keyframe.requested", 1): KeyframeRequested.create(
        job_id="j1", user_id="user-1", data=KeyframeRequestedData(scene_number=2, version=1)
    ),
    ("audio.requested", 1): AudioRequested.create(
        job_id="j1", user_id="user-1", data=AudioRequestedData(version=1)
    ),
    ("compose.requested", 1): ComposeRequested.create(
        job_id="j1", user_id="user-1", data=ComposeRequestedData(version=1)
    ),
    ("job.failed", 1): JobFailed.create(
        job_id="j1",
        user_id="user-1",
        data=JobFailedData(stage="composing", error_message="rendering was interrupted 4 times"),
    ),
}


def _schema(key: tuple[str, int]) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((DOCS / "schemas" / schema_file_name(*key)).read_text())
    return loaded


def _validator(key: tuple[str, int]) -> jsonschema.Draft202012Validator:
    schema = _schema(key)
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())


def test_the_contract_files_are_up_to_date() -> None:
    assert stale(DOCS) == [], (
        "docs/asyncapi.yaml or docs/schemas/ is stale: "
        ".venv/bin/python -m omnigen.testing.contract docs"
    )


def test_every_event_type_and_version_has_a_sample_and_a_schema_file() -> None:
    assert set(SAMPLES) == set(EVENT_MODELS)
    files = {p.name for p in (DOCS / "schemas").glob("*.json")}
    webhooks = {webhook_schema_file_name(event_type) for event_type in WEBHOOK_PAYLOADS}
    assert files == {schema_file_name(*key) for key in EVENT_MODELS} | webhooks


def test_a_delivered_webhook_body_validates_against_its_published_schema() -> None:
    from omnigen.shared.domain.webhooks import CompletedData, JobCompletedWebhook

    body = JobCompletedWebhook(
        timestamp="2026-01-01T00:00:00+00:00",
        data=CompletedData(
            job_id="a" * 32,
            duration=12.5,
            video_url="https://x/v.mp4",
            links_expire_at="2026-01-01T01:00:00+00:00",
        ),
    ).model_dump(mode="json")
    schema = json.loads((DOCS / "schemas" / "webhook.job.completed.v1.json").read_text())
    jsonschema.Draft202012Validator(schema).validate(body)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft202012Validator(schema).validate({**body, "type": "job.failed"})


def test_the_document_is_valid_asyncapi_3() -> None:
    validator = jsonschema.Draft7Validator(json.loads(ASYNCAPI_SCHEMA.read_text()))
    document = yaml.safe_load((DOCS / "asyncapi.yaml").read_text())
    error = best_match(validator.iter_errors(document))
    assert error is None, f"{list(error.absolute_path)}: {error.message}"
    # The check can fail: an operation without its action, a queue binding without its name.
    broken = copy.deepcopy(document)
    del broken["operations"]["sendJobEvents"]["action"]
    assert best_match(validator.iter_errors(broken)) is not None
    broken = copy.deepcopy(document)
    del broken["channels"]["renderer"]["bindings"]["sqs"]["queue"]["name"]
    assert best_match(validator.iter_errors(broken)) is not None


def test_every_ref_in_the_document_resolves() -> None:
    document = yaml.safe_load((DOCS / "asyncapi.yaml").read_text())
    refs: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("$ref"), str):
                refs.append(node["$ref"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(document)
    assert refs
    for ref in refs:
        assert ref.startswith("#/"), ref
        target: Any = document
        for part in ref[2:].split("/"):
            assert isinstance(target, dict) and part in target, ref
            target = target[part]


def test_the_document_shows_every_subscription_with_its_filter_policy() -> None:
    spec = resource_spec()
    document = asyncapi_document(spec)
    consumers = [
        consumer
        for operation in document["operations"].values()
        for consumer in operation.get("bindings", {}).get("sns", {}).get("consumers", [])
    ]
    assert len(consumers) == len(spec.subscriptions)
    for subscription in spec.subscriptions:
        name = "{prefix}" + subscription.queue.removeprefix("omnigen")
        (consumer,) = [c for c in consumers if c["endpoint"]["name"] == name]
        assert consumer.get("filterPolicy") == subscription.filter_policy
        assert consumer["rawMessageDelivery"] is subscription.raw_message_delivery
    # And each queue's channel lists exactly the events its filter lets through.
    for subscription in spec.subscriptions:
        if subscription.event_types is None:
            continue
        channel = next(
            c
            for c in document["channels"].values()
            if c["address"] == "{prefix}" + subscription.queue.removeprefix("omnigen")
        )
        listed = {document["components"]["messages"][m]["name"] for m in channel["messages"]}
        assert listed == set(subscription.event_types)


@pytest.mark.parametrize("key", sorted(EVENT_MODELS), ids=lambda k: f"{k[0]}.v{k[1]}")
def test_each_schema_accepts_what_the_services_accept(key: tuple[str, int]) -> None:
    validator = _validator(key)
    body = json.loads(SAMPLES[key].to_json())
    assert list(validator.iter_errors(body)) == []
    assert parse_event(json.dumps(body)).event_type.value == key[0]


@pytest.mark.parametrize("key", sorted(EVENT_MODELS), ids=lambda k: f"{k[0]}.v{k[1]}")
def test_each_schema_refuses_what_the_services_refuse(key: tuple[str, int]) -> None:
    validator = _validator(key)
    good = json.loads(SAMPLES[key].to_json())
    mutations = {
        "no data": lambda b: b.pop("data"),
        "schema_version as a string": lambda b: b.update(schema_version=str(b["schema_version"])),
        "another event type": lambda b: b.update(
            event_type="job.failed" if key[0] != "job.failed" else "job.completed"
        ),
        "an unknown field": lambda b: b.update(extra="x"),
        "an unknown data field": lambda b: b["data"].update(extra="x"),
        "a bad event id": lambda b: b.update(event_id="not-a-uuid"),
        "no user": lambda b: b.pop("user_id"),
    }
    for what, mutate in mutations.items():
        body = copy.deepcopy(good)
        mutate(body)
        assert list(validator.iter_errors(body)), f"the schema accepts {what}"
        with pytest.raises(InvalidEvent):
            parse_event(json.dumps(body))


def test_the_request_schema_in_job_requested_is_the_api_request() -> None:
    validator = _validator(("job.requested", 1))
    body = json.loads(SAMPLES[("job.requested", 1)].to_json())
    body["data"]["request"]["duration"] = "20"  # strict: a number is a JSON number
    assert list(validator.iter_errors(body))
    body["data"]["request"] = {"prompt": "A lighthouse on a stormy night", "duration": 20}
    body["data"]["request"]["colour"] = "red"  # unknown request field
    assert list(validator.iter_errors(body))
