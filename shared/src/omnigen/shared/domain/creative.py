"""The creative options of the origin (the Go omnigen), as closed vocabularies.

A request names one of these values exactly, or gets a 422 naming the field and listing what
it may be. Jobs stored before the options were closed may hold free text ("moody noir"); those
are read tolerantly (`legacy_value`), never refused, so an old job still loads and runs.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final


class Style(StrEnum):
    """The look of the pictures."""

    CINEMATIC = "cinematic"
    DOCUMENTARY = "documentary"
    ENERGETIC = "energetic"
    MINIMAL = "minimal"
    DRAMATIC = "dramatic"
    PLAYFUL = "playful"


class Tone(StrEnum):
    """How the words sound."""

    PREMIUM = "premium"
    FRIENDLY = "friendly"
    EDGY = "edgy"
    INSPIRING = "inspiring"
    HUMOROUS = "humorous"


class Tempo(StrEnum):
    """How fast the cuts and the narration go."""

    SLOW = "slow"
    MEDIUM = "medium"
    FAST = "fast"


class Platform(StrEnum):
    """Where the video is published: its safe zones and loudness target."""

    INSTAGRAM = "instagram"
    TIKTOK = "tiktok"
    YOUTUBE = "youtube"
    FACEBOOK = "facebook"


class Goal(StrEnum):
    """What the video is for."""

    AWARENESS = "awareness"
    SALES = "sales"
    ENGAGEMENT = "engagement"
    SIGNUPS = "signups"


# JobOptions field -> its vocabulary.
CREATIVE_ENUMS: Final[dict[str, type[StrEnum]]] = {
    "style": Style,
    "tone": Tone,
    "tempo": Tempo,
    "platform": Platform,
    "goal": Goal,
}
# Free-text options and their longest value (a request beyond it is a 422).
CREATIVE_TEXT_LIMITS: Final[dict[str, int]] = {
    "title": 100,
    "audience": 200,
    "call_to_action": 100,
}

# Integrated loudness a platform normalises uploads to (LUFS): YouTube, TikTok, Instagram and
# Facebook all publish -14 LUFS as their playback reference; elsewhere the broadcast-leaning
# -16 LUFS (Apple/AES streaming guidance) leaves headroom.
DEFAULT_LOUDNESS_LUFS: Final = -16.0
PLATFORM_LOUDNESS_LUFS: Final[dict[Platform, float]] = {
    Platform.YOUTUBE: -14.0,
    Platform.TIKTOK: -14.0,
    Platform.INSTAGRAM: -14.0,
    Platform.FACEBOOK: -14.0,
}


def loudness_target(platform: str | None) -> float:
    """The integrated loudness (LUFS) a video made for `platform` is normalised to."""
    known = legacy_value(Platform, platform)
    return DEFAULT_LOUDNESS_LUFS if known is None else PLATFORM_LOUDNESS_LUFS[Platform(known)]


def legacy_value(vocabulary: type[StrEnum], value: object) -> str | None:
    """A stored option's value as the closed vocabulary reads it: the same value in any case
    or spacing ("TikTok " -> "tiktok"), else None (free text such as "moody noir" from before
    the options were closed reads as unset)."""
    if not isinstance(value, str):
        return None
    wanted = value.strip().lower()
    return next((member.value for member in vocabulary if member.value == wanted), None)


def allowed_values(vocabulary: type[StrEnum]) -> str:
    return ", ".join(member.value for member in vocabulary)


__all__ = [
    "CREATIVE_ENUMS",
    "CREATIVE_TEXT_LIMITS",
    "DEFAULT_LOUDNESS_LUFS",
    "PLATFORM_LOUDNESS_LUFS",
    "Goal",
    "Platform",
    "Style",
    "Tempo",
    "Tone",
    "allowed_values",
    "legacy_value",
    "loudness_target",
]
