"""The offline MusicSource: a bed synthesized by ffmpeg to suit the script's music mood.

One four-bar chord progression is computed with `aevalsrc` and looped, so the cost does not
grow with the video's length. Tempo, key, mode, brightness and rhythm follow the mood; a few
style words (ambient, electronic, piano, cinematic) adjust the arrangement.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import structlog

from omnigen.renderer.media.ffmpeg import run_ffmpeg
from omnigen.shared.domain.scripts import Mood

log = structlog.get_logger()

SAMPLE_RATE = 44_100
BARS = 4
BEATS_PER_BAR = 4
MAJOR_PROGRESSION = ((0, 4), (7, 4), (9, 3), (5, 4))  # I V vi IV: (root offset, third)
MINOR_PROGRESSION = ((0, 3), (8, 4), (3, 4), (10, 4))  # i VI III VII


@dataclass(frozen=True)
class Arrangement:
    bpm: int
    root_hz: float
    minor: bool
    brightness_hz: int
    plucked: bool  # a note on every beat; otherwise a pad swelling once per bar
    hats: bool


MOOD_ARRANGEMENTS: dict[Mood, Arrangement] = {
    Mood.UPLIFTING: Arrangement(112, 196.00, False, 6000, True, False),
    Mood.CALM: Arrangement(72, 174.61, False, 2500, False, False),
    Mood.ENERGETIC: Arrangement(128, 220.00, True, 9000, True, True),
    Mood.DRAMATIC: Arrangement(84, 146.83, True, 3500, False, False),
    Mood.MYSTERIOUS: Arrangement(76, 155.56, True, 2200, False, False),
    Mood.PLAYFUL: Arrangement(120, 293.66, False, 8000, True, True),
    Mood.MELANCHOLIC: Arrangement(66, 164.81, True, 2000, False, False),
    Mood.INSPIRING: Arrangement(96, 196.00, False, 5000, True, False),
}

STYLE_WORDS: dict[str, dict[str, bool]] = {
    "ambient": {"plucked": False, "hats": False},
    "pad": {"plucked": False, "hats": False},
    "electronic": {"plucked": True, "hats": True},
    "edm": {"plucked": True, "hats": True},
    "dance": {"plucked": True, "hats": True},
    "piano": {"plucked": True, "hats": False},
    "acoustic": {"plucked": True, "hats": False},
    "cinematic": {"plucked": False},
    "orchestral": {"plucked": False, "hats": False},
}


def arrangement_for(mood: Mood, style: str) -> Arrangement:
    arrangement = MOOD_ARRANGEMENTS[mood]
    for word in style.lower().replace("-", " ").split():
        if word in STYLE_WORDS:
            arrangement = replace(arrangement, **STYLE_WORDS[word])
    return arrangement


def progression_expression(arrangement: Arrangement) -> tuple[str, float]:
    """An aevalsrc expression for one pass of the progression, and that pass's length (s)."""
    beat = 60.0 / arrangement.bpm
    bar = beat * BEATS_PER_BAR
    chords = MINOR_PROGRESSION if arrangement.minor else MAJOR_PROGRESSION
    root = _select("ld(0)", [str(offset) for offset, _ in chords])
    third = _select("ld(0)", [str(interval) for _, interval in chords])
    note = f"{arrangement.root_hz}*pow(2,(ld(1)+%s)/12)"
    if arrangement.plucked:
        envelope = f"(1-exp(-mod(t,{beat})*60))*exp(-mod(t,{beat})*3.2)"
    else:
        envelope = f"pow(sin(PI*mod(t,{bar})/{bar}),1.5)"
    bass_envelope = f"(1-exp(-mod(t,{bar})*40))*exp(-mod(t,{bar})*1.2)"
    voices = "+".join(
        f"(sin(2*PI*{note % interval}*t)+0.25*sin(4*PI*{note % interval}*t))"
        for interval in ("0", "ld(2)", "7")
    )
    parts = [
        f"st(0,mod(floor(t/{bar}),{BARS}))",
        f"st(1,{root})",
        f"st(2,{third})",
        f"0.16*{envelope}*({voices})"
        f"+0.3*{bass_envelope}*sin(2*PI*{note % '-12'}*t)"
        + (f"+0.05*(2*random(5)-1)*exp(-mod(t+{beat / 2},{beat})*70)" if arrangement.hats else ""),
    ]
    return ";".join(parts), bar * BARS


class SynthMusicSource:
    """MusicSource port: writes a looped, faded, stereo WAV bed at least `duration_s` long."""

    async def generate(self, mood: Mood, style: str, duration_s: float, out_path: Path) -> Path:
        arrangement = arrangement_for(mood, style)
        expression, loop_s = progression_expression(arrangement)
        loop_samples = round(loop_s * SAMPLE_RATE)
        fade_out = min(2.0, duration_s / 4)
        chain = ",".join(
            [
                f"aloop=loop=-1:size={loop_samples}",
                f"atrim=0:{duration_s:.3f}",
                f"lowpass=f={arrangement.brightness_hz}",
                "aecho=0.8:0.6:70|110:0.22|0.15",
                "pan=stereo|c0=c0|c1=c0",
                "adelay=0|9",
                f"afade=t=in:d={min(1.0, duration_s / 4):.3f}",
                f"afade=t=out:st={duration_s - fade_out:.3f}:d={fade_out:.3f}",
                f"atrim=0:{duration_s:.3f}",
            ]
        )
        out_path.parent.mkdir(parents=True, exist_ok=True)
        await run_ffmpeg(
            [
                "-f",
                "lavfi",
                "-i",
                f"aevalsrc=exprs='{expression}':s={SAMPLE_RATE}:d={loop_s:.4f}",
                "-af",
                chain,
                "-c:a",
                "pcm_s16le",
                "-f",
                "wav",
                out_path,
            ],
            what="music bed",
        )
        log.info(
            "music_synthesized", mood=mood.value, bpm=arrangement.bpm, seconds=round(duration_s, 2)
        )
        return out_path


def _select(index: str, values: list[str]) -> str:
    """Nested if() picking values[index] (aevalsrc has no arrays)."""
    expression = values[-1]
    for position in range(len(values) - 2, -1, -1):
        expression = f"if(eq({index},{position}),{values[position]},{expression})"
    return expression
