"""The script a writer produces and the renderer consumes: title, scenes, audio, metadata.

The cinematic fields are closed enumerations so a model answer outside the vocabulary is a
validation error, not a surprise in the renderer. These classes are also the JSON schema
given to structured-output LLMs, so every field is required and documented.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, model_validator

START_TIME_TOLERANCE_S = 0.05


class ShotType(StrEnum):
    EXTREME_WIDE = "extreme_wide"
    WIDE = "wide"
    MEDIUM = "medium"
    CLOSE_UP = "close_up"
    EXTREME_CLOSE_UP = "extreme_close_up"
    OVER_THE_SHOULDER = "over_the_shoulder"
    POV = "pov"
    AERIAL = "aerial"


class CameraAngle(StrEnum):
    EYE_LEVEL = "eye_level"
    HIGH = "high"
    LOW = "low"
    DUTCH = "dutch"
    BIRDS_EYE = "birds_eye"
    WORMS_EYE = "worms_eye"


class CameraMove(StrEnum):
    STATIC = "static"
    PAN_LEFT = "pan_left"
    PAN_RIGHT = "pan_right"
    TILT_UP = "tilt_up"
    TILT_DOWN = "tilt_down"
    DOLLY_IN = "dolly_in"
    DOLLY_OUT = "dolly_out"
    TRACKING = "tracking"
    CRANE = "crane"
    HANDHELD = "handheld"


class Lighting(StrEnum):
    NATURAL = "natural"
    GOLDEN_HOUR = "golden_hour"
    BLUE_HOUR = "blue_hour"
    HIGH_KEY = "high_key"
    LOW_KEY = "low_key"
    NEON = "neon"
    STUDIO = "studio"
    BACKLIT = "backlit"


class ColorGrade(StrEnum):
    NEUTRAL = "neutral"
    WARM = "warm"
    COOL = "cool"
    TEAL_ORANGE = "teal_orange"
    BLACK_AND_WHITE = "black_and_white"
    VINTAGE = "vintage"
    VIBRANT = "vibrant"
    MUTED = "muted"


class Mood(StrEnum):
    UPLIFTING = "uplifting"
    CALM = "calm"
    ENERGETIC = "energetic"
    DRAMATIC = "dramatic"
    MYSTERIOUS = "mysterious"
    PLAYFUL = "playful"
    MELANCHOLIC = "melancholic"
    INSPIRING = "inspiring"


class Transition(StrEnum):
    CUT = "cut"
    FADE = "fade"
    CROSSFADE = "crossfade"


class Scene(BaseModel):
    """One shot of the video, with what the clip generator and the narrator need."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    scene_number: int = Field(ge=1, description="1-based position of the scene")
    start_time: float = Field(ge=0, description="seconds from the start of the video")
    duration: float = Field(gt=0, le=60, description="seconds on screen")
    location: str = Field(min_length=1, max_length=300)
    action: str = Field(min_length=1, max_length=500, description="what happens on screen")
    shot_type: ShotType
    camera_angle: CameraAngle
    camera_move: CameraMove
    lighting: Lighting
    color_grade: ColorGrade
    mood: Mood
    visual_style: str = Field(min_length=1, max_length=200)
    transition_in: Transition = Field(description="how this scene starts after the previous")
    generation_prompt: str = Field(
        min_length=1, max_length=2000, description="full visual description for a video model"
    )
    narration: str = Field(max_length=1000, description="voice-over spoken during this scene")


class AudioSpec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    music_mood: Mood
    music_style: str = Field(min_length=1, max_length=200)
    voiceover_text: str = Field(max_length=10_000, description="all narration, in order")


class ScriptMetadata(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    product: str = Field(max_length=300)
    audience: str = Field(max_length=300)
    call_to_action: str = Field(max_length=300)
    keywords: list[str] = Field(max_length=30)


class Script(BaseModel):
    """A whole script. Structural consistency is checked here; fit to a job is `script_problems`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    title: str = Field(min_length=1, max_length=200)
    scenes: list[Scene] = Field(min_length=1, max_length=60)
    audio_spec: AudioSpec
    metadata: ScriptMetadata

    @model_validator(mode="after")
    def _scenes_are_ordered(self) -> Script:
        expected_start = 0.0
        for index, scene in enumerate(self.scenes, start=1):
            if scene.scene_number != index:
                raise ValueError(
                    f"scenes[{index - 1}].scene_number must be {index}, got {scene.scene_number}"
                )
            if abs(scene.start_time - expected_start) > START_TIME_TOLERANCE_S:
                raise ValueError(
                    f"scenes[{index - 1}].start_time must be {expected_start:.2f} "
                    f"(previous scenes' end), got {scene.start_time}"
                )
            expected_start += scene.duration
        return self

    @property
    def total_duration(self) -> float:
        return sum(scene.duration for scene in self.scenes)
