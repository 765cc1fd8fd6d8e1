"""Composition: scene clips, transitions, narration over ducked music, captions, poster -
one ffmpeg run, one filter graph, one encode.

Timing is planned in whole frames from the scene durations, so the video is exactly the
script's total length: a cross-fade does not overlap two clips (which would shorten the
video); the next scene begins on the previous scene's frozen last frame and dissolves from
it, which is also what continuity-rendered clips look like at their start.
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import structlog

from omnigen.renderer.media import graph as g
from omnigen.renderer.media.captions import CaptionCue, CaptionLook, write_ass
from omnigen.renderer.media.ffmpeg import run_ffmpeg
from omnigen.renderer.media.fonts import CAPTION_FONT, CaptionFont, caption_font
from omnigen.renderer.ports import ClipResult, NarrationResult
from omnigen.shared.domain.creative import DEFAULT_LOUDNESS_LUFS
from omnigen.shared.domain.media import (
    DEFAULT_MUSIC_VOLUME_DB,
    CaptionPosition,
    CaptionStyle,
    SafeZone,
    language_info,
)
from omnigen.shared.domain.scripts import Script, Transition

log = structlog.get_logger()

# Delivery settings: the benchmark's raw-encode baseline uses exactly these.
FINAL_VIDEO_ENCODING: tuple[str, ...] = (
    "-c:v", "libx264", "-preset", "veryfast", "-crf", "21", "-pix_fmt", "yuv420p",
    "-profile:v", "high",
)  # fmt: skip
TAIL_S = 0.25  # how much of a clip's end is decoded again to find its last frame
FINAL_AUDIO_ENCODING: tuple[str, ...] = ("-c:a", "aac", "-b:a", "160k", "-ar", "48000", "-ac", "2")


@dataclass(frozen=True)
class ScenePart:
    """One scene as the composition needs it."""

    clip: Path
    duration_s: float
    transition_in: Transition
    narration: NarrationResult | None = None


@dataclass(frozen=True)
class Presentation:
    """A job's language, caption and music choices, as the composition needs them."""

    language: str | None = None
    caption_style: CaptionStyle = CaptionStyle.CLASSIC
    caption_position: CaptionPosition = CaptionPosition.BOTTOM
    safe_zone: SafeZone | None = None  # None: the default for the frame's shape
    music_volume_db: float = DEFAULT_MUSIC_VOLUME_DB
    ducking: bool = True
    loudness_lufs: float = DEFAULT_LOUDNESS_LUFS  # integrated target: the platform's

    @property
    def music_gain(self) -> float:
        return float(10 ** (self.music_volume_db / 20))


@dataclass(frozen=True)
class Composition:
    path: Path
    poster_path: Path
    duration_s: float
    captions: tuple[CaptionCue, ...]


def parts_from_script(
    script: Script,
    clips: Sequence[ClipResult | Path],
    narrations: Sequence[NarrationResult | None],
) -> list[ScenePart]:
    """Pair each scene of the script with its clip and narration."""
    if not len(script.scenes) == len(clips) == len(narrations):
        raise ValueError("one clip and one narration slot per scene are required")
    return [
        ScenePart(
            clip=clip.path if isinstance(clip, ClipResult) else clip,
            duration_s=scene.duration,
            transition_in=scene.transition_in,
            narration=narration,
        )
        for scene, clip, narration in zip(script.scenes, clips, narrations, strict=True)
    ]


async def compose(
    parts: Sequence[ScenePart],
    *,
    music: Path | None,
    size: tuple[int, int],
    out_path: Path,
    poster_path: Path,
    fps: int = 30,
    captions: bool = True,
    timeout_s: float = 1800.0,
    presentation: Presentation | None = None,
) -> Composition:
    """Render the final H.264/AAC MP4 (faststart) and a poster JPEG in one ffmpeg run; the
    captions are burned in when `captions` is true, and returned either way (for sidecars).
    The soundtrack is normalised in two passes: a quick audio-only run measures it, the final
    run applies the gain that lands it on the target (one-pass loudnorm fell 1-2 LU short)."""
    if not parts:
        raise ValueError("nothing to compose")
    shown = presentation or Presentation()
    timeline = g.Timeline.plan([part.duration_s for part in parts], fps)
    narrations = [part.narration for part in parts]
    slots = g.place_narrations(narrations, timeline)
    cues = g.caption_cues(narrations, slots, timeline, size, shown.caption_style)
    burned = cues if captions else []
    font = caption_font(shown.language, [cue.text for cue in burned]) if burned else None
    with tempfile.TemporaryDirectory(prefix="omnigen-compose-") as tmp:
        plan = _Plan(parts, slots, burned, music, timeline, size, Path(tmp), shown, font)
        measured = await _measure_loudness(plan, timeout_s)
        video_graph, audio_graph = await asyncio.to_thread(plan.write_graphs, measured)
        await asyncio.to_thread(_make_parents, out_path, poster_path)
        await run_ffmpeg(
            [
                *plan.inputs(),
                *("-/filter_complex", video_graph, "-/filter_complex", audio_graph),
                *("-map", "[vout]", "-map", "[aout]", *FINAL_VIDEO_ENCODING, "-r", str(fps)),
                *FINAL_AUDIO_ENCODING,
                *("-t", f"{timeline.total_s:.6f}", "-movflags", "+faststart", out_path),
                *("-map", "[poster]", "-frames:v", "1", "-q:v", "2", "-update", "1"),
                poster_path,
            ],
            what="composition",
            timeout_s=timeout_s,
        )
    log.info("video_composed", scenes=len(parts), seconds=round(timeline.total_s, 3),
             captions=len(cues), burned=bool(burned), size=f"{size[0]}x{size[1]}",
             font=font.family if font else None)  # fmt: skip
    return Composition(out_path, poster_path, timeline.total_s, tuple(cues))


@dataclass(frozen=True)
class _Plan:
    """Everything one composition run needs, and the files it writes for ffmpeg."""

    parts: Sequence[ScenePart]
    slots: Sequence[g.NarrationSlot]
    cues: Sequence[CaptionCue]
    music: Path | None
    timeline: g.Timeline
    size: tuple[int, int]
    work: Path
    presentation: Presentation
    font: CaptionFont | None

    @property
    def transitions(self) -> list[Transition]:
        return [part.transition_in for part in self.parts]

    @property
    def poster_input(self) -> int:
        return len(self.parts) + len(g.crossfade_tails(self.transitions))

    def inputs(self) -> list[str | Path]:
        """Clips, clip ends for cross-fades, the poster's clip, narrations, the music looped."""
        inputs: list[str | Path] = []
        for part in self.parts:
            inputs += ["-i", part.clip]
        for scene in g.crossfade_tails(self.transitions):
            inputs += ["-sseof", f"-{TAIL_S}", "-i", self.parts[scene].clip]
        inputs += ["-ss", f"{g.poster_time(self.timeline):.3f}", "-i", self.parts[0].clip]
        for slot in self.slots:
            inputs += ["-i", slot.path]
        if self.music is not None:
            inputs += ["-stream_loop", "-1", "-i", self.music]
        return inputs

    @property
    def audible(self) -> bool:
        """False for a soundtrack of plain silence (nothing to normalise)."""
        return bool(self.slots) or self.music is not None

    def write_audio_graph(
        self, name: str, measured: g.LoudnessMeasure | None = None, *, report: bool = False
    ) -> Path:
        first_audio = self.poster_input + 1
        music_input = first_audio + len(self.slots) if self.music is not None else None
        audio = g.audio_chains(
            self.slots, first_input=first_audio, music_input=music_input,
            timeline=self.timeline, music_gain=self.presentation.music_gain,
            ducking=self.presentation.ducking, loudness_lufs=self.presentation.loudness_lufs,
            measured=measured, report=report,
        )  # fmt: skip
        path = self.work / name
        path.write_text(";\n".join(audio), encoding="utf-8")
        return path

    def write_graphs(self, measured: g.LoudnessMeasure | None = None) -> tuple[Path, Path]:
        """Two graphs, so ffmpeg filters picture and sound on separate threads."""
        subtitles = self.work / "captions.ass" if self.cues and self.font else None
        fonts = self.work / "fonts"
        if subtitles is not None and self.font is not None:
            shown = self.presentation
            look = CaptionLook(
                self.font.family, shown.caption_style, shown.caption_position, shown.safe_zone,
                self.font.scale, language_info(shown.language).rtl,
            )  # fmt: skip
            write_ass(self.cues, subtitles, self.size, look)
            _link_fonts(fonts, self.font.path)
        video = [
            *g.video_chains(self.transitions, self.timeline, self.size),
            g.finish_video(
                len(self.parts), self.poster_input, self.timeline, self.size, subtitles, fonts
            ),
        ]
        video_graph = self.work / "video.graph"
        video_graph.write_text(";\n".join(video), encoding="utf-8")
        return video_graph, self.write_audio_graph("audio.graph", measured)


async def _measure_loudness(plan: _Plan, timeout_s: float) -> g.LoudnessMeasure | None:
    """The first loudnorm pass: the soundtrack alone, mixed as the final run mixes it,
    measured (None for silence, or when loudnorm printed nothing usable: one pass then)."""
    if not plan.audible:
        return None
    graph = await asyncio.to_thread(plan.write_audio_graph, "measure.graph", report=True)
    run = await run_ffmpeg(
        [
            *plan.inputs(),
            *("-/filter_complex", graph, "-map", "[aout]"),
            *("-t", f"{plan.timeline.total_s:.6f}", "-f", "null", "-"),
        ],
        what="loudness measure",
        loglevel="info",
        timeout_s=timeout_s,
    )
    return g.LoudnessMeasure.parse(run.stderr)


def _link_fonts(directory: Path, font: Path) -> None:
    """A fonts directory for libass with only the caption font (and the shipped one, which
    covers Latin, Arabic and Hebrew for characters it lacks): libass reads every file there."""
    directory.mkdir(exist_ok=True)
    for path in {font, CAPTION_FONT}:
        (directory / path.name).symlink_to(path)


def _make_parents(*paths: Path) -> None:
    for path in paths:
        path.parent.mkdir(parents=True, exist_ok=True)
