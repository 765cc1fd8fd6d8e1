"""Versioned system-prompt templates; a new wording is a new file, so answers stay traceable."""

from __future__ import annotations

from importlib.resources import files
from string import Template
from typing import Final

from omnigen.shared.domain.jobs import AspectRatio, JobRequest
from omnigen.shared.domain.script_rules import (
    DURATION_TOLERANCE_S,
    MAX_WORDS_PER_SECOND,
    MIN_PROMPT_WORDS,
    MIN_SCENE_DURATION_S,
    max_narration_words,
)

PROMPT_VERSION: Final = "system_v1"
NOT_SPECIFIED: Final = "not specified"

_FRAMING: Final = {
    AspectRatio.LANDSCAPE: "horizontal, landscape framing",
    AspectRatio.PORTRAIT: "vertical, phone-screen framing",
    AspectRatio.SQUARE: "square framing",
}


def load_template(version: str = PROMPT_VERSION) -> Template:
    """The raw template shipped with the package."""
    return Template(files(__name__).joinpath(f"{version}.md").read_text(encoding="utf-8"))


def scene_range(duration: int) -> str:
    """How many scenes suit a video of this length."""
    low = 3 if duration < 25 else 4
    high = 4 if duration < 15 else 5 if duration < 30 else 6
    return f"{low} to {high}"


def render_system_prompt(request: JobRequest, version: str = PROMPT_VERSION) -> str:
    """The system prompt for `request`, with its options and the validation limits filled in."""
    options = request.options
    values = {
        "duration": str(request.duration),
        "aspect_ratio": request.aspect_ratio.value,
        "framing": _FRAMING[request.aspect_ratio],
        "style": options.style,
        "tone": options.tone,
        "tempo": options.tempo,
        "platform": options.platform,
        "audience": options.audience,
        "goal": options.goal,
        "call_to_action": options.call_to_action,
        "scene_range": scene_range(request.duration),
        "tolerance_s": str(DURATION_TOLERANCE_S),
        "min_scene_s": str(MIN_SCENE_DURATION_S),
        "min_prompt_words": str(MIN_PROMPT_WORDS),
        "words_per_second": str(MAX_WORDS_PER_SECOND),
        "words_in_5s": str(max_narration_words(5)),
    }
    return load_template(version).substitute(
        {
            key: NOT_SPECIFIED if value is None else " ".join(value.split()) or NOT_SPECIFIED
            for key, value in values.items()
        }
    )
