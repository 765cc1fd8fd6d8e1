"""The composition's filter graph, built as text from a frame-exact timeline.

Labels: inputs are the clips (0..n-1), the clip ends cross-fades start from, then narrations,
then music; chains end in `[vout]`,
`[poster]` and `[aout]`. Every video link stays yuv420p so nothing converts per frame.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

from omnigen.renderer.media.captions import (
    CaptionCue,
    cues_from_words,
    even_word_timings,
    line_width_units,
    max_cue_chars,
)
from omnigen.renderer.media.clips import fit_filter
from omnigen.renderer.media.ffmpeg import filter_path
from omnigen.renderer.media.fonts import FONTS_DIR
from omnigen.renderer.ports import NarrationResult
from omnigen.shared.domain.creative import DEFAULT_LOUDNESS_LUFS
from omnigen.shared.domain.media import CaptionStyle
from omnigen.shared.domain.scripts import Transition

TRANSITION_S = 0.5
NARRATION_LEAD_S = 0.25
NARRATION_TAIL_S = 0.15
MAX_TEMPO = 1.35
SAMPLE_RATE = 48_000
LOUDNESS_TRUE_PEAK_DB = -1.5
LOUDNESS_RANGE_LU = 11


@dataclass(frozen=True)
class LoudnessMeasure:
    """What loudnorm's first (measuring) pass found, to apply in the second."""

    input_i: float
    input_tp: float
    input_lra: float
    input_thresh: float
    target_offset: float

    @classmethod
    def parse(cls, stderr: str) -> LoudnessMeasure | None:
        """The measure loudnorm printed (print_format=json), or None when it printed none or
        a value is not finite (silence)."""
        start, end = stderr.rfind("{"), stderr.rfind("}")
        try:
            report = json.loads(stderr[start : end + 1]) if 0 <= start < end else {}
            values = {name: float(report[name]) for name in cls.__dataclass_fields__}
        except (ValueError, KeyError, TypeError):
            return None
        return cls(**values) if all(math.isfinite(v) for v in values.values()) else None


def loudnorm(
    target_lufs: float, measured: LoudnessMeasure | None = None, *, report: bool = False
) -> str:
    """EBU R128 normalisation to `target_lufs` integrated (the platform's target): with
    `measured` (a first pass's figures) a linear gain that lands on the target, else loudnorm's
    one-pass dynamic mode; `report` prints the measure for a first pass."""
    text = f"loudnorm=I={target_lufs:g}:TP={LOUDNESS_TRUE_PEAK_DB:g}:LRA={LOUDNESS_RANGE_LU}"
    if measured is not None:
        text += (
            f":measured_I={measured.input_i:.2f}:measured_TP={measured.input_tp:.2f}"
            f":measured_LRA={measured.input_lra:.2f}:measured_thresh={measured.input_thresh:.2f}"
            f":offset={measured.target_offset:.2f}:linear=true"
        )
    return text + (":print_format=json" if report else "")


DUCKING = "sidechaincompress=threshold=0.015:ratio=10:attack=20:release=400"
MUSIC_GAIN = 0.5
STEREO = f"aresample={SAMPLE_RATE},aformat=sample_fmts=fltp:channel_layouts=stereo"


@dataclass(frozen=True)
class Timeline:
    """Scene boundaries in whole frames; the total is round(sum of durations * fps)."""

    fps: int
    starts: tuple[int, ...]
    frames: tuple[int, ...]

    @classmethod
    def plan(cls, durations: Sequence[float], fps: int) -> Timeline:
        edges = [0]
        elapsed = 0.0
        for duration in durations:
            elapsed += duration
            edges.append(max(round(elapsed * fps), edges[-1] + 1))
        return cls(
            fps=fps,
            starts=tuple(edges[:-1]),
            frames=tuple(b - a for a, b in pairwise(edges)),
        )

    @property
    def total_frames(self) -> int:
        return self.starts[-1] + self.frames[-1]

    @property
    def total_s(self) -> float:
        return self.total_frames / self.fps

    def start_s(self, index: int) -> float:
        return self.starts[index] / self.fps

    def end_s(self, index: int) -> float:
        return (self.starts[index] + self.frames[index]) / self.fps

    def transition_frames(self, index: int) -> int:
        """Frames of a fade or dissolve at the start of scene `index`, within both scenes."""
        limit = min(self.frames[index], self.frames[index - 1] if index else self.frames[0])
        return max(1, min(round(TRANSITION_S * self.fps), limit // 3))


@dataclass(frozen=True)
class NarrationSlot:
    """Where one scene's narration sits: start time, speed-up, and how much of it fits."""

    scene: int
    path: Path
    start_s: float
    tempo: float
    length_s: float  # after tempo, cut at the scene's end
    trimmed: bool


def place_narrations(
    narrations: Sequence[NarrationResult | None], timeline: Timeline
) -> list[NarrationSlot]:
    """Start each narration just after its scene starts; speed up (a little) what is too long."""
    slots: list[NarrationSlot] = []
    for index, narration in enumerate(narrations):
        if narration is None or narration.duration_s <= 0:
            continue
        scene_s = timeline.frames[index] / timeline.fps
        lead = min(NARRATION_LEAD_S, scene_s * 0.1)
        room = max(scene_s - lead - NARRATION_TAIL_S, 0.1)
        tempo = min(max(narration.duration_s / room, 1.0), MAX_TEMPO)
        spoken = narration.duration_s / tempo
        length = min(spoken, scene_s - lead)
        slots.append(
            NarrationSlot(
                scene=index,
                path=narration.path,
                start_s=timeline.start_s(index) + lead,
                tempo=tempo,
                length_s=length,
                trimmed=length < spoken,
            )
        )
    return slots


def caption_cues(
    narrations: Sequence[NarrationResult | None],
    slots: Sequence[NarrationSlot],
    timeline: Timeline,
    size: tuple[int, int],
    style: CaptionStyle = CaptionStyle.CLASSIC,
) -> list[CaptionCue]:
    cues: list[CaptionCue] = []
    for slot in slots:
        narration = narrations[slot.scene]
        assert narration is not None
        words = narration.words or even_word_timings(narration.text, narration.duration_s)
        cues += cues_from_words(
            words,
            offset_s=slot.start_s,
            time_scale=slot.tempo,
            until_s=timeline.end_s(slot.scene),
            max_chars=max_cue_chars(size, style),
            line_chars=line_width_units(size, style),
        )
    return cues


def crossfade_tails(transitions: Sequence[Transition]) -> list[int]:
    """Scenes whose last frame a cross-fade needs: each is opened once more, near its end."""
    return [index - 1 for index in range(1, len(transitions))
            if transitions[index] is Transition.CROSSFADE]  # fmt: skip


def video_chains(
    transitions: Sequence[Transition], timeline: Timeline, size: tuple[int, int]
) -> list[str]:
    """Per clip: normalise, pad/trim to its exact frames, fades; dissolve from the last frame.

    A cross-fade's frozen last frame comes from a second, short decode of the previous clip's
    end (inputs after the clips, see `crossfade_tails`), not from a branch of its main decode,
    which ffmpeg would buffer for the whole scene.
    """
    chains: list[str] = []
    count = len(transitions)
    tail_inputs = {scene + 1: count + position
                   for position, scene in enumerate(crossfade_tails(transitions))}  # fmt: skip
    for index in range(count):
        frames = timeline.frames[index]
        steps = [
            f"[{index}:v]setpts=PTS-STARTPTS,fps={timeline.fps}",
            fit_filter(size),
            "tpad=stop=-1:stop_mode=clone",
            f"trim=end_frame={frames}",
            "setpts=PTS-STARTPTS",
        ]
        if transitions[index] is Transition.FADE:
            steps.append(f"fade=t=in:s=0:n={timeline.transition_frames(index)}")
        following = transitions[index + 1] if index + 1 < count else None
        if following is Transition.FADE:
            fade = timeline.transition_frames(index + 1)
            steps.append(f"fade=t=out:s={frames - fade}:n={fade}")
        if index not in tail_inputs:
            chains.append(",".join(steps) + f"[v{index}]")
            continue
        dissolve = timeline.transition_frames(index)
        chains += [
            ",".join(steps) + f"[c{index}]",
            f"[{tail_inputs[index]}:v]{fit_filter(size)},reverse,trim=end_frame=1,"
            f"setpts=PTS-STARTPTS,tpad=stop={dissolve - 1}:stop_mode=clone,format=yuva420p,"
            f"fade=t=out:s=0:n={dissolve}:alpha=1[from{index}]",
            f"[c{index}][from{index}]overlay=eof_action=pass:format=yuv420[v{index}]",
        ]
    return chains


def poster_time(timeline: Timeline) -> float:
    """The middle of the first scene: past its fade-in, before any transition out."""
    return (timeline.frames[0] // 2) / timeline.fps


def finish_video(
    count: int, poster_input: int, timeline: Timeline, size: tuple[int, int],
    subtitles: Path | None, fonts_dir: Path = FONTS_DIR,
) -> str:  # fmt: skip
    """Join the scenes and burn the captions in; the poster is its own one-frame chain.

    The poster input is the first clip opened again at `poster_time`; picking the frame from
    a branch of the joined video would make ffmpeg hold every frame before it in memory.
    """
    joined = "".join(f"[v{index}]" for index in range(count))
    captions = (
        f"subtitles=filename={filter_path(subtitles)}:fontsdir={filter_path(fonts_dir)}"
        if subtitles is not None
        else "null"
    )
    return (
        f"{joined}concat=n={count}:v=1:a=0,{captions}[vout];"
        f"[{poster_input}:v]{fit_filter(size)},trim=end_frame=1[poster]"
    )


def audio_chains(
    slots: Sequence[NarrationSlot],
    *,
    first_input: int,
    music_input: int | None,
    timeline: Timeline,
    music_gain: float = MUSIC_GAIN,
    ducking: bool = True,
    loudness_lufs: float = DEFAULT_LOUDNESS_LUFS,
    measured: LoudnessMeasure | None = None,
    report: bool = False,
) -> list[str]:
    """Narration placed and mixed, music looped under it (at `music_gain`) and ducked while
    the narrator speaks (unless `ducking` is off), then loudness-normalised to
    `loudness_lufs` (see `loudnorm` for `measured` and `report`)."""
    total = f"{timeline.total_s:.6f}"
    to_length = f"apad=whole_dur={total},atrim=0:{total}"
    if not slots and music_input is None:
        # Nothing to hear: plain silence (loudnorm would turn digital silence into NaN).
        return [f"anullsrc=r={SAMPLE_RATE}:cl=stereo,atrim=0:{total}[aout]"]
    chains = narration_chains(slots, first_input, to_length)
    normalise = loudnorm(loudness_lufs, measured, report=report)
    finish = f"{normalise},aresample={SAMPLE_RATE},{to_length}[aout]"
    if music_input is None:
        return [*chains, f"[voice]{finish}"]
    fade_out = min(2.0, timeline.total_s / 4)
    music = [
        f"[{music_input}:a]{STEREO},{to_length},volume={music_gain:.4f},"
        f"afade=t=out:st={timeline.total_s - fade_out:.4f}:d={fade_out:.4f}[music]",
    ]
    if not ducking:
        return [*chains, *music, f"[music][voice]amix=inputs=2:normalize=0:duration=first,{finish}"]
    return [
        *chains,
        *music,
        "[voice]asplit=2[key][spoken]",
        f"[music][key]{DUCKING}[ducked]",
        f"[ducked][spoken]amix=inputs=2:normalize=0:duration=first,{finish}",
    ]


def narration_chains(slots: Sequence[NarrationSlot], first_input: int, to_length: str) -> list[str]:
    """Each narration sped up and cut as planned, delayed to its scene, mixed into `[voice]`."""
    if not slots:
        return [f"anullsrc=r={SAMPLE_RATE}:cl=stereo,{to_length}[voice]"]
    chains: list[str] = []
    for position, slot in enumerate(slots):
        steps = [
            f"[{first_input + position}:a]aresample={SAMPLE_RATE}",
            "aformat=channel_layouts=mono",
        ]
        if slot.tempo > 1.0:
            steps.append(f"atempo={slot.tempo:.4f}")
        steps.append(f"atrim=0:{slot.length_s:.4f}")
        if slot.trimmed:
            steps.append(f"afade=t=out:st={max(slot.length_s - 0.15, 0):.4f}:d=0.15")
        steps.append(f"adelay=delays={round(slot.start_s * 1000)}:all=1")
        chains.append(",".join(steps) + f"[n{position}]")
    voices = "".join(f"[n{position}]" for position in range(len(slots)))
    chains.append(
        f"{voices}amix=inputs={len(slots)}:normalize=0:duration=longest,{STEREO},{to_length}[voice]"
    )
    return chains
