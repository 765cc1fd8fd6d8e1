"""Captions that follow the narration: word timings grouped into short cues, written as ASS
for libass, styled with the shipped font and sized to the frame.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from omnigen.renderer.media.fonts import CAPTION_FONT_FAMILY
from omnigen.renderer.ports import WordTiming

MIN_CUE_S = 0.6
SENTENCE_END = re.compile(r"[.!?;:]$")


@dataclass(frozen=True)
class CaptionCue:
    start_s: float
    end_s: float
    text: str


def caption_font_size(size: tuple[int, int]) -> int:
    return max(12, round(min(size) * 0.055))


def max_cue_chars(size: tuple[int, int]) -> int:
    """About two lines of caption at the frame's width."""
    per_line = int(size[0] * 0.86 / (caption_font_size(size) * 0.6))
    return max(16, 2 * per_line - 4)


def even_word_timings(text: str, duration_s: float) -> tuple[WordTiming, ...]:
    """Timings spread by word length, for providers that return audio without them."""
    tokens = text.split()
    total = sum(len(token) + 1 for token in tokens)
    words: list[WordTiming] = []
    cursor = 0.0
    for token in tokens:
        span = duration_s * (len(token) + 1) / total if total else 0.0
        words.append(WordTiming(text=token, start_s=cursor, end_s=cursor + span))
        cursor += span
    return tuple(words)


def cues_from_words(
    words: Sequence[WordTiming],
    *,
    offset_s: float,
    time_scale: float,
    until_s: float,
    max_chars: int,
) -> list[CaptionCue]:
    """Group words into cues of at most `max_chars`, breaking after sentences.

    A word spoken at `t` in its file appears at `offset_s + t / time_scale`; cues stop at
    `until_s` (the end of the scene) and words past it are not shown.
    """
    groups: list[list[WordTiming]] = []
    current: list[WordTiming] = []
    for word in words:
        length = sum(len(w.text) + 1 for w in current) + len(word.text)
        if current and length > max_chars:
            groups.append(current)
            current = []
        current.append(word)
        if SENTENCE_END.search(word.text):
            groups.append(current)
            current = []
    if current:
        groups.append(current)
    cues: list[CaptionCue] = []
    for group in groups:
        start = offset_s + group[0].start_s / time_scale
        end = min(offset_s + group[-1].end_s / time_scale, until_s)
        if start >= until_s:
            break
        cues.append(CaptionCue(start_s=start, end_s=end, text=" ".join(w.text for w in group)))
    return _hold_short_cues(cues, until_s)


def _hold_short_cues(cues: list[CaptionCue], until_s: float) -> list[CaptionCue]:
    """Keep each cue up long enough to read, without running into the next one."""
    held: list[CaptionCue] = []
    for index, cue in enumerate(cues):
        limit = cues[index + 1].start_s if index + 1 < len(cues) else until_s
        end = min(max(cue.end_s, cue.start_s + MIN_CUE_S), limit)
        held.append(CaptionCue(start_s=cue.start_s, end_s=max(end, cue.start_s), text=cue.text))
    return held


def write_ass(cues: Sequence[CaptionCue], path: Path, size: tuple[int, int]) -> None:
    """An ASS subtitle file whose coordinates are the frame's pixels."""
    width, height = size
    font_size = caption_font_size(size)
    outline = max(1, round(font_size / 14))
    margin_h, margin_v = round(width * 0.07), round(height * 0.12)
    lines = [
        "[Script Info]",
        "ScriptType: v4.00+",
        f"PlayResX: {width}",
        f"PlayResY: {height}",
        "WrapStyle: 0",
        "ScaledBorderAndShadow: yes",
        "",
        "[V4+ Styles]",
        "Format: Name, Fontname, Fontsize, PrimaryColour, SecondaryColour, OutlineColour, "
        "BackColour, Bold, Italic, Underline, StrikeOut, ScaleX, ScaleY, Spacing, Angle, "
        "BorderStyle, Outline, Shadow, Alignment, MarginL, MarginR, MarginV, Encoding",
        f"Style: Caption,{CAPTION_FONT_FAMILY},{font_size},&H00FFFFFF,&H00FFFFFF,&H00000000,"
        f"&H96000000,1,0,0,0,100,100,0,0,1,{outline},{outline // 2},2,{margin_h},{margin_h},"
        f"{margin_v},1",
        "",
        "[Events]",
        "Format: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text",
    ]
    for cue in cues:
        lines.append(
            f"Dialogue: 0,{_ass_time(cue.start_s)},{_ass_time(cue.end_s)},Caption,,0,0,0,,"
            f"{_ass_text(cue.text)}"
        )
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _ass_time(seconds: float) -> str:
    centis = max(0, round(seconds * 100))
    hours, rest = divmod(centis, 360_000)
    minutes, rest = divmod(rest, 6_000)
    secs, centis = divmod(rest, 100)
    return f"{hours}:{minutes:02d}:{secs:02d}.{centis:02d}"


def _ass_text(text: str) -> str:
    """Plain text only: braces would start override tags, backslashes escapes."""
    return " ".join(text.split()).replace("\\", "/").replace("{", "(").replace("}", ")")
