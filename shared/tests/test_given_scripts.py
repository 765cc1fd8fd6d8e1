"""A script the user gives instead of a prompt: completed word for word, judged by the same rules
as a written script, every problem naming its field from the request."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from omnigen.shared.domain.jobs import JobRequest
from omnigen.shared.domain.script_rules import given_script_problems, script_problems
from omnigen.testing.samples import given_script

GIVEN = given_script()


def _request(**overrides: object) -> JobRequest:
    return JobRequest.model_validate({"script": GIVEN, **overrides})


def test_a_given_script_becomes_the_script_it_says_word_for_word() -> None:
    request = _request()
    assert request.duration == 20 and request.prompt is None
    assert request.subject == "Winter care for houseplants"
    assert given_script_problems(request) == []
    script = request.script.complete(style="watercolour") if request.script else None
    assert script is not None
    assert [s.narration for s in script.scenes] == [s["narration"] for s in GIVEN["scenes"]]
    assert [s.start_time for s in script.scenes] == [0.0, 6.0, 13.5]
    assert [s.scene_number for s in script.scenes] == [1, 2, 3]
    assert [s.transition_in.value for s in script.scenes] == ["cut", "crossfade", "crossfade"]
    assert script.scenes[1].camera_move.value == "static"
    assert script.scenes[1].lighting.value == "golden_hour"
    assert {s.visual_style for s in script.scenes} == {"watercolour"}
    assert script.audio_spec.voiceover_text == " ".join(s["narration"] for s in GIVEN["scenes"])
    assert script_problems(script, request) == []
    # and a complete script, as the API shows it, is a valid draft of itself
    again = JobRequest.model_validate({"script": script.model_dump(mode="json")})
    assert again.script is not None and again.script.complete() == script


def test_a_given_script_breaking_the_rules_names_each_field() -> None:
    scenes = [dict(s) for s in GIVEN["scenes"]]
    scenes[2]["narration"] = " ".join(["word"] * 40)  # 40 words in 6.5 s
    scenes[1]["generation_prompt"] = "A hand"
    request = _request(script={**GIVEN, "scenes": scenes})
    fields = [field for field, _ in given_script_problems(request)]
    assert "script.scenes[2].narration" in fields
    assert "script.scenes[1].generation_prompt" in fields
    # durations that do not add up to the job's
    wrong = given_script_problems(_request(duration=30))
    assert [f for f, _ in wrong] == ["script.scenes"]
    assert "add up to 20.00 s but the video is 30 s" in wrong[0][1]
    # a given position that contradicts the order
    scenes = [dict(s) for s in GIVEN["scenes"]]
    scenes[1]["scene_number"] = 5
    fields = [f for f, _ in given_script_problems(_request(script={**GIVEN, "scenes": scenes}))]
    assert fields and all(f.startswith("script") for f in fields)


def test_a_request_needs_a_prompt_or_a_script_and_strict_types_in_the_script() -> None:
    with pytest.raises(ValidationError, match="give a prompt, or a script"):
        JobRequest.model_validate({"duration": 20})
    for bad in ({"duration": "6"}, {"duration": True}, {"shot_type": "sideways"}):
        scenes = [{**GIVEN["scenes"][0], **bad}, *GIVEN["scenes"][1:]]
        with pytest.raises(ValidationError):
            JobRequest.model_validate({"script": {**GIVEN, "scenes": scenes}, "duration": 20})
    with pytest.raises(ValidationError, match="control characters"):
        scenes = [{**GIVEN["scenes"][0], "narration": "bad\x00text"}, *GIVEN["scenes"][1:]]
        JobRequest.model_validate({"script": {**GIVEN, "scenes": scenes}})


def test_a_scene_of_the_users_own_media_needs_no_description_and_is_not_judged_as_a_shot() -> None:
    upload = "up_" + "a" * 32
    scenes = [dict(s) for s in GIVEN["scenes"]]
    scenes[0] = {k: v for k, v in scenes[0].items() if k != "generation_prompt"} | {"media": upload}
    scenes[1] = scenes[1] | {"generation_prompt": "Me", "media": upload}  # short: not a shot
    request = _request(script={**GIVEN, "scenes": scenes})
    assert given_script_problems(request) == []
    script = request.script.complete() if request.script else None
    assert script is not None
    assert upload in script.scenes[0].generation_prompt
    assert script.scenes[1].generation_prompt == "Me"
    # a scene of generated video still needs its description, named from the request
    del scenes[2]["generation_prompt"]
    missing = given_script_problems(_request(script={**GIVEN, "scenes": scenes}))
    assert missing == [
        ("script.scenes[2].generation_prompt", "required unless the scene shows your media")
    ]
    # and the same short description without media is refused as before
    scenes[1] = {k: v for k, v in scenes[1].items() if k != "media"}
    scenes[2]["generation_prompt"] = GIVEN["scenes"][2]["generation_prompt"]
    fields = [f for f, _ in given_script_problems(_request(script={**GIVEN, "scenes": scenes}))]
    assert fields == ["script.scenes[1].generation_prompt"]
