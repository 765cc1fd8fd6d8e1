"""Hypothesis strategies for the domain models."""

from __future__ import annotations

from hypothesis import strategies as st

from omnigen.shared.domain import scripts as s
from omnigen.shared.domain.creative import Style, Tone
from omnigen.shared.domain.jobs import AspectRatio, JobOptions, JobRequest
from omnigen.shared.domain.stages import MAX_SCENES, scene_complete, scene_generating

FIXED_STAGES = [
    "queued",
    "script_generating",
    "script_complete",
    "audio_generating",
    "audio_complete",
    "composing",
    "completed",
]

text = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), min_size=1, max_size=40)
# DynamoDB numbers hold 38 digits with exponents -130..+125: realistic floats round-trip exactly.
finite_floats = st.one_of(
    st.just(0.0),
    st.floats(min_value=1e-100, max_value=1e100),
    st.floats(min_value=-1e100, max_value=-1e-100),
)
json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**53) + 1, 2**53 - 1),
    finite_floats,
    st.text(max_size=30),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.text(min_size=1, max_size=10), inner, max_size=4),
    ),
    max_leaves=12,
)


@st.composite
def stages(draw: st.DrawFn) -> str:
    scene = draw(st.integers(1, MAX_SCENES))
    return draw(st.sampled_from([*FIXED_STAGES, scene_generating(scene), scene_complete(scene)]))


@st.composite
def scripts(draw: st.DrawFn) -> s.Script:
    durations = draw(
        st.lists(st.floats(min_value=0.5, max_value=20, allow_nan=False), min_size=1, max_size=8)
    )
    scenes = []
    start = 0.0
    for number, duration in enumerate(durations, start=1):
        scenes.append(
            s.Scene(
                scene_number=number,
                start_time=start,
                duration=duration,
                location=draw(text),
                action=draw(text),
                shot_type=draw(st.sampled_from(s.ShotType)),
                camera_angle=draw(st.sampled_from(s.CameraAngle)),
                camera_move=draw(st.sampled_from(s.CameraMove)),
                lighting=draw(st.sampled_from(s.Lighting)),
                color_grade=draw(st.sampled_from(s.ColorGrade)),
                mood=draw(st.sampled_from(s.Mood)),
                visual_style=draw(text),
                transition_in=draw(st.sampled_from(s.Transition)),
                generation_prompt=draw(text),
                narration=draw(st.text(max_size=40)),
            )
        )
        start += duration
    return s.Script(
        title=draw(text),
        scenes=scenes,
        audio_spec=s.AudioSpec(
            music_mood=draw(st.sampled_from(s.Mood)),
            music_style=draw(text),
            voiceover_text=draw(st.text(max_size=60)),
        ),
        metadata=s.ScriptMetadata(
            product=draw(st.text(max_size=20)),
            audience=draw(st.text(max_size=20)),
            call_to_action=draw(st.text(max_size=20)),
            keywords=draw(st.lists(text, max_size=5)),
        ),
    )


# What a request's text may hold: anything but control characters and lone surrogates.
request_characters = st.characters(exclude_categories=["Cc", "Cs"])

job_requests = st.builds(
    JobRequest,
    prompt=st.text(request_characters, min_size=10, max_size=200),
    duration=st.integers(10, 60),
    aspect_ratio=st.sampled_from(AspectRatio),
    options=st.builds(
        JobOptions,
        style=st.none() | st.sampled_from(Style),
        tone=st.none() | st.sampled_from(Tone),
        voice=st.none() | st.sampled_from(["en-us", "en-gb"]),
    ),
)
