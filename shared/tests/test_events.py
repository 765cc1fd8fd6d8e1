from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from omnigen.shared.domain.errors import InvalidEvent, UnknownSchemaVersion
from omnigen.shared.domain.events import (
    JobAccepted,
    JobAcceptedData,
    JobFailed,
    JobFailedData,
    JobRequested,
    JobRequestedData,
    parse_event,
)


def _accepted() -> JobAccepted:
    return JobAccepted.create(
        job_id="job-1", user_id="user-1", data=JobAcceptedData(duration=30, aspect_ratio="9:16")
    )


def test_events_round_trip_through_json() -> None:
    for event in (
        _accepted(),
        JobFailed.create(
            job_id="j", user_id="u", data=JobFailedData(stage="composing", error_message="x")
        ),
        JobRequested.create(
            job_id=None, user_id="u", data=JobRequestedData(request_id="r1", request={"prompt": 1})
        ),
    ):
        parsed = parse_event(event.to_json())
        assert parsed == event
        assert type(parsed) is type(event)


def test_unknown_schema_version_is_rejected_not_guessed() -> None:
    body = json.loads(_accepted().to_json())
    body["schema_version"] = 2
    with pytest.raises(UnknownSchemaVersion, match="version 2 is not supported"):
        parse_event(json.dumps(body))


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda b: b.pop("job_id"), "job_id: Field required"),
        (lambda b: b["data"].update(duration="long"), "data.duration"),
        (lambda b: b.update(event_type="job.exploded"), "unknown event type 'job.exploded'"),
        (lambda b: b.update(event_id="not-a-uuid"), "event_id"),
        (lambda b: b.update(extra_field=1), "extra_field"),
        (lambda b: b.update(schema_version="1"), "schema_version: must be an integer"),
    ],
)
def test_malformed_events_name_the_problem(mutate: object, message: str) -> None:
    body = json.loads(_accepted().to_json())
    mutate(body)  # type: ignore[operator]
    with pytest.raises(InvalidEvent, match=message):
        parse_event(json.dumps(body))


@given(st.binary(max_size=200))
def test_arbitrary_bytes_never_parse_silently(body: bytes) -> None:
    with pytest.raises(InvalidEvent):
        parse_event(body)


def test_oversized_events_are_refused_before_sns_does() -> None:
    event = JobRequested.create(
        job_id=None,
        user_id="u",
        data=JobRequestedData(request_id="r", request={"p": "x" * 300_000}),
    )
    with pytest.raises(InvalidEvent, match="256 KiB"):
        event.to_json()


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda b: b["data"].update(duration="30"), "data.duration"),
        (lambda b: b["data"].update(duration=30.0), "data.duration"),
        (lambda b: b["data"].update(duration=True), "data.duration"),
        (lambda b: b["data"].update(aspect_ratio=916), "data.aspect_ratio"),
        (lambda b: b.update(user_id=42), "user_id"),
        (lambda b: b.update(job_id=True), "job_id"),
        (lambda b: b.update(trace_id="t\x00race"), "trace_id"),
        (lambda b: b.update(user_id="user\n1"), "user_id"),
        (lambda b: b.update(occurred_at=1_700_000_000), "occurred_at"),
        (lambda b: b.update(event_id=12345), "event_id"),
    ],
)
def test_event_fields_are_not_coerced_from_other_json_types(mutate: object, field: str) -> None:
    body = json.loads(_accepted().to_json())
    mutate(body)  # type: ignore[operator]
    with pytest.raises(InvalidEvent, match=f"{field}: "):
        parse_event(json.dumps(body))


def test_strict_events_still_take_uuids_datetimes_and_enums_from_json_strings() -> None:
    event = _accepted()
    body = json.loads(event.to_json())
    assert isinstance(body["event_id"], str) and isinstance(body["occurred_at"], str)

    parsed = parse_event(json.dumps(body).encode())

    assert parsed == event
    assert parsed.event_id == event.event_id and parsed.occurred_at == event.occurred_at
