"""The offline planner: valid for any duration and options, deterministic, shaped by the options."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from omnigen.scripter.planner import OfflinePlanner, extract_subject, plan_script
from omnigen.shared.domain.creative import Goal, Platform, Style, Tempo, Tone
from omnigen.shared.domain.jobs import AspectRatio, JobOptions, JobRequest
from omnigen.shared.domain.script_rules import script_problems
from omnigen.shared.domain.scripts import ColorGrade, Lighting, Mood, ShotType
from omnigen.testing.strategies import request_characters

REALISTIC_PROMPTS = [
    "A cozy coffee shop on a rainy morning, introducing our new oat latte",
    "Create a 30 second video about ACME rocket boots, the fastest boots in the galaxy",
    "Make a promo for a TODO list app that helps busy parents plan the week",
    "lorem ipsum dolor sit amet [insert product] TBD...",
    "Sunset over the ocean with dolphins jumping and kids playing on the sand",
    "一家在雨天早晨的舒适咖啡店, 介绍我们的新燕麦拿铁",
    "!!!!!!!!!!!!!!!!",
    "none none none none",
]
ODD_OPTION_TEXT = ["TBD", "[insert tone]", "retro..", "lorem ipsum", "{style}", "   ", "…"]


def _option(max_size: int) -> st.SearchStrategy[str | None]:
    return (
        st.none()
        | st.sampled_from(ODD_OPTION_TEXT)
        | st.text(request_characters, max_size=max_size)
    )


requests = st.builds(
    JobRequest,
    prompt=st.sampled_from(REALISTIC_PROMPTS)
    | st.text(request_characters, min_size=10, max_size=400),
    duration=st.integers(min_value=10, max_value=60),
    aspect_ratio=st.sampled_from(AspectRatio),
    options=st.builds(
        JobOptions,
        style=st.none() | st.sampled_from(Style),
        tone=st.none() | st.sampled_from(Tone),
        tempo=st.none() | st.sampled_from(Tempo),
        platform=st.none() | st.sampled_from(Platform),
        audience=_option(200),
        goal=st.none() | st.sampled_from(Goal),
        call_to_action=_option(100),
        voice=st.none(),
        start_image_key=st.none() | st.just("uploads/start.png"),
    ),
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(requests)
def test_planner_scripts_are_valid_for_any_request(request: JobRequest) -> None:
    script = plan_script(request)

    assert script_problems(script, request) == []
    assert 3 <= len(script.scenes) <= 6


@settings(max_examples=100, deadline=None)
@given(requests)
async def test_planner_is_deterministic(request: JobRequest) -> None:
    twin = JobRequest.model_validate(request.model_dump())

    assert await OfflinePlanner().write(request) == await OfflinePlanner().write(twin)


def test_scene_count_grows_with_duration_and_tempo() -> None:
    counts = [
        len(plan_script(JobRequest(prompt="A bicycle ride through Amsterdam", duration=d)).scenes)
        for d in (10, 20, 30, 60)
    ]
    fast = JobRequest(
        prompt="A bicycle ride through Amsterdam", duration=20, options=JobOptions(tempo="fast")
    )

    assert counts == [3, 4, 5, 6]
    assert len(plan_script(fast).scenes) == 5


def test_options_shape_the_script() -> None:
    request = JobRequest(
        prompt="Create a video about our neon sneaker drop in a city at night",
        duration=15,
        aspect_ratio=AspectRatio.PORTRAIT,
        options=JobOptions(
            style="energetic",
            tone="edgy",
            platform="tiktok",
            audience="sneakerheads",
            call_to_action="Shop the drop",
        ),
    )

    script = plan_script(request)

    assert script.title == "Our neon sneaker drop"
    assert {s.mood for s in script.scenes} == {Mood.ENERGETIC}
    assert {s.lighting for s in script.scenes} == {Lighting.HIGH_KEY}  # the energetic style's
    assert script.scenes[0].shot_type is ShotType.CLOSE_UP  # vertical video opens close
    assert "vertical 9:16" in script.scenes[0].generation_prompt
    assert all(
        s.visual_style == "energetic, bold colour and quick motion, made for tiktok"
        for s in script.scenes
    )
    assert script.scenes[0].narration == "Introducing our neon sneaker drop, made for sneakerheads."
    assert script.scenes[-1].narration == "Shop the drop."
    assert script.metadata.call_to_action == "Shop the drop"
    assert script.metadata.audience == "sneakerheads"
    assert script.audio_spec.music_mood is Mood.ENERGETIC


def test_style_words_pick_the_grade() -> None:
    request = JobRequest(
        prompt="A family road trip", duration=20, options=JobOptions(style="minimal")
    )

    assert {s.color_grade for s in plan_script(request).scenes} == {ColorGrade.MUTED}


def test_subject_drops_the_request_wording() -> None:
    assert extract_subject("Make a promo for ACME rocket boots, the fastest boots") == (
        "ACME rocket boots"
    )
    assert extract_subject("A cozy coffee shop on a rainy morning") == "A cozy coffee shop"
    assert extract_subject("Three tips for keeping houseplants alive through winter") == (
        "Three tips for keeping houseplants alive through winter"
    )
    assert extract_subject("?!?!?!?!?!?!") == "this idea"
