"""Versioned system-prompt templates; a new wording is a new file, so answers stay traceable."""

from __future__ import annotations

from importlib.resources import files
from string import Template
from typing import Final

from omnigen.shared.domain.creative import Goal, Platform, Style, Tempo, Tone
from omnigen.shared.domain.jobs import AspectRatio, JobOptions, JobRequest
from omnigen.shared.domain.media import language_info
from omnigen.shared.domain.script_rules import (
    DURATION_TOLERANCE_S,
    MAX_WORDS_PER_SECOND,
    MIN_PROMPT_WORDS,
    MIN_SCENE_DURATION_S,
    max_narration_words,
)

PROMPT_VERSION: Final = "system_v2"
NOT_SPECIFIED: Final = "not specified"

# What each closed option asks of the script (system_v2): the value alone is one word, this
# says what it means for shots, pacing and words, so every value visibly steers the script.
OPTION_HINTS: Final[dict[str, dict[str, str]]] = {
    "style": {
        Style.CINEMATIC: "wide establishing shots, shallow depth of field, slow dolly and crane "
        "moves, anamorphic feel, rich contrast",
        Style.DOCUMENTARY: "real places and people, handheld or static observational camera, "
        "natural light, honest colour",
        Style.ENERGETIC: "quick cuts, dynamic tracking and whip moves, bold saturated colour",
        Style.MINIMAL: "clean uncluttered frames, negative space, static or slow camera, "
        "muted palette",
        Style.DRAMATIC: "strong low-key lighting, deep shadows, close-ups, slow push-ins",
        Style.PLAYFUL: "bright colours, bouncy camera, whimsical angles and props",
    },
    "tone": {
        Tone.PREMIUM: "polished and understated; few words, confident, never salesy",
        Tone.FRIENDLY: "warm and conversational, like a helpful friend",
        Tone.EDGY: "bold and irreverent, short punchy lines",
        Tone.INSPIRING: "uplifting and aspirational, builds to a hopeful close",
        Tone.HUMOROUS: "light and witty; one gentle joke or twist",
    },
    "tempo": {
        Tempo.SLOW: "fewer, longer scenes and unhurried narration with room to breathe",
        Tempo.MEDIUM: "a steady rhythm of scenes and narration",
        Tempo.FAST: "more, shorter scenes and brisk narration",
    },
    "platform": {
        Platform.INSTAGRAM: "hook in the first second; keep text and faces clear of the top "
        "and bottom app overlays",
        Platform.TIKTOK: "hook in the first second, native and unpolished; keep the bottom "
        "quarter and right edge clear for the app's buttons and caption",
        Platform.YOUTUBE: "a clear opening promise; keep the bottom clear of the player bar",
        Platform.FACEBOOK: "works with the sound off: the first scene says what it is about",
    },
    "goal": {
        Goal.AWARENESS: "make the brand or subject memorable; the ask is light",
        Goal.SALES: "show the product's value and end on a clear reason to buy now",
        Goal.ENGAGEMENT: "invite a reaction: a question, a comment or a share",
        Goal.SIGNUPS: "show what signing up brings and end on the sign-up step",
    },
}

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
    """The system prompt for `request`, with its options and the validation limits filled in
    (each template version names the fields it uses; system_v1 leaves the newer ones out)."""
    options = request.options
    values = {
        "duration": str(request.duration),
        "aspect_ratio": request.aspect_ratio.value,
        "framing": _FRAMING[request.aspect_ratio],
        "title": options.title,
        "style": options.style,
        "tone": options.tone,
        "tempo": options.tempo,
        "platform": options.platform,
        "audience": options.audience,
        "goal": options.goal,
        "call_to_action": options.call_to_action,
        "language": _language(options),
        "scene_range": scene_range(request.duration),
        "tolerance_s": str(DURATION_TOLERANCE_S),
        "min_scene_s": str(MIN_SCENE_DURATION_S),
        "min_prompt_words": str(MIN_PROMPT_WORDS),
        "words_per_second": str(MAX_WORDS_PER_SECOND),
        "words_in_5s": str(max_narration_words(5)),
    }
    filled = {
        key: NOT_SPECIFIED if value is None else " ".join(value.split()) or NOT_SPECIFIED
        for key, value in values.items()
    }
    for name, hints in OPTION_HINTS.items():
        chosen = getattr(options, name)
        filled[f"{name}_hint"] = f" ({hints[chosen]})" if chosen is not None else ""
    return load_template(version).substitute(filled)


def _language(options: JobOptions) -> str:
    info = language_info(options.language)
    return f"{info.name} ({options.language or info.code})"
