"""How a job sounds and reads: its language, narration speed, captions and music.

Closed vocabularies, so a bad value is a 422 naming the field before anything is created. Every
option defaults to `None` ("the default"), so requests that do not use them keep the payload,
and the idempotency fingerprint, they always had.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Final

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, Strict

from omnigen.shared.domain.scripts import Mood

DEFAULT_LANGUAGE: Final = "en"


@dataclass(frozen=True)
class LanguageInfo:
    """One language the pipeline writes, speaks and captions."""

    code: str  # BCP 47 primary language subtag
    name: str
    script: str  # ISO 15924: which caption font it needs
    espeak_voices: tuple[str, ...]  # espeak-ng voice names, the first is the default
    rtl: bool = False
    # Written without spaces between words: captions break between characters.
    unspaced: bool = False


LANGUAGES: Final[dict[str, LanguageInfo]] = {
    info.code: info
    for info in (
        LanguageInfo("en", "English", "Latn", ("en-us", "en")),  # en: British
        LanguageInfo("es", "Spanish", "Latn", ("es", "es-419")),
        LanguageInfo("fr", "French", "Latn", ("fr", "fr-be")),
        LanguageInfo("de", "German", "Latn", ("de",)),
        LanguageInfo("pt", "Portuguese", "Latn", ("pt-br", "pt")),
        LanguageInfo("it", "Italian", "Latn", ("it",)),
        LanguageInfo("ja", "Japanese", "Jpan", ("ja",), unspaced=True),
        LanguageInfo("zh", "Chinese (Mandarin)", "Hans", ("cmn",), unspaced=True),
        LanguageInfo("ko", "Korean", "Kore", ("ko",)),
        LanguageInfo("ar", "Arabic", "Arab", ("ar",), rtl=True),
        LanguageInfo("he", "Hebrew", "Hebr", ("he",), rtl=True),
        LanguageInfo("hi", "Hindi", "Deva", ("hi",)),
    )
}

# language[-script][-region], e.g. en, pt-BR, zh-Hans, es-419 (extensions are not accepted).
_TAG: Final = re.compile(r"^([a-z]{2,3})(?:-([a-z]{4}))?(?:-([a-z]{2}|[0-9]{3}))?$", re.IGNORECASE)


def canonical_language(tag: str) -> str:
    """`tag` in BCP 47's canonical case (pt-br -> pt-BR) if its language is supported."""
    match = _TAG.match(tag)
    if match is None:
        raise ValueError(f"must be a BCP 47 language tag such as 'en' or 'pt-BR', got {tag!r}")
    language, script, region = match.groups()
    if language.lower() not in LANGUAGES:
        raise ValueError(
            f"language {language!r} is not supported; one of {', '.join(sorted(LANGUAGES))}"
        )
    parts = [language.lower()]
    if script:
        parts.append(script.title())
    if region:
        parts.append(region.upper())
    return "-".join(parts)


def language_info(tag: str | None) -> LanguageInfo:
    """The language of a (validated) tag; None is the default language."""
    return LANGUAGES[(tag or DEFAULT_LANGUAGE).split("-")[0].lower()]


def unwritable_language(tag: str | None, model_configured: bool) -> str | None:
    """Why no script can be written in `tag`, or None. The offline planner writes English
    only; a script model writes every supported language."""
    info = language_info(tag)
    if model_configured or info.code == DEFAULT_LANGUAGE:
        return None
    return (
        f"a {info.name} ({tag}) video needs a script model: this deployment has none "
        "configured, and the offline planner writes English only (configure a model, or give "
        "a script once requests can carry one)"
    )


LanguageTag = Annotated[str, Strict(), AfterValidator(canonical_language)]
SpeechRate = Annotated[
    float, Strict(), Field(ge=0.5, le=2.0, description="narration speed, 1.0 is normal")
]


class CaptionMode(StrEnum):
    BURNED = "burned"  # drawn into the picture
    SIDECAR = "sidecar"  # SRT and WebVTT files beside the video
    BOTH = "both"
    NONE = "none"

    @property
    def burned(self) -> bool:
        return self in (CaptionMode.BURNED, CaptionMode.BOTH)

    @property
    def sidecar(self) -> bool:
        return self in (CaptionMode.SIDECAR, CaptionMode.BOTH)


class CaptionStyle(StrEnum):
    CLASSIC = "classic"  # white text, dark outline
    BOLD_BOX = "bold_box"  # large bold text on a dark box
    WORD_HIGHLIGHT = "word_highlight"  # the word being spoken lights up


class CaptionPosition(StrEnum):
    BOTTOM = "bottom"
    MIDDLE = "middle"
    TOP = "top"


class CaptionOptions(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    mode: CaptionMode = CaptionMode.BURNED
    style: CaptionStyle = CaptionStyle.CLASSIC
    position: CaptionPosition = Field(
        default=CaptionPosition.BOTTOM, description="kept inside the platform's safe zone"
    )


MUSIC_NONE: Final = "none"


def _music_mood(value: str) -> str:
    allowed = [mood.value for mood in Mood] + [MUSIC_NONE]
    if value not in allowed:
        raise ValueError(f"must be one of {', '.join(allowed)}, got {value!r}")
    return value


MusicMood = Annotated[str, Strict(), AfterValidator(_music_mood)]


DEFAULT_MUSIC_VOLUME_DB: Final = -6.0


class MusicOptions(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    mood: MusicMood | None = Field(
        default=None, description="a mood, or 'none' for no music; default: the script's mood"
    )
    volume_db: Annotated[float, Strict()] = Field(
        default=DEFAULT_MUSIC_VOLUME_DB,
        ge=-40.0,
        le=0.0,
        description="gain of the music bed under the narration, in dB",
    )
    ducking: Annotated[bool, Strict()] = Field(
        default=True, description="lower the music while the narrator speaks"
    )

    @property
    def silent(self) -> bool:
        return self.mood == MUSIC_NONE

    def mood_for(self, script_mood: Mood) -> Mood:
        """The bed's mood: the job's choice, else the script's."""
        return Mood(self.mood) if self.mood and not self.silent else script_mood


@dataclass(frozen=True)
class Voice:
    """A voice a narrator offers for a language."""

    id: str  # what a job's `voice` option names
    provider: str  # espeak (the offline narrator) or openai (the speech provider)
    language: str
    description: str


# The built-in voices of OpenAI's speech endpoint; they speak every language.
OPENAI_VOICES: Final[tuple[str, ...]] = (
    "alloy", "ash", "ballad", "coral", "echo", "fable", "nova", "onyx", "sage", "shimmer",
    "verse", "marin", "cedar",
)  # fmt: skip
# espeak-ng voice variants offered with every language voice (voices/!v in its data).
ESPEAK_VARIANTS: Final[dict[str, str]] = {"": "default", "+f3": "female", "+m3": "male"}


def espeak_voices(language: str | None) -> list[Voice]:
    """The offline narrator's voices for a language: each espeak-ng voice and its variants."""
    info = language_info(language)
    return [
        Voice(f"{name}{variant}", "espeak", info.code, f"{info.name} ({name}, {kind})")
        for name in info.espeak_voices
        for variant, kind in ESPEAK_VARIANTS.items()
    ]


def speech_voices(language: str | None, names: tuple[str, ...]) -> list[Voice]:
    """A speech provider's configured voices; OpenAI-style voices speak every language."""
    info = language_info(language)
    return [Voice(name, "openai", info.code, f"{name} (speaks {info.name})") for name in names]


def espeak_voice_for(voice: str | None, language: str | None) -> str:
    """The espeak-ng voice a job speaks with: its own `voice` when it is one of the language's
    espeak voices (variants included), else the language's default voice."""
    offered = {entry.id.lower() for entry in espeak_voices(language)}
    if voice and voice.lower() in offered:
        return voice.lower()
    return language_info(language).espeak_voices[0]


@dataclass(frozen=True)
class SafeZone:
    """Fractions of the frame that platform UI may cover; captions stay inside the rest."""

    top: float
    bottom: float
    left: float
    right: float


# Title-safe defaults per aspect ratio; a vertical frame loses its bottom to app controls.
DEFAULT_SAFE_ZONES: Final[dict[str, SafeZone]] = {
    "16:9": SafeZone(top=0.08, bottom=0.10, left=0.07, right=0.07),
    "1:1": SafeZone(top=0.08, bottom=0.12, left=0.07, right=0.07),
    "9:16": SafeZone(top=0.12, bottom=0.22, left=0.07, right=0.14),
}
PLATFORM_SAFE_ZONES: Final[dict[tuple[str, str], SafeZone]] = {
    ("tiktok", "9:16"): SafeZone(top=0.12, bottom=0.24, left=0.07, right=0.16),
    ("instagram", "9:16"): SafeZone(top=0.14, bottom=0.22, left=0.07, right=0.14),
    ("youtube", "9:16"): SafeZone(top=0.10, bottom=0.22, left=0.07, right=0.14),
    ("facebook", "9:16"): SafeZone(top=0.14, bottom=0.22, left=0.07, right=0.14),
}


def safe_zone(aspect_ratio: str, platform: str | None = None) -> SafeZone:
    """The caption safe zone for a frame shape, narrowed by a known platform."""
    key = ((platform or "").strip().lower(), aspect_ratio)
    return PLATFORM_SAFE_ZONES.get(key, DEFAULT_SAFE_ZONES[aspect_ratio])


__all__ = [
    "DEFAULT_LANGUAGE",
    "LANGUAGES",
    "CaptionMode",
    "CaptionOptions",
    "CaptionPosition",
    "CaptionStyle",
    "LanguageInfo",
    "LanguageTag",
    "MusicOptions",
    "SafeZone",
    "SpeechRate",
    "Voice",
    "canonical_language",
    "espeak_voice_for",
    "espeak_voices",
    "language_info",
    "safe_zone",
    "speech_voices",
    "unwritable_language",
]
