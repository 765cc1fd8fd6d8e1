"""The renderer's provider ports: scene clips, keyframes, narration and music.

Each has a local adapter in `omnigen.renderer.media` (ffmpeg, espeak-ng) and may have a hosted
one (Replicate, OpenAI-compatible speech). Results are small frozen dataclasses of local files.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from omnigen.shared.domain.keyframes import Look
from omnigen.shared.domain.media import CaptionPosition, SafeZone
from omnigen.shared.domain.scripts import Mood, Scene


@dataclass(frozen=True)
class ClipResult:
    """A rendered scene clip and a JPEG of its last frame (the next scene's start image)."""

    path: Path
    last_frame_path: Path


@dataclass(frozen=True)
class WordTiming:
    """When a word is spoken, in seconds from the start of its narration file."""

    text: str
    start_s: float
    end_s: float


@dataclass(frozen=True)
class NarrationResult:
    """A narration file and what it says; `words` is empty if the provider gives no timing."""

    path: Path
    duration_s: float
    text: str = ""
    words: tuple[WordTiming, ...] = ()


@dataclass(frozen=True)
class ClipLook:
    """What the job says about every scene's picture, so its scenes belong together: one
    palette (from `palette_seed`, or the hue of the job's style reference image), the request's
    style, and the title card the first scene opens with, in the job's language, clear of the
    platform's UI and of the captions. `style_reference` is that image, fetched for the render:
    a hosted model that takes one is given it."""

    palette_seed: str = ""
    style: str | None = None
    title: str | None = None
    language: str | None = None
    safe_zone: SafeZone | None = None  # None: the default for the frame's shape
    caption_position: CaptionPosition = CaptionPosition.BOTTOM
    style_reference: Path | None = None
    hue: float | None = None  # the palette's hue in degrees; None: from `palette_seed`


class ClipGenerator(Protocol):
    async def generate(
        self,
        scene: Scene,
        *,
        size: tuple[int, int],
        fps: int,
        start_image: Path | None,
        out_dir: Path,
        look: ClipLook | None = None,
    ) -> ClipResult:
        """Render `scene` at `size` and `fps`, starting from `start_image` when given; a
        generator that draws its own picture follows `look` (a hosted model may ignore it)."""
        ...


class Narrator(Protocol):
    async def synthesize(
        self,
        text: str,
        *,
        voice: str | None,
        out_path: Path,
        language: str | None = None,
        rate: float = 1.0,
    ) -> NarrationResult:
        """Speak `text` (in the BCP 47 `language`, None: English) at `rate` times the normal
        speed into an audio file at `out_path`."""
        ...


class MusicSource(Protocol):
    async def generate(self, mood: Mood, style: str, duration_s: float, out_path: Path) -> Path:
        """Write a music bed of at least `duration_s` matching `mood` and `style`."""
        ...


class KeyframeGenerator(Protocol):
    async def generate(
        self,
        scene: Scene,
        *,
        look: Look,
        size: tuple[int, int],
        out_path: Path,
        style_reference: Path | None = None,
        palette_seed: str = "",
    ) -> Path:
        """Draw `scene`'s keyframe (its first frame) at `size` in the render's shared `look`
        (guided by the job's `style_reference` image when given), as a JPEG at `out_path`. A
        generator that draws its own picture takes its palette from `palette_seed`, the
        clips' (`ClipLook.palette_seed`), so a keyframe and the clip it starts share a hue."""
        ...
