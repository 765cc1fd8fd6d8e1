"""The script shape as the LLM sees it: the strict structured-output schema, then a Script.

OpenAI's strict mode accepts only a subset of JSON Schema (no minLength/maxLength, no defaults,
every field required, closed objects). The domain `Script` uses string length limits and a
model validator, so the model is asked for `ScriptDraft` and the draft is converted, which runs
every domain check and reports failures as field-named problems for the repair prompt.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from omnigen.shared.domain.script_rules import validation_error_problems
from omnigen.shared.domain.scripts import (
    CameraAngle,
    CameraMove,
    ColorGrade,
    Lighting,
    Mood,
    Script,
    ShotType,
    Transition,
)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SceneDraft(_Strict):
    scene_number: int = Field(ge=1, description="1 for the first scene, then 2, 3, ...")
    start_time: float = Field(
        ge=0, description="seconds; 0 for scene 1, then the previous start_time + duration"
    )
    duration: float = Field(gt=0, le=60, description="seconds on screen")
    location: str = Field(description="where the scene takes place")
    action: str = Field(description="what happens on screen")
    shot_type: ShotType
    camera_angle: CameraAngle
    camera_move: CameraMove
    lighting: Lighting
    color_grade: ColorGrade
    mood: Mood
    visual_style: str = Field(description="the look, e.g. 'warm 35mm film, shallow focus'")
    transition_in: Transition = Field(description="how this scene starts after the previous")
    generation_prompt: str = Field(
        description="a complete, concrete visual description for a text-to-video model"
    )
    narration: str = Field(description="the voice-over line spoken during this scene")


class AudioSpecDraft(_Strict):
    music_mood: Mood
    music_style: str = Field(description="genre and instrumentation of the music bed")
    voiceover_text: str = Field(description="every scene's narration, in order, joined")


class ScriptMetadataDraft(_Strict):
    product: str = Field(description="what the video is about or sells")
    audience: str
    call_to_action: str
    keywords: list[str] = Field(max_length=30)


class ScriptDraft(_Strict):
    title: str
    scenes: list[SceneDraft] = Field(min_length=1, max_length=60)
    audio_spec: AudioSpecDraft
    metadata: ScriptMetadataDraft

    def to_script(self) -> Script:
        """The domain Script; raises `DraftInvalid` with field-named problems."""
        try:
            return Script.model_validate(self.model_dump())
        except ValidationError as err:
            raise DraftInvalid(validation_error_problems(err)) from err


class DraftInvalid(Exception):
    """A draft that does not make a valid Script; carries the problems for the repair prompt."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems
