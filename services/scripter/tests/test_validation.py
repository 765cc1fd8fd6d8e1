"""`script_problems`: each rule catches its flaw and names the field."""

from __future__ import annotations

from typing import Any

import pytest

from omnigen.scripter.planner import plan_script
from omnigen.shared.domain.jobs import JobOptions, JobRequest
from omnigen.shared.domain.script_rules import MAX_WORDS_PER_SECOND, script_problems
from omnigen.shared.domain.scripts import Script

REQUEST = JobRequest(
    prompt="A trail running shoe that grips wet rock, shown on a misty mountain ridge",
    duration=30,
    options=JobOptions(call_to_action="Find your pair today"),
)


def _valid() -> dict[str, Any]:
    return plan_script(REQUEST).model_dump(mode="json")


def _problems(script: dict[str, Any], request: JobRequest = REQUEST) -> list[str]:
    return script_problems(Script.model_validate(script), request)


def test_the_baseline_script_is_valid() -> None:
    assert _problems(_valid()) == []


def test_durations_must_add_up_to_the_job() -> None:
    script = _valid()
    script["scenes"][-1]["duration"] += 0.6

    assert _problems(script) == [
        "scenes: durations add up to 30.60 s but the video is 30 s (tolerance 0.5 s)"
    ]


def test_small_rounding_within_tolerance_is_accepted() -> None:
    script = _valid()
    script["scenes"][-1]["duration"] += 0.4

    assert _problems(script) == []


def test_inconsistent_numbers_and_starts_are_named() -> None:
    script = Script.model_validate(_valid())
    broken = script.model_copy(
        update={
            "scenes": [
                script.scenes[0],
                script.scenes[1].model_copy(update={"scene_number": 5, "start_time": 1.0}),
                *script.scenes[2:],
            ]
        }
    )

    problems = script_problems(broken, REQUEST)

    assert "scenes[1].scene_number: must be 2, got 5" in problems
    assert any(p.startswith("scenes[1].start_time: must be 6.00") for p in problems)


@pytest.mark.parametrize(
    "prompt",
    [
        "TBD",
        "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod",
        "A wide shot of [insert product here] on a table in a sunny kitchen at noon",
        "A close shot of the shoe on wet rock as the camera slowly pushes in...",
        "A medium shot of {product} on a rock ledge as fog rolls over the ridge",
        "Placeholder description for this scene, to be replaced by the art team",
        "Runner on ridge, fog",
    ],
)
def test_generation_prompts_must_be_real_descriptions(prompt: str) -> None:
    script = _valid()
    script["scenes"][2]["generation_prompt"] = prompt

    problems = _problems(script)

    assert problems
    assert all(p.startswith("scenes[2].generation_prompt: ") for p in problems), problems


def test_placeholder_words_the_user_wrote_are_allowed() -> None:
    request = JobRequest(prompt="An ad for TODO, the to-do list app for busy parents", duration=20)
    script = plan_script(request).model_dump(mode="json")
    script["scenes"][0]["generation_prompt"] += " The TODO logo glows on the phone screen."

    assert script_problems(Script.model_validate(script), request) == []


def test_repeated_generation_prompts_are_flagged() -> None:
    script = _valid()
    script["scenes"][3]["generation_prompt"] = script["scenes"][1]["generation_prompt"]

    assert "scenes[3].generation_prompt: identical to scenes[1].generation_prompt" in _problems(
        script
    )


def test_narration_must_fit_its_scene_at_a_speakable_pace() -> None:
    script = _valid()
    duration = script["scenes"][0]["duration"]  # 6 s: 2.8 words/s allows 16 words
    too_long = " ".join(["word"] * 17) + "."
    script["scenes"][0]["narration"] = too_long
    script["audio_spec"]["voiceover_text"] = " ".join(
        s["narration"] for s in script["scenes"] if s["narration"]
    )

    assert _problems(script) == [
        f"scenes[0].narration: 17 words do not fit {duration} s "
        f"(at most {MAX_WORDS_PER_SECOND} words/s, so 16 words)"
    ]


def test_voiceover_must_match_the_scene_narration() -> None:
    script = _valid()
    script["audio_spec"]["voiceover_text"] = "Something else entirely."

    problems = _problems(script)

    assert len(problems) == 1
    assert problems[0].startswith("audio_spec.voiceover_text: must be the scenes' narration")


def test_a_silent_video_is_flagged() -> None:
    script = _valid()
    for scene in script["scenes"]:
        scene["narration"] = ""
    script["audio_spec"]["voiceover_text"] = ""

    assert _problems(script) == ["scenes: no scene has narration; at least one must speak"]


def test_scenes_shorter_than_the_minimum_are_flagged() -> None:
    script = _valid()
    script["scenes"][0]["duration"] = 1.0
    script["scenes"][1]["duration"] += 5.0
    script["scenes"][1]["start_time"] = 1.0
    for index in range(2, len(script["scenes"])):
        previous = script["scenes"][index - 1]
        script["scenes"][index]["start_time"] = previous["start_time"] + previous["duration"]

    assert "scenes[0].duration: 1.0 s is shorter than the 1.5 s minimum" in _problems(script)


def test_placeholders_in_other_text_fields_are_flagged() -> None:
    script = _valid()
    script["title"] = "TBD"
    script["scenes"][1]["location"] = "[location]"

    problems = _problems(script)

    assert "title: contains placeholder text 'TBD'" in problems
    assert "scenes[1].location: contains placeholder text '[location]'" in problems


def test_a_requested_call_to_action_must_be_present() -> None:
    script = _valid()
    script["metadata"]["call_to_action"] = " "

    assert _problems(script) == ["metadata.call_to_action: blank although the job asks for one"]
