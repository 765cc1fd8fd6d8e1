"""Captions that follow the narration: word timings grouped into short cues, written as ASS for
libass (burned in, in a style preset, inside the frame's safe zone) and as SRT and WebVTT
sidecars with the very same cues.

Languages written without spaces (Chinese, Japanese) are split into characters for timing and
line breaking, and their lines are broken by us (libass only wraps at spaces), never before
closing punctuation. Right-to-left and Devanagari text is shaped by libass (HarfBuzz, FriBidi).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from omnigen.renderer.media.fonts import CAPTION_FONT_FAMILY
from omnigen.renderer.ports import WordTiming
from omnigen.shared.domain.media import (
    DEFAULT_SAFE_ZONES,
    CaptionPosition,
    CaptionStyle,
    SafeZone,
)

MIN_CUE_S = 0.6
MAX_LINES = 2
# Sentence ends of the supported scripts (CJK full-width forms, Arabic, Devanagari danda).
SENTENCE_END = re.compile(r"[.!?;:\u3002\uff01\uff1f\uff1b\uff1a\u061f\u061b\u0964\u2026]$")
# Characters that may not begin a line (kinsoku): they stay with the character before.
NO_LINE_START: Final = frozenset(
    ",.!?:;)]\u2026\u201d\u2019"  # ASCII closers, ellipsis, closing quotes
    "\u3001\u3002\uff0c\uff0e\u30fb\uff1a\uff1b\uff1f\uff01"  # CJK commas, stops, marks
    "\u300d\u300f\uff09\u3011\u3015\u3009\u300b"  # CJK closing brackets
    "\u30fc\u3041\u3043\u3045\u3047\u3049\u3063\u3083\u3085\u3087"  # long mark, small kana
    "\u30a1\u30a3\u30a5\u30a7\u30a9\u30c3\u30e3\u30e5\u30e7"
)
WIDE_FACTOR: Final = 1.7  # a CJK glyph is about 1.7 average Latin glyphs wide
HIGHLIGHT_COLOUR: Final = "&H0000D7FF&"  # amber, ASS is BGR


@dataclass(frozen=True)
class CaptionCue:
    start_s: float
    end_s: float
    text: str
    # The cue's words with their times on the video's clock (for word-by-word highlighting).
    words: tuple[WordTiming, ...] = field(default=(), compare=False)

    @property
    def lines(self) -> tuple[str, ...]:
        return tuple(self.text.split("\n"))


@dataclass(frozen=True)
class CaptionLook:
    """How burned captions look: font, style preset, position inside the safe zone."""

    family: str = CAPTION_FONT_FAMILY
    style: CaptionStyle = CaptionStyle.CLASSIC
    position: CaptionPosition = CaptionPosition.BOTTOM
    zone: SafeZone | None = None  # None: the default for the frame's shape
    scale: float = 1.0  # the font's size relative to the Latin font (small-looking scripts)
    rtl: bool = False  # a right-to-left language: punctuation and line order follow it


def caption_font_size(size: tuple[int, int], style: CaptionStyle = CaptionStyle.CLASSIC) -> int:
    scale = 0.065 if style is CaptionStyle.BOLD_BOX else 0.055
    return max(12, round(min(size) * scale))


def line_width_units(size: tuple[int, int], style: CaptionStyle = CaptionStyle.CLASSIC) -> int:
    """About how many average Latin characters fit on one caption line."""
    return max(8, int(size[0] * 0.80 / (caption_font_size(size, style) * 0.6)))


def max_cue_chars(size: tuple[int, int], style: CaptionStyle = CaptionStyle.CLASSIC) -> int:
    """About two lines of caption at the frame's width."""
    return max(16, 2 * line_width_units(size, style) - 4)


def is_wide(char: str) -> bool:
    return unicodedata.east_asian_width(char) in ("W", "F")


def text_width(text: str) -> float:
    """Width in average Latin characters."""
    return sum(WIDE_FACTOR if is_wide(c) else 1.0 for c in text)


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


def is_unspaced(char: str) -> bool:
    """A character of a script written without spaces between words (Han, kana, their
    punctuation); Hangul is wide but Korean puts spaces between words."""
    code = ord(char)
    hangul = 0x1100 <= code <= 0x11FF or 0x3130 <= code <= 0x318F or 0xAC00 <= code <= 0xD7AF
    return is_wide(char) and not hangul


@dataclass(frozen=True)
class _Unit:
    """A piece of caption text and whether a space comes before it (it starts a word)."""

    word: WordTiming
    starts_word: bool


def split_unspaced(words: Sequence[WordTiming]) -> list[_Unit]:
    """Words holding Han or kana cut into characters (runs of other characters kept whole,
    closing punctuation kept with what it closes), each timed by its share of the word."""
    units: list[_Unit] = []
    for word in words:
        if not any(is_unspaced(c) for c in word.text):
            units.append(_Unit(word, True))
            continue
        pieces: list[str] = []
        for char in word.text:
            if pieces and (
                char in NO_LINE_START or not (is_unspaced(char) or is_unspaced(pieces[-1][-1]))
            ):
                pieces[-1] += char
            else:
                pieces.append(char)
        span, cursor = word.end_s - word.start_s, word.start_s
        for index, piece in enumerate(pieces):
            share = span * len(piece) / len(word.text)
            units.append(_Unit(WordTiming(piece, cursor, cursor + share), index == 0))
            cursor += share
    return units


def join_units(units: Sequence[_Unit]) -> str:
    """The units' text, a space before each that starts a word."""
    text = ""
    for unit in units:
        text += (" " if text and unit.starts_word else "") + unit.word.text
    return text


def cues_from_words(
    words: Sequence[WordTiming],
    *,
    offset_s: float,
    time_scale: float,
    until_s: float,
    max_chars: int,
    line_chars: int | None = None,
) -> list[CaptionCue]:
    """Group words into cues of at most `max_chars` (in Latin-character widths), breaking after
    sentences. A word spoken at `t` in its file appears at `offset_s + t / time_scale`; cues
    stop at `until_s` (the end of the scene) and words past it are not shown. CJK cues are
    broken into lines of `line_chars` here (libass cannot break them)."""
    per_line = line_chars or max_chars // 2
    groups: list[list[_Unit]] = []
    current: list[_Unit] = []
    for unit in split_unspaced(words):
        grown = [*current, unit]
        too_long = text_width(join_units(grown)) > max_chars
        if current and (too_long or _break_lines(grown, per_line).count("\n") >= MAX_LINES):
            groups.append(current)
            current = []
        current.append(unit)
        if SENTENCE_END.search(unit.word.text):
            groups.append(current)
            current = []
    if current:
        groups.append(current)
    cues: list[CaptionCue] = []
    for group in groups:
        start = offset_s + group[0].word.start_s / time_scale
        end = min(offset_s + group[-1].word.end_s / time_scale, until_s)
        if start >= until_s:
            break
        timed = tuple(
            WordTiming(u.word.text, offset_s + u.word.start_s / time_scale,
                       offset_s + u.word.end_s / time_scale)
            for u in group
        )  # fmt: skip
        text = _break_lines(group, per_line)
        cues.append(CaptionCue(start_s=start, end_s=end, text=text, words=timed))
    return _hold_short_cues(cues, until_s)


def _break_lines(units: Sequence[_Unit], line_chars: int) -> str:
    """Han and kana text broken into lines between units (libass only breaks at spaces);
    other text is one line, wrapped by libass or the player."""
    joined = join_units(units)
    if not any(is_unspaced(c) for c in joined) or text_width(joined) <= line_chars:
        return joined
    lines: list[list[_Unit]] = [[]]
    for unit in units:
        if lines[-1] and text_width(join_units([*lines[-1], unit])) > line_chars:
            lines.append([])
        lines[-1].append(unit)
    return "\n".join(join_units(line) for line in lines)


def _hold_short_cues(cues: list[CaptionCue], until_s: float) -> list[CaptionCue]:
    """Keep each cue up long enough to read, without running into the next one."""
    held: list[CaptionCue] = []
    for index, cue in enumerate(cues):
        limit = cues[index + 1].start_s if index + 1 < len(cues) else until_s
        end = min(max(cue.end_s, cue.start_s + MIN_CUE_S), limit)
        held.append(CaptionCue(cue.start_s, max(end, cue.start_s), cue.text, cue.words))
    return held


def safe_zone_for(size: tuple[int, int], zone: SafeZone | None) -> SafeZone:
    if zone is not None:
        return zone
    width, height = size
    shape = "16:9" if width * 9 == height * 16 else "9:16" if width * 16 == height * 9 else None
    if shape is None:
        shape = "16:9" if width > height * 1.2 else "9:16" if height > width * 1.2 else "1:1"
    return DEFAULT_SAFE_ZONES[shape]


_ALIGNMENT: Final = {CaptionPosition.BOTTOM: 2, CaptionPosition.MIDDLE: 5, CaptionPosition.TOP: 8}


def write_ass(
    cues: Sequence[CaptionCue], path: Path, size: tuple[int, int], look: CaptionLook | None = None
) -> None:
    """An ASS subtitle file whose coordinates are the frame's pixels."""
    look = look or CaptionLook()
    width, height = size
    zone = safe_zone_for(size, look.zone)
    font_size = round(caption_font_size(size, look.style) * look.scale)
    outline = max(1, round(font_size / 14))
    margin_l, margin_r = round(width * zone.left), round(width * zone.right)
    margin_v = round(height * (zone.top if look.position is CaptionPosition.TOP else zone.bottom))
    if look.style is CaptionStyle.BOLD_BOX:
        # BorderStyle 3: an opaque box in the outline colour, `outline` px around the text.
        colours, border = "&H00FFFFFF,&H00FFFFFF,&H40000000,&H00000000", f"3,{outline * 2},0"
    else:
        colours, border = (
            "&H00FFFFFF,&H00FFFFFF,&H00000000,&H96000000",
            f"1,{outline},{outline // 2}",
        )
    # The style's last field, Encoding, is -1 for a right-to-left language: libass then takes
    # the paragraph direction from the text, so an Arabic or Hebrew sentence ends on the left.
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
        f"Style: Caption,{look.family},{font_size},{colours},1,0,0,0,100,100,0,0,{border},"
        f"{_ALIGNMENT[look.position]},{margin_l},{margin_r},{margin_v},{-1 if look.rtl else 1}",
        "",
        "[Events]",
        "Format: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text",
    ]
    for cue in cues:
        for start, end, text in _events(cue, look.style):
            lines.append(f"Dialogue: 0,{_ass_time(start)},{_ass_time(end)},Caption,,0,0,0,,{text}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _events(cue: CaptionCue, style: CaptionStyle) -> list[tuple[float, float, str]]:
    """One event per cue; word-by-word highlighting shows the cue once per word, that word lit."""
    plain = "\\N".join(_ass_text(line) for line in cue.lines)
    if style is not CaptionStyle.WORD_HIGHLIGHT or len(cue.words) < 2:
        return [(cue.start_s, cue.end_s, plain)]
    events: list[tuple[float, float, str]] = []
    for index, word in enumerate(cue.words):
        start = cue.start_s if index == 0 else max(word.start_s, cue.start_s)
        end = cue.words[index + 1].start_s if index + 1 < len(cue.words) else cue.end_s
        if end - start < 0.01:
            continue
        events.append((start, min(end, cue.end_s), _highlighted(cue, index)))
    return events or [(cue.start_s, cue.end_s, plain)]


def _highlighted(cue: CaptionCue, lit: int) -> str:
    """The cue's text with word `lit` coloured, laid out exactly as the plain cue."""
    lines: list[str] = []
    position = 0
    for line in cue.lines:
        out, rest = "", line
        while position < len(cue.words) and rest.lstrip().startswith(cue.words[position].text):
            gap = len(rest) - len(rest.lstrip())
            word = cue.words[position].text
            piece = _ass_text(word)
            if position == lit:
                piece = f"{{\\c{HIGHLIGHT_COLOUR}}}{piece}{{\\r}}"
            out += rest[:gap] + piece
            rest = rest.lstrip()[len(word) :]
            position += 1
        lines.append(out + _ass_text(rest))
    return "\\N".join(lines)


def _ass_time(seconds: float) -> str:
    centis = max(0, round(seconds * 100))
    hours, rest = divmod(centis, 360_000)
    minutes, rest = divmod(rest, 6_000)
    secs, centis = divmod(rest, 100)
    return f"{hours}:{minutes:02d}:{secs:02d}.{centis:02d}"


def _ass_text(text: str) -> str:
    """Plain text only: braces would start override tags, backslashes escapes."""
    spaced = " ".join(text.split()) if text.strip() else text
    return spaced.replace("\\", "/").replace("{", "(").replace("}", ")")


def write_srt(cues: Sequence[CaptionCue], path: Path) -> None:
    """SubRip: numbered cues, `HH:MM:SS,mmm` times, the burned cues' timings exactly."""
    blocks = [
        f"{number}\n{_clock(cue.start_s, ',')} --> {_clock(cue.end_s, ',')}\n{cue.text}\n"
        for number, cue in enumerate(cues, start=1)
    ]
    path.write_text("\n".join(blocks), encoding="utf-8")


def write_vtt(cues: Sequence[CaptionCue], path: Path, language: str | None = None) -> None:
    """WebVTT with the same cues; `language` goes in the header for players that show it."""
    header = "WEBVTT" + (f"\nLanguage: {language}" if language else "")
    blocks = [
        f"{_clock(cue.start_s, '.')} --> {_clock(cue.end_s, '.')}\n{_vtt_text(cue.text)}\n"
        for cue in cues
    ]
    path.write_text("\n".join([header + "\n", *blocks]), encoding="utf-8")


def _clock(seconds: float, separator: str) -> str:
    millis = max(0, round(seconds * 1000))
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{separator}{millis:03d}"


def _vtt_text(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
