"""The script a writer produces and the renderer consumes: title, scenes, audio, metadata.

The cinematic fields are closed enumerations so a model answer outside the vocabulary is a
validation error, not a surprise in the renderer. These classes are also the JSON schema
given to structured-output LLMs, so every field is required and documented.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, StrictFloat, model_validator

from omnigen.shared.domain.text import LineText, ProseText, StrictInt
from omnigen.shared.domain.uploads import UploadRef

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


# -- a script written by a person ------------------------------------------------------------

MAX_GIVEN_SCENES = 20


class SceneDraft(BaseModel):
    """One scene of a script a user gives. The fields of `Scene`; what a person need not decide
    has a default (the shot fields), and what follows from the others is computed
    (`scene_number`, `start_time`; `location` and `action` from `generation_prompt`). A full
    `Scene` (as `GET /v1/jobs/{id}/script` shows it) is a valid draft."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    scene_number: StrictInt | None = Field(default=None, ge=1, description="its position, if given")
    start_time: StrictFloat | None = Field(default=None, ge=0, description="computed if absent")
    duration: StrictFloat = Field(gt=0, le=60, description="seconds on screen, a JSON number")
    narration: ProseText = Field(max_length=1000, description="spoken during the scene; may be ''")
    generation_prompt: ProseText | None = Field(
        default=None,
        min_length=1,
        max_length=2000,
        description="what the scene shows (the visual description); may be left out when the "
        "scene shows your own `media`",
    )
    location: LineText | None = Field(default=None, min_length=1, max_length=300)
    action: ProseText | None = Field(default=None, min_length=1, max_length=500)
    shot_type: ShotType = ShotType.MEDIUM
    camera_angle: CameraAngle = CameraAngle.EYE_LEVEL
    camera_move: CameraMove = CameraMove.DOLLY_IN
    lighting: Lighting = Lighting.NATURAL
    color_grade: ColorGrade = ColorGrade.NEUTRAL
    mood: Mood = Mood.CALM
    visual_style: LineText | None = Field(default=None, min_length=1, max_length=200)
    transition_in: Transition | None = Field(
        default=None, description="default: cut into the first scene, crossfade after"
    )
    media: UploadRef | None = Field(
        default=None,
        description="an upload of yours the scene shows instead of a generated clip: a picture "
        "(moved by camera_move) or a video (trimmed to the scene, its own sound dropped)",
    )

    @property
    def visual(self) -> str:
        """What the scene shows: its description, or for a scene of the user's own media
        without one, a line naming the upload (no model generates from it). Empty when neither
        is given, which `script_rules.given_script_problems` reports."""
        if self.generation_prompt is not None:
            return self.generation_prompt
        if self.media is not None:
            return f"The user's own media {self.media}, shown as the picture of this scene"
        return ""


class AudioDraft(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    music_mood: Mood | None = Field(default=None, description="default: the first scene's mood")
    music_style: LineText | None = Field(default=None, min_length=1, max_length=200)
    voiceover_text: ProseText | None = Field(
        default=None, max_length=10_000, description="if given, the scenes' narration in order"
    )


class MetadataDraft(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    product: LineText = Field(default="", max_length=300)
    audience: LineText = Field(default="", max_length=300)
    call_to_action: LineText = Field(default="", max_length=300)
    keywords: list[LineText] = Field(default_factory=list, max_length=30)


class ScriptDraft(BaseModel):
    """A script a user gives instead of a prompt: with it no model writes anything, and the
    narration and captions are exactly its words. `complete` makes the `Script` the pipeline
    renders; `script_rules.script_problems` then judges it like any writer's script."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    title: LineText = Field(min_length=1, max_length=200)
    scenes: list[SceneDraft] = Field(min_length=1, max_length=MAX_GIVEN_SCENES)
    audio_spec: AudioDraft = Field(default_factory=AudioDraft)
    metadata: MetadataDraft = Field(default_factory=MetadataDraft)

    @property
    def total_duration(self) -> float:
        return sum(scene.duration for scene in self.scenes)

    def complete(self, *, style: str | None = None) -> Script:
        """The full script; raises `ValueError` (pydantic's) when a given `scene_number` or
        `start_time` contradicts the order of the scenes."""
        scenes = []
        start = 0.0
        for index, draft in enumerate(self.scenes):
            visual = draft.visual
            scenes.append(
                Scene(
                    scene_number=draft.scene_number or index + 1,
                    start_time=round(
                        draft.start_time if draft.start_time is not None else start, 3
                    ),
                    duration=draft.duration,
                    location=draft.location or _clip(visual, 300),
                    action=draft.action or _clip(visual, 500),
                    shot_type=draft.shot_type,
                    camera_angle=draft.camera_angle,
                    camera_move=draft.camera_move,
                    lighting=draft.lighting,
                    color_grade=draft.color_grade,
                    mood=draft.mood,
                    visual_style=draft.visual_style or style or "natural",
                    transition_in=draft.transition_in
                    or (Transition.CUT if index == 0 else Transition.CROSSFADE),
                    generation_prompt=visual,
                    narration=draft.narration,
                )
            )
            start += draft.duration
        spoken = " ".join(s.narration.strip() for s in scenes if s.narration.strip())
        audio = self.audio_spec
        return Script(
            title=self.title,
            scenes=scenes,
            audio_spec=AudioSpec(
                music_mood=audio.music_mood or scenes[0].mood,
                music_style=audio.music_style or f"{(audio.music_mood or scenes[0].mood).value}",
                voiceover_text=audio.voiceover_text if audio.voiceover_text is not None else spoken,
            ),
            metadata=ScriptMetadata(**self.metadata.model_dump()),
        )


def _clip(text: str, limit: int) -> str:
    """`text` on one line, cut at a word boundary to at most `limit` characters."""
    line = " ".join(text.split())
    if len(line) <= limit:
        return line
    return line[:limit].rsplit(" ", 1)[0]
