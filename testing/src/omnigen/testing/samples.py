"""Small, valid domain objects for tests across the services."""

from __future__ import annotations

from typing import Any

from omnigen.shared.domain.events import JobAccepted, JobAcceptedData
from omnigen.shared.domain.scripts import AudioSpec, Scene, Script, ScriptMetadata

_SCENES = [
    ("a quiet harbour at dawn", "fishing boats drift out past the lighthouse", "pan_right", "cut"),
    ("the lighthouse gallery", "the keeper polishes the great lens", "dolly_in", "crossfade"),
    ("a storm over the sea", "waves break white against the rocks", "handheld", "fade"),
    ("the harbour at night", "the beam sweeps over sleeping houses", "crane", "crossfade"),
]


def sample_script(durations: tuple[float, ...] = (7.5, 7.5)) -> Script:
    scenes = []
    start = 0.0
    for number, duration in enumerate(durations, start=1):
        location, action, move, transition = _SCENES[(number - 1) % len(_SCENES)]
        scenes.append(
            Scene(
                scene_number=number,
                start_time=start,
                duration=duration,
                location=location,
                action=action,
                shot_type="wide",
                camera_angle="eye_level",
                camera_move=move,
                lighting="golden_hour",
                color_grade="teal_orange",
                mood="inspiring",
                visual_style="cinematic 35mm film",
                transition_in="cut" if number == 1 else transition,
                generation_prompt=f"{action} at {location}, cinematic 35mm film, golden hour light",
                narration=f"Scene {number}: {action}.",
            )
        )
        start += duration
    return Script(
        title="The Last Keeper",
        scenes=scenes,
        audio_spec=AudioSpec(
            music_mood="inspiring",
            music_style="warm strings and piano",
            voiceover_text=" ".join(s.narration for s in scenes),
        ),
        metadata=ScriptMetadata(
            product="omnigen demo",
            audience="film lovers",
            call_to_action="Watch the full story",
            keywords=["lighthouse", "sea", "night"],
        ),
    )


def accepted_json(job_id: str, duration: int = 30, user_id: str = "u") -> str:
    """A valid job.accepted message body."""
    return JobAccepted.create(
        job_id=job_id, user_id=user_id, data=JobAcceptedData(duration=duration, aspect_ratio="16:9")
    ).to_json()


def given_script() -> dict[str, Any]:
    """A user's own script (POST /v1/jobs `script`): three scenes, 20 s, exact narration."""
    return {
        "title": "Winter care for houseplants",
        "scenes": [
            {
                "duration": 6,
                "narration": "Winter light is weak, so move your plants closer to the window.",
                "generation_prompt": "A row of potted plants on a sunny windowsill in winter, "
                "frost on the glass outside",
            },
            {
                "duration": 7.5,
                "narration": "Water less often: the soil stays wet for longer when it is cold.",
                "generation_prompt": "A hand pressing a finger into dry potting soil beside a "
                "small watering can on a wooden table",
                "camera_move": "static",
                "lighting": "golden_hour",
            },
            {
                "duration": 6.5,
                "narration": "And keep them away from radiators.",
                "generation_prompt": "A fern placed far from a hot radiator in a cosy living "
                "room with warm lamps",
            },
        ],
    }
