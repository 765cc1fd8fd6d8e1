from __future__ import annotations

import pytest
from hypothesis import given
from pydantic import ValidationError

from omnigen.shared.adapters.codec import (
    UnstorableValue,
    deserialize,
    item_to_job,
    job_to_item,
    serialize,
)
from omnigen.shared.domain.jobs import Job, JobRequest
from omnigen.shared.domain.scripts import Script
from omnigen.testing.strategies import job_requests, json_values, scripts


@given(scripts(), job_requests)
def test_job_with_script_round_trips_through_the_item_format(
    script: Script, request: JobRequest
) -> None:
    job = Job.new(job_id="j1", user_id="u1", request=request).model_copy(
        update={
            "title": script.title,
            "scenes": script.scenes,
            "audio_spec": script.audio_spec,
            "script_metadata": script.metadata,
            "metadata": {"scene_count": len(script.scenes), "ratio": 0.1 + 0.2},
        }
    )
    item = job_to_item(job)
    assert item["scenes"]["L"][0]["M"]["duration"].keys() == {"N"}  # native, not a JSON string
    assert "M" in item["audio_spec"]
    restored = item_to_job(item)
    assert restored == job
    assert restored.script == script


@given(json_values)
def test_metadata_values_round_trip(value: object) -> None:
    assert deserialize(serialize(value)) == value


def test_floats_keep_their_exact_value() -> None:
    for value in (0.1, 1 / 3, 2.5e-7, 123456789.123456789, 30.0):
        restored = deserialize(serialize(value))
        assert restored == value
        assert repr(float(restored)) == repr(value)


@pytest.mark.parametrize(
    ("bad", "where"),
    [
        (float("nan"), "metadata"),
        (float("inf"), "metadata"),
        ({"a": [float("-inf")]}, r"metadata.a\[0\]"),
        (2**60, "metadata"),
    ],
)
def test_unstorable_numbers_are_refused_with_their_path(bad: object, where: str) -> None:
    with pytest.raises(UnstorableValue, match=f"^{where}: "):
        serialize(bad, "metadata")


def test_script_scene_numbers_must_run_from_one() -> None:
    good = Script.model_json_schema()
    assert "scenes" in good["properties"]
    data = {
        "title": "t",
        "scenes": [_scene(1, 0, 5), _scene(3, 5, 5)],
        "audio_spec": {"music_mood": "calm", "music_style": "piano", "voiceover_text": ""},
        "metadata": {"product": "", "audience": "", "call_to_action": "", "keywords": []},
    }
    with pytest.raises(ValidationError, match=r"scenes\[1\].scene_number must be 2"):
        Script.model_validate(data)
    data["scenes"] = [_scene(1, 0, 5), _scene(2, 7, 5)]
    with pytest.raises(ValidationError, match=r"scenes\[1\].start_time must be 5.00"):
        Script.model_validate(data)


@pytest.mark.parametrize(
    ("field", "value"),
    [("prompt", "too short"), ("duration", 9), ("duration", 61), ("aspect_ratio", "4:3")],
)
def test_job_request_names_the_invalid_field(field: str, value: object) -> None:
    payload = {"prompt": "a calm morning in a mountain village", "duration": 30}
    payload[field] = value
    with pytest.raises(ValidationError) as info:
        JobRequest.model_validate(payload)
    assert info.value.errors()[0]["loc"][0] == field


def test_request_fingerprint_ignores_nothing_that_matters() -> None:
    a = JobRequest(prompt="a calm morning in a village", duration=30)
    b = JobRequest(prompt="a calm morning in a village", duration=31)
    assert a.fingerprint() == JobRequest.model_validate(a.model_dump()).fingerprint()
    assert a.fingerprint() != b.fingerprint()


def _scene(number: int, start: float, duration: float) -> dict[str, object]:
    return {
        "scene_number": number,
        "start_time": start,
        "duration": duration,
        "location": "a harbour",
        "action": "boats drift",
        "shot_type": "wide",
        "camera_angle": "eye_level",
        "camera_move": "pan_left",
        "lighting": "golden_hour",
        "color_grade": "warm",
        "mood": "calm",
        "visual_style": "cinematic",
        "transition_in": "cut",
        "generation_prompt": "boats drifting in a harbour at sunset, cinematic",
        "narration": "The day ends slowly.",
    }
